/*
 * status.c — what the background processes are doing, from shared memory,
 * for the shopify.worker_status view.
 *
 * shopify._worker_slots() returns one row describing the worker (its pid,
 * state and start time, the launcher's pid) with the slot columns NULL,
 * then one row per sync running in the worker with its store's rate-limit
 * use as last observed.  The view joins it to the stores and jobs under the
 * caller's row-level security; a caller who is neither superuser nor
 * member of pg_read_all_stats sees only the syncs of the stores it owns.
 */
#include "postgres.h"

#include "catalog/pg_authid.h"
#include "executor/spi.h"
#include "fmgr.h"
#include "funcapi.h"
#include "miscadmin.h"
#include "storage/spin.h"
#include "utils/builtins.h"
#include "utils/acl.h"
#include "utils/timestamp.h"
#include "utils/tuplestore.h"

#include "base/settings.h"
#include "base/shmem.h"

PG_FUNCTION_INFO_V1(shopify_worker_slots);

#define NCOLS 12

/* Whether the caller may see the sync of shop_id (its store, under RLS). */
static bool
visible(int64 shop_id, int64 *shops, int nshops)
{
	for (int i = 0; i < nshops; i++)
		if (shops[i] == shop_id)
			return true;
	return false;
}

Datum
shopify_worker_slots(PG_FUNCTION_ARGS)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	ShopifySlotStatus slots[SHOPIFY_MAX_SLOTS];
	pid_t		worker_pid = 0,
				launcher_pid = 0;
	TimestampTz started = 0;
	char		state[48] = "";
	bool		all = superuser() || has_privs_of_role(GetUserId(), ROLE_PG_READ_ALL_STATS);
	int64	   *shops = NULL;
	int			nshops = 0;
	Datum		v[NCOLS];
	bool		n[NCOLS];
	int			i;

	InitMaterializedSRF(fcinfo, 0);
	if (shopify_shared == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("shopify_sync is not loaded through shared_preload_libraries")));

	SpinLockAcquire(&shopify_shared->mutex);
	worker_pid = shopify_shared->worker_pid;
	launcher_pid = shopify_shared->launcher_pid;
	started = shopify_shared->worker_started_at;
	strlcpy(state, shopify_shared->worker_state, sizeof(state));
	memcpy(slots, shopify_shared->slots, sizeof(slots));
	SpinLockRelease(&shopify_shared->mutex);

	/* the worker itself */
	memset(n, true, sizeof(n));
	v[0] = Int32GetDatum(worker_pid);
	n[0] = (worker_pid == 0);
	v[1] = CStringGetTextDatum(worker_pid == 0 ? "not running" : state);
	n[1] = false;
	v[2] = TimestampTzGetDatum(started);
	n[2] = (worker_pid == 0 || started == 0);
	v[3] = Int32GetDatum(launcher_pid);
	n[3] = (launcher_pid == 0);
	tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, v, n);
	if (worker_pid == 0)
		return (Datum) 0;

	if (!all)
	{
		/* the stores this role sees, as the caller: row-level security decides */
		MemoryContext cxt = CurrentMemoryContext;

		if (SPI_connect() != SPI_OK_CONNECT)
			elog(ERROR, "SPI_connect failed");
		if (SPI_execute("SELECT shop_id FROM shopify.stores", true, 0) != SPI_OK_SELECT)
			elog(ERROR, "could not read shopify.stores");
		shops = MemoryContextAlloc(cxt, sizeof(int64) * Max(SPI_processed, 1));
		for (uint64 r = 0; r < SPI_processed; r++)
		{
			bool		isnull;
			Datum		d = SPI_getbinval(SPI_tuptable->vals[r], SPI_tuptable->tupdesc, 1, &isnull);

			if (!isnull)
				shops[nshops++] = DatumGetInt64(d);
		}
		SPI_finish();
	}

	/* its running syncs */
	for (i = 0; i < SHOPIFY_MAX_SLOTS; i++)
	{
		ShopifySlotStatus *s = &slots[i];

		if (s->job_id == 0 || (!all && !visible(s->shop_id, shops, nshops)))
			continue;
		s->state[sizeof(s->state) - 1] = '\0';
		memset(n, false, sizeof(n));
		v[0] = Int32GetDatum(worker_pid);
		v[1] = CStringGetTextDatum(state);
		v[2] = TimestampTzGetDatum(started);
		n[2] = (started == 0);
		v[3] = Int32GetDatum(launcher_pid);
		n[3] = (launcher_pid == 0);
		v[4] = Int64GetDatum(s->job_id);
		v[5] = Int64GetDatum(s->shop_id);
		v[6] = CStringGetTextDatum(s->state);
		v[7] = Int32GetDatum(s->bucket_used);
		n[7] = (s->bucket_used < 0);
		v[8] = Int32GetDatum(s->bucket_size);
		n[8] = (s->bucket_size <= 0 || s->bucket_used < 0);
		v[9] = Float8GetDatum(s->cost_available);
		n[9] = (s->cost_available < 0);
		v[10] = Float8GetDatum(s->cost_maximum);
		n[10] = (s->cost_available < 0);
		v[11] = TimestampTzGetDatum(s->next_request_at);
		n[11] = (s->next_request_at == 0);
		tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, v, n);
	}
	return (Datum) 0;
}
