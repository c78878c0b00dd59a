/*
 * sync.c — one running sync job, as a state machine driven by the worker
 * loop:
 *
 *   shop.json → products/count.json → page 1 → page 2 → ... → last page
 *
 * Each step is one Shopify call (paced and retried by shopify.c); each
 * fetched page is written in its own short transaction that also
 * checkpoints the next page's cursor, so a job interrupted anywhere resumes
 * at the first page not written.  The last page's transaction also sweeps
 * (full syncs: variants not returned become inactive) and completes the
 * job, so a job is never "listed but not finished".  A resumed job skips
 * the first two steps.
 *
 * Before writing, a page's transaction locks the store and the job (queue.c):
 * if the job was cancelled or its store disconnected meanwhile, nothing is
 * written.  Network I/O never happens inside a transaction.
 */
#include "postgres.h"

#include "access/xact.h"
#include "miscadmin.h"
#include "utils/memutils.h"
#include "utils/timestamp.h"

#include "log.h"
#include "mirror.h"
#include "rest.h"
#include "shopify_sync.h"
#include "sync.h"
#include "http.h"
#include "txn.h"

typedef enum PageOutcome
{
	PAGE_NEXT, PAGE_COMPLETED, PAGE_CANCELLED, PAGE_GONE
} PageOutcome;

typedef struct PageWork
{
	SyncTask   *t;
	char	   *next_cursor;
	PageOutcome outcome;
	MirrorCounts counts;
	JobTotals	totals;
	int			deactivated;
} PageWork;

static void
slot_state(SyncTask *t, const char *state)
{
	ShopifySlotStatus *s;

	if (t->slot < 0 || shopify_shared == NULL)
		return;
	s = &shopify_shared->slots[t->slot];
	SpinLockAcquire(&shopify_shared->mutex);
	s->job_id = t->finished ? 0 : t->job_id;
	s->shop_id = t->shop_id;
	s->bucket_used = t->shop && t->shop->bucket_known ? (int) t->shop->bucket_used : -1;
	s->bucket_size = t->shop ? t->shop->bucket_size : 0;
	s->next_request_at = t->shop ? t->shop->next_request_at : 0;
	strlcpy(s->state, state, sizeof(s->state));
	SpinLockRelease(&shopify_shared->mutex);
}

/* Count a finished call that is not a page on the job row. */
static void
count_call(SyncTask *t)
{
	ShopifyCall *c = t->cur;

	queue_add_calls(t->job_id, c->attempt + c->throttled,
					Max(0, c->attempt - 1), c->throttled);
}

static void
prepare_call(SyncTask *t, ShopifyCall *c, char *path)
{
	MemoryContext old = MemoryContextSwitchTo(t->cxt);

	shopify_call_reset(c);
	if (c->path)
		pfree(c->path);
	shopify_call_init(c, t->shop, "GET", pstrdup(path), NULL);
	MemoryContextSwitchTo(old);
}

static void
prepare_page_call(SyncTask *t)
{
	t->stage = STAGE_PAGES;
	prepare_call(t, t->cur, rest_page_path(t->cursor, t->has_since, t->since));
}

SyncTask *
sync_task_create(const ClaimedJob *job, const char *token, int slot)
{
	MemoryContext cxt = AllocSetContextCreate(TopMemoryContext, "shopify_sync task",
											  ALLOCSET_SMALL_SIZES);
	MemoryContext old = MemoryContextSwitchTo(cxt);
	SyncTask   *t = palloc0(sizeof(SyncTask));

	t->cxt = cxt;
	t->job_id = job->job_id;
	t->shop_id = job->shop_id;
	strlcpy(t->shop_domain, job->shop_domain, sizeof(t->shop_domain));
	t->full_sync = job->full_sync;
	t->sync_inventory = job->sync_inventory;
	t->has_since = job->has_updated_since;
	t->since = job->updated_since;
	t->total_products = job->total_products;
	t->pages_fetched = job->pages_fetched;
	t->cursor = job->cursor ? pstrdup(job->cursor) : NULL;
	t->slot = slot;
	t->run_started = GetCurrentTimestamp();
	t->shop = shop_client_get(job->shop_id, job->shop_domain, token);
	t->cur = &t->calls[0];
	t->nxt = &t->calls[1];
	MemoryContextSwitchTo(old);

	/* A resumed job already has its count: go straight to its next page. */
	if (t->pages_fetched > 0 || t->total_products >= 0)
		prepare_page_call(t);
	else
	{
		t->stage = STAGE_SHOP;
		prepare_call(t, t->cur, rest_shop_path());
	}
	slot_state(t, "starting");
	return t;
}

