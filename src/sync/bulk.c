/*
 * bulk.c — a full sync through a GraphQL bulk operation.
 *
 *   bulkOperationRunQuery → poll until COMPLETED → stream the JSONL result
 *
 * Start: an operation already running for the shop (another app's, or one
 * of ours that outlived a crash) is waited for, then the start is retried.
 * The operation's id is stored on the job as soon as it is known, so a
 * restarted worker polls that operation instead of starting another.
 * Poll: every 1 s growing to 10 s; the bulk_operations/finish webhook
 * (events.c) makes the waiting task poll at once.  FAILED, CANCELED and
 * EXPIRED end the job with a clear error.
 * Download: the result URL is fetched without the access token, streaming:
 * libcurl pauses the transfer whenever a few megabytes are buffered, the
 * complete lines are written (one transaction per batch, product lines into
 * shopify.bulk_products, variant lines joined to them: children come after
 * their parent, not necessarily right after it), and the transfer resumes,
 * so memory does not grow with the file.  Every line is counted; a result
 * with fewer (or more) objects than the operation's objectCount fails the
 * job loudly instead of completing it — a bulk result that silently drops
 * data is a known failure of public connectors.  Only when the counts agree
 * are the store's unseen rows swept and the job completed.  A download
 * interrupted by a crash starts again from the first line (the writes are
 * idempotent upserts).
 */
#include "postgres.h"

#include "utils/memutils.h"
#include "utils/timestamp.h"

#include "shopify/graphql.h"
#include "shopify/pacing.h"
#include "http/http.h"
#include "base/log.h"
#include "base/settings.h"
#include "sync/bulk.h"
#include "sync/calls.h"
#include "sync/pages.h"
#include "sync/write.h"
#include "base/txn.h"

#define STREAM_CHUNK (4 * 1024 * 1024)
#define MAX_LINE (16 * 1024 * 1024)
#define MAX_BUSY_WAITS 120		/* 10 minutes of OPERATION_IN_PROGRESS */

void
bulk_resume(SyncTask *t)
{
	/* an operation of ours already runs on the shop: it holds a place */
	if (!t->bulk_slot)
	{
		t->bulk_slot = true;
		t->shop->bulk_active++;
	}
	sync_prepare_bulk_poll(t, 0);
}

/*
 * A place among the shop's bulk operations for this task, before its start
 * is sent: never more at once than Shopify runs (shopify_bulk_limit()); a
 * product and an order sync of a 2026-01+ store run theirs together.
 * False: the start waits (sync_task_pump tries again a second later).
 */
bool
bulk_take_slot(SyncTask *t)
{
	if (t->bulk_slot)
		return true;
	if (t->shop->bulk_active >= shopify_bulk_limit())
	{
		if (t->bulk_busy_waits++ == 0)
			sync_note(t, "info", "bulk_waiting",
					  psprintf("the shop runs %d bulk operation(s) of this app, as many as API version %s allows; waiting",
							   t->shop->bulk_active, shopify_api_version));
		return false;
	}
	t->bulk_slot = true;
	t->shop->bulk_active++;
	return true;
}

typedef struct BulkInfo
{
	SyncTask   *t;
	const char *bulk_id;
	int64		expected;
	bool		reset;
} BulkInfo;

static void
bulk_info_tx(void *arg)
{
	BulkInfo   *b = (BulkInfo *) arg;

	shopify_call_flush_log(b->t->cur, b->t->shop_id, b->t->job_id);
	queue_add_calls(b->t->job_id, b->t->cur->attempt + b->t->cur->throttled,
					Max(0, b->t->cur->attempt - 1), b->t->cur->throttled);
	queue_set_bulk(b->t->job_id, b->bulk_id, b->expected, b->reset);
}

