/*
 * resources.c — the resource functions of the SQL surface: syncing a
 * store's resources in one call, choosing them, listing what exists, and
 * declaring (or dropping) a resource of one's own.
 *
 * A resource is built in (mirror/resource.c: products, orders) or declared
 * (a row of shopify.resource_definitions, made by shopify_define_resource()
 * from a GraphQL connection query, checked by shopify/declared.c).  Names
 * are checked against both; an unknown one is refused with 22023.
 * Declaring is for superusers and for roles granted EXECUTE on
 * shopify_define_resource() (revoked from PUBLIC): a declaration decides
 * what every store's worker asks Shopify for.
 */
#include "postgres.h"

#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "funcapi.h"
#include "miscadmin.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/lsyscache.h"

#include "base/log.h"
#include "base/util.h"
#include "mirror/resource.h"
#include "shopify/declared.h"
#include "sql/jobs.h"

PG_FUNCTION_INFO_V1(shopify_sync);
PG_FUNCTION_INFO_V1(shopify_set_store_resources);
PG_FUNCTION_INFO_V1(shopify_resources);
PG_FUNCTION_INFO_V1(shopify_define_resource);
PG_FUNCTION_INFO_V1(shopify_drop_resource);

/* Is name a built-in or a declared resource?  (SPI connected.) */
static bool
resource_exists(const char *name)
{
	Oid			types[1] = {TEXTOID};
	Datum		vals[1] = {CStringGetTextDatum(name)};

	if (resource_builtin(name) != NULL)
		return true;
	return shopify_spi_exec("SELECT 1 FROM shopify.resource_definitions WHERE name = $1",
							1, types, vals, NULL, true) == 1;
}

/*
 * The names of a text[] argument, checked (no NULL, each a resource) and
 * without repeats, in their order.  (SPI connected.)
 */
static List *
checked_names(ArrayType *arr, const char *what)
{
	Datum	   *elems;
	bool	   *nulls;
	int			n;
	List	   *names = NIL;

	if (ARR_NDIM(arr) > 1)
		ereport(ERROR,
				(errcode(ERRCODE_ARRAY_SUBSCRIPT_ERROR),
				 errmsg("%s must be a one-dimensional array", what)));
	deconstruct_array(arr, TEXTOID, -1, false, TYPALIGN_INT, &elems, &nulls, &n);
	for (int i = 0; i < n; i++)
	{
		char	   *name;
		ListCell   *lc;
		bool		seen = false;

		if (nulls[i])
			ereport(ERROR,
					(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
					 errmsg("%s must not contain NULL", what)));
		name = TextDatumGetCString(elems[i]);
		if (!resource_exists(name))
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("unknown resource \"%s\"", name),
					 errhint("SELECT name FROM shopify_resources() lists the resources that exist.")));
		foreach(lc, names)
			if (strcmp(lfirst(lc), name) == 0)
				seen = true;
		if (!seen)
			names = lappend(names, name);
	}
	return names;
}

/*
 * shopify_sync(shop_id, resources, full_sync) → one job per resource (NULL:
 * the store's resources), each enqueued as shopify_sync_products() would: a
 * resource already pending or running returns its job.
 */
