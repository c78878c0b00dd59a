/*
 * sync_answers.c — what each Shopify answer means for a running sync.
 *
 * The worker hands over the current call once its answer is in (shopify.c
 * has paced, retried and classified it).  A failed call fails the job with
 * its class.  Otherwise, by stage: the shop's details and the count are
 * recorded (and a large full GraphQL sync turns into a bulk operation); a
 * page is written with the checkpoint of the page after it, which is
 * requested first so that Shopify's answer overlaps the write; a GraphQL
 * page whose products (orders) have more variants (line items) than it
 * carried keeps its checkpoint until follow-up queries have brought them
 * all.  GraphQL answers are read by sync_graphql_usable(): cost first,
 * then THROTTLED (wait and ask again, not a failed attempt) or errors
 * (the job fails with Shopify's words).
 */
#include "postgres.h"

#include "utils/memutils.h"

#include "shopify/graphql.h"
#include "shopify/pacing.h"
#include "shopify/rest.h"
#include "base/settings.h"
#include "sync/calls.h"
#include "sync/choose.h"
#include "sync/pages.h"
#include "sync/write.h"

/*
 * A GraphQL answer arrived (HTTP 200): take in its cost, and decide whether
 * its data can be used.  THROTTLED: the call waits and is sent again (not
 * counted as a failure).  Other errors fail the job.
 */
bool
sync_graphql_usable(SyncTask *t, ShopifyCall *c, int op, void *answer)
{
	GqlAnswer  *a = (GqlAnswer *) answer;

	if (op == GQL_OBJECTS)
		gql_read_objects_answer(c->resp, c->resp_len, t->decl.connection, a);
	else
		gql_read_answer(c->resp, c->resp_len, (GqlOp) op, t->listing, a);
	if (!a->json_ok)
	{
		sync_fail(t, "payload", psprintf("payload: the answer to %s cannot be used: %s",
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
				  psprintf("graphql: %s%s%s: %s%s%s (X-Request-Id %s)",
						   t->objects ? "resource " : "", t->objects ? t->resource : "",
						   t->objects ? " (declared)" : c->path, a->error_code ? a->error_code : "no data",
						   a->error_message ? ": " : "", a->error_message ? a->error_message : "",
						   c->request_id[0] ? c->request_id : "none"));
		return false;
	}
	return true;
}

/*
 * Write one answer of the current call (what: for pg_stat_activity) with the
 * checkpoint record_cursor.  True when the sync goes on; otherwise the job
 * has finished, or the answer will be fetched again after a database error.
 */
static bool
write_answer(SyncTask *t, const char *what, const char *shape, size_t len,
			 int products_override, const char *record_cursor, bool last,
			 const MirrorScope *scope)
{
	PageWork	w;
	char		err[512];
	const char *cls;

	memset(&w, 0, sizeof(w));
	w.t = t;
	w.call = t->cur;
	w.doc = t->cur->resp;
	w.len = len;
	w.shape = shape;
	w.scope = scope;
	w.products_override = products_override;
	w.record_cursor = record_cursor;
	w.last = last;
	if (!sync_run_write(&w, what, err, sizeof(err), &cls))
	{
		sync_retry_after_db_error(t, cls, err);
		return false;
	}
	return sync_after_write(t, &w);
}

static void
handle_rest_page(SyncTask *t)
{
	char	   *next;

	if (!rest_next_page_info(t->cur->link, &next))
	{
		sync_fail(t, "payload", psprintf("payload: malformed Link header in the answer to %s (X-Request-Id %s)",
										 t->cur->path, t->cur->request_id));
		return;
	}
	sync_prefetch(t, next);
	if (write_answer(t, psprintf("page %d", t->pages_fetched + 1),
					 t->orders ? "rest_orders" : "rest_products", t->cur->resp_len,
					 -1, next, next == NULL, NULL))
		sync_advance_page(t, next);
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
			PendingVariants *p = &t->pending[t->npending++];
			const char *slash = strrchr(a->product_ids[i], '/');

			p->product_gid = pstrdup(a->product_ids[i]);
			p->after = a->variants_cursor[i] ? pstrdup(a->variants_cursor[i]) : NULL;
			p->product_id = slash ? strtoll(slash + 1, NULL, 10) : 0;
		}
	t->page_next = a->has_next && a->end_cursor ? pstrdup(a->end_cursor) : NULL;
	MemoryContextSwitchTo(old);
}

/* The products whose variants continue on further pages (scope of a write). */
static MirrorScope *
pending_scope(SyncTask *t)
{
	MirrorScope *s = palloc0(sizeof(MirrorScope));
	int64	   *ids = palloc(sizeof(int64) * Max(t->npending, 1));

	for (int i = 0; i < t->npending; i++)
		ids[i] = t->pending[i].product_id;
	s->incomplete = ids;
	s->nincomplete = t->npending;
	return s;
}

static void
handle_graphql_page(SyncTask *t)
{
	GqlAnswer	a;

	if (!sync_graphql_usable(t, t->cur, t->objects ? GQL_OBJECTS : GQL_PAGE,
							 &a))
		return;
	if (a.actual > 0 && a.nproducts > 0)
	{
		t->sample.gql_cost += a.actual;
		t->sample.gql_nodes += a.nproducts;
	}
	t->sample.request_s += t->cur->req.total_ms / 1000.0;
	t->sample.requests++;
	collect_pending(t, &a);
	if (t->npending == 0)
		sync_prefetch(t, t->page_next);

	/* the checkpoint moves past this page only when all its variants are in */
	if (!write_answer(t, psprintf("page %d", t->pages_fetched + 1),
					  t->objects ? "graphql_objects" : t->orders ? "graphql_orders" : "graphql_products",
					  t->cur->resp_len,
					  -1, t->npending > 0 ? t->cursor : t->page_next,
					  t->npending == 0 && t->page_next == NULL,
					  t->npending > 0 ? pending_scope(t) : NULL))
		return;
	if (t->npending > 0)
		sync_prepare_variants(t);
	else
		sync_advance_page(t, t->page_next);
}

