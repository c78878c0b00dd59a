/*
 * launcher.c — the "shopify_sync launcher" background worker.
 *
 * Registered statically from _PG_init.  It connects to no database (only the
 * shared catalogs), waits until shopify_sync.database_name exists, then
 * starts the sync worker as a dynamic background worker and watches it:
 * when the worker exits (terminated, crashed, database dropped) it is
 * started again, with a growing delay if it keeps dying young.  This keeps
 * a missing database from turning into a crash loop of the worker, and makes
 * pg_terminate_backend() of the worker harmless.
 *
 * At most one worker runs: its pid is kept in shared memory, a restarted
 * launcher adopts a worker that is still running, and a worker that finds
 * another one alive exits at once.
 */
#include "postgres.h"

#include "access/heapam.h"
#include "access/htup_details.h"
#include "access/table.h"
#include "access/tableam.h"
#include "access/xact.h"
#include "catalog/pg_database.h"
#include "utils/snapmgr.h"
#include "miscadmin.h"
#include "pgstat.h"
#include "postmaster/bgworker.h"
#include "postmaster/interrupt.h"
#include "storage/ipc.h"
#include "storage/latch.h"
#include "storage/proc.h"
#include "tcop/tcopprot.h"
#include "utils/timestamp.h"

#include "base/settings.h"
#include "base/shmem.h"
#include "worker/launcher.h"

#define LAUNCHER_NAP_MS 5000
#define MIN_RESTART_DELAY_MS 1000
#define MAX_RESTART_DELAY_MS 60000

void
shopify_register_launcher(void)
{
	BackgroundWorker bgw;

	memset(&bgw, 0, sizeof(bgw));
	bgw.bgw_flags = BGWORKER_SHMEM_ACCESS | BGWORKER_BACKEND_DATABASE_CONNECTION;
	bgw.bgw_start_time = BgWorkerStart_RecoveryFinished;
	bgw.bgw_restart_time = 5;
	snprintf(bgw.bgw_library_name, BGW_MAXLEN, "shopify_sync");
	snprintf(bgw.bgw_function_name, BGW_MAXLEN, "shopify_launcher_main");
	snprintf(bgw.bgw_name, BGW_MAXLEN, "shopify_sync launcher");
	snprintf(bgw.bgw_type, BGW_MAXLEN, "shopify_sync launcher");
	RegisterBackgroundWorker(&bgw);
}

/*
 * Does the database exist (and accept connections)?  Without a database
 * connection only nailed shared catalogs can be read, so this is a plain
 * heap scan of pg_database, as the autovacuum launcher does.
 */
static bool
database_exists(const char *dbname)
{
	Relation	rel;
	TableScanDesc scan;
	HeapTuple	tup;
	bool		found = false;

	SetCurrentStatementStartTimestamp();
	StartTransactionCommand();
	(void) GetTransactionSnapshot();
	rel = table_open(DatabaseRelationId, AccessShareLock);
	scan = table_beginscan_catalog(rel, 0, NULL);
	while (HeapTupleIsValid(tup = heap_getnext(scan, ForwardScanDirection)))
	{
		Form_pg_database db = (Form_pg_database) GETSTRUCT(tup);

		if (strcmp(NameStr(db->datname), dbname) == 0)
		{
			found = db->datallowconn;
			break;
		}
	}
	table_endscan(scan);
	table_close(rel, AccessShareLock);
	CommitTransactionCommand();
	return found;
}

/*
 * Tell the webhook listener (listener/), which waits for the database
 * before it connects, whether it exists; returns exists.
 */
static bool
publish_database(bool exists)
{
	Latch	   *latch;

	SpinLockAcquire(&shopify_shared->mutex);
	shopify_shared->database_exists = exists;
	latch = shopify_shared->listener_latch;
	SpinLockRelease(&shopify_shared->mutex);
	if (exists && latch != NULL)
		SetLatch(latch);
	return exists;
}

