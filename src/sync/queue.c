/*
 * queue.c — the worker's side of the job table.
 *
 * Claim: pending jobs of active stores are taken with FOR UPDATE SKIP LOCKED
 * in a short transaction and marked running with a lease.  Heartbeat: one
 * statement extends the leases of the jobs in flight and reads their
 * cancel_requested flags.  Rescue: a running job whose worker is gone (at
 * worker start every running job is such an orphan; later, a job whose lease
 * expired) goes back to pending and resumes from its saved cursor.  Lock: a
 * transaction that writes a page first takes a share lock on the store row
 * and then locks the job row, the same order shopify_disconnect() uses, and
 * writes nothing when the job is no longer running or the store is gone.
 */
#include "postgres.h"

#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/lsyscache.h"
#include "utils/timestamp.h"

#include "base/log.h"
#include "sync/queue.h"
#include "base/settings.h"
#include "base/util.h"

static Datum
int8_array(int64 *ids, int n)
{
	Datum	   *d = palloc(sizeof(Datum) * Max(n, 1));
	int			i;

	for (i = 0; i < n; i++)
		d[i] = Int64GetDatum(ids[i]);
	return PointerGetDatum(construct_array(d, n, INT8OID, 8, FLOAT8PASSBYVAL, TYPALIGN_DOUBLE));
}

static int
spi_int(int row, int col)
{
	bool		isnull;
	Datum		d = shopify_spi_value(row, col, &isnull);

	return isnull ? -1 : DatumGetInt32(d);
}

/*
 * Put running jobs that no live worker owns back to pending.  all_orphans:
 * every running job not in running[] (worker start); otherwise only those
 * whose lease expired.
 */
int
queue_rescue(bool all_orphans, int64 *running, int nrunning)
{
	Oid			types[2] = {INT8ARRAYOID, BOOLOID};
	Datum		vals[2] = {int8_array(running, nrunning), BoolGetDatum(all_orphans)};
	int			n,
				i;

	n = shopify_spi_exec("UPDATE shopify.sync_jobs SET status = 'pending', worker_pid = NULL,"
						 "  lease_expires_at = NULL, run_after = now()"
						 " WHERE status = 'running' AND NOT (id = ANY($1))"
						 "   AND ($2 OR lease_expires_at < now())"
						 " RETURNING id, shop_id, pages_fetched, attempts",
						 2, types, vals, NULL, false);
	if (n > 0)
	{
		int64	   *ids = palloc(sizeof(int64) * n);
		int64	   *shops = palloc(sizeof(int64) * n);
		int		   *pages = palloc(sizeof(int) * n);

		for (i = 0; i < n; i++)
		{
			ids[i] = shopify_spi_int64(i, 1);
			shops[i] = shopify_spi_int64(i, 2);
			pages[i] = spi_int(i, 3);
		}
		for (i = 0; i < n; i++)
		{
			ShopifyJson j;
			char	   *msg;

			sj_init(&j);
			sj_int(&j, "pages_already_written", pages[i]);
			sj_str(&j, "reason", all_orphans ? "worker restarted" : "lease expired");
			sj_finish(&j);
			msg = psprintf("sync left running by a stopped worker is queued again; it resumes after page %d",
						   pages[i]);
			log_sync_operation(shops[i], ids[i], "warning", "recovered", msg, j.buf.data);
		}
	}
	return n;
}

/*
 * Claim up to max pending jobs (not those already running here).  Returns
 * the number claimed; *jobs (and its strings) are palloc'd in the context
 * that was current at the call, which is current again on return.  (SPI
 * leaves its procedure context current after each statement: without the
 * switch below they would be freed at SPI_finish, at the end of the claim
 * transaction, while the worker still reads them.)
 */
