/*
 * worker.c — the "shopify_sync worker" background worker: its process
 * lifecycle and main loop.
 *
 * Started by the launcher, connected to shopify_sync.database_name.  The
 * loop waits on the process latch, which committing backends set when they
 * enqueue work (shopify_wake_worker_at_commit), with a slow safety timeout.
 * Until CREATE EXTENSION shopify_sync has run in the database (or after it
 * was dropped) the worker waits quietly and checks again every few seconds;
 * it never exits for that, so there is no restart loop.
 *
 * SIGHUP reloads the configuration; SIGTERM (pg_terminate_backend, shutdown)
 * ends the process through the standard die() handler, after which the
 * launcher starts a new worker.
 */
#include "postgres.h"

#include "access/xact.h"
#include "commands/extension.h"
#include "miscadmin.h"
#include "pgstat.h"
#include "postmaster/bgworker.h"
#include "postmaster/interrupt.h"
#include "storage/ipc.h"
#include "storage/latch.h"
#include "storage/proc.h"
#include "tcop/tcopprot.h"
#include "utils/memutils.h"
#include "utils/snapmgr.h"
#include "utils/timestamp.h"

#include "shopify_sync.h"

#define SAFETY_POLL_MS		10000	/* wake up at least this often */
#define EXTENSION_POLL_MS	5000	/* while the extension is missing */

static bool
extension_ready(void)
{
	bool		ready;

	SetCurrentStatementStartTimestamp();
	StartTransactionCommand();
	ready = OidIsValid(get_extension_oid("shopify_sync", true));
	CommitTransactionCommand();
	return ready;
}

static void
worker_exit(int code, Datum arg)
{
	SpinLockAcquire(&shopify_shared->mutex);
	if (shopify_shared->worker_pid == MyProcPid)
	{
		shopify_shared->worker_pid = 0;
		shopify_shared->worker_latch = NULL;
		strlcpy(shopify_shared->worker_state, "stopped", sizeof(shopify_shared->worker_state));
	}
	SpinLockRelease(&shopify_shared->mutex);
}

/* Register as the one worker; false if another one is alive. */
static bool
claim_worker_role(void)
{
	bool		ok = false;

	SpinLockAcquire(&shopify_shared->mutex);
	if (shopify_shared->worker_pid == 0 ||
		(shopify_shared->worker_pid != MyProcPid &&
		 kill(shopify_shared->worker_pid, 0) != 0))
	{
		shopify_shared->worker_pid = MyProcPid;
		shopify_shared->worker_latch = MyLatch;
		shopify_shared->worker_started_at = GetCurrentTimestamp();
		strlcpy(shopify_shared->worker_state, "starting", sizeof(shopify_shared->worker_state));
		ok = true;
	}
	SpinLockRelease(&shopify_shared->mutex);
	return ok;
}

void
shopify_worker_main(Datum arg)
{
	MemoryContext loop_cxt;
	int			was_ready = -1;	/* unknown yet */

	pqsignal(SIGHUP, SignalHandlerForConfigReload);
	pqsignal(SIGTERM, die);
	BackgroundWorkerUnblockSignals();

	if (!claim_worker_role())
	{
		ereport(LOG, (errmsg("shopify_sync: another worker is running; exiting")));
		proc_exit(0);
	}
	on_shmem_exit(worker_exit, (Datum) 0);

	BackgroundWorkerInitializeConnection(shopify_database_name, NULL, 0);
	pgstat_report_appname("shopify_sync worker");
	ereport(LOG,
			(errmsg("shopify_sync worker started in database \"%s\"", shopify_database_name)));

	loop_cxt = AllocSetContextCreate(TopMemoryContext, "shopify_sync worker loop",
									 ALLOCSET_DEFAULT_SIZES);

	for (;;)
	{
		long		timeout = SAFETY_POLL_MS;
		bool		ready;

		CHECK_FOR_INTERRUPTS();
		if (ConfigReloadPending)
		{
			ConfigReloadPending = false;
			ProcessConfigFile(PGC_SIGHUP);
		}

		MemoryContextReset(loop_cxt);
		MemoryContextSwitchTo(loop_cxt);

		ready = extension_ready();
		if ((int) ready != was_ready)
			ereport(LOG,
					(errmsg(ready ? "shopify_sync worker: extension found, serving database \"%s\""
							: "shopify_sync worker: extension shopify_sync is not installed in database \"%s\"; waiting",
							shopify_database_name)));
		was_ready = (int) ready;

		if (!ready)
		{
			shopify_set_worker_state("waiting for extension");
			pgstat_report_activity(STATE_IDLE, NULL);
			timeout = EXTENSION_POLL_MS;
		}
		else
			shopify_set_worker_state("idle");

		MemoryContextSwitchTo(TopMemoryContext);
		pgstat_report_stat(false);

		(void) WaitLatch(MyLatch, WL_LATCH_SET | WL_TIMEOUT | WL_EXIT_ON_PM_DEATH,
						 timeout, PG_WAIT_EXTENSION);
		ResetLatch(MyLatch);
	}
}
