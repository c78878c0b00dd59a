/*
 * orders.c — the one write path into shopify.orders and shopify.order_lines.
 *
 * A payload (a page of an order sync, an orders webhook, a batch of bulk
 * lines) becomes order and line rows (order_rows.c), and then a few
 * set-based statements decided in C, as for products (mirror.c):
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

#include "mirror.h"
#include "order_rows.h"
#include "rowinsert.h"
#include "util.h"

/* ----- rows of a payload ----- */

typedef struct ORow
{
	OrderRowKind kind;
	Datum		v[OROW_NCOLS];
	bool		n[OROW_NCOLS];
	int			order;			/* line rows: index of their order's row, or -1 */
	const char *src;			/* bulk: the line it came from */
	int			srclen;
} ORow;

typedef struct ORows
{
	MemoryContext cxt;
	ORow	   *rows;
	int			n;
	int			cap;
	int			last_order;
} ORows;

static bool
ocol_byref(int c)
{
	switch (c)
	{
		case OROW_KIND:
		case OROW_ERROR:
		case OROW_NAME:
		case OROW_FINANCIAL:
		case OROW_FULFILLMENT:
		case OROW_CURRENCY:
		case OROW_TOTAL:
		case OROW_SUBTOTAL:
		case OROW_TAX:
		case OROW_DISCOUNTS:
		case OROW_REFUNDED:
		case OROW_PRICE:
			return true;
		default:
			return false;
	}
}

static void
collect(void *arg, OrderRowKind kind, Datum *values, bool *nulls, const char *src, int srclen)
{
	ORows	   *r = (ORows *) arg;
	MemoryContext old = MemoryContextSwitchTo(r->cxt);
	ORow	   *row;

	if (r->n == r->cap)
	{
		r->cap = r->cap ? r->cap * 2 : 256;
		r->rows = r->rows ? repalloc(r->rows, sizeof(ORow) * r->cap) : palloc(sizeof(ORow) * r->cap);
	}
	row = &r->rows[r->n];
	row->kind = kind;
	row->src = src;
	row->srclen = srclen;
	for (int c = 0; c < OROW_NCOLS; c++)
	{
		row->n[c] = nulls[c];
		row->v[c] = (!nulls[c] && ocol_byref(c)) ? datumCopy(values[c], false, -1) : values[c];
	}
	if (kind == OROW_IS_ORDER)
	{
		row->order = -1;
		r->last_order = r->n;
	}
	else
		row->order = r->last_order;	/* -1 in bulk batches: by order id */
	r->n++;
	MemoryContextSwitchTo(old);
}

static bool
orow_ok(ORow *r)
{
	return DatumGetBool(r->v[OROW_OK]);
}

static int64
orow_id(ORow *r, int col)
{
	return r->n[col] ? 0 : DatumGetInt64(r->v[col]);
}

/* ----- the columns written ----- */

/* order columns probed and compared, in this order (after order_id, shop_id) */
static const int order_cols[] = {
	OROW_NAME, OROW_CREATED, OROW_PROCESSED, OROW_UPDATED, OROW_CANCELLED, OROW_FINANCIAL,
	OROW_FULFILLMENT, OROW_CURRENCY, OROW_TOTAL, OROW_SUBTOTAL, OROW_TAX, OROW_DISCOUNTS,
	OROW_REFUNDED
};
static const char *const order_names[] = {
	"name", "created_at", "processed_at", "updated_at", "cancelled_at", "financial_status",
	"fulfillment_status", "currency", "total_price", "subtotal_price", "total_tax",
	"total_discounts", "total_refunded"
};
#define NORDERCOLS lengthof(order_cols)

static const int line_cols[] = {OROW_SKU_ID, OROW_PRODUCT_ID, OROW_QUANTITY, OROW_PRICE};
static const char *const line_names[] = {"sku_id", "product_id", "quantity", "price"};
#define NLINECOLS lengthof(line_cols)

static Oid
ocol_type(int c)
{
	switch (c)
	{
		case OROW_ORDER_ID:
		case OROW_LINE_ID:
		case OROW_SKU_ID:
		case OROW_PRODUCT_ID:
			return INT8OID;
		case OROW_QUANTITY:
			return INT4OID;
		case OROW_CREATED:
		case OROW_PROCESSED:
		case OROW_UPDATED:
		case OROW_CANCELLED:
			return TIMESTAMPTZOID;
		case OROW_TOTAL:
		case OROW_SUBTOTAL:
		case OROW_TAX:
		case OROW_DISCOUNTS:
		case OROW_REFUNDED:
		case OROW_PRICE:
			return NUMERICOID;
		default:
			return TEXTOID;
	}
}