int
queue_claim(int max, int64 *running, int nrunning, ClaimedJob **jobs)
{
	MemoryContext out_cxt = CurrentMemoryContext;
	Oid			types[5] = {INT4OID, INT8ARRAYOID, INT4OID, INT4OID, TEXTOID};
	Datum		vals[5];
	int			n,
				i;
	ClaimedJob *out;

	vals[0] = Int32GetDatum(max);
	vals[1] = int8_array(running, nrunning);
	vals[2] = Int32GetDatum(shopify_lease_time_s);
	vals[3] = Int32GetDatum(shopify_incremental_lookback_s);
	vals[4] = CStringGetTextDatum(shopify_api == SHOPIFY_API_REST ? "rest" : "graphql");

	n = shopify_spi_exec("WITH c AS ("
						 "  SELECT j.id FROM shopify.sync_jobs j"
						 "   WHERE j.status = 'pending' AND j.run_after <= now()"
						 "     AND NOT (j.id = ANY($2))"
						 "   ORDER BY j.run_after, j.id LIMIT $1"
						 "   FOR UPDATE SKIP LOCKED),"
						 " claimed AS ("
						 "  UPDATE shopify.sync_jobs j SET status = 'running', attempts = j.attempts + 1,"
						 "    started_at = coalesce(j.started_at, now()), heartbeat_at = now(),"
						 "    lease_expires_at = now() + make_interval(secs => $3),"
						 "    worker_pid = pg_backend_pid(),"
						 "    api = CASE WHEN j.api = 'bulk' THEN 'bulk'"
						 "               WHEN j.resource NOT IN ('products', 'orders') THEN 'graphql'"
						 "               ELSE coalesce((SELECT s.api FROM shopify.stores s WHERE s.shop_id = j.shop_id), $5) END,"
						 "    updated_since = CASE WHEN NOT j.full_sync AND j.pages_fetched = 0"
						 "      THEN (SELECT max(p.started_at) - make_interval(secs => $4)"
						 "              FROM shopify.sync_jobs p"
						 "             WHERE p.shop_id = j.shop_id AND p.resource = j.resource"
						 "               AND p.status = 'completed')"
						 "      ELSE j.updated_since END"
						 "   FROM c WHERE j.id = c.id"
						 "  RETURNING j.*),"
						 " st AS ("
						 "  UPDATE shopify.stores s SET last_sync_status = 'running', last_sync_job_id = claimed.id"
						 "    FROM claimed WHERE s.shop_id = claimed.shop_id)"
						 "SELECT c.id, c.shop_id, s.shop_domain, s.access_token_encrypted, s.token_key_id,"
						 "       s.token_status, s.is_active, s.api, c.resource, c.full_sync, c.sync_inventory,"
						 "       c.cursor, c.pages_fetched, c.products_fetched, c.total_products,"
						 "       c.updated_since, c.attempts, c.api, c.bulk_operation_id,"
						 "       d.query, coalesce(d.incremental, false)"
						 "  FROM claimed c JOIN shopify.stores s ON s.shop_id = c.shop_id"
						 "  LEFT JOIN shopify.resource_definitions d ON d.name = c.resource"
						 " ORDER BY c.id",
						 5, types, vals, NULL, false);

	MemoryContextSwitchTo(out_cxt);
	out = palloc0(sizeof(ClaimedJob) * Max(n, 1));
	for (i = 0; i < n; i++)
	{
		ClaimedJob *j = &out[i];
		bool		isnull;
		Datum		d;

		j->job_id = shopify_spi_int64(i, 1);
		j->shop_id = shopify_spi_int64(i, 2);
		j->shop_domain = shopify_spi_text(i, 3);
		d = shopify_spi_value(i, 4, &isnull);
		j->token_ct = isnull ? NULL : DatumGetByteaPCopy(d);
		j->token_key_id = shopify_spi_text(i, 5);
		j->token_status = shopify_spi_text(i, 6);
		j->store_active = DatumGetBool(shopify_spi_value(i, 7, &isnull));
		j->resource = shopify_spi_text(i, 9);
		j->full_sync = DatumGetBool(shopify_spi_value(i, 10, &isnull));
		j->sync_inventory = DatumGetBool(shopify_spi_value(i, 11, &isnull));
		j->cursor = shopify_spi_text(i, 12);
		j->pages_fetched = spi_int(i, 13);
		j->products_fetched = spi_int(i, 14);
		j->total_products = spi_int(i, 15);
		d = shopify_spi_value(i, 16, &isnull);
		j->has_updated_since = !isnull;
		j->updated_since = isnull ? 0 : DatumGetTimestampTz(d);
		j->attempts = spi_int(i, 17);
		j->api = shopify_spi_text(i, 18);
		j->bulk_operation_id = shopify_spi_text(i, 19);
		j->definition = shopify_spi_text(i, 20);
		j->incremental = DatumGetBool(shopify_spi_value(i, 21, &isnull));
	}
	*jobs = out;
	return n;
}