static TimestampTz
call_wake_time(ShopifyCall *c)
{
	if (c->in_flight || c->done)
		return DT_NOEND;
	return shopify_call_ready_at(c);
}

/* When the task next needs the loop's attention (DT_NOEND: not before I/O). */
TimestampTz
sync_task_wake_time(SyncTask *t)
{
	TimestampTz w;

	if (t->finished)
		return DT_NOEND;
	w = call_wake_time(t->cur);
	if (t->nxt_used)
		w = Min(w, call_wake_time(t->nxt));
	return w;
}

/* Send a call if its store's rate limit allows it now; true if sent. */
static bool
pump_call(SyncTask *t, ShopifyCall *c)
{
	if (c->in_flight || c->done)
		return false;
	if (shopify_call_ready_at(c) > GetCurrentTimestamp())
		return false;
	shopify_call_send(c);
	return true;
}

/* Send the task's calls whose time has come. */
void
sync_task_pump(SyncTask *t)
{
	if (t->finished)
		return;
	if (t->nxt_used)
		(void) pump_call(t, t->nxt);
	if (t->cur->in_flight || t->cur->done)
		return;
	if (!pump_call(t, t->cur))
	{
		slot_state(t, t->cur->throttled > 0 || t->cur->attempt == 0 ?
				   "waiting for rate limit" : "waiting to retry");
		return;
	}
	slot_state(t, t->stage == STAGE_PAGES ? "fetching page" :
			   t->stage == STAGE_COUNT ? "counting products" : "reading shop");
	if (t->cur->done)			/* could not even start */
		sync_task_http_done(t, NULL);
}

static void
drop_next(SyncTask *t)
{
	if (t->nxt_used)
	{
		shopify_call_abort(t->nxt);
		shopify_call_reset(t->nxt);
		t->nxt_used = false;
	}
}

static void
finish(SyncTask *t)
{
	t->finished = true;
	t->stage = STAGE_DONE;
	shopify_call_abort(t->cur);
	drop_next(t);
	slot_state(t, "finished");
}

/* ----- transactions ----- */

typedef struct FailWork
{
	SyncTask   *t;
	const char *error_class;
	const char *error;
	bool		cancelled;
} FailWork;

static void
fail_tx(void *arg)
{
	FailWork   *w = (FailWork *) arg;
	SyncTask   *t = w->t;

	shopify_call_flush_log(t->cur, t->shop_id, t->job_id);
	if (t->cur->attempt + t->cur->throttled > 0)
		count_call(t);
	if (w->cancelled)
		queue_cancel(t->job_id, t->shop_id, w->error);
	else
	{
		if (w->error_class && strcmp(w->error_class, "auth") == 0)
			queue_mark_token_invalid(t->shop_id, t->shop_domain);
		queue_fail(t->job_id, t->shop_id, w->error_class, w->error);
	}
}

static void
fail_job(SyncTask *t, const char *error_class, const char *error, bool cancelled)
{
	FailWork	w = {t, error_class, error, cancelled};
	char		err[256];

	if (!shopify_run_in_tx("shopify_sync: finishing a failed sync", fail_tx, &w,
						   err, sizeof(err), NULL))
		ereport(LOG,
				(errmsg("shopify_sync worker: could not record the end of job " INT64_FORMAT "; it will be recovered when its lease expires",
						t->job_id)));
	finish(t);
}