static bool
record_bulk(SyncTask *t, const char *bulk_id, int64 expected, bool reset)
{
	BulkInfo	b = {t, bulk_id, expected, reset};
	char		err[512];

	if (shopify_run_in_tx("shopify_sync: recording a bulk operation", bulk_info_tx, &b,
						  err, sizeof(err), NULL))
		return true;
	sync_fail(t, "database", psprintf("database: could not record bulk operation %s: %s", bulk_id, err));
	return false;
}

static void
handle_start(SyncTask *t)
{
	GqlAnswer	a;

	if (!sync_graphql_usable(t, t->cur, GQL_BULK_START, &a))
		return;
	if (a.bulk_id != NULL)
	{
		MemoryContext old = MemoryContextSwitchTo(t->cxt);

		t->bulk_id = pstrdup(a.bulk_id);
		MemoryContextSwitchTo(old);
		t->bulk_started_at = GetCurrentTimestamp();
		if (record_bulk(t, t->bulk_id, -1, false))
			sync_prepare_bulk_poll(t, 1);
		return;
	}
	if ((a.user_error_code && strcmp(a.user_error_code, "OPERATION_IN_PROGRESS") == 0) ||
		(a.user_error_message && strstr(a.user_error_message, "already in progress") != NULL))
	{
		if (++t->bulk_busy_waits > MAX_BUSY_WAITS)
		{
			sync_fail(t, "bulk", psprintf("bulk: another bulk operation of the shop has been running for over %d minutes: %s",
										  MAX_BUSY_WAITS * 5 / 60, a.user_error_message));
			return;
		}
		if (t->bulk_busy_waits == 1)
			sync_note(t, "info", "bulk_waiting",
					  "another bulk operation of the shop is running; waiting for it");
		sync_prepare_bulk_start(t, 5);
		return;
	}
	sync_fail(t, "bulk", psprintf("bulk: bulkOperationRunQuery refused: %s",
								  a.user_error_message ? a.user_error_message : "no operation"));
}

static void
start_download(SyncTask *t)
{
	ShopifyCall *c = t->cur;

	t->stage = STAGE_BULK_DOWNLOAD;
	t->bulk_lines = 0;
	sync_prepare_call(t, c, "GET", t->bulk_url, NULL, false);
	c->absolute_url = true;
	c->stream = true;
	sync_slot_state(t, "downloading bulk result");
}

/* A final write: sweep and complete (counts already checked). */
static void
complete(SyncTask *t)
{
	PageWork	w;

	memset(&w, 0, sizeof(w));
	w.t = t;
	w.call = NULL;
	w.len = 0;
	w.products_override = 0;
	w.record_cursor = NULL;
	w.last = true;
	if (sync_write(&w, "the end of the bulk result"))
		sync_finish(t);
}

static void
handle_poll(SyncTask *t)
{
	GqlAnswer	a;
	const char *st;

	if (!sync_graphql_usable(t, t->cur, GQL_BULK_STATUS, &a))
		return;
	st = a.bulk_status;
	t->bulk_polls++;
	if (strcmp(st, "CREATED") == 0 || strcmp(st, "RUNNING") == 0 || strcmp(st, "CANCELING") == 0)
	{
		sync_prepare_bulk_poll(t, Min(10.0, 1.0 + t->bulk_polls * 0.5));
		return;
	}
	if (strcmp(st, "COMPLETED") == 0)
	{
		MemoryContext old;

		t->bulk_expected = a.bulk_object_count ? strtoll(a.bulk_object_count, NULL, 10) : 0;
		/* the operation's time, for the next choice of path (not after a resume) */
		if (t->bulk_started_at > 0)
		{
			t->sample.bulk_s = (GetCurrentTimestamp() - t->bulk_started_at) / 1000000.0;
			t->sample.bulk_objects = t->bulk_expected;
		}
		if (!record_bulk(t, t->bulk_id, t->bulk_expected, true))
			return;
		if (a.bulk_url == NULL || t->bulk_expected == 0)
		{
			complete(t);		/* an empty catalog: every row goes */
			return;
		}
		if (strncmp(a.bulk_url, "https://", 8) != 0 &&
			!(shopify_api_base_url[0] != '\0' && strncmp(a.bulk_url, "http://", 7) == 0))
		{
			sync_fail(t, "bulk", psprintf("bulk: refusing to download the result from a non-HTTPS URL"));
			return;
		}
		old = MemoryContextSwitchTo(t->cxt);
		t->bulk_url = pstrdup(a.bulk_url);
		MemoryContextSwitchTo(old);
		start_download(t);
		return;
	}
	if (strcmp(st, "FAILED") == 0)
		sync_fail(t, "bulk", psprintf("bulk: operation %s failed with error code %s",
									  t->bulk_id, a.bulk_error_code ? a.bulk_error_code : "(none)"));
	else if (strcmp(st, "CANCELED") == 0)
		sync_fail(t, "bulk", psprintf("bulk: operation %s was cancelled", t->bulk_id));
	else if (strcmp(st, "EXPIRED") == 0)
		sync_fail(t, "bulk", psprintf("bulk: operation %s expired before its result was downloaded", t->bulk_id));
	else
		sync_fail(t, "bulk", psprintf("bulk: operation %s has unknown status %s", t->bulk_id, st));
}