/* Further variants of one product (GraphQL). */
static void
handle_variants(SyncTask *t)
{
	GqlAnswer	a;
	PendingVariants *p = &t->pending[0];
	bool		product_done;
	bool		all_done;
	MirrorScope *scope;

	if (!sync_graphql_usable(t, t->cur, GQL_FOLLOW, &a))
		return;
	if (p->product_id == 0 && a.node_id)
	{
		/* the shop: its id comes with its first page */
		const char *slash = strrchr(a.node_id, '/');

		p->product_id = slash ? strtoll(slash + 1, NULL, 10) : 0;
	}
	product_done = a.product_null || !a.has_next || a.end_cursor == NULL;
	all_done = product_done && t->npending == 1;

	/*
	 * The product's variant list is complete with the last of its pages:
	 * its earlier pages' ids count as listed.  (A product deleted meanwhile,
	 * product_null, is left to the full sync's sweep.)
	 */
	scope = palloc0(sizeof(MirrorScope));
	scope->position_offset = p->nids;
	if (product_done)
	{
		scope->extra_pid = p->product_id;
		scope->extra_ids = p->ids;
		scope->nextra = p->nids;
	}
	else
	{
		scope->incomplete = &p->product_id;
		scope->nincomplete = 1;
	}
	if (!write_answer(t, "variants", t->orders ? "graphql_order" : "graphql_product",
					  a.product_null ? 0 : t->cur->resp_len, 0,
					  all_done ? t->page_next : t->cursor, all_done && t->page_next == NULL,
					  scope))
		return;
	if (!product_done)
	{
		MemoryContext old = MemoryContextSwitchTo(t->cxt);

		p->after = pstrdup(a.end_cursor);
		MemoryContextSwitchTo(old);
		sync_prepare_variants(t);
		return;
	}
	/* next pending product, or on to the next page */
	memmove(&t->pending[0], &t->pending[1], sizeof(PendingVariants) * (t->npending - 1));
	t->npending--;
	if (t->npending > 0)
		sync_prepare_variants(t);
	else
		sync_advance_page(t, t->page_next);
}

static void handle_count(SyncTask *t);

static void
handle_shop(SyncTask *t)
{
	char		err[512];

	if (t->api != API_REST)
	{
		GqlAnswer	a;

		if (!sync_graphql_usable(t, t->cur, GQL_SHOP, &a))
			return;
	}
	if (!sync_record_shop(t, err, sizeof(err)))
	{
		sync_retry_after_db_error(t, "database", err);
		return;
	}
	if (t->objects)
	{
		/* a declared resource: its declaration, then straight to its pages */
		if (t->definition == NULL)
			sync_fail(t, "cancelled", psprintf("the resource %s is no longer declared", t->resource));
		else if (!t->decl.ok)
			sync_fail(t, "graphql", psprintf("graphql: the declaration of %s cannot be used: %s",
											 t->resource, t->decl.error));
		else
		{
			bool		bulk = false;

			if (!sync_choose_objects_path(t, &bulk, err, sizeof(err)))
			{
				sync_retry_after_db_error(t, "database", err);
				return;
			}
			if (bulk)
			{
				t->api = API_BULK;
				sync_prepare_bulk_start(t, 0);
			}
			else
				sync_prepare_pages(t);
		}
		return;
	}
	if (t->tables && t->listing->connection == NULL)
	{
		/* one node (the shop): straight to its children's pages */
		MemoryContext old = MemoryContextSwitchTo(t->cxt);

		t->pending = palloc0(sizeof(PendingVariants));
		t->npending = 1;
		t->page_next = NULL;
		t->cursor = NULL;
		MemoryContextSwitchTo(old);
		if (!sync_choose_tables_path(t, -1, NULL, err, sizeof(err)))
		{
			sync_retry_after_db_error(t, "database", err);
			return;
		}
		sync_prepare_variants(t);
		return;
	}
	if (t->tables && t->listing->count_field == NULL)
	{
		handle_count(t);		/* no count to ask for: choose the path */
		return;
	}
	sync_prepare_count(t);
}

static void
handle_count(SyncTask *t)
{
	int			count = -1;
	bool		bulk = false;
	char		err[512];

	if (t->api != API_REST && t->stage == STAGE_COUNT)
	{
		GqlAnswer	a;

		if (!sync_graphql_usable(t, t->cur, GQL_COUNT, &a))
			return;
		count = a.count > PG_INT32_MAX ? PG_INT32_MAX : (int) a.count;
	}
	if (t->tables ? !sync_choose_tables_path(t, count, &bulk, err, sizeof(err)) :
		!sync_record_count(t, &count, &bulk, err, sizeof(err)))
	{
		sync_retry_after_db_error(t, "database", err);
		return;
	}
	t->total_products = count;

	/* the path chosen (path.c): a bulk operation, or pages */
	if (t->api == API_GRAPHQL && bulk)
	{
		t->api = API_BULK;
		sync_prepare_bulk_start(t, 0);
		return;
	}
	sync_prepare_pages(t);
}


/* The current call's answer is in (it succeeded): act on it by stage. */
void
pages_handle(SyncTask *t)
{
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
		default:
			Assert(false);
			break;
	}
}