static void
shop_tx(void *arg)
{
	SyncTask   *t = (SyncTask *) arg;

	shopify_call_flush_log(t->cur, t->shop_id, t->job_id);
	count_call(t);
	queue_update_shop_info(t->job_id, t->shop_id, t->cur->resp);
}

typedef struct CountWork
{
	SyncTask   *t;
	int			count;
} CountWork;

static void
count_tx(void *arg)
{
	CountWork  *w = (CountWork *) arg;

	shopify_call_flush_log(w->t->cur, w->t->shop_id, w->t->job_id);
	count_call(w->t);
	w->count = queue_parse_count(w->t->cur->resp);
	if (w->count >= 0)
		queue_set_total(w->t->job_id, w->count);
}

static void
log_page(PageWork *w)
{
	SyncTask   *t = w->t;
	ShopifySyncProgress p;
	double		secs = (GetCurrentTimestamp() - t->run_started) / 1000000.0;

	t->variants_this_run += w->counts.processed;
	p.total_products = w->totals.total_products;
	p.products_fetched = w->totals.products_fetched;
	p.variants_processed = w->totals.variants_processed;
	p.variants_created = w->totals.variants_created;
	p.variants_updated = w->totals.variants_updated;
	p.variants_unchanged = w->totals.variants_unchanged;
	p.variants_failed = w->totals.variants_failed;
	p.pages_fetched = w->totals.pages_fetched;
	p.progress_percentage = w->totals.total_products > 0 ?
		Min(99.99, 100.0 * w->totals.products_fetched / w->totals.total_products) : 0;
	p.variants_per_second = secs > 0 ? t->variants_this_run / secs : 0;
	log_product_sync_progress(t->shop_id, t->job_id, &p);

	if (w->counts.failed > 0)
	{
		ShopifyJson j;
		char	   *msg = psprintf("%d variant(s) of page %d could not be stored",
								   w->counts.failed, w->totals.pages_fetched);

		sj_init(&j);
		sj_int(&j, "variants_failed", w->counts.failed);
		sj_str(&j, "examples", w->counts.errors);
		sj_finish(&j);
		log_sync_operation(t->shop_id, t->job_id, "warning", "variants_failed", msg, j.buf.data);
	}
}

static void
log_completed(PageWork *w)
{
	SyncTask   *t = w->t;
	JobTotals  *tt = &w->totals;
	ShopifyJson j;
	char	   *msg;

	sj_init(&j);
	sj_str(&j, "sync_type", t->full_sync ? "full_sync" : "incremental_sync");
	sj_int(&j, "total_products", tt->total_products);
	sj_int(&j, "products_fetched", tt->products_fetched);
	sj_int(&j, "variants_processed", tt->variants_processed);
	sj_int(&j, "variants_created", tt->variants_created);
	sj_int(&j, "variants_updated", tt->variants_updated);
	sj_int(&j, "variants_unchanged", tt->variants_unchanged);
	sj_int(&j, "variants_failed", tt->variants_failed);
	sj_int(&j, "variants_deactivated", tt->variants_deactivated);
	sj_int(&j, "pages_fetched", tt->pages_fetched);
	sj_int(&j, "api_calls", tt->api_calls);
	sj_num(&j, "duration_s", tt->seconds);
	sj_num(&j, "variants_per_second", tt->seconds > 0 ? tt->variants_processed / tt->seconds : 0);
	sj_finish(&j);
	msg = psprintf("sync completed: %d variants (%d created, %d updated, %d unchanged, %d failed, %d deactivated) in %.1f s",
				   tt->variants_processed, tt->variants_created, tt->variants_updated,
				   tt->variants_unchanged, tt->variants_failed, tt->variants_deactivated,
				   tt->seconds);
	log_sync_operation(t->shop_id, t->job_id, "info", "completed", msg, j.buf.data);
}

