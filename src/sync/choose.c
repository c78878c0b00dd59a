/*
 * choose.c — the steps of a sync before its listing, recorded each in a
 * short transaction: the shop's details, the count, and the path chosen
 * (pages or a bulk operation: path.c) with its reason, for products and
 * orders, resources declared as tables, and resources users declare.  A
 * full sync of a table resource also learns here whether the store holds
 * rows of it from before (only then does it record what it sees, for the
 * sweep).
 */
#include "postgres.h"

#include "catalog/pg_type.h"
#include "utils/builtins.h"

#include "base/txn.h"
#include "base/util.h"
#include "mirror/tables.h"
#include "sync/calls.h"
#include "sync/choose.h"
#include "sync/path.h"
#include "sync/write.h"

typedef struct InfoWork
{
	SyncTask   *t;
	int			count;
	bool		bulk;			/* count: the path chosen is a bulk operation */
} InfoWork;

static void
shop_tx(void *arg)
{
	InfoWork   *w = (InfoWork *) arg;

	shopify_call_flush_log(w->t->cur, w->t->shop_id, w->t->job_id);
	sync_count_call(w->t, w->t->cur);
	queue_update_shop_info(w->t->job_id, w->t->shop_id, w->t->cur->resp,
						   w->t->api != API_REST);
}

static void
count_tx(void *arg)
{
	InfoWork   *w = (InfoWork *) arg;
	SyncTask   *t = w->t;
	PathChoice	choice;

	shopify_call_flush_log(t->cur, t->shop_id, t->job_id);
	sync_count_call(t, t->cur);
	if (t->api == API_REST)
		w->count = queue_parse_count(t->cur->resp);
	if (w->count >= 0)
		queue_set_total(t->job_id, w->count);
	/* the path: pages or a bulk operation, whichever is expected to finish first */
	path_choose(t->shop_id, t->orders, Max(w->count, 0), t->api == API_GRAPHQL,
				t->shop->cost_known ? t->shop->cost_restore_rate : -1,
				t->shop->cost_known ? t->shop->cost_maximum : -1, &choice);
	w->bulk = choice.bulk;
	queue_set_path(t->job_id, choice.bulk ? "bulk" : t->api == API_REST ? "rest" : "graphql",
				   choice.reason, choice.estimate);
}

/* Record the shop's details (the answer in t->cur) and count the call. */
bool
sync_record_shop(SyncTask *t, char *err, size_t errlen)
{
	InfoWork	w = {t, -1, false};
	int			sqlstate;

	return shopify_run_in_tx("shopify_sync: reading shop details", shop_tx, &w,
							 err, errlen, &sqlstate);
}

/*
 * Record the job's total (REST: read from the answer in t->cur; GraphQL:
 * *count, already read), count the call, and choose the path (path.c):
 * *count is the total on return, *bulk whether a bulk operation lists it.
 */
static void
objects_path_tx(void *arg)
{
	InfoWork   *w = (InfoWork *) arg;
	SyncTask   *t = w->t;
	PathChoice	choice;
	Oid			types[2] = {INT8OID, TEXTOID};
	Datum		vals[2] = {Int64GetDatum(t->shop_id), CStringGetTextDatum(t->resource)};
	bool		isnull;

	shopify_spi_exec("SELECT count(*)::int FROM shopify.objects"
					 " WHERE shop_id = $1 AND resource = $2 AND parent_id IS NULL AND is_active",
					 2, types, vals, NULL, true);
	w->count = DatumGetInt32(shopify_spi_value(0, 1, &isnull));
	path_choose_objects(w->count, t->full_sync, t->decl.page_size, t->decl.page_cost,
						t->shop->cost_known ? t->shop->cost_restore_rate : -1, &choice);
	w->bulk = choice.bulk;
	queue_set_path(t->job_id, choice.bulk ? "bulk" : "graphql", choice.reason, NULL);
}

/*
 * A resource declared as tables: the count's call recorded (when there was
 * one: the current call), its path chosen from the count and the rows the
 * store has (path_choose_tables()), and whether its full sync records what
 * it sees for a sweep (not when the store has none of its rows).
 */
static void
tables_path_tx(void *arg)
{
	InfoWork   *w = (InfoWork *) arg;
	SyncTask   *t = w->t;
	PathChoice	choice;
	int64		nodes,
				children;

	if (t->stage == STAGE_COUNT)
	{
		shopify_call_flush_log(t->cur, t->shop_id, t->job_id);
		sync_count_call(t, t->cur);
		if (w->count >= 0)
			queue_set_total(t->job_id, w->count);
	}
	mirror_tables_count(t->res, t->shop_id, t->job_id, false, &nodes, &children);
	t->sweep = (nodes > 0 || children > 0) ? 1 : 2;
	path_choose_tables(t->listing, w->count, nodes, children, t->full_sync,
					   t->shop->cost_known ? t->shop->cost_restore_rate : -1,
					   t->shop->cost_known ? t->shop->cost_maximum : -1, &choice);
	w->bulk = choice.bulk;
	queue_set_path(t->job_id, choice.bulk ? "bulk" : "graphql", choice.reason, choice.estimate);
}

bool
sync_choose_tables_path(SyncTask *t, int count, bool *bulk, char *err, size_t errlen)
{
	InfoWork	w = {t, count, false};
	int			sqlstate;

	if (!shopify_run_in_tx("shopify_sync: choosing the path", tables_path_tx, &w,
						   err, errlen, &sqlstate))
		return false;
	if (bulk)
		*bulk = w.bulk;
	return true;
}

/* A declared resource: pages or a bulk operation (path_choose_objects()). */
bool
sync_choose_objects_path(SyncTask *t, bool *bulk, char *err, size_t errlen)
{
	InfoWork	w = {t, 0, false};
	int			sqlstate;

	if (!shopify_run_in_tx("shopify_sync: choosing the path", objects_path_tx, &w,
						   err, errlen, &sqlstate))
		return false;
	*bulk = w.bulk;
	return true;
}

bool
sync_record_count(SyncTask *t, int *count, bool *bulk, char *err, size_t errlen)
{
	InfoWork	w = {t, *count, false};
	int			sqlstate;

	if (!shopify_run_in_tx("shopify_sync: recording the count and choosing the path", count_tx, &w,
						   err, errlen, &sqlstate))
		return false;
	*count = w.count;
	*bulk = w.bulk;
	return true;
}
