/*
 * orders.c — the one write path into shopify.orders and shopify.order_lines.
 *
 * A payload (a page of an order sync, an orders webhook, a batch of bulk
 * lines) becomes order and line rows (order_rows.c), and then a few
 * set-based statements decided in C, as for products (products.c):
 *
 *   1. probe the stored orders of the payload (by order_id) and classify
 *      each: new; owned by another store (failed, never taken over); older
 *      than the stored one (writes never go back in time: neither the order
 *      nor its lines change); different (update); or the same.  An order is
 *      stored whole or not at all: one invalid line item makes its order
 *      fail (counted failed, nothing of it written);
 *   2. for the orders the payload speaks for (new, or ours and not older),
 *      probe their stored lines and write: new lines (a line id owned
 *      elsewhere is left alone), changed lines, and — when the payload
 *      carries all of an order's lines — the removal of the lines it no
 *      longer has;
 *   3. line_item_count is kept equal to the lines mirrored (GraphQL may
 *      bring an order's lines over several pages, bulk results anywhere),
 *      in the order's own INSERT or UPDATE, or alone when only it changed.
 * A line is written with its order's cancellation (order_cancelled), so
 * the triggers that keep the statistics count it right away.  A page
 * without its list of orders is an error (class 22, data exception) for the
 * whole payload.  The caller provides the transaction and SPI; statements
 * are prepared once per process and planned with each payload's values.
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

/* ----- the write ----- */

/* Run a write of order rows (insert or update). */
static int
run_orders(SPIPlanPtr plan, OrderState **os, int n, int64 shop_id)
{
	Datum		args[NORDERCOLS + 3];
	Datum	   *d = palloc(sizeof(Datum) * Max(n, 1));
	bool	   *dn = palloc(sizeof(bool) * Max(n, 1));
	int64	   *ids = palloc(sizeof(int64) * Max(n, 1));

	args[0] = Int64GetDatum(shop_id);
	for (int k = 0; k < n; k++)
		ids[k] = os[k]->order_id;
	args[1] = shopify_int8_array(ids, n);
	for (int k = 0; k < n; k++)
	{
		d[k] = Int32GetDatum(os[k]->lines);
		dn[k] = false;
	}
	args[2] = shopify_array_of(d, dn, n, INT4OID);
	for (int i = 0; i < (int) NORDERCOLS; i++)
	{
		for (int k = 0; k < n; k++)
		{
			d[k] = os[k]->row->v[order_cols[i]];
			dn[k] = os[k]->row->n[order_cols[i]];
		}
		args[i + 3] = shopify_array_of(d, dn, n, ocol_type(order_cols[i]));
	}
	if (SPI_execute_plan(plan, args, NULL, false, 0) < 0)
		elog(ERROR, "order write failed");
	return (int) SPI_processed;
}

static void
run_lines(SPIPlanPtr plan, ORow **ls, bool *cancelled, int n, int64 shop_id)
{
	Datum		args[NLINECOLS + 4];
	Datum	   *d = palloc(sizeof(Datum) * Max(n, 1));
	bool	   *dn = palloc(sizeof(bool) * Max(n, 1));

	args[0] = Int64GetDatum(shop_id);
	for (int c = 0; c < 2; c++)
	{
		int			col = c == 0 ? OROW_LINE_ID : OROW_ORDER_ID;

		for (int k = 0; k < n; k++)
		{
			d[k] = ls[k]->v[col];
			dn[k] = false;
		}
		args[c + 1] = shopify_array_of(d, dn, n, INT8OID);
	}
	for (int k = 0; k < n; k++)
	{
		d[k] = BoolGetDatum(cancelled[k]);
		dn[k] = false;
	}
	args[3] = shopify_array_of(d, dn, n, BOOLOID);
	for (int i = 0; i < (int) NLINECOLS; i++)
	{
		for (int k = 0; k < n; k++)
		{
			d[k] = ls[k]->v[line_cols[i]];
			dn[k] = ls[k]->n[line_cols[i]];
		}
		args[i + 4] = shopify_array_of(d, dn, n, ocol_type(line_cols[i]));
	}
	if (SPI_execute_plan(plan, args, NULL, false, 0) < 0)
		elog(ERROR, "order line write failed");
}