static bool
same(Oid typ, Datum a, bool an, Datum b, bool bn)
{
	if (an || bn)
		return an == bn;
	switch (typ)
	{
		case INT8OID:
		case TIMESTAMPTZOID:
			return DatumGetInt64(a) == DatumGetInt64(b);
		case INT4OID:
			return DatumGetInt32(a) == DatumGetInt32(b);
		case NUMERICOID:
			return DatumGetBool(DirectFunctionCall2(numeric_eq, a, b));
		default:
			{
				text	   *x = DatumGetTextPP(a);
				text	   *y = DatumGetTextPP(b);

				return VARSIZE_ANY_EXHDR(x) == VARSIZE_ANY_EXHDR(y) &&
					memcmp(VARDATA_ANY(x), VARDATA_ANY(y), VARSIZE_ANY_EXHDR(x)) == 0;
			}
	}
}

/* ----- statements ----- */

static SPIPlanPtr probe_orders_plan = NULL;
static SPIPlanPtr probe_lines_plan = NULL;
static SPIPlanPtr probe_line_ids_plan = NULL;
static SPIPlanPtr insert_orders_plan = NULL;
static SPIPlanPtr update_orders_plan = NULL;
static SPIPlanPtr count_plan = NULL;
static SPIPlanPtr insert_lines_plan = NULL;
static SPIPlanPtr update_lines_plan = NULL;
static SPIPlanPtr delete_lines_plan = NULL;
static SPIPlanPtr staged_orders_plan = NULL;
static SPIPlanPtr stage_orders_plan = NULL;
static SPIPlanPtr seen_lines_plan = NULL;

static SPIPlanPtr
keep(const char *sql, int nargs, Oid *types)
{
	/* planned with each payload's values: see mirror.c */
	SPIPlanPtr	p = SPI_prepare_cursor(sql, nargs, types, CURSOR_OPT_CUSTOM_PLAN);

	if (p == NULL)
		elog(ERROR, "SPI_prepare failed for the order write: %s", SPI_result_code_string(SPI_result));
	SPI_keepplan(p);
	return p;
}

