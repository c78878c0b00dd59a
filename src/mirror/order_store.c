/*
 * order_store.c — what the writes of orders share: the rows read from a
 * payload (order_rows.c), the columns of shopify.orders and
 * shopify.order_lines compared and written, and the statements (prepared
 * once per process).  The writes are in orders.c (pages, webhooks, bulk
 * batches) and orders_bulk.c (what a bulk batch needs of the others).
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


/* ----- rows of a payload ----- */



bool
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

void
orow_collect(void *arg, OrderRowKind kind, Datum *values, bool *nulls, const char *src, int srclen)
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

bool
orow_ok(ORow *r)
{
	return DatumGetBool(r->v[OROW_OK]);
}

int64
orow_id(ORow *r, int col)
{
	return r->n[col] ? 0 : DatumGetInt64(r->v[col]);
}

/* ----- the columns written ----- */

/* order columns probed and compared, in this order (after order_id, shop_id) */
const int	order_cols[NORDERCOLS] = {
	OROW_NAME, OROW_CREATED, OROW_PROCESSED, OROW_UPDATED, OROW_CANCELLED, OROW_FINANCIAL,
	OROW_FULFILLMENT, OROW_CURRENCY, OROW_TOTAL, OROW_SUBTOTAL, OROW_TAX, OROW_DISCOUNTS,
	OROW_REFUNDED, OROW_CUSTOMER_ID
};
const char *const order_names[NORDERCOLS] = {
	"name", "created_at", "processed_at", "updated_at", "cancelled_at", "financial_status",
	"fulfillment_status", "currency", "total_price", "subtotal_price", "total_tax",
	"total_discounts", "total_refunded", "customer_id"
};

const int	line_cols[NLINECOLS] = {OROW_SKU_ID, OROW_PRODUCT_ID, OROW_QUANTITY, OROW_PRICE};
const char *const line_names[NLINECOLS] = {"sku_id", "product_id", "quantity", "price"};

Oid
ocol_type(int c)
{
	switch (c)
	{
		case OROW_ORDER_ID:
		case OROW_LINE_ID:
		case OROW_SKU_ID:
		case OROW_PRODUCT_ID:
		case OROW_CUSTOMER_ID:
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

bool
order_value_same(Oid typ, Datum a, bool an, Datum b, bool bn)
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

SPIPlanPtr	probe_orders_plan = NULL;
SPIPlanPtr	probe_lines_plan = NULL;
SPIPlanPtr	probe_line_ids_plan = NULL;
SPIPlanPtr	insert_orders_plan = NULL;
SPIPlanPtr	update_orders_plan = NULL;
SPIPlanPtr	count_plan = NULL;
SPIPlanPtr	insert_lines_plan = NULL;
SPIPlanPtr	update_lines_plan = NULL;
SPIPlanPtr	delete_lines_plan = NULL;
SPIPlanPtr	staged_orders_plan = NULL;
SPIPlanPtr	stage_orders_plan = NULL;
SPIPlanPtr	seen_lines_plan = NULL;

SPIPlanPtr
order_keep_plan(const char *sql, int nargs, Oid *types)
{
	/* planned with each payload's values: see mirror.c */
	SPIPlanPtr	p = SPI_prepare_cursor(sql, nargs, types, CURSOR_OPT_CUSTOM_PLAN);

	if (p == NULL)
		elog(ERROR, "SPI_prepare failed for the order write: %s", SPI_result_code_string(SPI_result));
	SPI_keepplan(p);
	return p;
}

void
order_prepare_plans(void)
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
	probe_orders_plan = order_keep_plan(sql.data, 1, t1);

	probe_lines_plan = order_keep_plan("SELECT line_id, order_id, shop_id, sku_id, product_id, quantity, price"
							"  FROM shopify.order_lines WHERE order_id = ANY ($1)", 1, t1);
	probe_line_ids_plan = order_keep_plan("SELECT line_id FROM shopify.order_lines WHERE line_id = ANY ($1)", 1, t1);

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
	insert_orders_plan = order_keep_plan(sql.data, NORDERCOLS + 3, targs);

	resetStringInfo(&sql);
	appendStringInfoString(&sql, "UPDATE shopify.orders o SET is_active = true, last_synced_at = now(),"
						   " line_item_count = u.line_item_count");
	for (int i = 0; i < (int) NORDERCOLS; i++)
		appendStringInfo(&sql, ", %s = u.%s", order_names[i], order_names[i]);
	appendStringInfo(&sql, " FROM %s WHERE o.order_id = u.order_id AND o.shop_id = $1", un.data);
	update_orders_plan = order_keep_plan(sql.data, NORDERCOLS + 3, targs);

	count_plan = order_keep_plan("UPDATE shopify.orders o SET line_item_count = u.n"
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
	insert_lines_plan = order_keep_plan(sql.data, NLINECOLS + 4, largs);

	resetStringInfo(&sql);
	appendStringInfo(&sql, "UPDATE shopify.order_lines l SET %s = u.%s, %s = u.%s, %s = u.%s, %s = u.%s FROM %s"
					 " WHERE l.line_id = u.line_id AND l.order_id = u.order_id AND l.shop_id = $1",
					 line_names[0], line_names[0], line_names[1], line_names[1],
					 line_names[2], line_names[2], line_names[3], line_names[3], un.data);
	update_lines_plan = order_keep_plan(sql.data, NLINECOLS + 4, largs);

	delete_lines_plan = order_keep_plan("DELETE FROM shopify.order_lines WHERE line_id = ANY ($1)", 1, t1);

	/* bulk: the orders of earlier batches, and the lines seen */
	{
		Oid			t2b[2] = {INT8OID, INT8ARRAYOID};
		Oid			t4[4] = {INT8OID, INT8ARRAYOID, BOOLARRAYOID, BOOLARRAYOID};

		staged_orders_plan = order_keep_plan("SELECT order_id, own, cancelled FROM shopify.bulk_orders"
								  " WHERE job_id = $1 AND order_id = ANY ($2)", 2, t2b);
		stage_orders_plan = order_keep_plan("INSERT INTO shopify.bulk_orders AS b (job_id, order_id, own, cancelled)"
								 " SELECT $1, u.* FROM unnest($2, $3, $4) AS u"
								 " ON CONFLICT (job_id, order_id) DO UPDATE SET own = EXCLUDED.own,"
								 "   cancelled = EXCLUDED.cancelled", 4, t4);
		seen_lines_plan = order_keep_plan("INSERT INTO shopify.sync_seen (job_id, ids) VALUES ($1, $2)", 2, t2b);
	}
}

void
order_add_error(StringInfo errors, int *nerr, ORow *r)
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

/*
 * New orders and lines go straight into their tables (rowinsert.c), with
 * the statistics triggers fired as by an INSERT; the foreign keys are held
 * by locks taken once: the store's row for the orders, the stored orders
 * of the lines for the lines (the orders inserted by this transaction need
 * none).  When a table needs the executor, the INSERT statements.
 */
void
order_lock_rows(const char *sql, Datum ids, int expected, const char *what)
{
	Oid			t1[1] = {INT8ARRAYOID};
	Datum		a1[1] = {ids};

	if (shopify_spi_run(sql, 1, t1, a1, NULL, false) != expected)
		ereport(ERROR,
				(errcode(ERRCODE_FOREIGN_KEY_VIOLATION),
				 errmsg("%s to write order rows for no longer exist", what)));
}
