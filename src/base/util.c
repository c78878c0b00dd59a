/*
 * util.c — helpers of the SQL surface.
 *
 * Ownership model: the shopify_* functions run as the caller.  They first
 * find out who is calling (shopify_get_caller), then switch to the owner of
 * the schema "shopify" (the role that created the extension) for their SPI
 * work (shopify_elevate), and check ownership themselves
 * (shopify_store_access): a role may use only the stores it connected;
 * superusers may use all.  A store that does not exist and a store owned by
 * someone else produce the same error for ordinary roles (SQLSTATE 42501), so
 * nothing can be learnt about other roles' stores.  The functions are
 * declared with SET search_path = pg_catalog, pg_temp, so the SQL run with
 * elevated rights cannot be redirected by the caller's search_path.
 */
#include "postgres.h"

#include "catalog/namespace.h"
#include "catalog/pg_namespace.h"
#include "miscadmin.h"
#include "pgstat.h"
#include "tcop/tcopprot.h"
#include "utils/acl.h"
#include "utils/builtins.h"
#include "utils/lsyscache.h"
#include "utils/syscache.h"
#include "utils/backend_status.h"

#include "base/settings.h"
#include "base/util.h"

void
shopify_get_caller(ShopifyCaller *caller)
{
	caller->roleid = GetUserId();
	caller->rolename = GetUserNameFromId(caller->roleid, false);
	caller->superuser = superuser_arg(caller->roleid);
}

static Oid
extension_owner(void)
{
	Oid			nsp = get_namespace_oid(SHOPIFY_SCHEMA, true);
	HeapTuple	tup;
	Oid			owner;

	if (!OidIsValid(nsp))
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_SCHEMA),
				 errmsg("schema \"%s\" does not exist", SHOPIFY_SCHEMA),
				 errhint("Run CREATE EXTENSION shopify_sync.")));
	tup = SearchSysCache1(NAMESPACEOID, ObjectIdGetDatum(nsp));
	if (!HeapTupleIsValid(tup))
		elog(ERROR, "cache lookup failed for namespace %u", nsp);
	owner = ((Form_pg_namespace) GETSTRUCT(tup))->nspowner;
	ReleaseSysCache(tup);
	return owner;
}

/*
 * Act with the extension owner's rights until shopify_restore().  An error
 * in between needs no restore: transaction abort resets the user id.
 */
void
shopify_elevate(ShopifyElevation *e)
{
	Oid			owner = extension_owner();

	GetUserIdAndSecContext(&e->save_userid, &e->save_sec_context);
	SetUserIdAndSecContext(owner,
						   e->save_sec_context | SECURITY_LOCAL_USERID_CHANGE |
						   SECURITY_RESTRICTED_OPERATION);
	e->active = true;
}

void
shopify_restore(ShopifyElevation *e)
{
	if (e->active)
		SetUserIdAndSecContext(e->save_userid, e->save_sec_context);
	e->active = false;
}

/* ----- SPI shorthands ----- */

void
shopify_spi_connect(void)
{
	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");
}

void
shopify_spi_finish(void)
{
	SPI_finish();
}

/* Run one statement; returns SPI_processed.  Errors are thrown by SPI. */
int
shopify_spi_exec(const char *sql, int nargs, Oid *argtypes, Datum *values,
				 const char *nulls, bool read_only)
{
	int			rc;

	rc = SPI_execute_with_args(sql, nargs, argtypes, values, nulls, read_only, 0);
	if (rc < 0)
		elog(ERROR, "SPI_execute failed (%d): %s", rc, sql);
	return (int) SPI_processed;
}

/*
 * shopify_spi_exec() for a statement run often (once per page, per log
 * row): sql must be a string constant, whose address identifies it; its
 * plan is prepared once per process and kept.
 */