/* Write the complete lines of buf[0..len); returns false when the job ended. */
static bool
write_lines(SyncTask *t, const char *buf, size_t len)
{
	PageWork	w;
	int64		lines = 0;
	size_t		i;

	if (len == 0)
		return true;
	for (i = 0; i < len; i++)
		if (buf[i] == '\n')
			lines++;
	if (buf[len - 1] != '\n')
		lines++;
	memset(&w, 0, sizeof(w));
	w.t = t;
	w.call = NULL;
	w.doc = buf;
	w.len = len;
	w.bulk = true;
	w.products_override = -1;
	w.record_cursor = NULL;
	w.last = false;
	if (!sync_write(&w, psprintf("bulk lines %lld-%lld", (long long) t->bulk_lines + 1,
								 (long long) (t->bulk_lines + lines))))
		return false;
	if (w.outcome != PAGE_NEXT)
	{
		sync_finish(t);
		return false;
	}
	t->bulk_lines += lines;
	return true;
}

/* The stream paused with a full buffer: write its complete lines, resume. */
void
bulk_stream(SyncTask *t, HttpRequest *req)
{
	char	   *nl;

	if (req->resp_len == 0)
	{
		http_resume(req);
		return;
	}
	nl = memrchr(req->resp, '\n', req->resp_len);
	if (nl == NULL)
	{
		if (req->resp_len > MAX_LINE)
		{
			sync_fail(t, "payload", psprintf("payload: a line of the bulk result is longer than %d bytes", MAX_LINE));
			return;
		}
		req->stream_chunk = req->resp_len + STREAM_CHUNK;	/* let the line finish */
		http_resume(req);
		return;
	}
	if (!write_lines(t, req->resp, nl + 1 - req->resp))
		return;
	http_stream_consume(req, nl + 1 - req->resp);
	req->stream_chunk = STREAM_CHUNK;
	http_resume(req);
}

static void
handle_download_done(SyncTask *t)
{
	ShopifyCall *c = t->cur;

	if (!write_lines(t, c->resp ? c->resp : "", c->resp_len))
		return;
	if (t->bulk_lines != t->bulk_expected)
	{
		sync_fail(t, "payload",
				  psprintf("payload: the bulk result of operation %s has %lld objects but the operation reported objectCount %lld; the sync is not completed and nothing was marked deleted",
						   t->bulk_id, (long long) t->bulk_lines, (long long) t->bulk_expected));
		return;
	}
	complete(t);
}

void
bulk_handle(SyncTask *t)
{
	switch (t->stage)
	{
		case STAGE_BULK_START:
			handle_start(t);
			break;
		case STAGE_BULK_POLL:
			handle_poll(t);
			break;
		case STAGE_BULK_DOWNLOAD:
			handle_download_done(t);
			break;
		default:
			break;
	}
}
