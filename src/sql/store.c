/*
 * store.c — the store functions of the SQL surface: connect, list, details,
 * statistics, disconnect.
 *
 * Each runs in the caller's transaction, checks ownership (util.c) and does
 * its SQL with the extension owner's rights.  shopify_disconnect() is one
 * transaction by construction: it locks the store row first, so the worker,
 * which takes a share lock on the store row in every transaction that writes
 * mirror rows, either finished its page before the disconnect or sees the
 * store inactive and writes nothing.
 */
#include "postgres.h"

#include "catalog/pg_type.h"
#include "funcapi.h"
#include "miscadmin.h"
#include "utils/builtins.h"
#include "utils/jsonb.h"
#include "utils/timestamp.h"

#include "base/crypto.h"
#include "base/domain.h"
#include "base/log.h"
#include "base/settings.h"
#include "base/shmem.h"
#include "base/redact.h"
#include "worker/maintenance.h"
#include "base/util.h"

PG_FUNCTION_INFO_V1(shopify_connect_store);
PG_FUNCTION_INFO_V1(shopify_stores);
PG_FUNCTION_INFO_V1(shopify_store);
PG_FUNCTION_INFO_V1(shopify_store_stats);
PG_FUNCTION_INFO_V1(shopify_disconnect);
PG_FUNCTION_INFO_V1(shopify_set_store_api);

/* Copy a jsonb result out of SPI memory into the function's context. */
static Datum
spi_jsonb_result(MemoryContext fcxt)
{
	bool		isnull;
	Datum		d = shopify_spi_value(0, 1, &isnull);
	MemoryContext old = MemoryContextSwitchTo(fcxt);
	Jsonb	   *copy = DatumGetJsonbPCopy(d);

	MemoryContextSwitchTo(old);
	return JsonbPGetDatum(copy);
}

/*
 * shopify_connect_store(shop_domain, access_token, shop_name) → shop_id
 */
