/*
 * listener.c — the "shopify_sync webhook listener" background worker:
 * Shopify's webhook deliveries received over HTTP inside PostgreSQL, at
 * POST /shopify/webhooks on shopify_sync.webhook_listen, without a sidecar.
 *
 * A process of its own, registered at _PG_init only when the setting is
 * set, and restarted by the postmaster when it exits (bgw_restart_time);
 * it never waits for, and never blocks, the sync worker.  One thread: the
 * HTTP server (server.c, libmicrohttpd) runs inside listen_run(), called
 * from the loop below, which waits in a WaitEventSet holding the latch,
 * postmaster death and libmicrohttpd's epoll descriptor.  The loop:
 *   1. listen_run() reads what the sockets hold and answers what needs no
 *      database (404, 405, 413); complete deliveries wait, suspended;
 *   2. the waiting deliveries are checked without the database — headers,
 *      size, topic, signature (worker/receive.c, the core that
 *      shopify_receive_webhook() uses too): a refusal is answered at once;
 *   3. those that pass are stored together in ONE transaction (group
 *      commit: whatever arrived while the previous batch committed), then
 *      each gets its answer; the 200s go out only after the commit;
 *   4. listen_sweep() closes slow and idle connections.
 * Until the database exists (the launcher says so) and the extension is
 * installed at the library's version, or while the server is in recovery,
 * deliveries are answered 503 (Shopify retries).  The process connects as
 * the bootstrap superuser and acts for every store (like the worker), with
 * the extension owner's rights for its SQL; the SQL function's ownership
 * check does not apply to it.
 */
#include "postgres.h"

#include <math.h>
#include <sys/resource.h>
#include <sys/socket.h>

#include "access/xact.h"
#include "access/xlog.h"
#include "mb/pg_wchar.h"
#include "miscadmin.h"
#include "pgstat.h"
#include "postmaster/bgworker.h"
#include "postmaster/interrupt.h"
#include "storage/latch.h"
#include "tcop/tcopprot.h"
#include "utils/datetime.h"
#include "utils/memutils.h"
#include "utils/timestamp.h"

#include "base/settings.h"
#include "base/shmem.h"
#include "base/txn.h"
#include "listener/listener.h"
#include "listener/server.h"
#include "worker/receive.h"

#define MAX_BATCH 256
#define SWEEP_EVERY_MS 200
#define GATHER_US 500			/* see listen_gather() */
#define STATUS_EVERY_MS 250

PGDLLEXPORT void shopify_listener_main(Datum arg);

static bool connected = false;

void
shopify_register_listener(void)
{
	BackgroundWorker bgw;

	if (shopify_webhook_listen == NULL || shopify_webhook_listen[0] == '\0')
		return;
	memset(&bgw, 0, sizeof(bgw));
	bgw.bgw_flags = BGWORKER_SHMEM_ACCESS | BGWORKER_BACKEND_DATABASE_CONNECTION;
	/* a hot standby answers 503 rather than refusing connections */
	bgw.bgw_start_time = BgWorkerStart_ConsistentState;
	bgw.bgw_restart_time = 5;
	snprintf(bgw.bgw_library_name, BGW_MAXLEN, "shopify_sync");
	snprintf(bgw.bgw_function_name, BGW_MAXLEN, "shopify_listener_main");
	snprintf(bgw.bgw_name, BGW_MAXLEN, "shopify_sync webhook listener");
	snprintf(bgw.bgw_type, BGW_MAXLEN, "shopify_sync webhook listener");
	RegisterBackgroundWorker(&bgw);
}

/* ---------------------------------------------------------------- a batch */

typedef struct Batch
{
	int			n;
	ListenRequest *req[MAX_BATCH];
	WebhookDelivery d[MAX_BATCH];
	WebhookResult r[MAX_BATCH];
	const char *not_ready;		/* set: answer 503 with this */
} Batch;

static int64 n_stored = 0;
static int64 n_duplicates = 0;
static int64 n_refused = 0;
static int64 n_batches = 0;
static int	last_batch = 0;

/* a header as a C string, or NULL; *bad when it is not clean UTF-8 text */
static const char *
header_text(const ListenHeader *h, bool *bad)
{
	if (h->value == NULL)
		return NULL;
	if (h->has_nul || h->len > 1024 ||
		!pg_verify_mbstr(PG_UTF8, h->value, (int) h->len, true))
		*bad = true;
	return h->value;
}

