/*
 * worker.c — the "shopify_sync worker" background worker: process
 * lifecycle and the main loop.
 *
 * Started by the launcher, connected to shopify_sync.database_name.  One
 * process runs up to shopify_sync.max_concurrent_syncs sync tasks at once.
 * The loop:
 *   1. on a latch wake-up (a backend enqueued or cancelled a job and
 *      committed), or every 10 s as a safety poll: one short transaction
 *      checks that the extension is installed, extends the leases of the
 *      running jobs and reads their cancel flags, recovers orphaned jobs and
 *      claims pending ones into free slots;
 *   2. lets each task send its next request when its store's rate limit
 *      allows (sync.c, shopify.c);
 *   3. waits in http_wait() on the latch, postmaster death and libcurl's
 *      sockets, with a timeout at the next moment something is due;
 *   4. hands finished requests to their tasks, which write pages in short
 *      transactions of their own.
 * No transaction is ever open while the process waits for the network.
 * Until CREATE EXTENSION has run in the database (or after it was dropped)
 * the worker waits quietly; it never exits for that.
 *
 * SIGHUP reloads the configuration; SIGTERM (pg_terminate_backend,
 * shutdown) ends the process through die(); the launcher starts a new
 * worker, which recovers the jobs this one left running.
 */
#include "postgres.h"

#include "access/xact.h"
#include "commands/extension.h"
#include "mb/pg_wchar.h"
#include "miscadmin.h"
#include "pgstat.h"
#include "postmaster/bgworker.h"
#include "postmaster/interrupt.h"
#include "storage/ipc.h"
#include "storage/latch.h"
#include "storage/proc.h"
#include "tcop/tcopprot.h"
#include "utils/memutils.h"
#include "utils/resowner.h"
#include "utils/timestamp.h"

#include "base/crypto.h"
#include "worker/events.h"
#include "http/http.h"
#include "base/log.h"
#include "sync/queue.h"
#include "base/settings.h"
#include "base/shmem.h"
#include "worker/maintenance.h"
#include "worker/launcher.h"
#include "sync/task.h"
#include "base/txn.h"
#include "base/util.h"

#define SAFETY_POLL_MS		10000	/* claim at least this often */
#define EXTENSION_POLL_MS	5000	/* while the extension is missing */
#define CLEANUP_EVERY_MS	(3600 * 1000)

static SyncTask *tasks[SHOPIFY_MAX_SLOTS];

typedef struct ClaimWork
{
	bool		rescue_all;		/* first pass since the extension appeared */
	bool		rescue_expired;
	int			free_slots;
	int64		running[SHOPIFY_MAX_SLOTS];
	int			nrunning;
	/* results */
	bool		ext_ready;
	char		ext_version[32];	/* the installed version, when it is not the library's */
	int64		alive[SHOPIFY_MAX_SLOTS];
	bool		cancel[SHOPIFY_MAX_SLOTS];
	int			nalive;
	ClaimedJob *jobs;
	char	  **tokens;
	int			njobs;
	MemoryContext out_cxt;
} ClaimWork;

static int
running_tasks(int64 *ids)
{
	int			i,
				n = 0;

	for (i = 0; i < SHOPIFY_MAX_SLOTS; i++)
		if (tasks[i] != NULL && !tasks[i]->finished)
		{
			if (ids)
				ids[n] = tasks[i]->job_id;
			n++;
		}
	return n;
}

/*
 * Decrypt a claimed job's token in a subtransaction, so that a wrong key
 * fails that job with a clear error instead of the whole claim.
 */
static char *
decrypt_or_fail(ClaimedJob *j, MemoryContext out_cxt)
{
	MemoryContext cxt = CurrentMemoryContext;
	ResourceOwner owner = CurrentResourceOwner;
	char	   *token = NULL;

	if (j->token_ct == NULL || strcmp(j->token_status, "valid") != 0 || !j->store_active)
	{
		queue_fail(j->job_id, j->shop_id, "auth",
				   "auth: the store has no valid access token; reconnect it with shopify_connect_store()");
		return NULL;
	}
	BeginInternalSubTransaction(NULL);
	MemoryContextSwitchTo(cxt);
	PG_TRY();
	{
		char	   *t = shopify_decrypt_token(j->token_ct, j->shop_domain, j->token_key_id);

		token = MemoryContextStrdup(out_cxt, t);
		shopify_free_secret(t);
		ReleaseCurrentSubTransaction();
		MemoryContextSwitchTo(cxt);
		CurrentResourceOwner = owner;
	}
	PG_CATCH();
	{
		ErrorData  *e;
		char	   *msg;

		MemoryContextSwitchTo(cxt);
		e = CopyErrorData();
		FlushErrorState();
		RollbackAndReleaseCurrentSubTransaction();
		MemoryContextSwitchTo(cxt);
		CurrentResourceOwner = owner;
		msg = psprintf("config: %s%s%s%s%s", e->message, e->detail ? ": " : "", e->detail ? e->detail : "",
					   e->hint ? " " : "", e->hint ? e->hint : "");
		queue_fail(j->job_id, j->shop_id, "config", msg);
		FreeErrorData(e);
		token = NULL;
	}
	PG_END_TRY();
	return token;
}

