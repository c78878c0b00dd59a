/*
 * maintenance.c — what both the SQL surface and the worker do to a store's
 * rows: a store's disconnect (shopify_disconnect(), and the worker's handling
 * of app/uninstalled), and the retention clean-up (shopify_cleanup(), and
 * the worker's hourly run).  Both run in the caller's transaction and SPI
 * connection.
 */
#include "postgres.h"

#include "catalog/namespace.h"
#include "catalog/pg_type.h"
#include "miscadmin.h"
#include "portability/instr_time.h"
#include "utils/builtins.h"
#include "utils/lsyscache.h"

#include "base/log.h"
#include "base/settings.h"
#include "mirror/resource.h"
#include "base/util.h"
#include "worker/maintenance.h"

/*
 * The work of a disconnect, shared by shopify_disconnect() and the worker's
 * handling of app/uninstalled: cancel the store's active jobs, deactivate
 * its rows, close its pending webhook events, erase its token, deactivate
 * it, log it.  The caller holds the store row locked and an SPI connection.
 */
void
shopify_disconnect_core(int64 shop_id, const char *shop_domain, const char *by,
						DisconnectResult *r)
{
	Oid			types[2] = {INT8OID, TEXTOID};
	Datum		vals[2] = {Int64GetDatum(shop_id), CStringGetTextDatum(by)};
	instr_time	start,
				elapsed;
	ShopifyJson d;

	INSTR_TIME_SET_CURRENT(start);
	r->jobs = shopify_spi_exec("UPDATE shopify.sync_jobs SET status = 'cancelled',"
							   "  finished_at = now(), lease_expires_at = NULL,"
							   "  error = 'store disconnected by ' || $2, error_class = 'cancelled'"
							   " WHERE shop_id = $1 AND status IN ('pending', 'running')",
							   2, types, vals, NULL, false);
	r->products = shopify_spi_exec("UPDATE shopify.products SET is_active = false, deactivated_at = now()"
								   " WHERE shop_id = $1 AND is_active",
								   1, types, vals, NULL, false);
	r->orders = !shopify_have_orders() ? 0 :
		shopify_spi_exec("UPDATE shopify.orders SET is_active = false"
						 " WHERE shop_id = $1 AND is_active",
						 1, types, vals, NULL, false);
	/* the objects of declared resources (0.4.0 and later) */
	r->objects = 0;
	if (OidIsValid(get_relname_relid("objects", get_namespace_oid("shopify", false))))
		r->objects = shopify_spi_exec("UPDATE shopify.objects SET is_active = false, deactivated_at = now()"
									  " WHERE shop_id = $1 AND is_active",
									  1, types, vals, NULL, false);
	/* the rest of the store (0.4.0 and later): every table a resource declares */
	r->store_rows = 0;
	if (shopify_have_store_tables())
	{
		const char *done[16];
		int			ndone = 0;

		for (int i = 0; resource_builtins[i]; i++)
			if (resource_builtins[i]->kind == RESOURCE_TABLES)
				for (int k = 0; resource_builtins[i]->tables[k]; k++)
				{
					const char *t = resource_builtins[i]->tables[k];
					bool		seen = false;

					for (int d = 0; d < ndone; d++)
						seen |= strcmp(done[d], t) == 0;
					if (seen || ndone == lengthof(done))
						continue;
					done[ndone++] = t;
					r->store_rows += shopify_spi_exec(psprintf("UPDATE %s SET is_active = false, deactivated_at = now()"
															   " WHERE shop_id = $1 AND is_active", t),
													  1, types, vals, NULL, false);
				}
	}
	r->events = shopify_spi_exec("UPDATE shopify.webhook_events SET processed = true,"
								 "  processed_at = now(), note = 'store disconnected'"
								 " WHERE shop_id = $1 AND NOT processed",
								 1, types, vals, NULL, false);
	r->deactivated = shopify_spi_exec("UPDATE shopify.stores SET is_active = false,"
									  "  access_token_encrypted = NULL, token_key_id = NULL,"
									  "  token_status = 'none', disconnected_at = now(),"
									  "  last_sync_status = CASE WHEN last_sync_status IN ('pending', 'running')"
									  "                          THEN 'cancelled' ELSE last_sync_status END,"
									  "  updated_at = now()"
									  " WHERE shop_id = $1 AND is_active",
									  1, types, vals, NULL, false) == 1;
	INSTR_TIME_SET_CURRENT(elapsed);
	INSTR_TIME_SUBTRACT(elapsed, start);
	r->seconds = INSTR_TIME_GET_DOUBLE(elapsed);

	sj_init(&d);
	sj_int(&d, "sync_jobs_cancelled", r->jobs);
	sj_int(&d, "products_deactivated", r->products);
	sj_int(&d, "orders_deactivated", r->orders);
	sj_int(&d, "objects_deactivated", r->objects);
	sj_int(&d, "store_rows_deactivated", r->store_rows);
	sj_int(&d, "webhook_events_processed", r->events);
	sj_bool(&d, "store_deactivated", r->deactivated);
	sj_num(&d, "duration_ms", r->seconds * 1000.0);
	sj_str(&d, "by", by);
	sj_finish(&d);
	log_store_operation(shop_id, "info", "disconnect", shop_domain, d.buf.data);
}

/*
 * Delete log rows and finished jobs past their retention, in batches of
 * batch_size rows (one statement each, so no statement holds many row
 * locks).  Runs inside the caller's transaction and SPI connection.
 */
void
shopify_run_cleanup(int batch, int64 *logs, int64 *jobs, int64 *events)
{
	Oid			types[2] = {INT4OID, INT4OID};
	Datum		vals[2];
	int			n;

	*logs = *jobs = *events = 0;
	vals[1] = Int32GetDatum(batch);
	if (shopify_log_retention_min > 0)
	{
		vals[0] = Int32GetDatum(shopify_log_retention_min);
		do
		{
			n = shopify_spi_exec("DELETE FROM shopify.sync_log WHERE id IN ("
								 " SELECT id FROM shopify.sync_log"
								 "  WHERE logged_at < now() - make_interval(mins => $1)"
								 "  ORDER BY logged_at LIMIT $2)",
								 2, types, vals, NULL, false);
			*logs += n;
			CHECK_FOR_INTERRUPTS();
		} while (n == batch);
	}
	if (shopify_job_retention_min > 0)
	{
		vals[0] = Int32GetDatum(shopify_job_retention_min);
		do
		{
			n = shopify_spi_exec("DELETE FROM shopify.sync_jobs WHERE id IN ("
								 " SELECT id FROM shopify.sync_jobs"
								 "  WHERE finished_at < now() - make_interval(mins => $1)"
								 "  ORDER BY finished_at LIMIT $2)",
								 2, types, vals, NULL, false);
			*jobs += n;
			CHECK_FOR_INTERRUPTS();
		} while (n == batch);
		/* processed webhook events age like finished jobs */
		do
		{
			n = shopify_spi_exec("DELETE FROM shopify.webhook_events WHERE id IN ("
								 " SELECT id FROM shopify.webhook_events"
								 "  WHERE processed AND processed_at < now() - make_interval(mins => $1)"
								 "  ORDER BY id LIMIT $2)",
								 2, types, vals, NULL, false);
			*events += n;
			CHECK_FOR_INTERRUPTS();
		} while (n == batch);
	}
}