Datum
shopify_sync(PG_FUNCTION_ARGS)
{
	static const char *const names[] = {"shop_id", "resources", "full_sync"};
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	ShopifyCaller caller;
	ShopifyElevation elev = {0};
	ShopifyStore store;
	int64		shop_id;
	bool		full_sync;
	List	   *resources;
	List	   *chosen;
	ListCell   *lc;

	if (PG_ARGISNULL(0))
		shopify_require_args(fcinfo, 1, names);
	if (PG_ARGISNULL(2))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("%s must not be null", names[2])));
	shop_id = PG_GETARG_INT64(0);
	full_sync = PG_GETARG_BOOL(2);
	InitMaterializedSRF(fcinfo, 0);
	shopify_get_caller(&caller);

	shopify_elevate(&elev);
	shopify_spi_connect();
	shopify_store_access(shop_id, STORE_REQUIRE_ACTIVE | STORE_REQUIRE_TOKEN, &caller, &store);
	{
		Oid			types[1] = {INT8OID};
		Datum		vals[1] = {Int64GetDatum(shop_id)};
		bool		isnull;
		Datum		d;

		shopify_spi_exec("SELECT resources FROM shopify.stores WHERE shop_id = $1",
						 1, types, vals, NULL, true);
		d = shopify_spi_value(0, 1, &isnull);
		chosen = checked_names(DatumGetArrayTypeP(d), "the store's resources");
	}
	resources = PG_ARGISNULL(1) ? chosen : checked_names(PG_GETARG_ARRAYTYPE_P(1), "resources");
	/* personal data only for stores that chose it */
	foreach(lc, resources)
	{
		const ResourceDecl *r = resource_builtin(lfirst(lc));
		bool		found = false;
		ListCell   *c2;

		if (r == NULL || !r->personal_data)
			continue;
		foreach(c2, chosen)
			found |= strcmp(lfirst(c2), r->name) == 0;
		if (!found)
			ereport(ERROR,
					(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
					 errmsg("store " INT64_FORMAT " does not sync %s", shop_id, r->name),
					 errdetail("%s holds personal data: a store syncs it only once it is chosen.", r->name),
					 errhint("Add it to the store's resources: shopify_set_store_resources(" INT64_FORMAT
							 ", ARRAY[..., '%s']).", shop_id, r->name)));
	}
	foreach(lc, resources)
	{
		shopify_enqueue_job(shop_id, lfirst(lc), full_sync, true, &caller);
		tuplestore_puttuple(rsinfo->setResult, SPI_tuptable->vals[0]);
	}
	shopify_spi_finish();
	shopify_restore(&elev);
	return (Datum) 0;
}

/* shopify_set_store_resources(shop_id, resources) → the store's new list. */
Datum
shopify_set_store_resources(PG_FUNCTION_ARGS)
{
	static const char *const names[] = {"shop_id", "resources"};
	ShopifyCaller caller;
	ShopifyElevation elev = {0};
	ShopifyStore store;
	List	   *resources;
	Datum	   *elems;
	int			n = 0;
	ListCell   *lc;
	Oid			types[2] = {INT8OID, TEXTARRAYOID};
	Datum		vals[2];
	ArrayType  *result;
	ShopifyJson j;

	shopify_require_args(fcinfo, 2, names);
	shopify_get_caller(&caller);
	shopify_elevate(&elev);
	shopify_spi_connect();
	shopify_store_access(PG_GETARG_INT64(0), STORE_LOCK, &caller, &store);
	resources = checked_names(PG_GETARG_ARRAYTYPE_P(1), "resources");
	elems = palloc(sizeof(Datum) * Max(list_length(resources), 1));
	foreach(lc, resources)
		elems[n++] = CStringGetTextDatum(lfirst(lc));
	result = construct_array(elems, n, TEXTOID, -1, false, TYPALIGN_INT);
	vals[0] = PG_GETARG_DATUM(0);
	vals[1] = PointerGetDatum(result);
	shopify_spi_exec("UPDATE shopify.stores SET resources = $2, updated_at = now() WHERE shop_id = $1",
					 2, types, vals, NULL, false);
	sj_init(&j);
	sj_raw(&j, "resources", TextDatumGetCString(DirectFunctionCall1(array_to_json,
																	 PointerGetDatum(result))));
	sj_str(&j, "by", caller.rolename);
	sj_finish(&j);
	log_store_operation(store.shop_id, "info", "set_resources", store.shop_domain, j.buf.data);
	shopify_spi_finish();
	shopify_restore(&elev);
	PG_RETURN_ARRAYTYPE_P(result);
}

static Datum
text_array(const char *const *items)
{
	Datum		d[16];
	int			n = 0;

	while (items[n] && n < 16)
	{
		d[n] = CStringGetTextDatum(items[n]);
		n++;
	}
	return PointerGetDatum(construct_array(d, n, TEXTOID, -1, false, TYPALIGN_INT));
}