static void
claim_tx(void *arg)
{
	ClaimWork  *w = (ClaimWork *) arg;
	int			i;

	w->ext_ready = OidIsValid(get_extension_oid("shopify_sync", true));
	if (!w->ext_ready)
		return;
	/*
	 * The library serves the schema of its own version only: after an
	 * upgrade of the library, syncs wait for ALTER EXTENSION ... UPDATE (as
	 * the log says), and nothing is written into the older schema.
	 */
	if (shopify_spi_exec("SELECT extversion FROM pg_extension WHERE extname = 'shopify_sync'",
						 0, NULL, NULL, NULL, true) == 1)
	{
		char	   *v = shopify_spi_text(0, 1);

		if (v && strcmp(v, EXTVERSION) != 0)
		{
			strlcpy(w->ext_version, v, sizeof(w->ext_version));
			w->ext_ready = false;
			return;
		}
	}

	if (w->rescue_all || w->rescue_expired)
		queue_rescue(w->rescue_all, w->running, w->nrunning);
	if (w->nrunning > 0)
		w->nalive = queue_heartbeat(w->running, w->nrunning, w->alive, w->cancel);
	if (w->free_slots <= 0)
		return;

	{
		MemoryContext old = MemoryContextSwitchTo(w->out_cxt);

		w->njobs = queue_claim(w->free_slots, w->running, w->nrunning, &w->jobs);
		w->tokens = palloc0(sizeof(char *) * Max(w->njobs, 1));
		MemoryContextSwitchTo(old);
	}

	for (i = 0; i < w->njobs; i++)
	{
		ClaimedJob *j = &w->jobs[i];
		ShopifyJson d;

		if (GetDatabaseEncoding() != PG_UTF8)
		{
			queue_fail(j->job_id, j->shop_id, "config",
					   "config: shopify_sync needs a UTF8 database to store Shopify's data");
			continue;
		}
		if (j->attempts > shopify_max_job_attempts)
		{
			char	   *msg = psprintf("interrupted: the job was started %d times without finishing (shopify_sync.max_job_attempts = %d)",
									   j->attempts - 1, shopify_max_job_attempts);

			queue_fail(j->job_id, j->shop_id, "interrupted", msg);
			continue;
		}
		w->tokens[i] = decrypt_or_fail(j, w->out_cxt);
		if (w->tokens[i] == NULL)
			continue;

		sj_init(&d);
		sj_str(&d, "sync_type", j->full_sync ? "full_sync" : "incremental_sync");
		sj_str(&d, "api", j->api);
		sj_int(&d, "attempt", j->attempts);
		sj_bool(&d, "sync_inventory", j->sync_inventory);
		if (j->has_updated_since)
			sj_str(&d, "updated_since", timestamptz_to_str(j->updated_since));
		if (j->pages_fetched > 0)
			sj_int(&d, "resume_after_page", j->pages_fetched);
		sj_finish(&d);
		log_sync_operation(j->shop_id, j->job_id, "info",
						   j->pages_fetched > 0 ? "resumed" : "started",
						   j->pages_fetched > 0 ? "sync resumed from its checkpoint" : "sync started",
						   d.buf.data);
	}
}

/*
 * A bulk_operations/finish webhook arrived (events.c, in this process): the
 * task waiting for that operation polls at once.
 */
static void
bulk_finished(int64 shop_id, const char *bulk_gid)
{
	for (int i = 0; i < SHOPIFY_MAX_SLOTS; i++)
		if (tasks[i] != NULL && tasks[i]->shop_id == shop_id)
			sync_task_bulk_finished(tasks[i], bulk_gid);
}

static int
free_slot(void)
{
	int			i;

	for (i = 0; i < shopify_max_concurrent_syncs && i < SHOPIFY_MAX_SLOTS; i++)
		if (tasks[i] == NULL)
			return i;
	return -1;
}

/*
 * One claim pass: returns false when the extension is not installed.
 */
static char installed_version[32];	/* when it is not the library's */