/* X-Shopify-Triggered-At (ISO 8601); false when absent or unreadable */
static bool
parse_triggered_at(const char *s, TimestampTz *out)
{
	char		buf[MAXDATELEN + MAXDATEFIELDS];
	char	   *field[MAXDATEFIELDS];
	int			ftype[MAXDATEFIELDS];
	int			nf,
				dtype,
				tz = 0;
	struct pg_tm tt;
	fsec_t		fsec;
	volatile bool ok = false;
	MemoryContext cxt = CurrentMemoryContext;

	if (s == NULL || strlen(s) > MAXDATELEN)
		return false;
	PG_TRY();
	{
		if (ParseDateTime(s, buf, sizeof(buf), field, ftype, MAXDATEFIELDS, &nf) == 0 &&
			DecodeDateTime(field, ftype, nf, &dtype, &tt, &fsec, &tz) == 0 &&
			dtype == DTK_DATE && tm2timestamp(&tt, fsec, &tz, out) == 0)
			ok = true;
	}
	PG_CATCH();
	{
		MemoryContextSwitchTo(cxt);
		FlushErrorState();
		ok = false;
	}
	PG_END_TRY();
	return ok;
}

/* the answer for a refusal of the core */
static void
answer_refusal(ListenRequest *req, WebhookOutcome o)
{
	n_refused++;
	switch (o)
	{
		case WEBHOOK_TOO_LARGE:
			listen_answer(req, 413, "body larger than shopify_sync.webhook_max_body", 0, 0, false);
			break;
		case WEBHOOK_BAD_TOPIC:
			listen_answer(req, 400, "invalid X-Shopify-Topic", 0, 0, false);
			break;
		case WEBHOOK_BAD_ID:
			listen_answer(req, 400, "X-Shopify-Webhook-Id must be 1 to 255 characters", 0, 0, false);
			break;
		case WEBHOOK_NOT_JSON:
			listen_answer(req, 400, "body is not valid JSON", 0, 0, false);
			break;
		case WEBHOOK_NO_SECRET:
			listen_answer(req, 503, "shopify_sync.webhook_secret is not set", 60, 0, false);
			break;
		case WEBHOOK_NO_SIGNATURE:
			listen_answer(req, 401, "no X-Shopify-Hmac-Sha256 signature", 0, 0, false);
			break;
		case WEBHOOK_BAD_SIGNATURE:
			listen_answer(req, 401, "signature does not match", 0, 0, false);
			break;
		case WEBHOOK_UNKNOWN_SHOP:
			listen_answer(req, 404, "no store is connected for this shop domain", 0, 0, false);
			break;
		case WEBHOOK_DISCONNECTED:
			listen_answer(req, 410, "the store is disconnected", 0, 0, false);
			break;
		case WEBHOOK_NOT_OWNER:
			listen_answer(req, 403, "forbidden", 0, 0, false);
			break;
		case WEBHOOK_OTHER_STORE:
			listen_answer(req, 409, "X-Shopify-Webhook-Id was already received for another store", 0, 0, false);
			break;
		case WEBHOOK_RATE_LIMITED:
			listen_answer(req, 429, "too many deliveries for this store",
						  shopify_webhook_rate_limit > 0 ? Max(1, (int) ceil(1.0 / shopify_webhook_rate_limit)) : 1,
						  0, false);
			break;
		case WEBHOOK_STORED:
		case WEBHOOK_DUPLICATE:
		case WEBHOOK_CHECKED:
			listen_answer(req, 500, "internal error", 0, 0, false);
			break;
	}
}

/*
 * Steps 2 of the loop for one request: its headers, then the core's checks
 * that need no database.  True when it joins the batch.
 */
static bool
admit(ListenRequest *req, WebhookDelivery *d)
{
	bool		bad = false;
	const char *triggered;

	memset(d, 0, sizeof(*d));
	d->topic = header_text(&req->topic, &bad);
	d->shop_domain = header_text(&req->shop_domain, &bad);
	d->hmac = header_text(&req->hmac, &bad);
	d->webhook_id = header_text(&req->webhook_id, &bad);
	triggered = header_text(&req->triggered_at, &bad);
	(void) header_text(&req->api_version, &bad);
	d->body = req->body;
	d->len = req->len;
	d->caller = NULL;			/* the extension's own process: any store */
	if (bad)
	{
		n_refused++;
		listen_answer(req, 400, "a header is not valid UTF-8 text", 0, 0, false);
		return false;
	}
	if (d->topic == NULL || d->shop_domain == NULL)
	{
		n_refused++;
		listen_answer(req, 400, "X-Shopify-Topic and X-Shopify-Shop-Domain are required", 0, 0, false);
		return false;
	}
	/* an unreadable X-Shopify-Triggered-At is left out rather than refused */
	d->has_triggered_at = parse_triggered_at(triggered, &d->triggered_at);
	{
		WebhookOutcome o = webhook_check(d);

		if (o != WEBHOOK_CHECKED)
		{
			answer_refusal(req, o);
			return false;
		}
	}
	return true;
}