Datum
shopify_connect_store(PG_FUNCTION_ARGS)
{
	static const char *const names[] = {"shop_domain", "access_token"};
	ShopifyCaller caller;
	ShopifyElevation elev = {0};
	char	   *raw_domain;
	char	   *domain;
	char	   *token;
	char	   *shop_name = NULL;
	const char *reason;
	const char *key_id;
	bytea	   *ct;
	int64		shop_id;
	bool		existed = false;
	bool		was_active = false;
	Oid			types[5] = {TEXTOID, TEXTOID, BYTEAOID, TEXTOID, TEXTOID};
	Datum		vals[5];
	char		nulls[5] = {' ', ' ', ' ', ' ', ' '};

	/* The token is in this statement's text: hide it before anything else. */
	shopify_redact_activity("shopify_connect_store");
	shopify_require_args(fcinfo, 2, names);

	raw_domain = text_to_cstring(PG_GETARG_TEXT_PP(0));
	token = text_to_cstring(PG_GETARG_TEXT_PP(1));
	if (!PG_ARGISNULL(2))
	{
		shop_name = text_to_cstring(PG_GETARG_TEXT_PP(2));
		if (strlen(shop_name) > 255)
			ereport(ERROR,
					(errcode(ERRCODE_STRING_DATA_RIGHT_TRUNCATION),
					 errmsg("shop_name is longer than 255 characters")));
		/* a token in the wrong argument would be stored (and shown) in plain text */
		if (shopify_looks_like_token(shop_name))
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("shop_name looks like an access token"),
					 errhint("The arguments are (shop_domain, access_token, shop_name); tokens are stored only encrypted.")));
	}

	domain = shopify_normalize_domain(raw_domain, &reason);
	if (domain == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("invalid shop domain"),
				 errdetail("%s", reason),
				 errhint("Use the store's <name>.myshopify.com domain, e.g. example.myshopify.com.")));
	reason = shopify_check_token_shape(token);
	if (reason != NULL)
	{
		shopify_free_secret(token);
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("invalid access token"),
				 errdetail("%s", reason),
				 errhint("Use the Admin API access token of the store's app (shpat_..., 38 characters).")));
	}

	shopify_get_caller(&caller);
	ct = shopify_encrypt_token(token, domain, &key_id);
	shopify_free_secret(token);

	shopify_elevate(&elev);
	shopify_spi_connect();

	vals[0] = CStringGetTextDatum(domain);
	vals[1] = shop_name ? CStringGetTextDatum(shop_name) : (Datum) 0;
	nulls[1] = shop_name ? ' ' : 'n';
	vals[2] = PointerGetDatum(ct);
	vals[3] = CStringGetTextDatum(key_id);
	vals[4] = CStringGetTextDatum(caller.rolename);

	if (shopify_spi_exec("INSERT INTO shopify.stores AS s"
						 "  (shop_domain, shop_name, access_token_encrypted, token_key_id, owner)"
						 " VALUES ($1, $2, $3, $4, $5::name)"
						 " ON CONFLICT (shop_domain) DO NOTHING"
						 " RETURNING shop_id",
						 5, types, vals, nulls, false) == 1)
		shop_id = shopify_spi_int64(0, 1);
	else
	{
		Oid			t1[1] = {TEXTOID};
		bool		isnull;
		char	   *owner;

		/* The domain is known: the caller must own it (or be a superuser). */
		if (shopify_spi_exec("SELECT shop_id, owner::text, is_active FROM shopify.stores"
							 " WHERE shop_domain = $1 FOR UPDATE",
							 1, t1, vals, NULL, false) != 1)
			ereport(ERROR,
					(errcode(ERRCODE_T_R_SERIALIZATION_FAILURE),
					 errmsg("store \"%s\" was removed concurrently", domain),
					 errhint("Try again.")));
		shop_id = shopify_spi_int64(0, 1);
		owner = shopify_spi_text(0, 2);
		was_active = DatumGetBool(shopify_spi_value(0, 3, &isnull));
		if (!caller.superuser && strcmp(owner, caller.rolename) != 0)
			ereport(ERROR,
					(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
					 errmsg("permission denied to connect store \"%s\"", domain),
					 errhint("Only the role that connected a store, or a superuser, can reconnect it.")));

		existed = true;
		vals[0] = Int64GetDatum(shop_id);
		types[0] = INT8OID;
		shopify_spi_exec("UPDATE shopify.stores SET"
						 "  shop_name = coalesce($2, shop_name),"
						 "  access_token_encrypted = $3, token_key_id = $4,"
						 "  token_status = 'valid', is_active = true,"
						 "  connected_at = CASE WHEN is_active THEN connected_at ELSE now() END,"
						 "  disconnected_at = NULL, updated_at = now()"
						 " WHERE shop_id = $1",
						 4, types, vals, nulls, false);
	}

	shopify_spi_finish();
	shopify_restore(&elev);

	{
		ShopifyJson j;

		sj_init(&j);
		sj_str(&j, "owner", caller.rolename);
		sj_str(&j, "token_key_id", key_id);
		sj_finish(&j);
		log_store_operation(shop_id, "info",
							!existed ? "connect" : (was_active ? "token_replaced" : "reconnect"),
							domain, j.buf.data);
	}

	PG_RETURN_INT64(shop_id);
}

/*
 * shopify_stores() → the active stores the caller owns (all for superusers).
 */