/* shopify_resources() → (name, kind, description, tables, webhook_topics) */
Datum
shopify_resources(PG_FUNCTION_ARGS)
{
	static const char *const no_topics[] = {NULL};
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	ShopifyElevation elev = {0};
	Datum		v[5];
	bool		nl[5] = {false, false, false, false, false};
	int			n;

	InitMaterializedSRF(fcinfo, 0);
	for (int i = 0; resource_builtins[i]; i++)
	{
		const ResourceDecl *r = resource_builtins[i];

		v[0] = CStringGetTextDatum(r->name);
		v[1] = CStringGetTextDatum("built-in");
		v[2] = CStringGetTextDatum(r->description);
		v[3] = text_array(r->tables);
		v[4] = text_array(r->topics);
		tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, v, nl);
	}
	shopify_elevate(&elev);
	shopify_spi_connect();
	n = shopify_spi_exec("SELECT name, coalesce(description, 'Declared: ' || connection)"
						 "  FROM shopify.resource_definitions ORDER BY name",
						 0, NULL, NULL, NULL, true);
	for (int i = 0; i < n; i++)
	{
		MemoryContext old = MemoryContextSwitchTo(rsinfo->econtext->ecxt_per_query_memory);

		v[0] = CStringGetTextDatum(shopify_spi_text(i, 1));
		v[1] = CStringGetTextDatum("declared");
		v[2] = CStringGetTextDatum(shopify_spi_text(i, 2));
		v[3] = text_array(resource_declared.tables);
		v[4] = text_array(no_topics);
		MemoryContextSwitchTo(old);
		tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, v, nl);
	}
	shopify_spi_finish();
	shopify_restore(&elev);
	return (Datum) 0;
}

/*
 * shopify_define_resource(name, query, description, incremental) → name.
 * The query is checked inside the server (declared.c); a query Shopify
 * itself refuses fails the first sync with Shopify's message.  Declaring a
 * name again replaces its query (its objects stay, and the next full sync
 * makes them what the new query says).
 */