static BackgroundWorkerHandle *
start_worker(void)
{
	BackgroundWorker bgw;
	BackgroundWorkerHandle *handle;
	pid_t		pid;

	memset(&bgw, 0, sizeof(bgw));
	bgw.bgw_flags = BGWORKER_SHMEM_ACCESS | BGWORKER_BACKEND_DATABASE_CONNECTION;
	bgw.bgw_start_time = BgWorkerStart_RecoveryFinished;
	bgw.bgw_restart_time = BGW_NEVER_RESTART;
	snprintf(bgw.bgw_library_name, BGW_MAXLEN, "shopify_sync");
	snprintf(bgw.bgw_function_name, BGW_MAXLEN, "shopify_worker_main");
	snprintf(bgw.bgw_name, BGW_MAXLEN, "shopify_sync worker");
	snprintf(bgw.bgw_type, BGW_MAXLEN, "shopify_sync worker");
	bgw.bgw_notify_pid = MyProcPid;

	if (!RegisterDynamicBackgroundWorker(&bgw, &handle))
	{
		ereport(WARNING,
				(errcode(ERRCODE_CONFIGURATION_LIMIT_EXCEEDED),
				 errmsg("shopify_sync: could not start the sync worker"),
				 errhint("Raise max_worker_processes.")));
		return NULL;
	}
	if (WaitForBackgroundWorkerStartup(handle, &pid) != BGWH_STARTED)
	{
		pfree(handle);
		return NULL;
	}
	return handle;
}

static pid_t
shared_worker_pid(void)
{
	pid_t		pid;

	SpinLockAcquire(&shopify_shared->mutex);
	pid = shopify_shared->worker_pid;
	SpinLockRelease(&shopify_shared->mutex);
	return pid;
}

static void
launcher_exit(int code, Datum arg)
{
	SpinLockAcquire(&shopify_shared->mutex);
	if (shopify_shared->launcher_pid == MyProcPid)
		shopify_shared->launcher_pid = 0;
	SpinLockRelease(&shopify_shared->mutex);
}

void
shopify_launcher_main(Datum arg)
{
	BackgroundWorkerHandle *handle = NULL;
	TimestampTz last_start = 0;
	long		restart_delay = MIN_RESTART_DELAY_MS;
	bool		reported_missing = false;

	pqsignal(SIGHUP, SignalHandlerForConfigReload);
	pqsignal(SIGTERM, die);
	BackgroundWorkerUnblockSignals();
	BackgroundWorkerInitializeConnection(NULL, NULL, 0);
	pgstat_report_appname("shopify_sync launcher");

	SpinLockAcquire(&shopify_shared->mutex);
	shopify_shared->launcher_pid = MyProcPid;
	SpinLockRelease(&shopify_shared->mutex);
	on_shmem_exit(launcher_exit, (Datum) 0);

	ereport(LOG,
			(errmsg("shopify_sync launcher started for database \"%s\"",
					shopify_database_name)));

	for (;;)
	{
		long		nap = LAUNCHER_NAP_MS;
		bool		worker_alive;

		CHECK_FOR_INTERRUPTS();
		if (ConfigReloadPending)
		{
			ConfigReloadPending = false;
			ProcessConfigFile(PGC_SIGHUP);
		}

		if (handle != NULL)
		{
			pid_t		pid;

			worker_alive = (GetBackgroundWorkerPid(handle, &pid) == BGWH_STARTED);
			if (!worker_alive)
			{
				pfree(handle);
				handle = NULL;
			}
		}
		else
			worker_alive = (shared_worker_pid() != 0);	/* adopted */

		if (!worker_alive)
		{
			TimestampTz now = GetCurrentTimestamp();
			/* a worker that was asked to stop is replaced at once */
			bool		asked = shopify_shared->worker_stop_requested;

			if (last_start != 0 && !asked &&
				!TimestampDifferenceExceeds(last_start, now, restart_delay))
			{
				/* Too soon after the last start: wait out the delay. */
				nap = Max(1, restart_delay -
						  (long) ((now - last_start) / 1000));
			}
			else if (!publish_database(database_exists(shopify_database_name)))
			{
				if (!reported_missing)
					ereport(LOG,
							(errmsg("shopify_sync: database \"%s\" does not exist; waiting for it",
									shopify_database_name),
							 errhint("Create the database, or set shopify_sync.database_name and restart.")));
				reported_missing = true;
				nap = 2000;
			}
			else
			{
				/*
				 * A worker that lived less than a minute counts as dying
				 * young, unless it was asked to stop.
				 */
				if (last_start != 0 && !asked &&
					!TimestampDifferenceExceeds(last_start, now, 60000))
					restart_delay = Min(restart_delay * 2, MAX_RESTART_DELAY_MS);
				else
					restart_delay = MIN_RESTART_DELAY_MS;
				reported_missing = false;
				shopify_shared->worker_stop_requested = false;
				last_start = now;
				handle = start_worker();
				nap = handle ? LAUNCHER_NAP_MS : restart_delay;
			}
		}

		(void) WaitLatch(MyLatch, WL_LATCH_SET | WL_TIMEOUT | WL_EXIT_ON_PM_DEATH,
						 nap, PG_WAIT_EXTENSION);
		ResetLatch(MyLatch);
	}
}