Datum
shopify_stores(PG_FUNCTION_ARGS)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	ShopifyCaller caller;
	ShopifyElevation elev = {0};
	Oid			types[2] = {TEXTOID, BOOLOID};
	Datum		vals[2];
	int			n;
	int			i;

	InitMaterializedSRF(fcinfo, 0);
	shopify_get_caller(&caller);
	vals[0] = CStringGetTextDatum(caller.rolename);
	vals[1] = BoolGetDatum(caller.superuser);

	shopify_elevate(&elev);
	shopify_spi_connect();
	n = shopify_spi_exec("SELECT s.shop_id, s.shop_domain, s.shop_name, s.is_active,"
						 "       s.connected_at, s.last_sync_at, s.last_sync_status,"
						 "       coalesce(c.variants, 0), coalesce(c.active, 0),"
						 "       s.owner, s.token_status, s.api"
						 "  FROM shopify.stores s"
						 "  LEFT JOIN LATERAL (SELECT count(*) AS variants,"
						 "                            count(*) FILTER (WHERE p.is_active) AS active"
						 "                       FROM shopify.products p WHERE p.shop_id = s.shop_id) c ON true"
						 " WHERE s.is_active AND ($2 OR s.owner = $1::name)"
						 " ORDER BY s.shop_id",
						 2, types, vals, NULL, true);
	for (i = 0; i < n; i++)
		tuplestore_puttuple(rsinfo->setResult, SPI_tuptable->vals[i]);
	shopify_spi_finish();
	shopify_restore(&elev);
	return (Datum) 0;
}

/*
 * shopify_store(shop_id) → jsonb details; has_access_token, never the token.
 */
Datum
shopify_store(PG_FUNCTION_ARGS)
{
	static const char *const names[] = {"shop_id"};
	MemoryContext fcxt = CurrentMemoryContext;
	ShopifyCaller caller;
	ShopifyElevation elev = {0};
	ShopifyStore store;
	int64		shop_id;
	Oid			types[2] = {INT8OID, TEXTOID};
	Datum		vals[2];
	Datum		result;

	shopify_require_args(fcinfo, 1, names);
	shop_id = PG_GETARG_INT64(0);
	shopify_get_caller(&caller);

	shopify_elevate(&elev);
	shopify_spi_connect();
	shopify_store_access(shop_id, 0, &caller, &store);
	vals[0] = Int64GetDatum(shop_id);
	vals[1] = CStringGetTextDatum(shopify_token_key_id());
	shopify_spi_exec("SELECT jsonb_build_object("
					 "  'shop_id', shop_id, 'shop_domain', shop_domain, 'shop_name', shop_name,"
					 "  'owner', owner, 'is_active', is_active,"
					 "  'has_access_token', access_token_encrypted IS NOT NULL,"
					 "  'token_status', token_status,"
					 "  'token_key_matches', CASE WHEN access_token_encrypted IS NULL THEN NULL"
					 "                            ELSE token_key_id = $2 END,"
					 "  'api', api, 'currency', currency, 'plan_name', plan_name,"
					 "  'connected_at', connected_at, 'disconnected_at', disconnected_at,"
					 "  'last_sync_at', last_sync_at, 'last_sync_status', last_sync_status,"
					 "  'last_sync_job_id', last_sync_job_id, 'last_error', last_error,"
					 "  'created_at', created_at, 'updated_at', updated_at)"
					 " FROM shopify.stores WHERE shop_id = $1",
					 2, types, vals, NULL, true);
	result = spi_jsonb_result(fcxt);
	shopify_spi_finish();
	shopify_restore(&elev);
	PG_RETURN_DATUM(result);
}

/*
 * The rest of the store's figures (0.4.0): locations, units available per
 * location, collections; customers and the share of them who ordered more
 * than once, when the store syncs customers.
 */
