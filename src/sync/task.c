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
 *
 * This file holds the machine itself: the task, the calls it prepares and
 * sends, the swap to the prefetched page, and the entry points of the
 * worker loop.  The transactions are in sync_write.c; what each answer
 * means (and so which stage follows) is in sync_answers.c.
 */
#include "postgres.h"

#include "miscadmin.h"
#include "utils/memutils.h"
#include "utils/timestamp.h"

#include "shopify/graphql.h"
#include "shopify/pacing.h"
#include "http/http.h"
#include "shopify/rest.h"
#include "base/settings.h"
#include "base/shmem.h"
#include "sync/bulk.h"
#include "sync/calls.h"
#include "sync/pages.h"
#include "sync/task.h"
#include "sync/write.h"
#include "mirror/rows.h"

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
	t->resource = pstrdup(job->resource ? job->resource : "products");
	t->res = resource_builtin(t->resource);
	t->orders = t->res && t->res->kind == RESOURCE_ORDERS;
	t->tables = t->res && t->res->kind == RESOURCE_TABLES;
	t->objects = (t->res == NULL);
	if (t->objects && job->definition)
	{
		t->definition = pstrdup(job->definition);
		declared_read(t->definition, job->incremental, &t->decl);
	}
	t->listing = t->res ? t->res->gql : &gql_products;
	if (t->tables)
		t->positions = rows_position_table(cxt);
	t->api = strcmp(job->api, "bulk") == 0 ? API_BULK :
		strcmp(job->api, "rest") == 0 ? API_REST : API_GRAPHQL;
	t->full_sync = job->full_sync;
	if ((t->objects && !job->incremental) || (t->tables && t->res->incremental == NULL))
		t->full_sync = true;	/* its connection is listed whole every time */
	t->sync_inventory = job->sync_inventory;
	t->has_since = job->has_updated_since && t->full_sync == job->full_sync;
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
			sync_prepare_bulk_start(t, 0);
	}
	else if ((t->pages_fetched > 0 || t->total_products >= 0) &&
			 !(t->tables && t->listing->connection == NULL))
		sync_prepare_pages(t);	/* a resumed job: straight to its next page */
	else
		sync_prepare_shop(t);
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

/* Send the task's calls whose time has come. */
void
sync_task_pump(SyncTask *t)
{
	if (t->finished)
		return;
	if (t->nxt_used)
		(void) sync_pump_call(t, t->nxt);
	if (t->cur->in_flight || t->cur->done)
		return;
	if (t->stage == STAGE_BULK_START && !t->cur->in_flight &&
		shopify_call_ready_at(t->cur) <= GetCurrentTimestamp() && !bulk_take_slot(t))
	{
		t->cur->not_before = GetCurrentTimestamp() + USECS_PER_SEC;
		sync_slot_state(t, "waiting for a bulk operation place");
		return;
	}
	if (!sync_pump_call(t, t->cur))
	{
		sync_slot_state(t, t->stage == STAGE_BULK_POLL ? sync_stage_name(t->stage) :
						t->cur->throttled > 0 || t->cur->attempt == 0 ?
						"waiting for rate limit" : "waiting to retry");
		return;
	}
	sync_slot_state(t, sync_stage_name(t->stage));
	if (t->cur->done)			/* could not even start */
		sync_task_http_done(t, NULL);
}

bool
sync_task_owns(SyncTask *t, HttpRequest *req)
{
	return req == &t->calls[0].req || req == &t->calls[1].req;
}

/* The current call is done: act on its answer (or its failure). */
static void
handle_answer(SyncTask *t)
{
	if (!t->cur->ok)
	{
		sync_fail(t, t->cur->error_class, t->cur->error);
		return;
	}
	if (t->stage == STAGE_BULK_START || t->stage == STAGE_BULK_POLL ||
		t->stage == STAGE_BULK_DOWNLOAD)
		bulk_handle(t);
	else if (t->stage != STAGE_DONE)
		pages_handle(t);
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
	Assert(t->cur != t->nxt);
	while (!t->finished && t->cur->done)
	{
		ShopifyCall *before = t->cur;
		SyncStage	stage_before = t->stage;

		handle_answer(t);
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
	sync_drop_next(t);
	if (cancelled)
		sync_end_job(t, "cancelled", why, true);
	else
		sync_finish(t);
}

void
sync_task_free(SyncTask *t)
{
	for (int i = 0; i < 2; i++)
		shopify_call_abort(&t->calls[i]);
	bulk_release_slot(t);
	shop_client_release(t->shop);
	if (t->slot >= 0 && shopify_shared != NULL)
	{
		SpinLockAcquire(&shopify_shared->mutex);
		memset(&shopify_shared->slots[t->slot], 0, sizeof(ShopifySlotStatus));
		SpinLockRelease(&shopify_shared->mutex);
	}
	MemoryContextDelete(t->cxt);
}

/* The bulk_operations/finish webhook for this task's operation: poll now. */
void
sync_task_bulk_finished(SyncTask *t, const char *bulk_gid)
{
	if (t->finished || t->stage != STAGE_BULK_POLL || t->bulk_id == NULL ||
		strcmp(t->bulk_id, bulk_gid) != 0 || t->cur->in_flight)
		return;
	t->cur->not_before = 0;
}
