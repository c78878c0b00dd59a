/*
 * sync.c — one running sync job, as a state machine driven by the worker
 * loop.
 *
 *   REST:     shop.json → products/count.json → page → page → ... → last page
 *   GraphQL:  ShopifySyncShop → ShopifySyncCount → products page → (further
 *             variants of its products) → products page → ... → last page
 *   bulk:     a GraphQL full sync of more than shopify_sync.bulk_threshold
 *             products continues in bulk.c after the count
 *
 * An order sync (resource 'orders') takes the same path with the orders
 * endpoints (REST orders.json?status=any; GraphQL orders with their first
 * line items, then further line items of the orders that have more), never
 * as a bulk operation, and without the sweep: orders are not deleted in
 * Shopify's listing the way variants are, so a full order sync only adds
 * and updates.
 *
 * Each step is one Shopify call (paced and retried by shopify.c).  Each
 * fetched page is written in its own short transaction that also
 * checkpoints the cursor of the next page, so a job interrupted anywhere
 * resumes at the first page not written; while a GraphQL page still has
 * products with variants to fetch, the checkpoint stays at that page.  The
 * last write of a listing also sweeps (full syncs: variants not returned
 * become inactive) and completes the job in the same transaction.  While a
 * page is written the next one is already requested (REST: its cursor is in
 * the Link header; GraphQL: endCursor).
 *
 * Before writing, a transaction locks the store and the job (queue.c): if
 * the job was cancelled or its store disconnected meanwhile, nothing is
 * written.  Network I/O never happens inside a transaction.
 */
#include "postgres.h"

#include "access/xact.h"
#include "miscadmin.h"
#include "utils/memutils.h"
#include "utils/timestamp.h"

#include "graphql.h"
#include "http.h"
#include "log.h"
#include "mirror.h"
#include "rest.h"
#include "shopify_sync.h"
#include "sync.h"
#include "txn.h"

#define GQL_VARIANTS_PAGE 250

void
sync_slot_state(SyncTask *t, const char *state)
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
	s->cost_available = t->shop && t->shop->cost_known ? t->shop->cost_available : -1;
	s->cost_maximum = t->shop && t->shop->cost_known ? t->shop->cost_maximum : 0;
	s->next_request_at = t->shop ? t->shop->next_request_at : 0;
	s->started_at = t->run_started;
	strlcpy(s->state, state, sizeof(s->state));
	SpinLockRelease(&shopify_shared->mutex);
}

/* Count a finished call that is not a page on the job row. */
static void
count_call(SyncTask *t, ShopifyCall *c)
{
	queue_add_calls(t->job_id, c->attempt + c->throttled,
					Max(0, c->attempt - 1), c->throttled);
}

void
sync_prepare_call(SyncTask *t, ShopifyCall *c, const char *method, char *path, char *body,
				  bool graphql)
{
	MemoryContext old = MemoryContextSwitchTo(t->cxt);

	shopify_call_reset(c);
	if (c->path)
		pfree(c->path);
	if (c->body)
		pfree(c->body);
	shopify_call_init(c, t->shop, method, pstrdup(path), body ? pstrdup(body) : NULL);
	c->graphql = graphql;
	MemoryContextSwitchTo(old);
}

static char *
gql_filter(SyncTask *t)
{
	return gql_filter_since(t->has_since, t->since);
}

static void
prepare_shop(SyncTask *t)
{
	t->stage = STAGE_SHOP;
	if (t->api == API_REST)
		sync_prepare_call(t, t->cur, "GET", rest_shop_path(), NULL, false);
	else
		sync_prepare_call(t, t->cur, "POST", gql_path(), gql_shop_body(), true);
}

static void
prepare_count(SyncTask *t)
{
	t->stage = STAGE_COUNT;
	if (t->api == API_REST)
		sync_prepare_call(t, t->cur, "GET",
						  t->orders ? rest_orders_count_path(t->has_since, t->since) :
						  rest_count_path(t->has_since, t->since), NULL, false);
	else
		sync_prepare_call(t, t->cur, "POST", gql_path(),
						  t->orders ? gql_orders_count_body(gql_filter(t)) :
						  gql_count_body(gql_filter(t)), true);
}