#define STORE_STATS \
	"  || jsonb_build_object('location_count', (SELECT count(*) FROM shopify.locations l" \
	"                                             WHERE l.shop_id = s.shop_id AND l.is_active)," \
	"       'inventory_by_location', (SELECT coalesce(jsonb_agg(jsonb_build_object(" \
	"             'location_id', l.location_id, 'name', l.name, 'available', coalesce(i.units, 0))" \
	"             ORDER BY l.location_id), '[]')" \
	"           FROM shopify.locations l LEFT JOIN (SELECT location_id, sum(available) AS units" \
	"                  FROM shopify.inventory_levels WHERE shop_id = s.shop_id AND is_active" \
	"                 GROUP BY location_id) i USING (location_id)" \
	"          WHERE l.shop_id = s.shop_id AND l.is_active)," \
	"       'collection_count', (SELECT count(*) FROM shopify.collections c" \
	"                             WHERE c.shop_id = s.shop_id AND c.is_active))" \
	"  || CASE WHEN 'customers' = ANY(s.resources) THEN (SELECT jsonb_build_object(" \
	"       'customer_count', count(*)," \
	"       'repeat_customer_rate', CASE WHEN count(*) FILTER (WHERE number_of_orders > 0) > 0" \
	"            THEN round(count(*) FILTER (WHERE number_of_orders > 1)::numeric" \
	"                       / count(*) FILTER (WHERE number_of_orders > 0), 4) ELSE 0 END)" \
	"       FROM shopify.customers cu WHERE cu.shop_id = s.shop_id AND cu.is_active)" \
	"       ELSE '{}'::jsonb END"

/* the statistics query; with_orders false: a 0.1.0 schema, no order mirror */
static const char *
stats_query(bool with_orders, bool with_store)
{
	static const char *full = "SELECT jsonb_build_object("
		"  'shop_id', s.shop_id, 'shop_domain', s.shop_domain,"
		"  'product_count', p.products, 'active_product_count', p.active_products,"
		"  'variant_count', p.variants, 'active_variant_count', p.active_variants,"
		"  'inactive_variant_count', p.variants - p.active_variants,"
		"  'draft_variant_count', p.drafts, 'archived_variant_count', p.archived,"
		"  'inventory_units', p.units,"
		"  'order_count', o.orders, 'cancelled_order_count', o.orders - o.kept,"
		"  'total_revenue', o.revenue, 'revenue_last_30_days', o.revenue30,"
		"  'average_order_value', CASE WHEN o.kept > 0 THEN round(o.revenue / o.kept, 2) ELSE 0 END,"
		"  'last_order_at', o.last_order_at, 'top_variants', tv.top,"
		"  'currency', s.currency,"
		"  'last_sync_at', s.last_sync_at, 'last_sync_status', s.last_sync_status,"
		"  'last_sync_job_id', s.last_sync_job_id)"
		"  FROM shopify.stores s,"
		"  LATERAL (SELECT count(DISTINCT product_id) AS products,"
		"                  count(DISTINCT product_id) FILTER (WHERE is_active) AS active_products,"
		"                  count(*) AS variants,"
		"                  count(*) FILTER (WHERE is_active) AS active_variants,"
		"                  count(*) FILTER (WHERE is_active AND status = 'draft') AS drafts,"
		"                  count(*) FILTER (WHERE is_active AND status = 'archived') AS archived,"
		"                  coalesce(sum(greatest(inventory_quantity, 0)) FILTER (WHERE is_active), 0) AS units"
		"             FROM shopify.products WHERE shop_id = s.shop_id) p,"
		"  LATERAL (SELECT coalesce(t.order_count, 0) AS orders,"
		"                  coalesce(t.order_count - t.cancelled_count, 0) AS kept,"
		"                  coalesce(t.revenue, 0) AS revenue,"
		"                  (SELECT coalesce(sum(coalesce(total_price, 0) - total_refunded), 0)"
		"                     FROM shopify.orders WHERE shop_id = s.shop_id AND cancelled_at IS NULL"
		"                      AND processed_at >= now() - interval '30 days') AS revenue30,"
		"                  (SELECT max(processed_at) FROM shopify.orders WHERE shop_id = s.shop_id) AS last_order_at"
		"             FROM (SELECT) one LEFT JOIN shopify.order_totals t ON t.shop_id = s.shop_id) o,"
		"  LATERAL (SELECT coalesce(jsonb_agg(jsonb_build_object('sku_id', u.sku_id, 'units', u.units,"
		"                                     'sku', pr.sku, 'title', pr.title)"
		"                                     ORDER BY u.units DESC, u.sku_id), '[]') AS top"
		"             FROM (SELECT v.sku_id, v.units FROM shopify.variant_sales v"
		"                    WHERE v.shop_id = s.shop_id AND v.units > 0"
		"                    ORDER BY v.units DESC, v.sku_id LIMIT 5) u"
		"             LEFT JOIN shopify.products pr ON pr.sku_id = u.sku_id AND pr.shop_id = s.shop_id) tv"
		" WHERE s.shop_id = $1";
	static const char *products_only =
		"SELECT jsonb_build_object("
		"  'shop_id', s.shop_id, 'shop_domain', s.shop_domain,"
		"  'product_count', p.products, 'active_product_count', p.active_products,"
		"  'variant_count', p.variants, 'active_variant_count', p.active_variants,"
		"  'inactive_variant_count', p.variants - p.active_variants,"
		"  'draft_variant_count', p.drafts, 'archived_variant_count', p.archived,"
		"  'inventory_units', p.units, 'order_count', 0, 'total_revenue', 0,"
		"  'currency', s.currency,"
		"  'last_sync_at', s.last_sync_at, 'last_sync_status', s.last_sync_status,"
		"  'last_sync_job_id', s.last_sync_job_id)"
		"  FROM shopify.stores s,"
		"  LATERAL (SELECT count(DISTINCT product_id) AS products,"
		"                  count(DISTINCT product_id) FILTER (WHERE is_active) AS active_products,"
		"                  count(*) AS variants,"
		"                  count(*) FILTER (WHERE is_active) AS active_variants,"
		"                  count(*) FILTER (WHERE is_active AND status = 'draft') AS drafts,"
		"                  count(*) FILTER (WHERE is_active AND status = 'archived') AS archived,"
		"                  coalesce(sum(greatest(inventory_quantity, 0)) FILTER (WHERE is_active), 0) AS units"
		"             FROM shopify.products WHERE shop_id = s.shop_id) p"
		" WHERE s.shop_id = $1";

	if (with_orders && with_store)
	{
		/* the same, and the rest of the store */
		static char *store = NULL;

		if (store == NULL)
		{
			const char *from = strstr(full, "  FROM shopify.stores s,");

			store = MemoryContextAlloc(TopMemoryContext, strlen(full) + strlen(STORE_STATS) + 1);
			memcpy(store, full, from - full);
			strcpy(store + (from - full), STORE_STATS);
			strcat(store, from);
		}
		return store;
	}
	return with_orders ? full : products_only;
}