static void
page_tx(void *arg)
{
	PageWork   *w = (PageWork *) arg;
	SyncTask   *t = w->t;
	ShopifyCall *c = t->cur;
	PageProgress p;
	bool		cancel;

	if (!queue_lock_job(t->job_id, &cancel))
	{
		w->outcome = PAGE_GONE;
		return;
	}
	shopify_call_flush_log(c, t->shop_id, t->job_id);
	if (cancel)
	{
		queue_cancel(t->job_id, t->shop_id, "cancelled by request");
		w->outcome = PAGE_CANCELLED;
		return;
	}

	mirror_write(c->resp, c->resp_len, "rest_products", t->shop_id, t->sync_inventory,
				 t->full_sync ? t->job_id : 0, &w->counts);

	memset(&p, 0, sizeof(p));
	p.products = w->counts.products;
	p.processed = w->counts.processed;
	p.created = w->counts.created;
	p.updated = w->counts.updated;
	p.unchanged = w->counts.unchanged;
	p.failed = w->counts.failed;
	p.api_calls = c->attempt + c->throttled;
	p.retries = Max(0, c->attempt - 1);
	p.throttled = c->throttled;
	p.next_cursor = w->next_cursor;
	p.total_products = t->total_products;
	queue_record_page(t->job_id, &p, &w->totals);
	log_page(w);

	if (w->next_cursor != NULL)
	{
		w->outcome = PAGE_NEXT;
		return;
	}
	w->deactivated = t->full_sync ? mirror_sweep(t->shop_id, t->job_id) : 0;
	queue_complete(t->job_id, t->shop_id, w->deactivated, &w->totals);
	log_completed(w);
	w->outcome = PAGE_COMPLETED;
}

/* A database error while handling a fetched body: fetch it again, or give up. */
static void
retry_after_db_error(SyncTask *t, const char *err, int sqlstate)
{
	bool		payload = (ERRCODE_TO_CATEGORY(sqlstate) == ERRCODE_DATA_EXCEPTION);
	char	   *msg;

	t->db_failures++;
	if (t->db_failures > shopify_max_retries)
	{
		msg = psprintf("%s: could not store page %d: %s", payload ? "payload" : "database",
					   t->pages_fetched + 1, err);
		fail_job(t, payload ? "payload" : "database", msg, false);
		return;
	}
	/* fetch the same page again after a pause */
	drop_next(t);
	if (t->cur->resp)
		free(t->cur->resp);
	t->cur->resp = NULL;
	t->cur->done = false;
	t->cur->ok = false;
	t->cur->not_before = GetCurrentTimestamp() +
		(TimestampTz) Min(30000, 500 << Min(t->db_failures, 6)) * 1000;
}

static void handle_current(SyncTask *t);

static void
handle_page(SyncTask *t)
{
	PageWork	w;
	char		err[512];
	int			sqlstate;
	char	   *activity;

	memset(&w, 0, sizeof(w));
	w.t = t;
	if (!rest_next_page_info(t->cur->link, &w.next_cursor))
	{
		char	   *msg = psprintf("payload: malformed Link header in the answer to %s (X-Request-Id %s)",
								   t->cur->path, t->cur->request_id);

		fail_job(t, "payload", msg, false);
		return;
	}
	/*
	 * Ask for the next page now, so that Shopify prepares it while this one
	 * is written (its cursor is known from this page's Link header).
	 */
	if (w.next_cursor != NULL && !t->nxt_used)
	{
		prepare_call(t, t->nxt, rest_page_path(w.next_cursor, t->has_since, t->since));
		t->nxt_used = true;
		if (pump_call(t, t->nxt))
			http_kick();
	}
	slot_state(t, "writing page");
	activity = psprintf("shopify_sync: writing page %d of job " INT64_FORMAT " (shop " INT64_FORMAT ")",
						t->pages_fetched + 1, t->job_id, t->shop_id);
	if (!shopify_run_in_tx(activity, page_tx, &w, err, sizeof(err), &sqlstate))
	{
		retry_after_db_error(t, err, sqlstate);
		return;
	}
	t->db_failures = 0;
	switch (w.outcome)
	{
		case PAGE_NEXT:
			{
				MemoryContext old = MemoryContextSwitchTo(t->cxt);

				if (t->cursor)
					pfree(t->cursor);
				t->cursor = pstrdup(w.next_cursor);
				MemoryContextSwitchTo(old);
				t->pages_fetched++;
				if (t->nxt_used)
				{
					ShopifyCall *done = t->cur;

					t->cur = t->nxt;
					t->nxt = done;
					shopify_call_reset(t->nxt);
					t->nxt_used = false;
				}
				else
					prepare_page_call(t);
				break;
			}
		case PAGE_COMPLETED:
		case PAGE_CANCELLED:
		case PAGE_GONE:
			finish(t);
			break;
	}
}