Datum
shopify_define_resource(PG_FUNCTION_ARGS)
{
	static const char *const names[] = {"name", "query"};
	ShopifyCaller caller;
	ShopifyElevation elev = {0};
	char	   *name;
	char	   *query;
	bool		incremental;
	DeclaredQuery d;
	Oid			types[7] = {TEXTOID, TEXTOID, TEXTOID, TEXTOID, INT4OID, NUMERICOID, BOOLOID};
	Datum		vals[7];
	char		nulls[7] = {' ', ' ', ' ', ' ', ' ', ' ', ' '};
	ShopifyJson j;

	shopify_require_args(fcinfo, 2, names);
	name = text_to_cstring(PG_GETARG_TEXT_PP(0));
	query = text_to_cstring(PG_GETARG_TEXT_PP(1));
	incremental = PG_ARGISNULL(3) ? false : PG_GETARG_BOOL(3);
	if (resource_builtin(name) != NULL)
		ereport(ERROR,
				(errcode(ERRCODE_DUPLICATE_OBJECT),
				 errmsg("\"%s\" is a built-in resource", name)));
	{
		bool		ok = name[0] >= 'a' && name[0] <= 'z' && strlen(name) <= 63;

		for (const char *p = name; ok && *p; p++)
			ok = (*p >= 'a' && *p <= 'z') || (*p >= '0' && *p <= '9') || *p == '_';
		if (!ok)
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_NAME),
					 errmsg("invalid resource name \"%s\"", name),
					 errdetail("A resource name is a lower-case letter, then up to 62 lower-case letters, digits or underscores.")));
	}
	declared_read(query, incremental, &d);
	if (!d.ok)
		ereport(ERROR,
				(errcode(d.sqlstate),
				 errmsg("resource \"%s\" cannot be declared: %s", name, d.error)));

	shopify_get_caller(&caller);
	vals[0] = CStringGetTextDatum(name);
	vals[1] = CStringGetTextDatum(query);
	vals[2] = CStringGetTextDatum(d.connection);
	if (PG_ARGISNULL(2))
		nulls[3] = 'n';
	else
		vals[3] = PG_GETARG_DATUM(2);
	vals[4] = Int32GetDatum(d.page_size);
	vals[5] = DirectFunctionCall1(float8_numeric, Float8GetDatum(d.page_cost));
	vals[6] = BoolGetDatum(incremental);
	shopify_elevate(&elev);
	shopify_spi_connect();
	shopify_spi_exec("INSERT INTO shopify.resource_definitions AS r"
					 "  (name, query, connection, description, page_size, page_cost, incremental, defined_by)"
					 " VALUES ($1, $2, $3, $4, $5, $6, $7, session_user)"
					 " ON CONFLICT (name) DO UPDATE SET query = EXCLUDED.query,"
					 "   connection = EXCLUDED.connection, description = EXCLUDED.description,"
					 "   page_size = EXCLUDED.page_size, page_cost = EXCLUDED.page_cost,"
					 "   incremental = EXCLUDED.incremental, defined_by = EXCLUDED.defined_by,"
					 "   defined_at = now()",
					 7, types, vals, nulls, false);
	sj_init(&j);
	sj_str(&j, "operation", "define_resource");
	sj_str(&j, "resource", name);
	sj_str(&j, "connection", d.connection);
	sj_int(&j, "page_size", d.page_size);
	sj_num(&j, "page_cost", d.page_cost);
	sj_bool(&j, "incremental", incremental);
	sj_str(&j, "by", caller.rolename);
	sj_finish(&j);
	shopify_log("store_operation", "info", 0, 0, psprintf("resource %s declared", name), j.buf.data);
	shopify_spi_finish();
	shopify_restore(&elev);
	PG_RETURN_TEXT_P(cstring_to_text(name));
}

/*
 * shopify_drop_resource(name) → whether it existed.  Its objects go with
 * it, its name leaves every store's resources, and its pending jobs are
 * cancelled (a running one stops at its next page, finding its resource
 * gone).
 */
Datum
shopify_drop_resource(PG_FUNCTION_ARGS)
{
	static const char *const names[] = {"name"};
	ShopifyElevation elev = {0};
	Oid			types[1] = {TEXTOID};
	Datum		vals[1];
	bool		existed;

	shopify_require_args(fcinfo, 1, names);
	vals[0] = PG_GETARG_DATUM(0);
	if (resource_builtin(TextDatumGetCString(vals[0])) != NULL)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("\"%s\" is a built-in resource and cannot be dropped",
						TextDatumGetCString(vals[0]))));
	shopify_elevate(&elev);
	shopify_spi_connect();
	shopify_spi_exec("UPDATE shopify.sync_jobs SET status = 'cancelled', finished_at = now(),"
					 "  lease_expires_at = NULL, error = 'resource dropped', error_class = 'cancelled'"
					 " WHERE resource = $1 AND status IN ('pending', 'running')",
					 1, types, vals, NULL, false);
	shopify_spi_exec("UPDATE shopify.stores SET resources = array_remove(resources, $1)"
					 " WHERE $1 = ANY (resources)",
					 1, types, vals, NULL, false);
	existed = shopify_spi_exec("DELETE FROM shopify.resource_definitions WHERE name = $1",
							   1, types, vals, NULL, false) == 1;
	if (existed)
	{
		ShopifyJson j;

		sj_init(&j);
		sj_str(&j, "operation", "drop_resource");
		sj_str(&j, "resource", TextDatumGetCString(vals[0]));
		sj_finish(&j);
		shopify_log("store_operation", "info", 0, 0,
					psprintf("resource %s dropped", TextDatumGetCString(vals[0])), j.buf.data);
	}
	shopify_spi_finish();
	shopify_restore(&elev);
	PG_RETURN_BOOL(existed);
}