/*
 * shopify_store_stats(shop_id) → jsonb counts from the mirror, in one query.
 *
 * Revenue is exact numeric in the shop's currency: the sum over orders not
 * cancelled of total_price − total_refunded (processed in the last 30 days
 * for revenue_last_30_days); the average order value divides it by the
 * number of those orders, rounded to cents.  Top variants: units sold
 * (line quantities of orders not cancelled) per variant, ties by sku_id.
 * Totals and units come from shopify.order_totals and shopify.variant_sales,
 * which triggers keep current; the last 30 days are a range of
 * orders_shop_processed_idx.  The cost does not grow with the order count.
 */
Datum
shopify_store_stats(PG_FUNCTION_ARGS)
{
	static const char *const names[] = {"shop_id"};
	MemoryContext fcxt = CurrentMemoryContext;
	ShopifyCaller caller;
	ShopifyElevation elev = {0};
	ShopifyStore store;
	Oid			types[1] = {INT8OID};
	Datum		vals[1];
	Datum		result;

	shopify_require_args(fcinfo, 1, names);
	vals[0] = PG_GETARG_DATUM(0);
	shopify_get_caller(&caller);

	shopify_elevate(&elev);
	shopify_spi_connect();
	shopify_store_access(PG_GETARG_INT64(0), 0, &caller, &store);
	shopify_spi_exec(stats_query(shopify_have_orders(), shopify_have_store_tables()), 1, types, vals,
					 NULL, true);
	result = spi_jsonb_result(fcxt);
	shopify_spi_finish();
	shopify_restore(&elev);
	PG_RETURN_DATUM(result);
}