static bool
claim_pass(bool rescue_all, bool rescue_expired, MemoryContext cxt)
{
	ClaimWork  *w = MemoryContextAllocZero(cxt, sizeof(ClaimWork));
	int			i,
				k;
	char		err[256];

	w->rescue_all = rescue_all;
	w->rescue_expired = rescue_expired;
	w->out_cxt = cxt;
	w->nrunning = running_tasks(w->running);
	w->free_slots = 0;
	for (i = 0; i < shopify_max_concurrent_syncs && i < SHOPIFY_MAX_SLOTS; i++)
		if (tasks[i] == NULL)
			w->free_slots++;

	if (!shopify_run_in_tx("shopify_sync: claiming jobs", claim_tx, w, err, sizeof(err), NULL))
		return true;			/* logged; try again on the next pass */
	strlcpy(installed_version, w->ext_version, sizeof(installed_version));
	if (!w->ext_ready)
		return false;

	/* Jobs that stopped running (disconnect) or were asked to cancel. */
	for (i = 0; i < w->nrunning; i++)
	{
		SyncTask   *t = NULL;
		bool		alive = false;
		bool		cancel = false;

		for (k = 0; k < SHOPIFY_MAX_SLOTS; k++)
			if (tasks[k] && tasks[k]->job_id == w->running[i])
				t = tasks[k];
		for (k = 0; k < w->nalive; k++)
			if (w->alive[k] == w->running[i])
			{
				alive = true;
				cancel = w->cancel[k];
			}
		if (t == NULL)
			continue;
		if (!alive)
			sync_task_stop(t, false, "job no longer running");
		else if (cancel)
			sync_task_stop(t, true, "cancelled by request");
	}

	for (i = 0; i < w->njobs; i++)
	{
		int			slot;

		if (w->tokens[i] == NULL)
			continue;
		slot = free_slot();
		if (slot < 0)
			break;				/* cannot happen: claimed at most free_slots */
		tasks[slot] = sync_task_create(&w->jobs[i], w->tokens[i], slot);
		explicit_bzero(w->tokens[i], strlen(w->tokens[i]));
	}
	return true;
}

static void
cleanup_tx(void *arg)
{
	int64		logs,
				jobs,
				events;

	if (!OidIsValid(get_extension_oid("shopify_sync", true)))
		return;
	shopify_run_cleanup(10000, &logs, &jobs, &events);
	if (logs > 0 || jobs > 0 || events > 0)
		ereport(LOG,
				(errmsg("shopify_sync worker: retention removed " INT64_FORMAT " log rows, " INT64_FORMAT " finished jobs and " INT64_FORMAT " processed webhook events",
						logs, jobs, events)));
}

static void
stop_all_tasks(void)
{
	int			i;

	for (i = 0; i < SHOPIFY_MAX_SLOTS; i++)
		if (tasks[i] != NULL)
		{
			sync_task_stop(tasks[i], false, "worker stopping");
			sync_task_free(tasks[i]);
			tasks[i] = NULL;
		}
}

static void
reap_finished_tasks(void)
{
	int			i;

	for (i = 0; i < SHOPIFY_MAX_SLOTS; i++)
		if (tasks[i] != NULL && tasks[i]->finished)
		{
			sync_task_free(tasks[i]);
			tasks[i] = NULL;
		}
}

