/*
 * jobs.c — the sync-job functions of the SQL surface: enqueue, list, cancel,
 * wait, and the retention cleanup.
 *
 * A job is a row of shopify.sync_jobs.  Enqueueing inserts it (a partial
 * unique index allows one pending or running job per store and resource, so
 * a second request returns the first job) and asks for the worker to be
 * woken when the transaction commits.  The worker side (claim, lease,
 * heartbeat, finish, rescue) lives with the worker.
 */
#include "postgres.h"

#include "access/transam.h"
#include "access/xact.h"
#include "catalog/pg_type.h"
#include "common/int.h"
#include "funcapi.h"
#include "miscadmin.h"
#include "pgstat.h"
#include "storage/latch.h"
#include "utils/builtins.h"
#include "utils/jsonb.h"
#include "utils/timestamp.h"
#include "utils/xid8.h"

#include "base/log.h"
#include "base/settings.h"
#include "base/shmem.h"
#include "worker/maintenance.h"
#include "base/util.h"
#include "sql/jobs.h"

PG_FUNCTION_INFO_V1(shopify_sync_products);
PG_FUNCTION_INFO_V1(shopify_sync_orders);
PG_FUNCTION_INFO_V1(shopify_sync_jobs);
PG_FUNCTION_INFO_V1(shopify_cancel_sync);
PG_FUNCTION_INFO_V1(shopify_wait_for_sync);
PG_FUNCTION_INFO_V1(shopify_cleanup);

/*
 * Return row 0 of the last SPI result as a composite datum of the function.
 * The job can be gone by now (deleted with its store by a shop/redact
 * webhook, or by the retention cleanup, after the access check).
 */
static Datum
spi_row_result(int64 job_id)
{
	if (SPI_tuptable == NULL || SPI_processed == 0)
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_OBJECT),
				 errmsg("sync job %lld was deleted concurrently", (long long) job_id)));
	return PointerGetDatum(SPI_returntuple(SPI_tuptable->vals[0], SPI_tuptable->tupdesc));
}

/*
 * Enqueue a sync of one resource of a store, or find the store's active
 * job for it; the job's row is left as the last SPI result (row 0).  The
 * caller has elevated, connected SPI and checked the store.  Orders and
 * declared resources take no sync_inventory (their jobs carry true, unused).
 */
void
shopify_enqueue_job(int64 shop_id, const char *resource, bool full_sync, bool inventory,
					const ShopifyCaller *caller)
{
	Oid			types[5] = {INT8OID, TEXTOID, BOOLOID, BOOLOID, TEXTOID};
	Datum		vals[5];
	int			tries;
	bool		created = false;
	bool		products = strcmp(resource, "products") == 0;

	vals[0] = Int64GetDatum(shop_id);
	vals[1] = CStringGetTextDatum(resource);
	vals[2] = BoolGetDatum(full_sync);
	vals[3] = BoolGetDatum(inventory);
	vals[4] = CStringGetTextDatum(caller->rolename);

	for (tries = 0;; tries++)
	{
		if (shopify_spi_exec("INSERT INTO shopify.sync_jobs"
							 "  (shop_id, resource, sync_type, full_sync, sync_inventory, requested_by)"
							 " VALUES ($1, $2, CASE WHEN $3 THEN 'full_sync' ELSE 'incremental_sync' END,"
							 "         $3, $4, $5::name)"
							 " ON CONFLICT (shop_id, resource) WHERE status IN ('pending', 'running')"
							 " DO NOTHING RETURNING *",
							 5, types, vals, NULL, false) == 1)
		{
			created = true;
			break;
		}
		if (shopify_spi_exec("SELECT * FROM shopify.sync_jobs"
							 " WHERE shop_id = $1 AND resource = $2 AND status IN ('pending', 'running')",
							 2, types, vals, NULL, false) == 1)
			break;
		/* The active job finished between the two statements: try again. */
		if (tries >= 10)
			ereport(ERROR,
					(errcode(ERRCODE_T_R_SERIALIZATION_FAILURE),
					 errmsg("could not enqueue a sync of store %lld", (long long) shop_id),
					 errhint("Try again.")));
	}

	if (created)
	{
		bool		isnull;
		int64		job_id = DatumGetInt64(SPI_getbinval(SPI_tuptable->vals[0],
														 SPI_tuptable->tupdesc, 1, &isnull));
		SPITupleTable *row = SPI_tuptable;
		uint64		nrow = SPI_processed;
		ShopifyJson j;

		shopify_spi_exec("UPDATE shopify.stores SET last_sync_status = 'pending', updated_at = now()"
						 " WHERE shop_id = $1",
						 1, types, vals, NULL, false);
		sj_init(&j);
		sj_str(&j, "resource", resource);
		sj_str(&j, "sync_type", full_sync ? "full_sync" : "incremental_sync");
		if (products)
			sj_bool(&j, "sync_inventory", inventory);
		sj_str(&j, "requested_by", caller->rolename);
		sj_finish(&j);
		log_sync_operation(shop_id, job_id, "info", "enqueued",
						   products ? "sync enqueued" :
						   strcmp(resource, "orders") == 0 ? "order sync enqueued" :
						   psprintf("%s sync enqueued", resource), j.buf.data);
		shopify_wake_worker_at_commit();
		/* the job's row stays the result */
		SPI_tuptable = row;
		SPI_processed = nrow;
	}
}