/*
 * shopify_disconnect(shop_id) → jsonb, in the contract's exact shape.
 */
Datum
shopify_disconnect(PG_FUNCTION_ARGS)
{
	static const char *const names[] = {"shop_id"};
	MemoryContext fcxt = CurrentMemoryContext;
	ShopifyCaller caller;
	ShopifyElevation elev = {0};
	ShopifyStore store;
	int64		shop_id;
	DisconnectResult r;
	Datum		result;
	ShopifyJson j;

	shopify_require_args(fcinfo, 1, names);
	shop_id = PG_GETARG_INT64(0);
	shopify_get_caller(&caller);

	shopify_elevate(&elev);
	shopify_spi_connect();
	shopify_store_access(shop_id, STORE_LOCK, &caller, &store);

	shopify_disconnect_core(shop_id, store.shop_domain, caller.rolename, &r);
	shopify_spi_finish();
	shopify_restore(&elev);

	sj_init(&j);
	sj_str(&j, "message", "Store disconnected successfully");
	sj_str(&j, "shop_domain", store.shop_domain);
	sj_str(&j, "shop_name", store.shop_name);
	appendStringInfo(&j.buf, ", \"cleanup_results\": {\"sync_jobs_cancelled\": %d, "
					 "\"products_deactivated\": %d, \"orders_deactivated\": %d, "
					 "\"webhook_events_processed\": %d, \"store_deactivated\": %s}",
					 r.jobs, r.products, r.orders, r.events, r.deactivated ? "true" : "false");
	j.empty = false;
	sj_num(&j, "disconnect_duration", r.seconds);
	sj_finish(&j);

	if (r.jobs > 0)
		shopify_wake_worker_at_commit();

	MemoryContextSwitchTo(fcxt);
	result = DirectFunctionCall1(jsonb_in, CStringGetDatum(j.buf.data));
	PG_RETURN_DATUM(result);
}

/*
 * shopify_set_store_api(shop_id, api) → the API now in effect for the store.
 */
Datum
shopify_set_store_api(PG_FUNCTION_ARGS)
{
	static const char *const names[] = {"shop_id"};
	ShopifyCaller caller;
	ShopifyElevation elev = {0};
	ShopifyStore store;
	char	   *api = NULL;
	const char *effective;
	Oid			types[2] = {INT8OID, TEXTOID};
	Datum		vals[2];
	char		nulls[2] = {' ', ' '};
	ShopifyJson j;

	shopify_require_args(fcinfo, 1, names);
	if (!PG_ARGISNULL(1))
	{
		api = text_to_cstring(PG_GETARG_TEXT_PP(1));
		if (strcmp(api, "rest") != 0 && strcmp(api, "graphql") != 0)
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("invalid API \"%s\"", api),
					 errhint("Use 'rest', 'graphql', or NULL to follow shopify_sync.api.")));
	}
	shopify_get_caller(&caller);
	vals[0] = PG_GETARG_DATUM(0);
	vals[1] = api ? CStringGetTextDatum(api) : (Datum) 0;
	nulls[1] = api ? ' ' : 'n';

	shopify_elevate(&elev);
	shopify_spi_connect();
	shopify_store_access(PG_GETARG_INT64(0), STORE_LOCK, &caller, &store);
	shopify_spi_exec("UPDATE shopify.stores SET api = $2, updated_at = now() WHERE shop_id = $1",
					 2, types, vals, nulls, false);
	effective = api ? api : (shopify_api == SHOPIFY_API_REST ? "rest" : "graphql");
	sj_init(&j);
	sj_str(&j, "api", api);
	sj_str(&j, "effective_api", effective);
	sj_finish(&j);
	log_store_operation(store.shop_id, "info", "api_changed", store.shop_domain, j.buf.data);
	shopify_spi_finish();
	shopify_restore(&elev);
	PG_RETURN_TEXT_P(cstring_to_text(effective));
}
