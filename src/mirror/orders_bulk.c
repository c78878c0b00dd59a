/*
 * orders_bulk.c — orders from a bulk operation's lines: an order's line
 * items may come in a later batch than the order (children follow their
 * parent, not necessarily right after it).  Orders of earlier batches are
 * staged per job (shopify.bulk_orders) with whether this job speaks for
 * them; lines seen are recorded, and at the end the lines of each complete
 * order that the job did not see are removed.
 */
#include "postgres.h"

#include "access/htup_details.h"
#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "lib/stringinfo.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/datum.h"
#include "utils/guc.h"
#include "utils/hsearch.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/numeric.h"
#include "utils/timestamp.h"

#include "mirror/mirror.h"
#include "mirror/order_store.h"
#include "mirror/order_rows.h"
#include "mirror/rowinsert.h"
#include "base/util.h"


/*
 * Bulk batches: line items whose order is not in the batch (lines that
 * waited for an order of this batch were added to the rows before): the
 * orders of earlier batches come from shopify.bulk_orders (whether the result speaks
 * for them); lines of orders not seen yet wait in shopify.bulk_pending.  An
 * invalid line of an order written by an earlier batch cannot make that
 * order fail any more: it is one failed item.
 */
void
order_bulk_lines_of_other_batches(ORows *r, HTAB *orders, int64 job_id,
							MirrorCounts *out, StringInfo errors, int *nerr)
{
	int64	   *need = palloc(sizeof(int64) * Max(r->n, 1));
	int			nneed = 0;
	int64	   *wait_pids;
	const char **wait_lines;
	int		   *wait_lens;
	int			nwait = 0;
	OrderState *o;
	bool		found;

	for (int i = 0; i < r->n; i++)
	{
		ORow	   *row = &r->rows[i];
		int64		oid = orow_id(row, OROW_ORDER_ID);

		if (row->kind != OROW_IS_LINE || oid <= 0)
			continue;
		o = hash_search(orders, &oid, HASH_ENTER, &found);
		if (!found)
		{
			memset(((char *) o) + sizeof(int64), 0, sizeof(OrderState) - sizeof(int64));
			o->staged = true;	/* until shown otherwise */
			need[nneed++] = oid;
		}
		if (!orow_ok(row) && o->staged)
		{
			out->processed++;
			out->failed++;
			order_add_error(errors, nerr, row);
		}
		else if (!orow_ok(row))
		{
			o->bad = true;
			order_add_error(errors, nerr, row);
		}
	}
	if (nneed > 0)
	{
		Datum		a[2] = {Int64GetDatum(job_id), shopify_int8_array(need, nneed)};

		if (SPI_execute_plan(staged_orders_plan, a, NULL, true, 0) != SPI_OK_SELECT)
			elog(ERROR, "bulk order staging lookup failed");
		for (uint64 k = 0; k < SPI_processed; k++)
		{
			bool		isnull;
			HeapTuple	tup = SPI_tuptable->vals[k];
			int64		oid = DatumGetInt64(SPI_getbinval(tup, SPI_tuptable->tupdesc, 1, &isnull));

			o = hash_search(orders, &oid, HASH_FIND, NULL);
			o->found = true;	/* in staging */
			o->own = DatumGetBool(SPI_getbinval(tup, SPI_tuptable->tupdesc, 2, &isnull));
			o->cancelled = DatumGetBool(SPI_getbinval(tup, SPI_tuptable->tupdesc, 3, &isnull));
		}
	}
	/* lines of orders that are in neither: they wait */
	wait_pids = palloc(sizeof(int64) * Max(r->n, 1));
	wait_lines = palloc(sizeof(char *) * Max(r->n, 1));
	wait_lens = palloc(sizeof(int) * Max(r->n, 1));
	for (int i = 0; i < r->n; i++)
	{
		ORow	   *row = &r->rows[i];
		int64		oid = orow_id(row, OROW_ORDER_ID);

		if (row->kind != OROW_IS_LINE || oid <= 0 || !orow_ok(row))
			continue;
		o = hash_search(orders, &oid, HASH_FIND, NULL);
		if (o->staged && !o->found)
		{
			wait_pids[nwait] = oid;
			wait_lines[nwait] = row->src;
			wait_lens[nwait++] = row->srclen;
			row->v[OROW_OK] = BoolGetDatum(false);	/* not written now */
			row->n[OROW_ERROR] = true;
		}
	}
	mirror_put_pending(job_id, wait_pids, wait_lines, wait_lens, nwait);
}