static void
prepare_plans(void)
{
	StringInfoData sql;
	StringInfoData un;
	Oid			targs[NORDERCOLS + 4];
	Oid			largs[NLINECOLS + 5];
	Oid			t1[1] = {INT8ARRAYOID};
	Oid			t2[2] = {INT8ARRAYOID, INT4ARRAYOID};

	if (probe_orders_plan != NULL)
		return;
	initStringInfo(&sql);
	appendStringInfoString(&sql, "SELECT order_id, shop_id, line_item_count, is_active");
	for (int i = 0; i < (int) NORDERCOLS; i++)
		appendStringInfo(&sql, ", %s", order_names[i]);
	appendStringInfoString(&sql, " FROM shopify.orders WHERE order_id = ANY ($1)");
	probe_orders_plan = keep(sql.data, 1, t1);

	probe_lines_plan = keep("SELECT line_id, order_id, shop_id, sku_id, product_id, quantity, price"
							"  FROM shopify.order_lines WHERE order_id = ANY ($1)", 1, t1);
	probe_line_ids_plan = keep("SELECT line_id FROM shopify.order_lines WHERE line_id = ANY ($1)", 1, t1);

	/* orders: $1 shop, $2 order ids, $3 line counts, $4.. the columns */
	initStringInfo(&un);
	appendStringInfoString(&un, "unnest($2, $3");
	targs[0] = INT8OID;
	targs[1] = INT8ARRAYOID;
	targs[2] = INT4ARRAYOID;
	for (int i = 0; i < (int) NORDERCOLS; i++)
	{
		targs[i + 3] = get_array_type(ocol_type(order_cols[i]));
		appendStringInfo(&un, ", $%d", i + 4);
	}
	appendStringInfoString(&un, ") AS u(order_id, line_item_count");
	for (int i = 0; i < (int) NORDERCOLS; i++)
		appendStringInfo(&un, ", %s", order_names[i]);
	appendStringInfoChar(&un, ')');

	resetStringInfo(&sql);
	appendStringInfoString(&sql, "INSERT INTO shopify.orders (order_id, shop_id, line_item_count, is_active, first_synced_at, last_synced_at");
	for (int i = 0; i < (int) NORDERCOLS; i++)
		appendStringInfo(&sql, ", %s", order_names[i]);
	appendStringInfoString(&sql, ") SELECT u.order_id, $1, u.line_item_count, true, now(), now()");
	for (int i = 0; i < (int) NORDERCOLS; i++)
		appendStringInfo(&sql, ", u.%s", order_names[i]);
	appendStringInfo(&sql, " FROM %s", un.data);
	insert_orders_plan = keep(sql.data, NORDERCOLS + 3, targs);

	resetStringInfo(&sql);
	appendStringInfoString(&sql, "UPDATE shopify.orders o SET is_active = true, last_synced_at = now(),"
						   " line_item_count = u.line_item_count");
	for (int i = 0; i < (int) NORDERCOLS; i++)
		appendStringInfo(&sql, ", %s = u.%s", order_names[i], order_names[i]);
	appendStringInfo(&sql, " FROM %s WHERE o.order_id = u.order_id AND o.shop_id = $1", un.data);
	update_orders_plan = keep(sql.data, NORDERCOLS + 3, targs);

	count_plan = keep("UPDATE shopify.orders o SET line_item_count = u.n"
					  "  FROM unnest($1, $2) AS u(order_id, n)"
					  " WHERE o.order_id = u.order_id AND o.line_item_count IS DISTINCT FROM u.n",
					  2, t2);

	/* lines: $1 shop, $2 line ids, $3 order ids, $4 cancelled, $5.. the columns */
	resetStringInfo(&un);
	appendStringInfoString(&un, "unnest($2, $3, $4");
	largs[0] = INT8OID;
	largs[1] = INT8ARRAYOID;
	largs[2] = INT8ARRAYOID;
	largs[3] = BOOLARRAYOID;
	for (int i = 0; i < (int) NLINECOLS; i++)
	{
		largs[i + 4] = get_array_type(ocol_type(line_cols[i]));
		appendStringInfo(&un, ", $%d", i + 5);
	}
	appendStringInfoString(&un, ") AS u(line_id, order_id, order_cancelled");
	for (int i = 0; i < (int) NLINECOLS; i++)
		appendStringInfo(&un, ", %s", line_names[i]);
	appendStringInfoChar(&un, ')');

	resetStringInfo(&sql);
	appendStringInfo(&sql, "INSERT INTO shopify.order_lines (line_id, order_id, shop_id, order_cancelled, %s, %s, %s, %s)"
					 " SELECT u.line_id, u.order_id, $1, u.order_cancelled, u.%s, u.%s, u.%s, u.%s FROM %s",
					 line_names[0], line_names[1], line_names[2], line_names[3],
					 line_names[0], line_names[1], line_names[2], line_names[3], un.data);
	insert_lines_plan = keep(sql.data, NLINECOLS + 4, largs);

	resetStringInfo(&sql);
	appendStringInfo(&sql, "UPDATE shopify.order_lines l SET %s = u.%s, %s = u.%s, %s = u.%s, %s = u.%s FROM %s"
					 " WHERE l.line_id = u.line_id AND l.order_id = u.order_id AND l.shop_id = $1",
					 line_names[0], line_names[0], line_names[1], line_names[1],
					 line_names[2], line_names[2], line_names[3], line_names[3], un.data);
	update_lines_plan = keep(sql.data, NLINECOLS + 4, largs);

	delete_lines_plan = keep("DELETE FROM shopify.order_lines WHERE line_id = ANY ($1)", 1, t1);

	/* bulk: the orders of earlier batches, and the lines seen */
	{
		Oid			t2b[2] = {INT8OID, INT8ARRAYOID};
		Oid			t4[4] = {INT8OID, INT8ARRAYOID, BOOLARRAYOID, BOOLARRAYOID};

		staged_orders_plan = keep("SELECT order_id, own, cancelled FROM shopify.bulk_orders"
								  " WHERE job_id = $1 AND order_id = ANY ($2)", 2, t2b);
		stage_orders_plan = keep("INSERT INTO shopify.bulk_orders AS b (job_id, order_id, own, cancelled)"
								 " SELECT $1, u.* FROM unnest($2, $3, $4) AS u"
								 " ON CONFLICT (job_id, order_id) DO UPDATE SET own = EXCLUDED.own,"
								 "   cancelled = EXCLUDED.cancelled", 4, t4);
		seen_lines_plan = keep("INSERT INTO shopify.sync_seen (job_id, ids) VALUES ($1, $2)", 2, t2b);
	}
}