/*
 * Enqueue a sync of one resource, or return the store's active job for it.
 * Shared by the products and orders entry points.
 */
static Datum
enqueue_sync(FunctionCallInfo fcinfo, const char *resource)
{
	static const char *const names[] = {"shop_id", "full_sync", "sync_inventory"};
	ShopifyCaller caller;
	ShopifyElevation elev = {0};
	ShopifyStore store;
	int64		shop_id;
	bool		full_sync;
	Datum		result;
	bool		inventory = true;
	int			nargs = strcmp(resource, "orders") == 0 ? 2 : 3;

	shopify_require_args(fcinfo, nargs, names);
	if (nargs == 3)
		inventory = PG_GETARG_BOOL(2);
	shop_id = PG_GETARG_INT64(0);
	full_sync = PG_GETARG_BOOL(1);
	shopify_get_caller(&caller);

	shopify_elevate(&elev);
	shopify_spi_connect();
	shopify_store_access(shop_id, STORE_REQUIRE_ACTIVE | STORE_REQUIRE_TOKEN, &caller, &store);
	shopify_enqueue_job(shop_id, resource, full_sync, inventory, &caller);
	result = spi_row_result(0);
	shopify_spi_finish();
	shopify_restore(&elev);
	return result;
}

Datum
shopify_sync_products(PG_FUNCTION_ARGS)
{
	return enqueue_sync(fcinfo, "products");
}

/*
 * shopify_sync_orders(shop_id, full_sync) → the order sync job, as for
 * products: one active order sync per store.
 */
Datum
shopify_sync_orders(PG_FUNCTION_ARGS)
{
	return enqueue_sync(fcinfo, "orders");
}

/*
 * shopify_sync_jobs(shop_id, job_limit) → the store's most recent jobs.
 */
Datum
shopify_sync_jobs(PG_FUNCTION_ARGS)
{
	static const char *const names[] = {"shop_id", "job_limit"};
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	ShopifyCaller caller;
	ShopifyElevation elev = {0};
	ShopifyStore store;
	int32		limit;
	Oid			types[2] = {INT8OID, INT4OID};
	Datum		vals[2];
	int			n,
				i;

	shopify_require_args(fcinfo, 2, names);
	limit = PG_GETARG_INT32(1);
	if (limit < 1 || limit > 10000)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("job_limit must be between 1 and 10000")));
	InitMaterializedSRF(fcinfo, 0);
	shopify_get_caller(&caller);
	vals[0] = PG_GETARG_DATUM(0);
	vals[1] = Int32GetDatum(limit);

	shopify_elevate(&elev);
	shopify_spi_connect();
	shopify_store_access(PG_GETARG_INT64(0), 0, &caller, &store);
	n = shopify_spi_exec("SELECT * FROM shopify.sync_jobs WHERE shop_id = $1"
						 " ORDER BY created_at DESC, id DESC LIMIT $2",
						 2, types, vals, NULL, true);
	for (i = 0; i < n; i++)
		tuplestore_puttuple(rsinfo->setResult, SPI_tuptable->vals[i]);
	shopify_spi_finish();
	shopify_restore(&elev);
	return (Datum) 0;
}

