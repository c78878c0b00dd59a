/*
 * calls.c — the calls a sync makes, prepared: the shop's details, the
 * count, a page of the listing (REST or GraphQL), a node's further children,
 * a bulk operation's start and polls; the prefetch of the next page and the
 * swap to it; and what the worker slot shows while they run.  Nothing here
 * writes to the database or reads an answer: the files above (pages.c,
 * bulk.c, write.c, task.c) decide what follows.
 */
#include "postgres.h"

#include "miscadmin.h"
#include "utils/memutils.h"
#include "utils/timestamp.h"

#include "base/settings.h"
#include "base/shmem.h"
#include "http/http.h"
#include "shopify/graphql.h"
#include "shopify/pacing.h"
#include "shopify/rest.h"
#include "sync/calls.h"

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

void
sync_prepare_shop(SyncTask *t)
{
	t->stage = STAGE_SHOP;
	if (t->api == API_REST)
		sync_prepare_call(t, t->cur, "GET", rest_shop_path(), NULL, false);
	else
		sync_prepare_call(t, t->cur, "POST", gql_path(), gql_shop_body(), true);
}

/* The count call (for progress, and the bulk decision) into the current call. */
void
sync_prepare_count(SyncTask *t)
{
	t->stage = STAGE_COUNT;
	if (t->api == API_REST)
		sync_prepare_call(t, t->cur, "GET",
						  t->orders ? rest_orders_count_path(t->has_since, t->since) :
						  rest_count_path(t->has_since, t->since), NULL, false);
	else
		sync_prepare_call(t, t->cur, "POST", gql_path(),
						  gql_count_body(t->listing, gql_filter(t)), true);
}

/* The page after cursor into call c. */
static void
prepare_page(SyncTask *t, ShopifyCall *c, const char *cursor)
{
	if (t->api == API_REST)
		sync_prepare_call(t, c, "GET",
						  t->orders ? rest_orders_page_path(cursor, t->has_since, t->since) :
						  rest_page_path(cursor, t->has_since, t->since), NULL, false);
	else if (t->objects)
	{
		sync_prepare_call(t, c, "POST", gql_path(),
						  declared_page_body(&t->decl, cursor, gql_filter(t)), true);
		c->expected_cost = t->decl.page_cost;
	}
	else
	{
		double		cost;

		sync_prepare_call(t, c, "POST", gql_path(),
						  gql_page_body(t->listing, cursor, gql_filter(t), &cost), true);
		c->expected_cost = cost;
	}
}

/* The listing, from the checkpoint on, into the current call. */
void
sync_prepare_pages(SyncTask *t)
{
	t->stage = STAGE_PAGES;
	prepare_page(t, t->cur, t->cursor);
}

/* Further variants (line items) of the first pending product (order). */
void
sync_prepare_variants(SyncTask *t)
{
	PendingVariants *p = &t->pending[0];
	double		cost;

	Assert(t->npending > 0);
	t->stage = STAGE_VARIANTS;
	sync_prepare_call(t, t->cur, "POST", gql_path(),
					  gql_follow_body(t->listing, p->product_gid, p->after, gql_filter(t), &cost), true);
	t->cur->expected_cost = cost;
}

/* Send a call if its store's rate limit allows it now; true if sent. */
bool
sync_pump_call(SyncTask *t, ShopifyCall *c)
{
	if (c->in_flight || c->done)
		return false;
	if (shopify_call_ready_at(c) > GetCurrentTimestamp())
		return false;
	shopify_call_send(c);
	return true;
}

const char *
sync_stage_name(SyncStage s)
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

/* Abort the prefetched page, if any. */
void
sync_drop_next(SyncTask *t)
{
	if (t->nxt_used)
	{
		shopify_call_abort(t->nxt);
		shopify_call_reset(t->nxt);
		t->nxt_used = false;
	}
}

/* The task is done (its job row already says how); abort what is in flight. */
void
sync_finish(SyncTask *t)
{
	bulk_release_slot(t);
	t->finished = true;
	t->stage = STAGE_DONE;
	shopify_call_abort(t->cur);
	sync_drop_next(t);
	sync_slot_state(t, "finished");
}

/* Swap in the prefetched next page (or ask for it) after cursor moved on. */
void
sync_advance_page(SyncTask *t, const char *next)
{
	MemoryContext old = MemoryContextSwitchTo(t->cxt);

	Assert(!t->finished && next != NULL);
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
			sync_slot_state(t, sync_stage_name(t->stage));
	}
	else
		prepare_page(t, t->cur, t->cursor);
}

/* Ask for the page after next_cursor now, to be fetched while this one is written. */
void
sync_prefetch(SyncTask *t, const char *next_cursor)
{
	if (next_cursor == NULL || t->nxt_used)
		return;
	prepare_page(t, t->nxt, next_cursor);
	t->nxt_used = true;
	if (sync_pump_call(t, t->nxt))
		http_kick();
}

void
sync_prepare_bulk_start(SyncTask *t, double delay_s)
{
	t->stage = STAGE_BULK_START;
	sync_prepare_call(t, t->cur, "POST", gql_path(),
					  t->objects ?
					  gql_bulk_run_body(declared_bulk_query(&t->decl, gql_filter_since(t->has_since, t->since))) :
					  gql_bulk_start_body(t->listing, gql_filter_since(t->has_since, t->since)), true);
	t->cur->expected_cost = 10;
	t->cur->not_before = GetCurrentTimestamp() + (TimestampTz) (delay_s * USECS_PER_SEC);
}

void
sync_prepare_bulk_poll(SyncTask *t, double delay_s)
{
	t->stage = STAGE_BULK_POLL;
	sync_prepare_call(t, t->cur, "POST", gql_path(), gql_bulk_status_body(t->bulk_id), true);
	t->cur->expected_cost = 1;
	t->cur->not_before = GetCurrentTimestamp() + (TimestampTz) (delay_s * USECS_PER_SEC);
}

void
bulk_release_slot(SyncTask *t)
{
	if (!t->bulk_slot)
		return;
	t->bulk_slot = false;
	if (t->shop->bulk_active > 0)
		t->shop->bulk_active--;
}