/*
 * Extend the leases of the jobs running here; returns how many are still
 * running (their ids in alive[], their cancel_requested in cancel[]).
 */
int
queue_heartbeat(int64 *ids, int n, int64 *alive, bool *cancel)
{
	Oid			types[2] = {INT8ARRAYOID, INT4OID};
	Datum		vals[2] = {int8_array(ids, n), Int32GetDatum(shopify_lease_time_s)};
	int			m,
				i;

	m = shopify_spi_exec("UPDATE shopify.sync_jobs SET heartbeat_at = now(),"
						 "  lease_expires_at = now() + make_interval(secs => $2)"
						 " WHERE id = ANY($1) AND status = 'running'"
						 " RETURNING id, cancel_requested",
						 2, types, vals, NULL, false);
	for (i = 0; i < m; i++)
	{
		bool		isnull;

		alive[i] = shopify_spi_int64(i, 1);
		cancel[i] = DatumGetBool(shopify_spi_value(i, 2, &isnull));
	}
	return m;
}

/*
 * Lock the store (share) and then the job (update), in that order.  Returns
 * false when the job may write nothing more (no longer running, or its
 * store was disconnected); *cancel_requested tells a requested cancel.
 */
bool
queue_lock_job(int64 job_id, bool *cancel_requested)
{
	Oid			types[1] = {INT8OID};
	Datum		vals[1] = {Int64GetDatum(job_id)};
	bool		isnull;
	char	   *status;

	*cancel_requested = false;
	if (shopify_spi_run("SELECT s.is_active FROM shopify.stores s"
						" WHERE s.shop_id = (SELECT shop_id FROM shopify.sync_jobs WHERE id = $1)"
						" FOR SHARE",
						1, types, vals, NULL, false) != 1 ||
		!DatumGetBool(shopify_spi_value(0, 1, &isnull)))
		return false;
	if (shopify_spi_run("SELECT status, cancel_requested FROM shopify.sync_jobs"
						" WHERE id = $1 FOR UPDATE",
						1, types, vals, NULL, false) != 1)
		return false;
	status = shopify_spi_text(0, 1);
	*cancel_requested = DatumGetBool(shopify_spi_value(0, 2, &isnull));
	return strcmp(status, "running") == 0;
}

static void
read_totals(JobTotals *t)
{
	bool		isnull;

	t->total_products = spi_int(0, 1);
	t->products_fetched = spi_int(0, 2);
	t->variants_processed = spi_int(0, 3);
	t->variants_created = spi_int(0, 4);
	t->variants_updated = spi_int(0, 5);
	t->variants_unchanged = spi_int(0, 6);
	t->variants_failed = spi_int(0, 7);
	t->variants_deactivated = spi_int(0, 8);
	t->pages_fetched = spi_int(0, 9);
	t->api_calls = spi_int(0, 10);
	t->seconds = DatumGetFloat8(shopify_spi_value(0, 11, &isnull));
}

#define TOTALS_RETURNING \
	" RETURNING coalesce(total_products, -1), products_fetched, variants_processed," \
	"  variants_created, variants_updated, variants_unchanged, variants_failed," \
	"  variants_deactivated, pages_fetched, api_calls," \
	"  extract(epoch FROM clock_timestamp() - started_at)::float8"