/*
 * shopify_cancel_sync(job_id): a pending job is cancelled at once; a running
 * one is asked to stop and stops at its next checkpoint.  A finished job is
 * returned unchanged.
 */
Datum
shopify_cancel_sync(PG_FUNCTION_ARGS)
{
	static const char *const names[] = {"job_id"};
	ShopifyCaller caller;
	ShopifyElevation elev = {0};
	ShopifyStore store;
	int64		job_id;
	int64		shop_id;
	Oid			types[2] = {INT8OID, TEXTOID};
	Datum		vals[2];
	Datum		result;
	char	   *status;

	shopify_require_args(fcinfo, 1, names);
	job_id = PG_GETARG_INT64(0);
	shopify_get_caller(&caller);
	vals[0] = Int64GetDatum(job_id);
	vals[1] = CStringGetTextDatum(caller.rolename);

	shopify_elevate(&elev);
	shopify_spi_connect();
	shop_id = shopify_job_access(job_id, 0, &caller, &store);

	if (shopify_spi_exec("SELECT status FROM shopify.sync_jobs WHERE id = $1 FOR UPDATE",
						 1, types, vals, NULL, false) == 0)
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_OBJECT),
				 errmsg("sync job %lld was deleted concurrently", (long long) job_id)));
	status = shopify_spi_text(0, 1);
	if (strcmp(status, "pending") == 0)
	{
		shopify_spi_exec("UPDATE shopify.sync_jobs SET status = 'cancelled', finished_at = now(),"
						 "  error = 'cancelled by ' || $2, error_class = 'cancelled'"
						 " WHERE id = $1",
						 2, types, vals, NULL, false);
		shopify_spi_exec("UPDATE shopify.stores SET last_sync_status = 'cancelled', updated_at = now()"
						 " WHERE shop_id = (SELECT shop_id FROM shopify.sync_jobs WHERE id = $1)"
						 "   AND last_sync_status = 'pending'",
						 1, types, vals, NULL, false);
		log_sync_operation(shop_id, job_id, "info", "cancelled", "pending sync cancelled", NULL);
	}
	else if (strcmp(status, "running") == 0)
	{
		shopify_spi_exec("UPDATE shopify.sync_jobs SET cancel_requested = true WHERE id = $1",
						 1, types, vals, NULL, false);
		log_sync_operation(shop_id, job_id, "info", "cancel_requested",
						   "running sync asked to stop at its next checkpoint", NULL);
		shopify_wake_worker_at_commit();
	}

	shopify_spi_exec("SELECT * FROM shopify.sync_jobs WHERE id = $1", 1, types, vals, NULL, false);
	result = spi_row_result(job_id);
	shopify_spi_finish();
	shopify_restore(&elev);
	return result;
}

/*
 * shopify_wait_for_sync(job_id, timeout): poll the job with a growing
 * interval (25 ms to 500 ms) on this backend's latch, so cancel requests and
 * statement_timeout interrupt the wait at once.
 */