static Datum
array_of(Datum *d, bool *dn, int n, Oid typ)
{
	int16		typlen;
	bool		typbyval;
	char		typalign;
	int			dims[1] = {n};
	int			lbs[1] = {1};

	get_typlenbyvalalign(typ, &typlen, &typbyval, &typalign);
	return PointerGetDatum(construct_md_array(d, dn, 1, dims, lbs, typ, typlen, typbyval, typalign));
}

static Datum
int8_array(int64 *ids, int n)
{
	Datum	   *d = palloc(sizeof(Datum) * Max(n, 1));

	for (int i = 0; i < n; i++)
		d[i] = Int64GetDatum(ids[i]);
	return PointerGetDatum(construct_array(d, n, INT8OID, 8, true, TYPALIGN_DOUBLE));
}

/* ----- the write ----- */

typedef struct OrderState
{
	int64		order_id;		/* hash key */
	ORow	   *row;			/* the payload's (last) valid row of it, or NULL */
	bool		bad;			/* invalid, or a line of it is */
	bool		found;			/* stored */
	bool		alien;			/* stored for another store */
	bool		own;			/* the payload speaks for it */
	bool		differs;
	int			stored_count;	/* its stored line_item_count (-1: NULL) */
	int			lines;			/* its lines after the write */
	bool		complete;		/* the payload carries all its lines */
	bool		cancelled;
	bool		staged;			/* bulk: an order of an earlier batch (shopify.bulk_orders) */
	Datum		sv[NORDERCOLS];
	bool		sn[NORDERCOLS];
	bool		stored_active;
	bool		locked;			/* in the lines' lock list */
} OrderState;

typedef struct LineState
{
	int64		line_id;		/* hash key */
	int64		order_id;
	int64		shop_id;
	bool		listed;			/* the payload has it */
	Datum		sv[NLINECOLS];
	bool		sn[NLINECOLS];
} LineState;

static void
add_error(StringInfo errors, int *nerr, ORow *r)
{
	int64		id;

	if (*nerr >= 3 || r->n[OROW_ERROR])
		return;
	id = !r->n[OROW_LINE_ID] ? orow_id(r, OROW_LINE_ID) : orow_id(r, OROW_ORDER_ID);
	if (errors->len > 0)
		appendStringInfoString(errors, "; ");
	appendStringInfo(errors, "%s " INT64_FORMAT ": %s", r->kind == OROW_IS_ORDER ? "order" : "line",
					 id, TextDatumGetCString(r->v[OROW_ERROR]));
	(*nerr)++;
}

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
	args[1] = int8_array(ids, n);
	for (int k = 0; k < n; k++)
	{
		d[k] = Int32GetDatum(os[k]->lines);
		dn[k] = false;
	}
	args[2] = array_of(d, dn, n, INT4OID);
	for (int i = 0; i < (int) NORDERCOLS; i++)
	{
		for (int k = 0; k < n; k++)
		{
			d[k] = os[k]->row->v[order_cols[i]];
			dn[k] = os[k]->row->n[order_cols[i]];
		}
		args[i + 3] = array_of(d, dn, n, ocol_type(order_cols[i]));
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
		args[c + 1] = array_of(d, dn, n, INT8OID);
	}
	for (int k = 0; k < n; k++)
	{
		d[k] = BoolGetDatum(cancelled[k]);
		dn[k] = false;
	}
	args[3] = array_of(d, dn, n, BOOLOID);
	for (int i = 0; i < (int) NLINECOLS; i++)
	{
		for (int k = 0; k < n; k++)
		{
			d[k] = ls[k]->v[line_cols[i]];
			dn[k] = ls[k]->n[line_cols[i]];
		}
		args[i + 4] = array_of(d, dn, n, ocol_type(line_cols[i]));
	}
	if (SPI_execute_plan(plan, args, NULL, false, 0) < 0)
		elog(ERROR, "order line write failed");
}

