/*
 * sync_write.c — the database side of a running sync: one short
 * transaction per step, never across network I/O.
 *
 * A page's transaction locks the job (and so its store, queue.c) first: a
 * job cancelled, or a store disconnected, meanwhile writes nothing.  It
 * then writes the page through the one mirror path (mirror.c / orders.c),
 * flushes the log rows of the call's attempts, adds the page's counts to
 * the job and checkpoints the next page's cursor — so a crash resumes at
 * exactly the first page not written.  The last page's transaction also
 * sweeps (full product syncs) and completes the job.  A write that fails
 * is classified (payload: a data exception; database: anything else) and
 * retried with the same answer after a pause, up to
 * shopify_sync.max_retries; then the job fails with that class.
 *
 * The shop details, the count and the end of a failed or cancelled job are
 * recorded the same way.
 */
#include "postgres.h"

#include "miscadmin.h"
#include "catalog/pg_type.h"
#include "utils/builtins.h"
#include "utils/guc.h"
#include "utils/memutils.h"
#include "utils/timestamp.h"

#include "base/log.h"
#include "base/util.h"
#include "mirror/mirror.h"
#include "mirror/tables.h"
#include "sync/path.h"
#include "base/settings.h"
#include "sync/calls.h"
#include "sync/write.h"
#include "base/txn.h"

typedef struct FailWork
{
	SyncTask   *t;
	const char *error_class;
	const char *error;
	bool		cancelled;
} FailWork;

/* Count a finished call that is not a page on the job row. */
void
sync_count_call(SyncTask *t, ShopifyCall *c)
{
	queue_add_calls(t->job_id, c->attempt + c->throttled,
					Max(0, c->attempt - 1), c->throttled);
}

static void
fail_tx(void *arg)
{
	FailWork   *w = (FailWork *) arg;
	SyncTask   *t = w->t;

	shopify_call_flush_log(t->cur, t->shop_id, t->job_id);
	if (t->cur->attempt + t->cur->throttled > 0)
		sync_count_call(t, t->cur);
	if (w->cancelled)
		queue_cancel(t->job_id, t->shop_id, w->error);
	else
	{
		if (w->error_class && strcmp(w->error_class, "auth") == 0)
			queue_mark_token_invalid(t->shop_id, t->shop_domain);
		queue_fail(t->job_id, t->shop_id, w->error_class, w->error);
	}
}

/*
 * Record the end of a job that did not complete (failed, or cancelled by
 * request) and stop the task.  If even that cannot be written, the job's
 * lease expires and the next claim recovers it.
 */
void
sync_end_job(SyncTask *t, const char *error_class, const char *error, bool cancelled)
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

/* Fail the job with a classified error and stop the task. */
void
sync_fail(SyncTask *t, const char *error_class, const char *error)
{
	sync_end_job(t, error_class, error, false);
}