static void
store_tx(void *arg)
{
	Batch	   *b = (Batch *) arg;

	if (!webhook_extension_ready())
	{
		b->not_ready = "extension shopify_sync is not installed at the library's version";
		return;
	}
	for (int i = 0; i < b->n; i++)
		webhook_store(&b->d[i], &b->r[i]);
}

static void
answer_stored(ListenRequest *req, const WebhookResult *r)
{
	if (r->outcome == WEBHOOK_STORED || r->outcome == WEBHOOK_DUPLICATE)
	{
		if (r->outcome == WEBHOOK_STORED)
			n_stored++;
		else
			n_duplicates++;
		listen_answer(req, 200, NULL, 0, r->event_id, r->outcome == WEBHOOK_DUPLICATE);
	}
	else
		answer_refusal(req, r->outcome);
}

/* Step 3: store the batch in one transaction, then answer each delivery. */
static void
store_batch(Batch *b)
{
	char		err[256];
	char		activity[64];

	b->not_ready = NULL;
	if (RecoveryInProgress())
		b->not_ready = "the server is in recovery";
	else
	{
		snprintf(activity, sizeof(activity), "shopify_sync listener: storing %d deliveries", b->n);
		if (!shopify_run_in_tx(activity, store_tx, b, err, sizeof(err), NULL))
		{
			/* one failed: take them one by one, so that only it fails */
			for (int i = 0; i < b->n; i++)
			{
				Batch	   *one = palloc(sizeof(Batch));

				one->n = 1;
				one->req[0] = b->req[i];
				one->d[0] = b->d[i];
				one->not_ready = NULL;
				if (b->n > 1 && shopify_run_in_tx("shopify_sync listener: storing a delivery",
												  store_tx, one, err, sizeof(err), NULL))
				{
					if (one->not_ready)
						listen_answer(b->req[i], 503, one->not_ready, 10, 0, false);
					else
						answer_stored(b->req[i], &one->r[0]);
				}
				else
				{
					n_refused++;
					listen_answer(b->req[i], 500, "the delivery could not be stored (see the server log)", 0, 0, false);
				}
				pfree(one);
			}
			return;
		}
	}
	n_batches++;
	last_batch = b->n;
	for (int i = 0; i < b->n; i++)
	{
		if (b->not_ready)
		{
			n_refused++;
			listen_answer(b->req[i], 503, b->not_ready, 10, 0, false);
		}
		else
			answer_stored(b->req[i], &b->r[i]);
	}
}

/* Steps 2 and 3 for everything that is waiting. */
static void
serve_waiting(Batch *b)
{
	ListenRequest *req;

	b->n = 0;
	while (b->n < MAX_BATCH && (req = listen_next()) != NULL)
	{
		if (!connected)
		{
			n_refused++;
			listen_answer(req, 503, "the database is not ready", 5, 0, false);
			continue;
		}
		if (admit(req, &b->d[b->n]))
			b->req[b->n++] = req;
	}
	if (b->n > 0)
		store_batch(b);
}

/* ---------------------------------------------------------------- the process */

/* room for the connection limit: the soft descriptor limit up to the hard one */
static void
raise_fd_limit(int want)
{
	struct rlimit rl;

	if (getrlimit(RLIMIT_NOFILE, &rl) != 0 || rl.rlim_cur >= (rlim_t) want)
		return;
	rl.rlim_cur = (rl.rlim_max == RLIM_INFINITY || rl.rlim_max > (rlim_t) want) ? (rlim_t) want : rl.rlim_max;
	if (setrlimit(RLIMIT_NOFILE, &rl) != 0 || rl.rlim_cur < (rlim_t) want)
		ereport(LOG,
				(errmsg("shopify_sync webhook listener: at most %d open files (RLIMIT_NOFILE), fewer than shopify_sync.webhook_listen_max_connections needs",
						(int) rl.rlim_cur)));
}

static void
report_status(void)
{
	ListenStats s;
	char		buf[256];

	listen_get_stats(&s);
	snprintf(buf, sizeof(buf),
			 "listening on %s: %d connections; " INT64_FORMAT " stored, " INT64_FORMAT " duplicates, "
			 INT64_FORMAT " refused; " INT64_FORMAT " batches, last of %d; connections closed: "
			 INT64_FORMAT " slow or idle, " INT64_FORMAT " over the limit",
			 shopify_webhook_listen, s.connections, n_stored, n_duplicates, n_refused,
			 n_batches, last_batch, s.cut, s.refused);
	pgstat_report_activity(STATE_IDLE, buf);
}