int
shopify_spi_run(const char *sql, int nargs, Oid *argtypes, Datum *values,
				const char *nulls, bool read_only)
{
	static struct
	{
		const char *sql;
		SPIPlanPtr	plan;
	}			cache[32];
	static int	ncache = 0;
	SPIPlanPtr	plan = NULL;
	int			rc;

	for (int i = 0; i < ncache; i++)
		if (cache[i].sql == sql)
			plan = cache[i].plan;
	if (plan == NULL)
	{
		plan = SPI_prepare(sql, nargs, argtypes);
		if (plan == NULL)
			elog(ERROR, "SPI_prepare failed (%s): %s", SPI_result_code_string(SPI_result), sql);
		if (ncache < (int) lengthof(cache))
		{
			SPI_keepplan(plan);
			cache[ncache].sql = sql;
			cache[ncache++].plan = plan;
		}
	}
	rc = SPI_execute_plan(plan, values, nulls, read_only, 0);
	if (rc < 0)
		elog(ERROR, "SPI_execute failed (%d): %s", rc, sql);
	return (int) SPI_processed;
}

/*
 * The last result must hold this row.  A row that an earlier statement (or
 * the ownership check) found can be missing from a later one: deleted
 * concurrently, or not yet visible to the snapshot of a read-only query
 * (shopify_store(shopify_connect_store(...)) reads the new store with the
 * calling query's snapshot).  An error, never a read past the result.
 */
static void
spi_check_row(int row)
{
	if (SPI_tuptable == NULL || row < 0 || (uint64) row >= SPI_processed)
		ereport(ERROR,
				(errcode(ERRCODE_T_R_SERIALIZATION_FAILURE),
				 errmsg("shopify_sync: a row read by this call is no longer visible"),
				 errdetail("It was changed or deleted concurrently, or created by the same statement."),
				 errhint("Try again in a new statement.")));
}

Datum
shopify_spi_value(int row, int col, bool *isnull)
{
	spi_check_row(row);
	return SPI_getbinval(SPI_tuptable->vals[row], SPI_tuptable->tupdesc, col, isnull);
}

/* Column as a palloc'd C string in the caller's context, or NULL. */
char *
shopify_spi_text(int row, int col)
{
	spi_check_row(row);
	return SPI_getvalue(SPI_tuptable->vals[row], SPI_tuptable->tupdesc, col);
}

int64
shopify_spi_int64(int row, int col)
{
	bool		isnull;
	Datum		d = shopify_spi_value(row, col, &isnull);

	return isnull ? 0 : DatumGetInt64(d);
}

/* ----- ownership ----- */

static void
deny_store(int64 shop_id, const ShopifyCaller *caller)
{
	if (caller->superuser)
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_OBJECT),
				 errmsg("Shopify store %lld does not exist", (long long) shop_id)));
	ereport(ERROR,
			(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
			 errmsg("permission denied for Shopify store %lld", (long long) shop_id),
			 errhint("Only the role that connected a store, or a superuser, can use it.")));
}

/*
 * Look the store up and check that the caller may use it; fills *store (in
 * the caller's memory context).  Must run inside SPI, elevated.
 */
void
shopify_store_access(int64 shop_id, int flags, const ShopifyCaller *caller,
					 ShopifyStore *store)
{
	Oid			types[1] = {INT8OID};
	Datum		vals[1] = {Int64GetDatum(shop_id)};
	int			n;
	bool		isnull;

	n = shopify_spi_exec("SELECT shop_id, shop_domain, shop_name, owner::text, is_active, token_status"
						 "  FROM shopify.stores WHERE shop_id = $1",
						 1, types, vals, NULL, false);
	if (n == 0)
		deny_store(shop_id, caller);
	store->owner = shopify_spi_text(0, 4);
	if (!caller->superuser && strcmp(store->owner, caller->rolename) != 0)
		deny_store(shop_id, caller);

	if (flags & STORE_LOCK)
	{
		/* Re-read under a row lock, now that the caller is known to own it. */
		n = shopify_spi_exec("SELECT shop_id, shop_domain, shop_name, owner::text, is_active, token_status"
							 "  FROM shopify.stores WHERE shop_id = $1 FOR UPDATE",
							 1, types, vals, NULL, false);
		if (n == 0)
			deny_store(shop_id, caller);
	}

	store->shop_id = shop_id;
	store->shop_domain = shopify_spi_text(0, 2);
	store->shop_name = shopify_spi_text(0, 3);
	store->owner = shopify_spi_text(0, 4);
	store->is_active = DatumGetBool(shopify_spi_value(0, 5, &isnull));
	store->token_status = shopify_spi_text(0, 6);

	if ((flags & STORE_REQUIRE_ACTIVE) && !store->is_active)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("Shopify store %lld (%s) is disconnected",
						(long long) shop_id, store->shop_domain),
				 errhint("Reconnect it with shopify_connect_store().")));
	if ((flags & STORE_REQUIRE_TOKEN) && strcmp(store->token_status, "invalid") == 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_AUTHORIZATION_SPECIFICATION),
				 errmsg("Shopify rejected the access token of store %lld (%s)",
						(long long) shop_id, store->shop_domain),
				 errhint("Reconnect the store with a new token: shopify_connect_store('%s', <token>).",
						 store->shop_domain)));
}