/* Add a written page to the job's counters, checkpoint its cursor. */
void
queue_record_page(int64 job_id, const PageProgress *p, JobTotals *t)
{
	Oid			types[14] = {INT8OID, INT4OID, INT4OID, INT4OID, INT4OID, INT4OID,
	INT4OID, INT4OID, INT4OID, INT4OID, TEXTOID, INT4OID, INT4OID, INT4OID};
	Datum		vals[14];
	char		nulls[14];

	memset(nulls, ' ', sizeof(nulls));
	vals[0] = Int64GetDatum(job_id);
	vals[1] = Int32GetDatum(p->products);
	vals[2] = Int32GetDatum(p->processed);
	vals[3] = Int32GetDatum(p->created);
	vals[4] = Int32GetDatum(p->updated);
	vals[5] = Int32GetDatum(p->unchanged);
	vals[6] = Int32GetDatum(p->failed);
	vals[7] = Int32GetDatum(p->api_calls);
	vals[8] = Int32GetDatum(p->retries);
	vals[9] = Int32GetDatum(p->throttled);
	if (p->next_cursor)
		vals[10] = CStringGetTextDatum(p->next_cursor);
	else
		nulls[10] = 'n';
	vals[11] = Int32GetDatum(0);	/* unused */
	vals[12] = Int32GetDatum(p->total_products);
	vals[13] = Int32GetDatum(p->deactivated);

	shopify_spi_run("UPDATE shopify.sync_jobs SET"
					 "  products_fetched = products_fetched + $2,"
					 "  variants_processed = variants_processed + $3,"
					 "  variants_created = variants_created + $4,"
					 "  variants_updated = variants_updated + $5,"
					 "  variants_unchanged = variants_unchanged + $6,"
					 "  variants_failed = variants_failed + $7,"
					 "  variants_deactivated = variants_deactivated + $14,"
					 "  pages_fetched = pages_fetched + 1,"
					 "  api_calls = api_calls + $8, api_retries = api_retries + $9,"
					 "  rate_limited = rate_limited + $10, cursor = $11,"
					 "  progress_percentage = CASE WHEN $13 > 0"
					 "    THEN least(99.99, round(100.0 * (products_fetched + $2) / $13, 2))"
					 "    ELSE progress_percentage END,"
					 /*
					  * No lease here: an indexed column would make every
					  * page's update a new row version in each index (and
					  * the unique index's check walk the versions of every
					  * page before it).  The claim pass heartbeats the
					  * leases of running jobs (queue_heartbeat).
					  */
					 "  heartbeat_at = now()"
					 " WHERE id = $1"
					 TOTALS_RETURNING,
					 14, types, vals, nulls, false);
	read_totals(t);
}

void
queue_set_total(int64 job_id, int total)
{
	Oid			types[2] = {INT8OID, INT4OID};
	Datum		vals[2] = {Int64GetDatum(job_id), Int32GetDatum(total)};

	shopify_spi_exec("UPDATE shopify.sync_jobs SET total_products = $2"
					 " WHERE id = $1",
					 2, types, vals, NULL, false);
}

/* Count API calls that were not part of a page (shop, count, failures). */
void
queue_add_calls(int64 job_id, int calls, int retries, int throttled)
{
	Oid			types[4] = {INT8OID, INT4OID, INT4OID, INT4OID};
	Datum		vals[4] = {Int64GetDatum(job_id), Int32GetDatum(calls),
	Int32GetDatum(retries), Int32GetDatum(throttled)};

	shopify_spi_exec("UPDATE shopify.sync_jobs SET api_calls = api_calls + $2,"
					 "  api_retries = api_retries + $3, rate_limited = rate_limited + $4"
					 " WHERE id = $1",
					 4, types, vals, NULL, false);
}

void
queue_complete(int64 job_id, int64 shop_id, int deactivated, JobTotals *t)
{
	Oid			types[3] = {INT8OID, INT8OID, INT4OID};
	Datum		vals[3] = {Int64GetDatum(job_id), Int64GetDatum(shop_id), Int32GetDatum(deactivated)};

	shopify_spi_exec("UPDATE shopify.sync_jobs SET status = 'completed', finished_at = now(),"
					 "  progress_percentage = 100, variants_deactivated = variants_deactivated + $3, cursor = NULL,"
					 "  lease_expires_at = NULL, error = NULL, error_class = NULL"
					 " WHERE id = $1"
					 TOTALS_RETURNING,
					 3, types, vals, NULL, false);
	read_totals(t);
	queue_forget_staging(job_id);
	shopify_spi_exec("UPDATE shopify.stores SET last_sync_at = now(), last_sync_status = 'completed',"
					 "  last_sync_job_id = $1, last_error = NULL, updated_at = now()"
					 " WHERE shop_id = $2",
					 2, types, vals, NULL, false);
}