/* The task's HTTP request finished (or could not start). */
bool
sync_task_owns(SyncTask *t, HttpRequest *req)
{
	return req == &t->calls[0].req || req == &t->calls[1].req;
}

/*
 * One of the task's HTTP requests finished (req), or the current call could
 * not even start (req NULL).  The next page's answer waits until the current
 * page is written; then it is handled at once.
 */
void
sync_task_http_done(SyncTask *t, HttpRequest *req)
{
	if (req != NULL)
	{
		ShopifyCall *c = (req == &t->cur->req) ? t->cur : t->nxt;

		if (c->in_flight)
			shopify_call_finished(c);
		if (c == t->nxt)
			return;
	}
	while (!t->finished && t->cur->done)
	{
		ShopifyCall *before = t->cur;

		handle_current(t);
		if (t->cur == before)
			break;				/* no page switch: wait for I/O */
	}
}

/* The current call is done: act on its outcome. */
static void
handle_current(SyncTask *t)
{
	char		err[512];
	int			sqlstate;

	if (!t->cur->ok)
	{
		fail_job(t, t->cur->error_class, t->cur->error, false);
		return;
	}

	switch (t->stage)
	{
		case STAGE_SHOP:
			if (!shopify_run_in_tx("shopify_sync: reading shop details", shop_tx, t,
								   err, sizeof(err), &sqlstate))
			{
				retry_after_db_error(t, err, sqlstate);
				return;
			}
			t->stage = STAGE_COUNT;
			prepare_call(t, t->cur, rest_count_path(t->has_since, t->since));
			break;
		case STAGE_COUNT:
			{
				CountWork	w = {t, -1};

				if (!shopify_run_in_tx("shopify_sync: recording the product count", count_tx, &w,
									   err, sizeof(err), &sqlstate))
				{
					retry_after_db_error(t, err, sqlstate);
					return;
				}
				t->total_products = w.count;
				prepare_page_call(t);
				break;
			}
		case STAGE_PAGES:
			handle_page(t);
			break;
		case STAGE_DONE:
			break;
	}
}

/*
 * Stop the task from outside: a requested cancel (recorded as cancelled) or
 * a job that is gone (disconnected store, deleted job: nothing recorded).
 */
void
sync_task_stop(SyncTask *t, bool cancelled, const char *why)
{
	if (t->finished)
		return;
	shopify_call_abort(t->cur);
	drop_next(t);
	if (cancelled)
		fail_job(t, "cancelled", why, true);
	else
		finish(t);
}

void
sync_task_free(SyncTask *t)
{
	shopify_call_abort(&t->calls[0]);
	shopify_call_abort(&t->calls[1]);
	if (t->calls[0].path)
		pfree(t->calls[0].path);
	if (t->calls[1].path)
		pfree(t->calls[1].path);
	shop_client_release(t->shop);
	if (t->slot >= 0 && shopify_shared != NULL)
	{
		SpinLockAcquire(&shopify_shared->mutex);
		memset(&shopify_shared->slots[t->slot], 0, sizeof(ShopifySlotStatus));
		SpinLockRelease(&shopify_shared->mutex);
	}
	MemoryContextDelete(t->cxt);
}