static int
insert_orders(OrderState **os, int n, int64 shop_id)
{
	const char *cols[NORDERCOLS + 6] = {"order_id", "shop_id", "line_item_count", "is_active",
	"first_synced_at", "last_synced_at"};
	Oid			types[NORDERCOLS + 6] = {INT8OID, INT8OID, INT4OID, BOOLOID, TIMESTAMPTZOID, TIMESTAMPTZOID};
	Datum		v[NORDERCOLS + 6];
	bool		vn[NORDERCOLS + 6] = {false};
	RowInsert  *ri;

	for (int i = 0; i < (int) NORDERCOLS; i++)
	{
		cols[i + 6] = order_names[i];
		types[i + 6] = ocol_type(order_cols[i]);
	}
	ri = row_insert_begin("shopify", "orders", NORDERCOLS + 6, cols, types,
						  &(RowInsertFk) {"shop_id", "stores"}, 1);
	if (ri == NULL)
		return run_orders(insert_orders_plan, os, n, shop_id);
	{
		int64		id = shop_id;

		order_lock_rows("SELECT 1 FROM shopify.stores WHERE shop_id = ANY ($1) FOR KEY SHARE",
				  shopify_int8_array(&id, 1), 1, "the store");
	}
	v[1] = Int64GetDatum(shop_id);
	v[3] = BoolGetDatum(true);
	v[4] = v[5] = TimestampTzGetDatum(GetCurrentTransactionStartTimestamp());
	for (int k = 0; k < n; k++)
	{
		v[0] = Int64GetDatum(os[k]->order_id);
		v[2] = Int32GetDatum(os[k]->lines);
		for (int i = 0; i < (int) NORDERCOLS; i++)
		{
			v[i + 6] = os[k]->row->v[order_cols[i]];
			vn[i + 6] = os[k]->row->n[order_cols[i]];
		}
		row_insert_put(ri, v, vn);
	}
	return (int) row_insert_end(ri);
}

/* stored: the ids of the lines' orders that were stored before this transaction */
static void
insert_lines(ORow **ls, bool *cancelled, int n, int64 shop_id, int64 *stored, int nstored)
{
	const char *cols[NLINECOLS + 4] = {"line_id", "order_id", "shop_id", "order_cancelled"};
	Oid			types[NLINECOLS + 4] = {INT8OID, INT8OID, INT8OID, BOOLOID};
	Datum		v[NLINECOLS + 4];
	bool		vn[NLINECOLS + 4] = {false};
	RowInsert  *ri;

	for (int i = 0; i < (int) NLINECOLS; i++)
	{
		cols[i + 4] = line_names[i];
		types[i + 4] = ocol_type(line_cols[i]);
	}
	ri = row_insert_begin("shopify", "order_lines", NLINECOLS + 4, cols, types,
						  &(RowInsertFk) {"order_id", "orders"}, 1);
	if (ri == NULL)
	{
		run_lines(insert_lines_plan, ls, cancelled, n, shop_id);
		return;
	}
	if (nstored > 0)
		order_lock_rows("SELECT 1 FROM shopify.orders WHERE order_id = ANY ($1) FOR KEY SHARE",
				  shopify_int8_array(stored, nstored), nstored, "orders");
	v[2] = Int64GetDatum(shop_id);
	for (int k = 0; k < n; k++)
	{
		v[0] = ls[k]->v[OROW_LINE_ID];
		v[1] = ls[k]->v[OROW_ORDER_ID];
		v[3] = BoolGetDatum(cancelled[k]);
		for (int i = 0; i < (int) NLINECOLS; i++)
		{
			v[i + 4] = ls[k]->v[line_cols[i]];
			vn[i + 4] = ls[k]->n[line_cols[i]];
		}
		row_insert_put(ri, v, vn);
	}
	(void) row_insert_end(ri);
}

/*
 * Write one payload of the named shape (rest_orders, rest_order,
 * graphql_orders, graphql_order, bulk_orders; job_id: the bulk job).
 */