static void
finish_unsuccessfully(int64 job_id, int64 shop_id, const char *status,
					  const char *error_class, const char *error)
{
	Oid			types[5] = {INT8OID, INT8OID, TEXTOID, TEXTOID, TEXTOID};
	Datum		vals[5];

	vals[0] = Int64GetDatum(job_id);
	vals[1] = Int64GetDatum(shop_id);
	vals[2] = CStringGetTextDatum(status);
	vals[3] = CStringGetTextDatum(error_class);
	vals[4] = CStringGetTextDatum(error);
	shopify_spi_exec("UPDATE shopify.sync_jobs SET status = $3, finished_at = now(),"
					 "  error = $5, error_class = $4, lease_expires_at = NULL"
					 " WHERE id = $1 AND status IN ('pending', 'running')",
					 5, types, vals, NULL, false);
	shopify_spi_exec("UPDATE shopify.stores SET last_sync_status = $3,"
					 "  last_error = CASE WHEN $3 = 'failed' THEN $5 ELSE last_error END,"
					 "  updated_at = now()"
					 " WHERE shop_id = $2 AND last_sync_job_id = $1",
					 5, types, vals, NULL, false);
	shopify_spi_exec("DELETE FROM shopify.sync_seen WHERE job_id = $1",
					 1, types, vals, NULL, false);
	queue_forget_staging(job_id);
}

/*
 * Forget what a bulk download staged for the job (its products, orders and
 * lines waiting for their parent).
 */
void
queue_forget_staging(int64 job_id)
{
	Oid			types[1] = {INT8OID};
	Datum		vals[1] = {Int64GetDatum(job_id)};

	shopify_spi_exec("DELETE FROM shopify.bulk_products WHERE job_id = $1", 1, types, vals, NULL, false);
	shopify_spi_exec("DELETE FROM shopify.bulk_orders WHERE job_id = $1", 1, types, vals, NULL, false);
	shopify_spi_exec("DELETE FROM shopify.bulk_pending WHERE job_id = $1", 1, types, vals, NULL, false);
}

void
queue_fail(int64 job_id, int64 shop_id, const char *error_class, const char *error)
{
	ShopifyJson j;

	finish_unsuccessfully(job_id, shop_id, "failed", error_class, error);
	sj_init(&j);
	sj_str(&j, "error_class", error_class);
	sj_str(&j, "error", error);
	sj_finish(&j);
	log_sync_operation(shop_id, job_id, "error", "failed", error, j.buf.data);
}

void
queue_cancel(int64 job_id, int64 shop_id, const char *why)
{
	finish_unsuccessfully(job_id, shop_id, "cancelled", "cancelled", why);
	log_sync_operation(shop_id, job_id, "info", "cancelled", why, NULL);
}

void
queue_mark_token_invalid(int64 shop_id, const char *shop_domain)
{
	Oid			types[1] = {INT8OID};
	Datum		vals[1] = {Int64GetDatum(shop_id)};

	if (shopify_spi_exec("UPDATE shopify.stores SET token_status = 'invalid', updated_at = now()"
						 " WHERE shop_id = $1 AND token_status = 'valid'",
						 1, types, vals, NULL, false) > 0)
		log_store_operation(shop_id, "warning", "token_marked_invalid", shop_domain,
							"{\"reason\": \"Shopify answered 401 Unauthorized\"}");
}