/*
 * New orders and lines go straight into their tables (rowinsert.c), with
 * the statistics triggers fired as by an INSERT; the foreign keys are held
 * by locks taken once: the store's row for the orders, the stored orders
 * of the lines for the lines (the orders inserted by this transaction need
 * none).  When a table needs the executor, the INSERT statements.
 */
static void
lock_rows(const char *sql, Datum ids, int expected, const char *what)
{
	Oid			t1[1] = {INT8ARRAYOID};
	Datum		a1[1] = {ids};

	if (shopify_spi_run(sql, 1, t1, a1, NULL, false) != expected)
		ereport(ERROR,
				(errcode(ERRCODE_FOREIGN_KEY_VIOLATION),
				 errmsg("%s to write order rows for no longer exist", what)));
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

		lock_rows("SELECT 1 FROM shopify.stores WHERE shop_id = ANY ($1) FOR KEY SHARE",
				  int8_array(&id, 1), 1, "the store");
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
		lock_rows("SELECT 1 FROM shopify.orders WHERE order_id = ANY ($1) FOR KEY SHARE",
				  int8_array(stored, nstored), nstored, "orders");
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
 * Bulk batches: line items whose order is not in the batch (lines that
 * waited for an order of this batch were added to the rows before): the
 * orders of earlier batches come from shopify.bulk_orders (whether the result speaks
 * for them); lines of orders not seen yet wait in shopify.bulk_pending.  An
 * invalid line of an order written by an earlier batch cannot make that
 * order fail any more: it is one failed item.
 */
static void
bulk_lines_of_other_batches(ORows *r, HTAB *orders, int64 job_id,
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
			add_error(errors, nerr, row);
		}
		else if (!orow_ok(row))
		{
			o->bad = true;
			add_error(errors, nerr, row);
		}
	}
	if (nneed > 0)
	{
		Datum		a[2] = {Int64GetDatum(job_id), int8_array(need, nneed)};

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
static void
bulk_remember(HTAB *orders, HTAB *lines, int64 job_id, int64 shop_id)
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
		Datum		a[4] = {Int64GetDatum(job_id), int8_array(ids, k), array_of(own, nn, k, BOOLOID),
		array_of(canc, nn, k, BOOLOID)};

		if (SPI_execute_plan(stage_orders_plan, a, NULL, false, 0) != SPI_OK_INSERT)
			elog(ERROR, "bulk order staging failed");
	}
	hash_seq_init(&hs, lines);
	while ((l = hash_seq_search(&hs)) != NULL)
		if (l->listed && l->shop_id == shop_id)
			seen[nseen++] = l->line_id;
	if (nseen > 0)
	{
		Datum		a[2] = {Int64GetDatum(job_id), int8_array(seen, nseen)};

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
	prepare_plans();
	guc = shopify_index_lookups_begin();
	order_rows_parse(doc, len, shape, collect, &r, &parse);
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
			order_rows_parse(pending, strlen(pending), "bulk_orders", collect, &r, &p2);
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
			continue;			/* bulk_lines_of_other_batches */
		if (!orow_ok(row))
			add_error(&errors, &nerr, row);
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
		bulk_lines_of_other_batches(&r, orders, job_id, out, &errors, &nerr);
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
		Datum		a[1] = {int8_array(ids, nids)};
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
			if (!same(ocol_type(order_cols[c]), o->row->v[order_cols[c]], o->row->n[order_cols[c]],
					  o->sv[c], o->sn[c]))
				o->differs = true;
	}

	/* 2. the lines of the orders the payload speaks for */
	if (nids > 0)
	{
		Datum		a[1] = {int8_array(ids, nids)};
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
			Datum		a[1] = {int8_array(unknown, nunknown)};

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
			if (!same(ocol_type(line_cols[c]), row->v[line_cols[c]], row->n[line_cols[c]], l->sv[c], l->sn[c]))
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
		Datum		a[1] = {int8_array(gone, ngone)};

		if (SPI_execute_plan(delete_lines_plan, a, NULL, false, 0) != SPI_OK_DELETE)
			elog(ERROR, "order line removal failed");
	}
	if (ncnt > 0)
	{
		Datum		a[2] = {int8_array(cids, ncnt), array_of(cnts, cnulls, ncnt, INT4OID)};

		if (SPI_execute_plan(count_plan, a, NULL, false, 0) != SPI_OK_UPDATE)
			elog(ERROR, "order line count failed");
	}

	if (bulk)
		bulk_remember(orders, lines, job_id, shop_id);

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