/*
 * Bulk batches: remember the batch's orders (and whether the result speaks
 * for them) for the lines of later batches, and the lines written, for the
 * end of the download (mirror_finish_bulk_orders).
 */
void
order_bulk_remember(HTAB *orders, HTAB *lines, int64 job_id, int64 shop_id)
{
	HASH_SEQ_STATUS hs;
	OrderState *o;
	LineState  *l;
	int			n = hash_get_num_entries(orders);
	int64	   *ids = palloc(sizeof(int64) * Max(n, 1));
	Datum	   *own = palloc(sizeof(Datum) * Max(n, 1));
	Datum	   *canc = palloc(sizeof(Datum) * Max(n, 1));
	bool	   *nn = palloc0(sizeof(bool) * Max(n, 1));
	int			k = 0;
	int64	   *seen = palloc(sizeof(int64) * Max(hash_get_num_entries(lines), 1));
	int			nseen = 0;

	hash_seq_init(&hs, orders);
	while ((o = hash_seq_search(&hs)) != NULL)
	{
		if (o->staged || o->row == NULL || o->bad)
			continue;
		ids[k] = o->order_id;
		own[k] = BoolGetDatum(o->own);
		canc[k++] = BoolGetDatum(o->cancelled);
	}
	if (k > 0)
	{
		Datum		a[4] = {Int64GetDatum(job_id), shopify_int8_array(ids, k), shopify_array_of(own, nn, k, BOOLOID),
		shopify_array_of(canc, nn, k, BOOLOID)};

		if (SPI_execute_plan(stage_orders_plan, a, NULL, false, 0) != SPI_OK_INSERT)
			elog(ERROR, "bulk order staging failed");
	}
	hash_seq_init(&hs, lines);
	while ((l = hash_seq_search(&hs)) != NULL)
		if (l->listed && l->shop_id == shop_id)
			seen[nseen++] = l->line_id;
	if (nseen > 0)
	{
		Datum		a[2] = {Int64GetDatum(job_id), shopify_int8_array(seen, nseen)};

		if (SPI_execute_plan(seen_lines_plan, a, NULL, false, 0) != SPI_OK_INSERT)
			elog(ERROR, "bulk order lines seen set failed");
	}
}

/*
 * The end of a bulk order download: each order of the result carried all
 * its lines, wherever they were in the file.  The stored lines of the
 * orders the result spoke for that it did not have are removed, and each
 * order's line_item_count is made equal to its lines.  Returns the lines
 * removed.
 */
int
mirror_finish_bulk_orders(int64 shop_id, int64 job_id)
{
	Oid			types[2] = {INT8OID, INT8OID};
	Datum		vals[2] = {Int64GetDatum(shop_id), Int64GetDatum(job_id)};
	int			n;

	n = shopify_spi_exec("DELETE FROM shopify.order_lines l"
						 "  USING (SELECT l2.line_id FROM shopify.bulk_orders b"
						 "           JOIN shopify.order_lines l2 ON l2.order_id = b.order_id AND l2.shop_id = $1"
						 "          WHERE b.job_id = $2 AND b.own"
						 "         EXCEPT"
						 "         SELECT unnest(ids) FROM shopify.sync_seen WHERE job_id = $2) g"
						 " WHERE l.line_id = g.line_id",
						 2, types, vals, NULL, false);
	shopify_spi_exec("UPDATE shopify.orders o SET line_item_count = c.n"
					 "  FROM (SELECT b.order_id, count(l.line_id)::int AS n FROM shopify.bulk_orders b"
					 "          LEFT JOIN shopify.order_lines l ON l.order_id = b.order_id AND l.shop_id = $1"
					 "         WHERE b.job_id = $2 AND b.own GROUP BY b.order_id) c"
					 " WHERE o.order_id = c.order_id AND o.line_item_count IS DISTINCT FROM c.n",
					 2, types, vals, NULL, false);
	mirror_forget_seen(job_id);
	return n;
}