void
mirror_write_orders(const char *doc, size_t len, const char *shape, int64 shop_id,
					int64 job_id, MirrorCounts *out)
{
	MemoryContext cxt = AllocSetContextCreate(CurrentMemoryContext, "shopify_sync order rows",
											  ALLOCSET_DEFAULT_SIZES);
	ORows		r = {cxt, NULL, 0, 0, -1};
	OrderParse	parse;
	HASHCTL		ctl;
	HTAB	   *orders;
	HTAB	   *lines;
	OrderState *o;
	LineState  *l;
	int64	   *ids;
	int			nids = 0;
	int			nerr = 0;
	StringInfoData errors;
	OrderState **ins,
			  **upd;
	int			nins = 0,
				nupd = 0;
	ORow	  **lins,
			  **lupd;
	bool	   *lins_c,
			   *lupd_c;
	int			nlins = 0,
				nlupd = 0;
	int64	   *gone;
	int			ngone = 0;
	int64	   *cids;
	Datum	   *cnts;
	bool	   *cnulls;
	int			ncnt = 0;
	int			norders = 0;
	bool		follow_up = strcmp(shape, "graphql_order") == 0;
	bool		bulk = strcmp(shape, "bulk_orders") == 0;
	HASH_SEQ_STATUS hs;
	int			guc;

	memset(out, 0, sizeof(*out));
	initStringInfo(&errors);
	order_prepare_plans();
	guc = shopify_index_lookups_begin();
	order_rows_parse(doc, len, shape, orow_collect, &r, &parse);
	if (bulk)
	{
		/* the lines that came before this batch's orders join the rows */
		int64	   *oids = palloc(sizeof(int64) * Max(r.n, 1));
		int			noids = 0;
		char	   *pending;
		OrderParse	p2;

		for (int i = 0; i < r.n; i++)
			if (r.rows[i].kind == OROW_IS_ORDER && orow_ok(&r.rows[i]))
				oids[noids++] = orow_id(&r.rows[i], OROW_ORDER_ID);
		pending = mirror_take_pending(job_id, oids, noids);
		if (pending)
			order_rows_parse(pending, strlen(pending), "bulk_orders", orow_collect, &r, &p2);
	}
	if (!parse.saw_list)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_TEXT_REPRESENTATION),
				 errmsg("Shopify page has no orders"),
				 errdetail("Expected %s.", strcmp(shape, "rest_orders") == 0 ?
						   "an \"orders\" array" : "\"data\": {\"orders\": ...}")));

	memset(&ctl, 0, sizeof(ctl));
	ctl.keysize = sizeof(int64);
	ctl.entrysize = sizeof(OrderState);
	ctl.hcxt = cxt;
	orders = hash_create("shopify_sync payload orders", 64, &ctl, HASH_ELEM | HASH_BLOBS | HASH_CONTEXT);
	ctl.entrysize = sizeof(LineState);
	lines = hash_create("shopify_sync payload lines", 256, &ctl, HASH_ELEM | HASH_BLOBS | HASH_CONTEXT);
	ids = palloc(sizeof(int64) * Max(r.n, 1));

	/* the payload's orders: valid, or failed (an invalid order or line) */
	for (int i = 0; i < r.n; i++)
	{
		ORow	   *row = &r.rows[i];
		int64		oid = orow_id(row, OROW_ORDER_ID);
		bool		found;

		if (row->kind == OROW_IS_ORDER)
			norders++;
		if (bulk && row->kind == OROW_IS_LINE)
			continue;			/* order_bulk_lines_of_other_batches */
		if (!orow_ok(row))
			order_add_error(&errors, &nerr, row);
		if (oid <= 0)
			continue;
		o = hash_search(orders, &oid, HASH_ENTER, &found);
		if (!found)
		{
			memset(((char *) o) + sizeof(int64), 0, sizeof(OrderState) - sizeof(int64));
			ids[nids++] = oid;
		}
		if (row->kind == OROW_IS_LINE && !orow_ok(row))
			o->bad = true;		/* stored whole or not at all */
		else if (row->kind == OROW_IS_ORDER && orow_ok(row))
		{
			o->row = row;		/* the last one counts */
			o->complete = DatumGetBool(row->v[OROW_LINES_COMPLETE]);
		}
	}
	out->products = out->processed = norders;
	if (bulk)
		order_bulk_lines_of_other_batches(&r, orders, job_id, out, &errors, &nerr);
	/* failed: order rows that are invalid, or whose order has an invalid line */
	for (int i = 0; i < r.n; i++)
	{
		int64		oid = orow_id(&r.rows[i], OROW_ORDER_ID);

		if (r.rows[i].kind != OROW_IS_ORDER)
			continue;
		if (!orow_ok(&r.rows[i]))
			out->failed++;
		else if ((o = hash_search(orders, &oid, HASH_FIND, NULL)) != NULL && o->bad)
			out->failed++;
	}

	/* 1. the stored orders */
	if (nids > 0)
	{
		Datum		a[1] = {shopify_int8_array(ids, nids)};
		Datum		dv[4 + NORDERCOLS];
		bool		dn[4 + NORDERCOLS];

		if (SPI_execute_plan(probe_orders_plan, a, NULL, true, 0) != SPI_OK_SELECT)
			elog(ERROR, "order probe failed");
		for (uint64 k = 0; k < SPI_processed; k++)
		{
			int64		oid;

			heap_deform_tuple(SPI_tuptable->vals[k], SPI_tuptable->tupdesc, dv, dn);
			oid = DatumGetInt64(dv[0]);
			o = hash_search(orders, &oid, HASH_FIND, NULL);
			if (o == NULL)
				continue;
			o->found = true;
			o->alien = DatumGetInt64(dv[1]) != shop_id;
			o->stored_count = dn[2] ? -1 : DatumGetInt32(dv[2]);
			o->stored_active = !dn[3] && DatumGetBool(dv[3]);
			for (int c = 0; c < (int) NORDERCOLS; c++)
			{
				o->sn[c] = dn[4 + c];
				o->sv[c] = dn[4 + c] ? (Datum) 0 :
					(ocol_type(order_cols[c]) == TEXTOID || ocol_type(order_cols[c]) == NUMERICOID) ?
					PointerGetDatum(PG_DETOAST_DATUM_PACKED(dv[4 + c])) : dv[4 + c];
			}
		}
	}
	ins = palloc(sizeof(OrderState *) * Max(nids, 1));
	upd = palloc(sizeof(OrderState *) * Max(nids, 1));
	nids = 0;
	hash_seq_init(&hs, orders);
	while ((o = hash_seq_search(&hs)) != NULL)
	{
		if (o->staged)
		{
			if (o->own)
				ids[nids++] = o->order_id;	/* for its lines */
			continue;
		}
		if (o->bad || o->row == NULL)
			continue;
		o->cancelled = !o->row->n[OROW_CANCELLED];
		if (o->alien)
		{
			out->failed++;
			if (nerr < 3)
			{
				if (errors.len > 0)
					appendStringInfoString(&errors, "; ");
				appendStringInfo(&errors, "order " INT64_FORMAT ": the order id belongs to another store", o->order_id);
				nerr++;
			}
			continue;
		}
		if (o->found && !o->sn[3] && !o->row->n[OROW_UPDATED] &&
			DatumGetTimestampTz(o->row->v[OROW_UPDATED]) < DatumGetTimestampTz(o->sv[3]))
			continue;			/* older than the mirror: not ours to write */
		o->own = true;
		ids[nids++] = o->order_id;
		if (!o->found)
			continue;
		o->differs = !o->stored_active;
		for (int c = 0; c < (int) NORDERCOLS && !o->differs; c++)
			if (!order_value_same(ocol_type(order_cols[c]), o->row->v[order_cols[c]], o->row->n[order_cols[c]],
					  o->sv[c], o->sn[c]))
				o->differs = true;
	}

	/* 2. the lines of the orders the payload speaks for */
	if (nids > 0)
	{
		Datum		a[1] = {shopify_int8_array(ids, nids)};
		Datum		dv[7];
		bool		dn[7];

		if (SPI_execute_plan(probe_lines_plan, a, NULL, true, 0) != SPI_OK_SELECT)
			elog(ERROR, "order line probe failed");
		for (uint64 k = 0; k < SPI_processed; k++)
		{
			int64		lid;
			bool		found;

			heap_deform_tuple(SPI_tuptable->vals[k], SPI_tuptable->tupdesc, dv, dn);
			lid = DatumGetInt64(dv[0]);
			l = hash_search(lines, &lid, HASH_ENTER, &found);
			l->order_id = DatumGetInt64(dv[1]);
			l->shop_id = DatumGetInt64(dv[2]);
			l->listed = false;
			for (int c = 0; c < (int) NLINECOLS; c++)
			{
				l->sn[c] = dn[3 + c];
				l->sv[c] = dn[3 + c] ? (Datum) 0 :
					ocol_type(line_cols[c]) == NUMERICOID ? PointerGetDatum(PG_DETOAST_DATUM_PACKED(dv[3 + c])) : dv[3 + c];
			}
			o = hash_search(orders, &l->order_id, HASH_FIND, NULL);
			if (o && l->shop_id == shop_id)
				o->lines++;
		}
	}
	lins = palloc(sizeof(ORow *) * Max(r.n, 1));
	lupd = palloc(sizeof(ORow *) * Max(r.n, 1));
	lins_c = palloc(sizeof(bool) * Max(r.n, 1));
	lupd_c = palloc(sizeof(bool) * Max(r.n, 1));
	{
		int64	   *unknown = palloc(sizeof(int64) * Max(r.n, 1));
		int			nunknown = 0;

		/* lines not stored with their order: a line id stored elsewhere is left alone */
		for (int i = 0; i < r.n; i++)
		{
			ORow	   *row = &r.rows[i];
			int64		lid;

			if (row->kind != OROW_IS_LINE || !orow_ok(row))
				continue;
			o = hash_search(orders, &row->v[OROW_ORDER_ID], HASH_FIND, NULL);
			if (o == NULL || !o->own || o->bad)
				continue;
			lid = DatumGetInt64(row->v[OROW_LINE_ID]);
			if (!hash_search(lines, &lid, HASH_FIND, NULL))
				unknown[nunknown++] = lid;
		}
		if (nunknown > 0)
		{
			Datum		a[1] = {shopify_int8_array(unknown, nunknown)};

			if (SPI_execute_plan(probe_line_ids_plan, a, NULL, true, 0) != SPI_OK_SELECT)
				elog(ERROR, "order line probe failed");
			for (uint64 k = 0; k < SPI_processed; k++)
			{
				bool		isnull;
				int64		lid = DatumGetInt64(SPI_getbinval(SPI_tuptable->vals[k], SPI_tuptable->tupdesc, 1, &isnull));
				bool		found;

				l = hash_search(lines, &lid, HASH_ENTER, &found);
				if (!found)
				{
					l->order_id = 0;	/* another order's: never taken over */
					l->shop_id = 0;
					l->listed = false;
				}
			}
		}
	}
	/* from the last row of each line backwards (the last one counts) */
	for (int i = r.n - 1; i >= 0; i--)
	{
		ORow	   *row = &r.rows[i];
		int64		lid;
		bool		found;
		bool		cancelled;

		if (row->kind != OROW_IS_LINE || !orow_ok(row))
			continue;
		o = hash_search(orders, &row->v[OROW_ORDER_ID], HASH_FIND, NULL);
		if (o == NULL || !o->own || o->bad)
			continue;
		cancelled = o->cancelled;
		lid = DatumGetInt64(row->v[OROW_LINE_ID]);
		l = hash_search(lines, &lid, HASH_ENTER, &found);
		if (found && l->listed)
			continue;
		if (!found)
		{
			l->order_id = o->order_id;
			l->shop_id = shop_id;
			l->listed = true;
			lins[nlins] = row;
			lins_c[nlins++] = cancelled;
			o->lines++;
			continue;
		}
		l->listed = true;
		if (l->shop_id != shop_id || l->order_id != o->order_id)
			continue;			/* another order's line */
		for (int c = 0; c < (int) NLINECOLS; c++)
			if (!order_value_same(ocol_type(line_cols[c]), row->v[line_cols[c]], row->n[line_cols[c]], l->sv[c], l->sn[c]))
			{
				lupd[nlupd] = row;
				lupd_c[nlupd++] = cancelled;
				break;
			}
	}
	/* lines an order no longer has, when the payload carries all of them */
	gone = palloc(sizeof(int64) * Max(hash_get_num_entries(lines), 1));
	hash_seq_init(&hs, lines);
	while ((l = hash_seq_search(&hs)) != NULL)
	{
		if (l->listed || l->shop_id != shop_id)
			continue;
		o = hash_search(orders, &l->order_id, HASH_FIND, NULL);
		if (o == NULL || !o->own || !o->complete)
			continue;
		gone[ngone++] = l->line_id;
		o->lines--;
	}

	/* 3. write: orders, then their lines, then the counts that changed alone */
	cids = palloc(sizeof(int64) * Max(hash_get_num_entries(orders), 1));
	cnts = palloc(sizeof(Datum) * Max(hash_get_num_entries(orders), 1));
	cnulls = palloc0(sizeof(bool) * Max(hash_get_num_entries(orders), 1));
	hash_seq_init(&hs, orders);
	while ((o = hash_seq_search(&hs)) != NULL)
	{
		if (!o->own || o->staged)
			continue;		/* an earlier batch's order: its count is made at the end */
		if (!o->found)
			ins[nins++] = o;
		else if (o->differs || o->stored_count != o->lines)
		{
			if (o->differs)
				upd[nupd++] = o;
			else if (!bulk)
			{
				cids[ncnt] = o->order_id;
				cnts[ncnt++] = Int32GetDatum(o->lines);
			}
		}
	}
	if (nins > 0)
		out->created = insert_orders(ins, nins, shop_id);
	if (nupd > 0)
		out->updated = run_orders(update_orders_plan, upd, nupd, shop_id);
	if (nlins > 0)
	{
		/* the lines' orders stored before this transaction, once each */
		int64	   *stored = palloc(sizeof(int64) * nlins);
		int			nstored = 0;

		hash_seq_init(&hs, orders);
		while ((o = hash_seq_search(&hs)) != NULL)
			if (o->found || o->staged)
				o->locked = false;
		for (int k = 0; k < nlins; k++)
		{
			int64		oid = DatumGetInt64(lins[k]->v[OROW_ORDER_ID]);

			o = hash_search(orders, &oid, HASH_FIND, NULL);
			if (o != NULL && !o->locked && (o->found || o->staged))
			{
				o->locked = true;
				stored[nstored++] = oid;
			}
		}
		insert_lines(lins, lins_c, nlins, shop_id, stored, nstored);
	}
	if (nlupd > 0)
		run_lines(update_lines_plan, lupd, lupd_c, nlupd, shop_id);
	if (ngone > 0)
	{
		Datum		a[1] = {shopify_int8_array(gone, ngone)};

		if (SPI_execute_plan(delete_lines_plan, a, NULL, false, 0) != SPI_OK_DELETE)
			elog(ERROR, "order line removal failed");
	}
	if (ncnt > 0)
	{
		Datum		a[2] = {shopify_int8_array(cids, ncnt), shopify_array_of(cnts, cnulls, ncnt, INT4OID)};

		if (SPI_execute_plan(count_plan, a, NULL, false, 0) != SPI_OK_UPDATE)
			elog(ERROR, "order line count failed");
	}

	if (bulk)
		order_bulk_remember(orders, lines, job_id, shop_id);

	if (nerr > 0)
		out->errors = errors.data;
	/* an order is created, updated or failed at most once per payload */
	Assert(out->processed >= out->created + out->updated + out->failed);
	out->unchanged = Max(0, out->processed - out->created - out->updated - out->failed);
	if (follow_up)
	{
		/* further line items of an order its page already counted */
		out->products = out->processed = out->created = out->updated = out->unchanged = 0;
	}
	shopify_index_lookups_end(guc);
	hash_destroy(lines);
	hash_destroy(orders);
}