static void
worker_exit(int code, Datum arg)
{
	int			i;

	/* Free process-local resources here, in the process that made them. */
	for (i = 0; i < SHOPIFY_MAX_SLOTS; i++)
		if (tasks[i] != NULL)
			shop_client_release(tasks[i]->shop);
	http_shutdown();

	SpinLockAcquire(&shopify_shared->mutex);
	if (shopify_shared->worker_pid == MyProcPid)
	{
		shopify_shared->worker_pid = 0;
		shopify_shared->worker_latch = NULL;
		strlcpy(shopify_shared->worker_state, "stopped", sizeof(shopify_shared->worker_state));
		memset(shopify_shared->slots, 0, sizeof(shopify_shared->slots));
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

static long
ms_until(TimestampTz t, TimestampTz now)
{
	if (t <= now)
		return 0;
	return (long) Min((t - now) / 1000 + 1, (TimestampTz) 3600 * 1000);
}


/*
 * SIGTERM (pg_terminate_backend, a fast shutdown): note that this end was
 * asked for, so that the launcher starts the next worker at once instead of
 * backing off as from a crash loop; then PostgreSQL's die().  A plain store
 * into shared memory is safe in a signal handler.
 */
static void
worker_sigterm(SIGNAL_ARGS)
{
	if (shopify_shared != NULL)
		shopify_shared->worker_stop_requested = true;
	die(postgres_signal_arg);
}

void
shopify_worker_main(Datum arg)
{
	MemoryContext loop_cxt;
	int			ready = -1;		/* unknown yet */
	bool		latch_set = true;
	TimestampTz next_claim = 0;
	TimestampTz next_rescue = 0;
	TimestampTz next_cleanup = 0;
	TimestampTz next_events = 0;

	pqsignal(SIGHUP, SignalHandlerForConfigReload);
	pqsignal(SIGTERM, worker_sigterm);
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
	srandom((unsigned int) (MyProcPid ^ GetCurrentTimestamp()));

	for (;;)
	{
		TimestampTz now;
		TimestampTz wake;
		int			i;

		CHECK_FOR_INTERRUPTS();
		if (ConfigReloadPending)
		{
			ConfigReloadPending = false;
			ProcessConfigFile(PGC_SIGHUP);
		}
		MemoryContextReset(loop_cxt);
		MemoryContextSwitchTo(loop_cxt);
		now = GetCurrentTimestamp();

		if (latch_set || now >= next_claim)
		{
			bool		rescue_expired = (now >= next_rescue);
			bool		ok = claim_pass(ready != 1, rescue_expired, loop_cxt);

			if ((ok ? 1 : 0) != ready)
			{
				if (ok)
					ereport(LOG,
							(errmsg("shopify_sync worker: extension found, serving database \"%s\"",
									shopify_database_name)));
				else if (installed_version[0] != '\0')
					ereport(LOG,
							(errmsg("shopify_sync worker: extension shopify_sync is at version %s in database \"%s\" but the library is %s; waiting",
									installed_version, shopify_database_name, EXTVERSION),
							 errhint("Run ALTER EXTENSION shopify_sync UPDATE; syncs and webhook events wait until then.")));
				else
					ereport(LOG,
							(errmsg("shopify_sync worker: extension shopify_sync is not installed in database \"%s\"; waiting",
									shopify_database_name)));
				if (!ok)
					stop_all_tasks();
			}
			ready = ok ? 1 : 0;
			if (rescue_expired)
				next_rescue = now + (TimestampTz) shopify_lease_time_s * USECS_PER_SEC / 2;
			next_claim = now + (TimestampTz) (ready ? SAFETY_POLL_MS : EXTENSION_POLL_MS) * 1000;
			if (running_tasks(NULL) > 0)
				next_claim = Min(next_claim,
								 now + (TimestampTz) shopify_lease_time_s * USECS_PER_SEC / 3);
		}

		if (ready == 1 && now >= next_cleanup)
		{
			char		err[256];

			if (next_cleanup != 0)
				(void) shopify_run_in_tx("shopify_sync: retention cleanup", cleanup_tx, NULL,
										 err, sizeof(err), NULL);
			next_cleanup = now + (TimestampTz) CLEANUP_EVERY_MS * 1000;
		}

		/* webhook events (and log rows queued by refused deliveries) */
		if (ready == 1 && (latch_set || now >= next_events))
		{
			TimestampTz due;
			bool		more;

			(void) events_process(50, &due, &more, bulk_finished);
			now = GetCurrentTimestamp();
			next_events = more ? now :
				Min(due, now + (TimestampTz) SAFETY_POLL_MS * 1000);
		}

		for (i = 0; i < SHOPIFY_MAX_SLOTS; i++)
			if (tasks[i] != NULL)
				sync_task_pump(tasks[i]);
		reap_finished_tasks();

		shopify_set_worker_state(ready != 1 ? (installed_version[0] ? "waiting for ALTER EXTENSION UPDATE" :
												"waiting for extension") :
								 running_tasks(NULL) > 0 ? "syncing" : "idle");
		pgstat_report_activity(STATE_IDLE, NULL);

		/* Sleep until the next thing is due. */
		now = GetCurrentTimestamp();
		wake = next_claim;
		if (ready == 1)
			wake = Min(wake, next_events);
		for (i = 0; i < SHOPIFY_MAX_SLOTS; i++)
			if (tasks[i] != NULL)
				wake = Min(wake, sync_task_wake_time(tasks[i]));
		latch_set = http_wait(ms_until(wake, now));
		if (latch_set)
			ResetLatch(MyLatch);

		{
			HttpRequest *req;

			/* downloads that paused with a full buffer */
			while ((req = http_next_paused()) != NULL)
			{
				for (i = 0; i < SHOPIFY_MAX_SLOTS; i++)
					if (tasks[i] != NULL && sync_task_owns(tasks[i], req))
					{
						sync_task_stream(tasks[i], req);
						break;
					}
			}
			while ((req = http_next_done()) != NULL)
			{
				for (i = 0; i < SHOPIFY_MAX_SLOTS; i++)
					if (tasks[i] != NULL && sync_task_owns(tasks[i], req))
					{
						sync_task_http_done(tasks[i], req);
						break;
					}
			}
		}
		reap_finished_tasks();
	}
}