/*
 * Find a job's store and check the caller may use it; returns the shop_id.
 * An unknown job and another role's job look the same to ordinary roles.
 */
int64
shopify_job_access(int64 job_id, int flags, const ShopifyCaller *caller,
				   ShopifyStore *store)
{
	Oid			types[1] = {INT8OID};
	Datum		vals[1] = {Int64GetDatum(job_id)};
	int64		shop_id;
	char	   *owner;

	if (shopify_spi_exec("SELECT j.shop_id, s.owner::text FROM shopify.sync_jobs j"
						 "  JOIN shopify.stores s USING (shop_id) WHERE j.id = $1",
						 1, types, vals, NULL, false) == 0)
	{
		if (caller->superuser)
			ereport(ERROR,
					(errcode(ERRCODE_UNDEFINED_OBJECT),
					 errmsg("sync job %lld does not exist", (long long) job_id)));
		owner = NULL;
	}
	else
		owner = shopify_spi_text(0, 2);
	if (!caller->superuser && (owner == NULL || strcmp(owner, caller->rolename) != 0))
		ereport(ERROR,
				(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
				 errmsg("permission denied for sync job %lld", (long long) job_id),
				 errhint("Only the role that connected a store, or a superuser, can use its jobs.")));
	shop_id = shopify_spi_int64(0, 1);
	shopify_store_access(shop_id, flags, caller, store);
	return shop_id;
}

/* ----- arguments and redaction ----- */

/* Refuse NULL for the first nargs arguments, naming the parameter. */
void
shopify_require_args(FunctionCallInfo fcinfo, int nargs, const char *const *names)
{
	int			i;

	for (i = 0; i < nargs; i++)
		if (PG_ARGISNULL(i))
			ereport(ERROR,
					(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
					 errmsg("%s must not be null", names[i])));
}

/*
 * Whether the installed schema has the order mirror (0.2.0 and later): the
 * library may run against a 0.1.0 schema until ALTER EXTENSION ... UPDATE.
 */
bool
shopify_have_orders(void)
{
	Oid			nsp = get_namespace_oid("shopify", true);

	return OidIsValid(nsp) && OidIsValid(get_relname_relid("orders", nsp));
}

/* Does the schema have the rest of the store's tables (0.4.0 and later)? */
bool
shopify_have_store_tables(void)
{
	Oid			nsp = get_namespace_oid("shopify", true);

	return OidIsValid(nsp) && OidIsValid(get_relname_relid("locations", nsp));
}

/* A one-dimensional array of n values of type typ (dn: their nulls). */
Datum
shopify_array_of(Datum *d, bool *dn, int n, Oid typ)
{
	int16		typlen;
	bool		typbyval;
	char		typalign;
	int			dims[1] = {n};
	int			lbs[1] = {1};

	get_typlenbyvalalign(typ, &typlen, &typbyval, &typalign);
	return PointerGetDatum(construct_md_array(d, dn, 1, dims, lbs, typ, typlen, typbyval, typalign));
}

/* Is v among the n values of list? */
bool
shopify_int64_in(int64 v, const int64 *list, int n)
{
	for (int i = 0; i < n; i++)
		if (list[i] == v)
			return true;
	return false;
}

/* An int8[] of n ids. */
Datum
shopify_int8_array(int64 *ids, int n)
{
	Datum	   *d = palloc(sizeof(Datum) * Max(n, 1));

	for (int i = 0; i < n; i++)
		d[i] = Int64GetDatum(ids[i]);
	return PointerGetDatum(construct_array(d, n, INT8OID, 8, true, TYPALIGN_DOUBLE));
}