/* The page after cursor into call c. */
static void
prepare_page(SyncTask *t, ShopifyCall *c, const char *cursor)
{
	if (t->api == API_REST)
		sync_prepare_call(t, c, "GET",
						  t->orders ? rest_orders_page_path(cursor, t->has_since, t->since) :
						  rest_page_path(cursor, t->has_since, t->since), NULL, false);
	else
	{
		/* an order and its line items cost as a product and its variants */
		sync_prepare_call(t, c, "POST", gql_path(),
						  t->orders ?
						  gql_orders_body(shopify_graphql_page_size, shopify_graphql_variants_first,
										  cursor, gql_filter(t)) :
						  gql_products_body(shopify_graphql_page_size, shopify_graphql_variants_first,
											cursor, gql_filter(t)), true);
		c->expected_cost = t->page_cost > 0 ? t->page_cost :
			gql_products_cost(shopify_graphql_page_size, shopify_graphql_variants_first);
	}
}

static void
prepare_page_call(SyncTask *t)
{
	t->stage = STAGE_PAGES;
	prepare_page(t, t->cur, t->cursor);
}

static void
prepare_variants_call(SyncTask *t)
{
	PendingVariants *p = &t->pending[0];

	t->stage = STAGE_VARIANTS;
	sync_prepare_call(t, t->cur, "POST", gql_path(),
					  t->orders ? gql_order_lines_body(p->product_gid, GQL_VARIANTS_PAGE, p->after) :
					  gql_variants_body(p->product_gid, GQL_VARIANTS_PAGE, p->after), true);
	t->cur->expected_cost = 3 + 2 * GQL_VARIANTS_PAGE;
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
	t->orders = job->resource != NULL && strcmp(job->resource, "orders") == 0;
	t->api = strcmp(job->api, "bulk") == 0 && !t->orders ? API_BULK :
		strcmp(job->api, "rest") == 0 ? API_REST : API_GRAPHQL;
	t->full_sync = job->full_sync;
	t->sync_inventory = job->sync_inventory;
	t->has_since = job->has_updated_since;
	t->since = job->updated_since;
	t->total_products = job->total_products;
	t->pages_fetched = job->pages_fetched;
	t->cursor = job->cursor ? pstrdup(job->cursor) : NULL;
	t->bulk_id = job->bulk_operation_id ? pstrdup(job->bulk_operation_id) : NULL;
	t->slot = slot;
	t->run_started = GetCurrentTimestamp();
	t->shop = shop_client_get(job->shop_id, job->shop_domain, token);
	t->cur = &t->calls[0];
	t->nxt = &t->calls[1];
	MemoryContextSwitchTo(old);

	if (t->api == API_BULK)
	{
		if (t->bulk_id)
			bulk_resume(t);		/* the operation may be finished already */
		else
			bulk_begin(t);
	}
	else if (t->pages_fetched > 0 || t->total_products >= 0)
		prepare_page_call(t);	/* a resumed job: straight to its next page */
	else
		prepare_shop(t);
	sync_slot_state(t, "starting");
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

static const char *
stage_name(SyncStage s)
{
	switch (s)
	{
		case STAGE_SHOP:
			return "reading shop";
		case STAGE_COUNT:
			return "counting";
		case STAGE_PAGES:
			return "fetching page";
		case STAGE_VARIANTS:
			return "fetching variants or line items";
		case STAGE_BULK_START:
			return "starting bulk operation";
		case STAGE_BULK_POLL:
			return "waiting for bulk operation";
		case STAGE_BULK_DOWNLOAD:
			return "downloading bulk result";
		case STAGE_DONE:
			return "finished";
	}
	return "?";
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
		sync_slot_state(t, t->stage == STAGE_BULK_POLL ? stage_name(t->stage) :
						t->cur->throttled > 0 || t->cur->attempt == 0 ?
						"waiting for rate limit" : "waiting to retry");
		return;
	}
	sync_slot_state(t, stage_name(t->stage));
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

void
sync_finish(SyncTask *t)
{
	t->finished = true;
	t->stage = STAGE_DONE;
	shopify_call_abort(t->cur);
	drop_next(t);
	sync_slot_state(t, "finished");
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
		count_call(t, t->cur);
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
end_job(SyncTask *t, const char *error_class, const char *error, bool cancelled)
{
	FailWork	w = {t, error_class, error, cancelled};
	char		err[256];

	if (!shopify_run_in_tx("shopify_sync: finishing a failed sync", fail_tx, &w,
						   err, sizeof(err), NULL))
		ereport(LOG,
				(errmsg("shopify_sync worker: could not record the end of job " INT64_FORMAT "; it will be recovered when its lease expires",
						t->job_id)));
	sync_finish(t);
}

void
sync_fail(SyncTask *t, const char *error_class, const char *error)
{
	end_job(t, error_class, error, false);
}

typedef struct InfoWork
{
	SyncTask   *t;
	int			count;
} InfoWork;

static void
shop_tx(void *arg)
{
	InfoWork   *w = (InfoWork *) arg;

	shopify_call_flush_log(w->t->cur, w->t->shop_id, w->t->job_id);
	count_call(w->t, w->t->cur);
	queue_update_shop_info(w->t->job_id, w->t->shop_id, w->t->cur->resp,
						   w->t->api != API_REST);
}

static void
count_tx(void *arg)
{
	InfoWork   *w = (InfoWork *) arg;

	shopify_call_flush_log(w->t->cur, w->t->shop_id, w->t->job_id);
	count_call(w->t, w->t->cur);
	if (w->t->api == API_REST)
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
	p.orders = t->orders;
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
		char	   *msg = psprintf("%d %s of page %d could not be stored",
								   w->counts.failed, t->orders ? "order(s)" : "variant(s)",
								   w->totals.pages_fetched);

		sj_init(&j);
		sj_int(&j, t->orders ? "orders_failed" : "variants_failed", w->counts.failed);
		sj_str(&j, "examples", w->counts.errors);
		sj_finish(&j);
		log_sync_operation(t->shop_id, t->job_id, "warning",
						   t->orders ? "orders_failed" : "variants_failed", msg, j.buf.data);
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
	sj_str(&j, "api", t->api == API_REST ? "rest" : t->api == API_GRAPHQL ? "graphql" : "bulk");
	if (t->orders)
	{
		sj_str(&j, "resource", "orders");
		sj_int(&j, "total_orders", tt->total_products);
		sj_int(&j, "orders_processed", tt->variants_processed);
		sj_int(&j, "orders_created", tt->variants_created);
		sj_int(&j, "orders_updated", tt->variants_updated);
		sj_int(&j, "orders_unchanged", tt->variants_unchanged);
		sj_int(&j, "orders_failed", tt->variants_failed);
	}
	else
	{
		sj_int(&j, "total_products", tt->total_products);
		sj_int(&j, "products_fetched", tt->products_fetched);
		sj_int(&j, "variants_processed", tt->variants_processed);
		sj_int(&j, "variants_created", tt->variants_created);
		sj_int(&j, "variants_updated", tt->variants_updated);
		sj_int(&j, "variants_unchanged", tt->variants_unchanged);
		sj_int(&j, "variants_failed", tt->variants_failed);
		sj_int(&j, "variants_deactivated", tt->variants_deactivated);
	}
	sj_int(&j, "pages_fetched", tt->pages_fetched);
	sj_int(&j, "api_calls", tt->api_calls);
	sj_num(&j, "duration_s", tt->seconds);
	sj_num(&j, t->orders ? "orders_per_second" : "variants_per_second",
		   tt->seconds > 0 ? tt->variants_processed / tt->seconds : 0);
	sj_finish(&j);
	if (t->orders)
		msg = psprintf("order sync completed: %d orders (%d created, %d updated, %d unchanged, %d failed) in %.1f s",
					   tt->variants_processed, tt->variants_created, tt->variants_updated,
					   tt->variants_unchanged, tt->variants_failed, tt->seconds);
	else
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
	ShopifyCall *c = w->call;
	PageProgress p;
	bool		cancel;

	if (!queue_lock_job(t->job_id, &cancel))
	{
		w->outcome = PAGE_GONE;
		return;
	}
	if (c)
		shopify_call_flush_log(c, t->shop_id, t->job_id);
	if (cancel)
	{
		queue_cancel(t->job_id, t->shop_id, "cancelled by request");
		w->outcome = PAGE_CANCELLED;
		return;
	}

	if (w->len > 0)
	{
		if (t->orders)
			mirror_write_orders(w->doc, w->len, w->shape, t->shop_id, &w->counts);
		else if (w->bulk)
			mirror_write_bulk(w->doc, w->len, t->shop_id, t->sync_inventory,
							  t->full_sync ? t->job_id : 0, t->job_id, &w->counts);
		else
			mirror_write(w->doc, w->len, w->shape, t->shop_id, t->sync_inventory,
						 t->full_sync ? t->job_id : 0, &w->counts);
	}

	memset(&p, 0, sizeof(p));
	p.products = w->products_override >= 0 ? w->products_override : w->counts.products;
	p.processed = w->counts.processed;
	p.created = w->counts.created;
	p.updated = w->counts.updated;
	p.unchanged = w->counts.unchanged;
	p.failed = w->counts.failed;
	if (c)
	{
		p.api_calls = c->attempt + c->throttled;
		p.retries = Max(0, c->attempt - 1);
		p.throttled = c->throttled;
	}
	p.next_cursor = w->record_cursor;
	p.total_products = t->total_products;
	queue_record_page(t->job_id, &p, &w->totals);
	log_page(w);

	if (!w->last)
	{
		w->outcome = PAGE_NEXT;
		return;
	}
	w->deactivated = t->full_sync && !t->orders ? mirror_sweep(t->shop_id, t->job_id) : 0;
	queue_complete(t->job_id, t->shop_id, w->deactivated, &w->totals);
	log_completed(w);
	w->outcome = PAGE_COMPLETED;
}

/*
 * Run one write transaction.  On a database error returns false with the
 * error classified in *cls (payload: the data; database: anything else).
 */
static bool
run_write(PageWork *w, const char *what, char *err, size_t errlen, const char **cls)
{
	int			sqlstate;
	char	   *activity = psprintf("shopify_sync: writing %s of job " INT64_FORMAT " (shop " INT64_FORMAT ")",
									what, w->t->job_id, w->t->shop_id);

	sync_slot_state(w->t, "writing page");
	if (shopify_run_in_tx(activity, page_tx, w, err, errlen, &sqlstate))
		return true;
	*cls = (ERRCODE_TO_CATEGORY(sqlstate) == ERRCODE_DATA_EXCEPTION) ? "payload" : "database";
	return false;
}

/*
 * A write failed: fetch the same answer again after a pause, or give up
 * after shopify_sync.max_retries.
 */
static void
retry_after_db_error(SyncTask *t, const char *cls, const char *err)
{
	t->db_failures++;
	drop_next(t);
	if (t->db_failures > shopify_max_retries)
	{
		sync_fail(t, cls, psprintf("%s: could not store page %d: %s", cls, t->pages_fetched + 1, err));
		return;
	}
	if (t->cur->resp)
		free(t->cur->resp);
	t->cur->resp = NULL;
	t->cur->done = false;
	t->cur->ok = false;
	t->cur->not_before = GetCurrentTimestamp() +
		(TimestampTz) Min(30000, 500 << Min(t->db_failures, 6)) * 1000;
}

/* Used by bulk.c, whose batches cannot be fetched again: failure ends the job. */
bool
sync_write(PageWork *w, const char *what)
{
	char		err[512];
	const char *cls;

	if (run_write(w, what, err, sizeof(err), &cls))
		return true;
	sync_fail(w->t, cls, psprintf("%s: could not store %s: %s", cls, what, err));
	return false;
}

/* After a successful write: move on, or stop. */
static bool
after_write(SyncTask *t, PageWork *w)
{
	t->db_failures = 0;
	if (w->outcome != PAGE_NEXT)
	{
		sync_finish(t);
		return false;
	}
	return true;
}

/* Swap in the prefetched next page (or ask for it) after cursor moved on. */
static void
advance_page(SyncTask *t, const char *next)
{
	MemoryContext old = MemoryContextSwitchTo(t->cxt);

	if (t->cursor)
		pfree(t->cursor);
	t->cursor = pstrdup(next);
	MemoryContextSwitchTo(old);
	t->pages_fetched++;
	t->stage = STAGE_PAGES;
	if (t->nxt_used)
	{
		ShopifyCall *done = t->cur;

		t->cur = t->nxt;
		t->nxt = done;
		shopify_call_reset(t->nxt);
		t->nxt_used = false;
		/* the prefetched page is under way: say so (sync_task_pump won't) */
		if (t->cur->in_flight)
			sync_slot_state(t, stage_name(t->stage));
	}
	else
		prepare_page(t, t->cur, t->cursor);
}

/* Ask for the page after next_cursor now, to be fetched while this one is written. */
static void
prefetch(SyncTask *t, const char *next_cursor)
{
	if (next_cursor == NULL || t->nxt_used)
		return;
	prepare_page(t, t->nxt, next_cursor);
	t->nxt_used = true;
	if (pump_call(t, t->nxt))
		http_kick();
}

/*
 * A GraphQL answer arrived (HTTP 200): take in its cost, and decide whether
 * its data can be used.  THROTTLED: the call waits and is sent again (not
 * counted as a failure).  Other errors fail the job.
 */
bool
sync_graphql_usable(SyncTask *t, ShopifyCall *c, int op, void *answer)
{
	GqlAnswer  *a = (GqlAnswer *) answer;

	gql_read_answer(c->resp, c->resp_len, (GqlOp) op, a);
	if (!a->json_ok)
	{
		sync_fail(t, "payload", psprintf("payload: the answer to %s is not JSON: %s",
										 c->path, a->parse_error));
		return false;
	}
	if (a->has_cost)
		shop_observe_cost(t->shop, a->available, a->maximum, a->restore);
	if (a->throttled)
	{
		double		wait = 1.0;

		if (a->requested > 0 && a->restore > 0)
			wait = Max(0.05, (a->requested - Max(0, a->available)) / a->restore);
		shopify_graphql_throttled(c, wait);
		if (c->done)			/* throttled too often */
			sync_fail(t, c->error_class, c->error);
		return false;
	}
	if (a->error_message || !a->data_ok)
	{
		sync_fail(t, "graphql",
				  psprintf("graphql: %s: %s%s%s (X-Request-Id %s)",
						   c->path, a->error_code ? a->error_code : "no data",
						   a->error_message ? ": " : "", a->error_message ? a->error_message : "",
						   c->request_id[0] ? c->request_id : "none"));
		return false;
	}
	return true;
}

static void
handle_rest_page(SyncTask *t)
{
	PageWork	w;
	char	   *next;
	char		err[512];
	const char *cls;

	if (!rest_next_page_info(t->cur->link, &next))
	{
		sync_fail(t, "payload", psprintf("payload: malformed Link header in the answer to %s (X-Request-Id %s)",
										 t->cur->path, t->cur->request_id));
		return;
	}
	prefetch(t, next);
	memset(&w, 0, sizeof(w));
	w.t = t;
	w.call = t->cur;
	w.doc = t->cur->resp;
	w.len = t->cur->resp_len;
	w.shape = t->orders ? "rest_orders" : "rest_products";
	w.products_override = -1;
	w.record_cursor = next;
	w.last = (next == NULL);
	if (!run_write(&w, psprintf("page %d", t->pages_fetched + 1), err, sizeof(err), &cls))
	{
		retry_after_db_error(t, cls, err);
		return;
	}
	if (after_write(t, &w))
		advance_page(t, next);
}

/* Products of the page that have more variants than it carried. */
static void
collect_pending(SyncTask *t, GqlAnswer *a)
{
	MemoryContext old = MemoryContextSwitchTo(t->cxt);
	int			i;

	t->npending = 0;
	t->pending = palloc0(sizeof(PendingVariants) * Max(a->nproducts, 1));
	for (i = 0; i < a->nproducts; i++)
		if (a->more_variants[i] && a->product_ids[i])
		{
			t->pending[t->npending].product_gid = pstrdup(a->product_ids[i]);
			t->pending[t->npending].after = a->variants_cursor[i] ? pstrdup(a->variants_cursor[i]) : NULL;
			t->npending++;
		}
	t->page_next = a->has_next && a->end_cursor ? pstrdup(a->end_cursor) : NULL;
	MemoryContextSwitchTo(old);
}

static void
handle_graphql_page(SyncTask *t)
{
	GqlAnswer	a;
	PageWork	w;
	char		err[512];
	const char *cls;

	if (!sync_graphql_usable(t, t->cur, t->orders ? GQL_ORDERS : GQL_PRODUCTS, &a))
		return;
	if (a.requested > 0)
		t->page_cost = a.requested;
	collect_pending(t, &a);
	if (t->npending == 0)
		prefetch(t, t->page_next);

	memset(&w, 0, sizeof(w));
	w.t = t;
	w.call = t->cur;
	w.doc = t->cur->resp;
	w.len = t->cur->resp_len;
	w.shape = t->orders ? "graphql_orders" : "graphql_products";
	w.products_override = -1;
	/* the checkpoint moves past this page only when all its variants are in */
	w.record_cursor = t->npending > 0 ? t->cursor : t->page_next;
	w.last = (t->npending == 0 && t->page_next == NULL);
	if (!run_write(&w, psprintf("page %d", t->pages_fetched + 1), err, sizeof(err), &cls))
	{
		retry_after_db_error(t, cls, err);
		return;
	}
	if (!after_write(t, &w))
		return;
	if (t->npending > 0)
		prepare_variants_call(t);
	else
		advance_page(t, t->page_next);
}

/* Further variants of one product (GraphQL). */
static void
handle_variants(SyncTask *t)
{
	GqlAnswer	a;
	PageWork	w;
	char		err[512];
	const char *cls;
	PendingVariants *p = &t->pending[0];
	bool		product_done;
	bool		all_done;

	if (!sync_graphql_usable(t, t->cur, t->orders ? GQL_ORDER_LINES : GQL_PRODUCT_VARIANTS, &a))
		return;
	product_done = a.product_null || !a.has_next || a.end_cursor == NULL;
	all_done = product_done && t->npending == 1;

	memset(&w, 0, sizeof(w));
	w.t = t;
	w.call = t->cur;
	w.doc = t->cur->resp;
	w.len = a.product_null ? 0 : t->cur->resp_len;
	w.shape = t->orders ? "graphql_order" : "graphql_product";
	w.products_override = 0;
	w.record_cursor = all_done ? t->page_next : t->cursor;
	w.last = all_done && t->page_next == NULL;
	if (!run_write(&w, "variants", err, sizeof(err), &cls))
	{
		retry_after_db_error(t, cls, err);
		return;
	}
	if (!after_write(t, &w))
		return;
	if (!product_done)
	{
		MemoryContext old = MemoryContextSwitchTo(t->cxt);

		p->after = pstrdup(a.end_cursor);
		MemoryContextSwitchTo(old);
		prepare_variants_call(t);
		return;
	}
	/* next pending product, or on to the next page */
	memmove(&t->pending[0], &t->pending[1], sizeof(PendingVariants) * (t->npending - 1));
	t->npending--;
	if (t->npending > 0)
		prepare_variants_call(t);
	else
		advance_page(t, t->page_next);
}

static void
handle_shop(SyncTask *t)
{
	InfoWork	w = {t, -1};
	char		err[512];
	int			sqlstate;

	if (t->api != API_REST)
	{
		GqlAnswer	a;

		if (!sync_graphql_usable(t, t->cur, GQL_SHOP, &a))
			return;
	}
	if (!shopify_run_in_tx("shopify_sync: reading shop details", shop_tx, &w,
						   err, sizeof(err), &sqlstate))
	{
		retry_after_db_error(t, "database", err);
		return;
	}
	prepare_count(t);
}

static void
handle_count(SyncTask *t)
{
	InfoWork	w = {t, -1};
	char		err[512];
	int			sqlstate;

	if (t->api != API_REST)
	{
		GqlAnswer	a;

		if (!sync_graphql_usable(t, t->cur, t->orders ? GQL_ORDERS_COUNT : GQL_COUNT, &a))
			return;
		w.count = a.count > PG_INT32_MAX ? PG_INT32_MAX : (int) a.count;
	}
	if (!shopify_run_in_tx("shopify_sync: recording the product count", count_tx, &w,
						   err, sizeof(err), &sqlstate))
	{
		retry_after_db_error(t, "database", err);
		return;
	}
	t->total_products = w.count;

	/* a large catalog's full GraphQL sync runs as a bulk operation */
	if (t->api == API_GRAPHQL && !t->orders && t->full_sync && !t->has_since &&
		shopify_bulk_threshold >= 0 &&
		(shopify_bulk_threshold == 0 || w.count > shopify_bulk_threshold))
	{
		t->api = API_BULK;
		bulk_begin(t);
		return;
	}
	prepare_page_call(t);
}

static void
handle_current(SyncTask *t)
{
	if (!t->cur->ok)
	{
		sync_fail(t, t->cur->error_class, t->cur->error);
		return;
	}
	switch (t->stage)
	{
		case STAGE_SHOP:
			handle_shop(t);
			break;
		case STAGE_COUNT:
			handle_count(t);
			break;
		case STAGE_PAGES:
			if (t->api == API_REST)
				handle_rest_page(t);
			else
				handle_graphql_page(t);
			break;
		case STAGE_VARIANTS:
			handle_variants(t);
			break;
		case STAGE_BULK_START:
		case STAGE_BULK_POLL:
		case STAGE_BULK_DOWNLOAD:
			bulk_handle(t);
			break;
		case STAGE_DONE:
			break;
	}
}

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
		SyncStage	stage_before = t->stage;

		handle_current(t);
		if (t->cur == before && t->stage == stage_before && !t->cur->done)
			break;				/* waiting for I/O */
		if (t->cur == before && t->cur->done && t->stage == stage_before)
			break;				/* nothing moved: avoid spinning */
	}
}

/* A streaming download paused with a full buffer. */
void
sync_task_stream(SyncTask *t, HttpRequest *req)
{
	if (!t->finished && req == &t->cur->req)
		bulk_stream(t, req);
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
		end_job(t, "cancelled", why, true);
	else
		sync_finish(t);
}

void
sync_task_free(SyncTask *t)
{
	for (int i = 0; i < 2; i++)
		shopify_call_abort(&t->calls[i]);
	shop_client_release(t->shop);
	if (t->slot >= 0 && shopify_shared != NULL)
	{
		SpinLockAcquire(&shopify_shared->mutex);
		memset(&shopify_shared->slots[t->slot], 0, sizeof(ShopifySlotStatus));
		SpinLockRelease(&shopify_shared->mutex);
	}
	MemoryContextDelete(t->cxt);
}