static void
log_page(PageWork *w)
{
	SyncTask   *t = w->t;
	ShopifySyncProgress p;
	double		secs = (GetCurrentTimestamp() - t->run_started) / 1000000.0;

	t->variants_this_run += w->counts.processed;
	/*
	 * A progress row at most once a second (and with failures, and at the
	 * end): a sync of small pages wrote one per page, as many rows as API
	 * calls, for no reader.
	 */
	if (!w->last && w->counts.failed == 0 &&
		GetCurrentTimestamp() - t->last_progress_log < USECS_PER_SEC)
		return;
	t->last_progress_log = GetCurrentTimestamp();
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
								   w->counts.failed, t->orders ? "order(s)" : t->res &&
								   t->res->kind == RESOURCE_PRODUCTS ? "variant(s)" : "row(s)",
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
	if (t->objects || t->tables)
	{
		sj_str(&j, "resource", t->resource);
		sj_int(&j, "nodes_fetched", tt->products_fetched);
		sj_int(&j, "objects_processed", tt->variants_processed);
		sj_int(&j, "objects_created", tt->variants_created);
		sj_int(&j, "objects_updated", tt->variants_updated);
		sj_int(&j, "objects_unchanged", tt->variants_unchanged);
		sj_int(&j, "objects_failed", tt->variants_failed);
		sj_int(&j, "objects_deactivated", tt->variants_deactivated);
	}
	else if (t->orders)
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
	if (t->objects || t->tables)
		msg = psprintf("%s sync completed: %d objects (%d created, %d updated, %d unchanged, %d failed, %d deactivated) in %.1f s",
					   t->resource, tt->variants_processed, tt->variants_created, tt->variants_updated,
					   tt->variants_unchanged, tt->variants_failed, tt->variants_deactivated,
					   tt->seconds);
	else if (t->orders)
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

typedef struct NoteWork
{
	SyncTask   *t;
	const char *level;
	const char *operation;
	const char *message;
} NoteWork;

static void
note_tx(void *arg)
{
	NoteWork   *n = (NoteWork *) arg;

	log_sync_operation(n->t->shop_id, n->t->job_id, n->level, n->operation, n->message, NULL);
}

/* A sync_operation row about the job, in a transaction of its own. */
void
sync_note(SyncTask *t, const char *level, const char *operation, const char *message)
{
	NoteWork	n = {t, level, operation, message};
	char		err[256];

	(void) shopify_run_in_tx("shopify_sync: logging", note_tx, &n, err, sizeof(err), NULL);
}

/*
 * The end of a bulk result: lines still waiting for a parent whose line
 * never came (or was invalid) are failed items, named in the log.
 */
static void
bulk_leftovers(SyncTask *t, MirrorCounts *c)
{
	char	   *examples;
	int			n = mirror_pending_leftovers(t->job_id, &examples);

	if (n == 0)
		return;
	c->processed += n;
	c->failed += n;
	log_sync_operation(t->shop_id, t->job_id, "warning", t->orders ? "orders_failed" : "variants_failed",
					   psprintf("%d line(s) of the bulk result name a parent that is not in it (or is invalid), e.g. %s",
								n, examples ? examples : "?"), NULL);
}

/*
 * The variant ids a write listed for products whose variants continue on
 * further pages: kept on the task (its memory, not the transaction's) until
 * the product's last page completes its list.
 */
static void
keep_pending_ids(SyncTask *t, const MirrorCounts *c)
{
	MemoryContext old = MemoryContextSwitchTo(t->cxt);

	for (int i = 0; i < c->npending; i++)
		for (int k = 0; k < t->npending; k++)
		{
			PendingVariants *p = &t->pending[k];

			if (p->product_id != c->pending_pids[i])
				continue;
			if (p->nids == p->capids)
			{
				p->capids = p->capids ? p->capids * 2 : 64;
				p->ids = p->ids ? repalloc(p->ids, sizeof(int64) * p->capids) :
					palloc(sizeof(int64) * p->capids);
			}
			p->ids[p->nids++] = c->pending_ids[i];
			break;
		}
	MemoryContextSwitchTo(old);
}

/* A payload of a resource declared as tables (tables.c). */
static void
write_tables(SyncTask *t, PageWork *w)
{
	TablesWrite tw;

	memset(&tw, 0, sizeof(tw));
	tw.r = t->res;
	tw.shape = w->bulk ? RS_BULK : strcmp(w->shape, "graphql_product") == 0 ? RS_GRAPHQL_ONE :
		RS_GRAPHQL_PAGE;
	tw.shop_id = t->shop_id;
	tw.seen_job_id = (t->full_sync && t->sweep == 1) ? t->job_id : 0;
	tw.personal = shopify_customer_personal_data;
	tw.positions = t->positions;
	if (tw.shape == RS_GRAPHQL_ONE)
	{
		tw.children_only = true;
		if (w->scope)
		{
			tw.position_offset = w->scope->position_offset;
			tw.complete_node = w->scope->extra_pid;
			tw.extra_keys = w->scope->extra_ids;
			tw.nextra = w->scope->nextra;
		}
	}
	mirror_write_tables(w->doc, w->len, &tw, &w->counts);
}

static void
page_tx(void *arg)
{
	PageWork   *w = (PageWork *) arg;
	SyncTask   *t = w->t;
	ShopifyCall *c = w->call;
	PageProgress p;
	bool		cancel;

	/*
	 * A page's commit need not wait for its WAL to reach the disk: the page
	 * and its checkpoint commit together, so a crash that loses the last
	 * few commits resumes at the checkpoint before them (the pages are
	 * fetched again) and leaves no half-written state.  The last page (the
	 * job's completion) is durable when its commit returns.  A sync of 4,000
	 * small pages spent seconds in fdatasync.
	 */
	if (!w->last)
		(void) set_config_option("synchronous_commit", "off", PGC_USERSET, PGC_S_SESSION,
								 GUC_ACTION_LOCAL, true, 0, false);
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

	/* a full product sync into a store without older rows sweeps nothing */
	if (t->full_sync && t->tables && t->sweep == 0)
	{
		int64		nodes,
					children;

		mirror_tables_count(t->res, t->shop_id, t->job_id, true, &nodes, &children);
		t->sweep = (nodes > 0 || children > 0) ? 1 : 2;
	}
	else if (t->full_sync && !t->orders && !t->objects && t->sweep == 0)
		t->sweep = mirror_has_older_rows(t->shop_id, t->job_id) ? 1 : 2;
	if (w->len > 0)
	{
		int64		seen = (t->full_sync && t->sweep == 1) || (!t->full_sync && w->bulk) ? t->job_id : 0;

		if (t->tables)
			write_tables(t, w);
		else if (t->objects)
			mirror_write_objects(w->doc, w->len, w->bulk, t->shop_id, t->resource,
								 t->decl.connection, t->full_sync ? t->job_id : 0, &w->counts);
		else if (t->orders)
			mirror_write_orders(w->doc, w->len, w->bulk ? "bulk_orders" : w->shape, t->shop_id,
								t->job_id, &w->counts);
		else if (w->bulk)
			mirror_write_bulk(w->doc, w->len, t->shop_id, t->sync_inventory,
							  seen, t->job_id, &w->counts);
		else
			mirror_write(w->doc, w->len, w->shape, t->shop_id, t->sync_inventory,
						 seen, w->scope, &w->counts);
		if (w->counts.npending > 0)
			keep_pending_ids(t, &w->counts);
		t->inserted_since_analyze += w->counts.created;
		/* (the tables are analyzed after 1,000 inserts at the earliest) */
		if (t->inserted_since_analyze >= 1000 && !t->objects &&
			mirror_keep_statistics(t->res->tables, t->inserted_since_analyze))
			t->inserted_since_analyze = 0;
	}

	if (w->last && t->api == API_BULK)
		bulk_leftovers(t, &w->counts);

	memset(&p, 0, sizeof(p));
	p.products = w->products_override >= 0 ? w->products_override : w->counts.products;
	p.processed = w->counts.processed;
	p.created = w->counts.created;
	p.updated = w->counts.updated;
	p.unchanged = w->counts.unchanged;
	p.failed = w->counts.failed;
	p.deactivated = w->counts.deactivated;
	if (c)
	{
		p.api_calls = c->attempt + c->throttled;
		p.retries = Max(0, c->attempt - 1);
		p.throttled = c->throttled;
	}
	p.next_cursor = w->record_cursor;
	p.total_products = t->total_products;
	queue_record_page(t->job_id, &p, &w->totals);
	/* what "done" means for a job: its counters add up, page after page */
	Assert(w->totals.variants_processed == w->totals.variants_created + w->totals.variants_updated +
		   w->totals.variants_unchanged + w->totals.variants_failed);
	log_page(w);

	if (!w->last)
	{
		w->outcome = PAGE_NEXT;
		return;
	}
	/*
	 * The end of a listing: what it no longer has goes.  A full sync's
	 * products: every variant not seen.  A bulk result carried each of its
	 * products' (orders') complete children, wherever they were in the
	 * file: an incremental one's products lose the variants not seen, its
	 * orders the lines.  (A page already deactivated what a product it
	 * carried whole no longer lists.)
	 */
	if (t->orders)
		w->deactivated = 0;
	else if (t->tables && t->full_sync && t->sweep == 1)
		w->deactivated = mirror_sweep_tables(t->res, t->shop_id, t->job_id);
	else if (t->tables)
	{
		w->deactivated = 0;
		mirror_forget_seen_keys(t->job_id);
	}
	else if (t->objects)
		w->deactivated = t->full_sync ? mirror_sweep_objects(t->shop_id, t->resource, t->job_id) : 0;
	else if (t->full_sync && t->sweep == 1)
		w->deactivated = mirror_sweep(t->shop_id, t->job_id);
	else if (t->full_sync)
	{
		w->deactivated = 0;
		mirror_forget_seen(t->job_id);	/* (ids an earlier attempt recorded) */
	}
	else if (t->api == API_BULK)
		w->deactivated = mirror_sweep_products(t->shop_id, t->job_id);
	else
		w->deactivated = 0;
	if (t->orders && t->api == API_BULK)
		(void) mirror_finish_bulk_orders(t->shop_id, t->job_id);
	queue_complete(t->job_id, t->shop_id, w->deactivated, &w->totals);
	/* what the next job's choice of path learns from this one */
	t->sample.orders = t->orders;
	t->sample.bulk = (t->api == API_BULK);
	t->sample.nodes = w->totals.products_fetched;
	t->sample.restore_rate = t->shop->cost_known ? t->shop->cost_restore_rate : -1;
	t->sample.bucket = t->shop->cost_known ? t->shop->cost_maximum : -1;
	if (t->api != API_REST && !t->objects && !t->tables)
		path_learn(t->shop_id, &t->sample);
	log_completed(w);
	w->outcome = PAGE_COMPLETED;
}

/*
 * Run one write transaction.  On a database error returns false with the
 * error classified in *cls (payload: the data; database: anything else).
 */
bool
sync_run_write(PageWork *w, const char *what, char *err, size_t errlen, const char **cls)
{
	int			sqlstate;
	char	   *activity = psprintf("shopify_sync: writing %s of job " INT64_FORMAT " (shop " INT64_FORMAT ")",
									what, w->t->job_id, w->t->shop_id);

	TimestampTz t0 = GetCurrentTimestamp();

	sync_slot_state(w->t, "writing page");
	if (shopify_run_in_tx(activity, page_tx, w, err, errlen, &sqlstate))
	{
		w->t->sample.write_s += (GetCurrentTimestamp() - t0) / 1000000.0;
		return true;
	}
	*cls = (ERRCODE_TO_CATEGORY(sqlstate) == ERRCODE_DATA_EXCEPTION) ? "payload" : "database";
	return false;
}

/*
 * A write failed: fetch the same answer again after a pause, or give up
 * after shopify_sync.max_retries.
 */
void
sync_retry_after_db_error(SyncTask *t, const char *cls, const char *err)
{
	t->db_failures++;
	sync_drop_next(t);
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

	if (sync_run_write(w, what, err, sizeof(err), &cls))
		return true;
	sync_fail(w->t, cls, psprintf("%s: could not store %s: %s", cls, what, err));
	return false;
}

/* After a successful write: move on, or stop. */
bool
sync_after_write(SyncTask *t, PageWork *w)
{
	t->db_failures = 0;
	if (w->outcome != PAGE_NEXT)
	{
		sync_finish(t);
		return false;
	}
	return true;
}
