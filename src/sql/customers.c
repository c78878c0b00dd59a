/*
 * customers.c — shopify_customer_data(shop_id, customer_id): every row the
 * mirror holds about one customer, for a customers/data_request (Shopify
 * asks the app to give the merchant what it holds; the request itself is
 * stored as a webhook event that names this call).  Only the store's owner
 * (or a superuser) may ask; the answer is logged as a store operation
 * (without the data).
 */
#include "postgres.h"

#include "fmgr.h"
#include "utils/builtins.h"
#include "utils/jsonb.h"

#include "base/log.h"
#include "base/util.h"
#include "mirror/mirror.h"

PG_FUNCTION_INFO_V1(shopify_customer_data);

Datum
shopify_customer_data(PG_FUNCTION_ARGS)
{
	static const char *const names[] = {"shop_id", "customer_id"};
	MemoryContext fcxt = CurrentMemoryContext;
	ShopifyCaller caller;
	ShopifyElevation elev = {0};
	ShopifyStore store;
	int64		customer_id;
	char	   *data;
	ShopifyJson j;
	Datum		result;

	shopify_require_args(fcinfo, 2, names);
	customer_id = PG_GETARG_INT64(1);
	if (customer_id <= 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("customer_id must be a positive Shopify customer id")));
	shopify_get_caller(&caller);
	shopify_elevate(&elev);
	shopify_spi_connect();
	shopify_store_access(PG_GETARG_INT64(0), 0, &caller, &store);
	data = mirror_customer_data(store.shop_id, customer_id);
	sj_init(&j);
	sj_int(&j, "customer_id", customer_id);
	sj_str(&j, "by", caller.rolename);
	sj_finish(&j);
	log_store_operation(store.shop_id, "info", "customer_data", store.shop_domain, j.buf.data);
	MemoryContextSwitchTo(fcxt);
	result = DirectFunctionCall1(jsonb_in, CStringGetDatum(data));
	shopify_spi_finish();
	shopify_restore(&elev);
	PG_RETURN_DATUM(result);
}