Datum
shopify_wait_for_sync(PG_FUNCTION_ARGS)
{
	static const char *const names[] = {"job_id", "timeout"};
	ShopifyCaller caller;
	ShopifyElevation elev = {0};
	ShopifyStore store;
	int64		job_id;
	Interval   *timeout;
	TimestampTz deadline;
	Oid			types[1] = {INT8OID};
	Datum		vals[1];
	Datum		result;
	long		sleep_ms = 25;

	shopify_require_args(fcinfo, 2, names);
	job_id = PG_GETARG_INT64(0);
	timeout = PG_GETARG_INTERVAL_P(1);
	if (timeout->month != 0 || timeout->day < 0 || timeout->time < 0 ||
		(timeout->day == 0 && timeout->time < 0))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("timeout must be a non-negative interval without months")));
	if (IsolationUsesXactSnapshot())
		ereport(ERROR,
				(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
				 errmsg("shopify_wait_for_sync cannot wait inside a REPEATABLE READ or SERIALIZABLE transaction"),
				 errdetail("The transaction's snapshot would never show the job finishing."),
				 errhint("Call it in a READ COMMITTED transaction.")));
	{
		/* '2147483647 days' overflows int64 microseconds: wait "forever" */
		int64		span;

		if (pg_mul_s64_overflow((int64) timeout->day, USECS_PER_DAY, &span) ||
			pg_add_s64_overflow(span, timeout->time, &span) ||
			pg_add_s64_overflow(GetCurrentTimestamp(), span, &deadline))
			deadline = DT_NOEND;
	}

	shopify_get_caller(&caller);
	vals[0] = Int64GetDatum(job_id);

	shopify_elevate(&elev);
	shopify_spi_connect();
	shopify_job_access(job_id, 0, &caller, &store);

	for (;;)
	{
		bool		isnull;
		char	   *status;
		TransactionId xmin;

		shopify_spi_exec("SELECT status, xmin FROM shopify.sync_jobs WHERE id = $1",
						 1, types, vals, NULL, false);
		if (SPI_processed == 0)
			ereport(ERROR,
					(errcode(ERRCODE_UNDEFINED_OBJECT),
					 errmsg("sync job %lld was deleted while waiting for it", (long long) job_id)));
		status = shopify_spi_text(0, 1);
		if (strcmp(status, "completed") == 0 || strcmp(status, "failed") == 0 ||
			strcmp(status, "cancelled") == 0)
			break;
		xmin = DatumGetTransactionId(shopify_spi_value(0, 2, &isnull));
		if (TransactionIdIsCurrentTransactionId(xmin))
			ereport(ERROR,
					(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
					 errmsg("cannot wait for sync job %lld in the transaction that created or changed it",
							(long long) job_id),
					 errdetail("The worker cannot see the job until this transaction commits."),
					 errhint("Commit first, then call shopify_wait_for_sync().")));
		if (GetCurrentTimestamp() >= deadline)
			break;

		(void) WaitLatch(MyLatch, WL_LATCH_SET | WL_TIMEOUT | WL_EXIT_ON_PM_DEATH,
						 Min(sleep_ms, Max(1, (deadline - GetCurrentTimestamp()) / 1000)),
						 PG_WAIT_EXTENSION);
		ResetLatch(MyLatch);
		CHECK_FOR_INTERRUPTS();
		sleep_ms = Min(sleep_ms * 2, 500);
	}

	shopify_spi_exec("SELECT * FROM shopify.sync_jobs WHERE id = $1", 1, types, vals, NULL, false);
	result = spi_row_result(job_id);
	shopify_spi_finish();
	shopify_restore(&elev);
	return result;
}

/*
 * shopify_cleanup(batch_size) → {"log_rows_deleted": n, "jobs_deleted": n,
 * "webhook_events_deleted": n}.
 * Superusers only (EXECUTE is revoked from PUBLIC); the worker runs the
 * same cleanup every hour.
 */
Datum
shopify_cleanup(PG_FUNCTION_ARGS)
{
	int32		batch = PG_ARGISNULL(0) ? 10000 : PG_GETARG_INT32(0);
	ShopifyElevation elev = {0};
	int64		logs = 0,
				jobs = 0,
				events = 0;
	char	   *json;

	if (batch < 1)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("batch_size must be positive")));

	shopify_elevate(&elev);
	shopify_spi_connect();
	shopify_run_cleanup(batch, &logs, &jobs, &events);
	shopify_spi_finish();
	shopify_restore(&elev);

	json = psprintf("{\"log_rows_deleted\": " INT64_FORMAT ", \"jobs_deleted\": " INT64_FORMAT
					", \"webhook_events_deleted\": " INT64_FORMAT "}",
					logs, jobs, events);
	PG_RETURN_DATUM(DirectFunctionCall1(jsonb_in, CStringGetDatum(json)));
}