/* Learn the store's name, currency and plan from a shop.json body. */
void
queue_update_shop_info(int64 job_id, int64 shop_id, const char *shop_json, bool graphql)
{
	Oid			types[2] = {INT8OID, TEXTOID};
	Datum		vals[2] = {Int64GetDatum(shop_id), CStringGetTextDatum(shop_json)};

	/* REST {"shop": {name, currency, plan_name}}; GraphQL {"data": {"shop": {name, currencyCode, plan {publicDisplayName}}}} */
	shopify_spi_exec(graphql ?
					 "UPDATE shopify.stores s SET"
					 "  shop_name = coalesce(s.shop_name, left(j.shop->>'name', 255)),"
					 "  currency = coalesce(left(j.shop->>'currencyCode', 8), s.currency),"
					 "  plan_name = coalesce(left(coalesce(j.shop->'plan'->>'publicDisplayName', j.shop->'plan'->>'displayName'), 64), s.plan_name),"
					 "  updated_at = now()"
					 "  FROM (SELECT $2::jsonb->'data'->'shop' AS shop) j"
					 " WHERE s.shop_id = $1 AND jsonb_typeof(j.shop) = 'object'"
					 :
					 "UPDATE shopify.stores s SET"
					 "  shop_name = coalesce(s.shop_name, left(j.shop->>'name', 255)),"
					 "  currency = coalesce(left(j.shop->>'currency', 8), s.currency),"
					 "  plan_name = coalesce(left(j.shop->>'plan_name', 64), s.plan_name),"
					 "  updated_at = now()"
					 "  FROM (SELECT $2::jsonb->'shop' AS shop) j"
					 " WHERE s.shop_id = $1 AND jsonb_typeof(j.shop) = 'object'",
					 2, types, vals, NULL, false);
}

/*
 * The job runs as a bulk operation: remember the operation; once its result
 * is about to be downloaded (reset), start the job's counters and seen set
 * afresh, so a download begun again after a crash counts each line once.
 */
void
queue_set_bulk(int64 job_id, const char *bulk_id, int64 expected, bool reset)
{
	Oid			types[3] = {INT8OID, TEXTOID, INT8OID};
	Datum		vals[3] = {Int64GetDatum(job_id), CStringGetTextDatum(bulk_id), Int64GetDatum(expected)};
	char		nulls[3] = {' ', ' ', ' '};

	if (expected < 0)
		nulls[2] = 'n';
	shopify_spi_exec("UPDATE shopify.sync_jobs SET api = 'bulk', bulk_operation_id = $2,"
					 "  bulk_objects_expected = coalesce($3, bulk_objects_expected)"
					 " WHERE id = $1",
					 3, types, vals, nulls, false);
	if (reset)
	{
		shopify_spi_exec("UPDATE shopify.sync_jobs SET products_fetched = 0, variants_processed = 0,"
						 "  variants_created = 0, variants_updated = 0, variants_unchanged = 0,"
						 "  variants_failed = 0, variants_deactivated = 0"
						 " WHERE id = $1",
						 1, types, vals, NULL, false);
		shopify_spi_exec("DELETE FROM shopify.sync_seen WHERE job_id = $1", 1, types, vals, NULL, false);
		queue_forget_staging(job_id);
	}
}

/* The path a job takes (rest, graphql or bulk) and why. */
void
queue_set_path(int64 job_id, const char *api, const char *reason, const char *estimate)
{
	Oid			types[4] = {INT8OID, TEXTOID, TEXTOID, TEXTOID};
	Datum		vals[4] = {Int64GetDatum(job_id), CStringGetTextDatum(api),
		reason ? CStringGetTextDatum(reason) : (Datum) 0,
	estimate ? CStringGetTextDatum(estimate) : (Datum) 0};
	char		nulls[4] = {' ', ' ', reason ? ' ' : 'n', estimate ? ' ' : 'n'};

	shopify_spi_exec("UPDATE shopify.sync_jobs SET api = $2, path_reason = $3, path_estimate = $4::jsonb"
					 " WHERE id = $1",
					 4, types, vals, nulls, false);
}

/* The count of a count.json body, or -1. */
int
queue_parse_count(const char *count_json)
{
	Oid			types[1] = {TEXTOID};
	Datum		vals[1] = {CStringGetTextDatum(count_json)};

	shopify_spi_exec("SELECT CASE WHEN jsonb_typeof(d->'count') = 'number'"
					 "             AND (d->>'count')::numeric BETWEEN 0 AND 2147483647"
					 "        THEN (d->>'count')::numeric::int END"
					 "  FROM (SELECT $1::jsonb AS d) x",
					 1, types, vals, NULL, false);
	return spi_int(0, 1);
}