static bool
database_known(void)
{
	bool		exists;

	SpinLockAcquire(&shopify_shared->mutex);
	exists = shopify_shared->database_exists;
	shopify_shared->listener_latch = exists ? NULL : MyLatch;
	SpinLockRelease(&shopify_shared->mutex);
	return exists;
}

void
shopify_listener_main(Datum arg)
{
	struct sockaddr_storage addr;
	unsigned int addrlen = 0;
	const char *why;
	char		err[256];
	WaitEventSet *wes;
	MemoryContext loop_cxt;
	Batch	   *batch;
	TimestampTz next_sweep = 0;
	TimestampTz next_status = 0;

	pqsignal(SIGHUP, SignalHandlerForConfigReload);
	pqsignal(SIGTERM, die);
	BackgroundWorkerUnblockSignals();

	if (!shopify_parse_listen(shopify_webhook_listen, &addr, &addrlen, &why))
		ereport(FATAL,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("invalid value for shopify_sync.webhook_listen: \"%s\"", shopify_webhook_listen),
				 errdetail("%s", why)));
	raise_fd_limit(shopify_webhook_listen_max_connections + 160);
	listen_set_max_body((size_t) shopify_webhook_max_body);
	if (!listen_start(&addr, addrlen, shopify_webhook_listen_max_connections, err, sizeof(err)))
		ereport(FATAL,
				(errcode(ERRCODE_CONFIG_FILE_ERROR),
				 errmsg("shopify_sync webhook listener could not listen on %s: %s", shopify_webhook_listen, err),
				 errhint("Free the address or change shopify_sync.webhook_listen and restart; the listener tries again in 5 s.")));
	ereport(LOG,
			(errmsg("shopify_sync webhook listener: listening on %s for POST %s",
					shopify_webhook_listen, LISTEN_PATH)));

	wes = CreateWaitEventSet(TopMemoryContext, 3);
	AddWaitEventToSet(wes, WL_LATCH_SET, PGINVALID_SOCKET, MyLatch, NULL);
	AddWaitEventToSet(wes, WL_EXIT_ON_PM_DEATH, PGINVALID_SOCKET, NULL, NULL);
	AddWaitEventToSet(wes, WL_SOCKET_READABLE, listen_epoll_fd(), NULL, NULL);
	loop_cxt = AllocSetContextCreate(TopMemoryContext, "shopify_sync webhook listener",
									 ALLOCSET_DEFAULT_SIZES);
	batch = MemoryContextAllocZero(TopMemoryContext, sizeof(Batch));

	for (;;)
	{
		WaitEvent	ev;
		long		wait_ms;
		TimestampTz now;

		CHECK_FOR_INTERRUPTS();
		if (ConfigReloadPending)
		{
			ConfigReloadPending = false;
			ProcessConfigFile(PGC_SIGHUP);
			listen_set_max_body((size_t) shopify_webhook_max_body);
		}
		if (!connected && database_known())
		{
			/* the first and only connection of this process */
			BackgroundWorkerInitializeConnection(shopify_database_name, NULL, 0);
			pgstat_report_appname("shopify_sync webhook listener");
			connected = true;
			ereport(LOG,
					(errmsg("shopify_sync webhook listener: serving database \"%s\"",
							shopify_database_name)));
		}

		MemoryContextSwitchTo(loop_cxt);
		listen_run();
		listen_flush_log();
		/* serve what waits; answering lets more in: until nothing waits */
		for (int round = 0; round < 64; round++)
		{
			(void) listen_gather(GATHER_US);
			serve_waiting(batch);
			MemoryContextReset(loop_cxt);
			if (batch->n == 0 && round > 0)
				break;
			listen_run();
			listen_flush_log();
		}

		now = GetCurrentTimestamp();
		if (now >= next_sweep)
		{
			listen_sweep(shopify_webhook_listen_timeout_ms);
			next_sweep = now + SWEEP_EVERY_MS * 1000;
		}
		if (connected && now >= next_status)
		{
			report_status();
			next_status = now + STATUS_EVERY_MS * 1000;
		}

		wait_ms = listen_wait_ms();
		if (wait_ms < 0 || wait_ms > SWEEP_EVERY_MS)
			wait_ms = SWEEP_EVERY_MS;
		if (!connected)
			wait_ms = Min(wait_ms, 1000);
		if (WaitEventSetWait(wes, wait_ms, &ev, 1, PG_WAIT_EXTENSION) > 0 &&
			(ev.events & WL_LATCH_SET))
			ResetLatch(MyLatch);
	}
}
