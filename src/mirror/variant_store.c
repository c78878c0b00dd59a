/*
 * variant_store.c — what the writes of variants share: the rows read from a
 * payload (variants.c), the columns of shopify.products probed, compared
 * and written, the statements (prepared once per process, with generic
 * plans) and the comparison of a row with its stored row.  The writes are
 * in products.c (pages, webhooks) and bulk_products.c (bulk lines).
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
#include "mirror/variant_store.h"
#include "mirror/rowinsert.h"
#include "base/util.h"
#include "mirror/variants.h"

/* ----- rows of a payload ----- */

static bool
col_byref(int c)
{
	switch (c)
	{
		case VROW_ERROR:
		case VROW_SKU:
		case VROW_TITLE:
		case VROW_VARIANT_TITLE:
		case VROW_VENDOR:
		case VROW_PRODUCT_TYPE:
		case VROW_HANDLE:
		case VROW_STATUS:
		case VROW_TAGS:
		case VROW_PRICE:
		case VROW_COMPARE_AT:
		case VROW_BARCODE:
		case VROW_KIND:
			return true;
		default:
			return false;
	}
}

void
vrow_collect(void *arg, Datum *values, bool *nulls, const char *src, int srclen)
{
	VRows	   *r = (VRows *) arg;
	MemoryContext old = MemoryContextSwitchTo(r->cxt);
	VRow	   *row;

	if (r->n == r->cap)
	{
		r->cap = r->cap ? r->cap * 2 : 256;
		r->rows = r->rows ? repalloc(r->rows, sizeof(VRow) * r->cap) : palloc(sizeof(VRow) * r->cap);
	}
	row = &r->rows[r->n++];
	row->src = src;
	row->srclen = srclen;
	for (int c = 0; c < VROW_NCOLS; c++)
	{
		row->n[c] = nulls[c];
		row->v[c] = (!nulls[c] && col_byref(c)) ? datumCopy(values[c], false, -1) : values[c];
	}
	MemoryContextSwitchTo(old);
}

bool
vrow_ok(VRow *r)
{
	return DatumGetBool(r->v[VROW_OK]);
}

bool
vrow_is_product_line(VRow *r)
{
	text	   *k = DatumGetTextPP(r->v[VROW_KIND]);

	return VARSIZE_ANY_EXHDR(k) == 7 && memcmp(VARDATA_ANY(k), "product", 7) == 0;
}

/* ----- stored rows ----- */

/* the columns probed, compared and written, in this order */
const char *const store_cols[S_NCOLS] = {
	"sku_id", "shop_id", "product_id", "sku", "title", "variant_title", "vendor", "product_type",
	"handle", "status", "tags", "price", "compare_at_price", "barcode", "inventory_quantity",
	"inventory_item_id", "position", "is_active", "shopify_updated_at", "product_updated_at"
};

/* the row column of each stored column (-1: none) */
const int	store_from_row[S_NCOLS] = {
	VROW_SKU_ID, -1, VROW_PRODUCT_ID, VROW_SKU, VROW_TITLE, VROW_VARIANT_TITLE, VROW_VENDOR,
	VROW_PRODUCT_TYPE, VROW_HANDLE, VROW_STATUS, VROW_TAGS, VROW_PRICE, VROW_COMPARE_AT,
	VROW_BARCODE, VROW_INVENTORY, VROW_INVENTORY_ITEM, VROW_POSITION, -1, VROW_VARIANT_UPDATED,
	VROW_PRODUCT_UPDATED
};

/* ----- prepared statements ----- */

SPIPlanPtr	probe_product_plan = NULL;
SPIPlanPtr	probe_sku_plan = NULL;
SPIPlanPtr	insert_plan = NULL;
SPIPlanPtr	update_plan = NULL;
SPIPlanPtr	deactivate_plan = NULL;
SPIPlanPtr	seen_plan = NULL;

/* "c1, c2, ..." of store_cols, with an optional prefix */
static char *
col_list(const char *prefix)
{
	StringInfoData b;

	initStringInfo(&b);
	for (int i = 0; i < S_NCOLS; i++)
		appendStringInfo(&b, "%s%s%s", i ? ", " : "", prefix, store_cols[i]);
	return b.data;
}

/*
 * Prepared once per process and planned once (a generic plan), inside
 * shopify_index_lookups_begin(): the lookups by key are index scans
 * whatever the table's size was when the plan was made.  (A generic plan
 * made while a table was small used to scan it whole for every page as it
 * grew: 15 s instead of 4 s for 100,000 variants; planning each execution
 * instead cost about 5 % of a first sync.)
 */
SPIPlanPtr
mirror_keep_plan(const char *sql, int nargs, Oid *types)
{
	SPIPlanPtr	p = SPI_prepare_cursor(sql, nargs, types, CURSOR_OPT_GENERIC_PLAN);

	if (p == NULL)
		elog(ERROR, "SPI_prepare failed for the mirror write: %s", SPI_result_code_string(SPI_result));
	SPI_keepplan(p);
	return p;
}

/*
 * The arrays handed to the insert and update statements: one per written
 * column (the stored columns but shop_id and is_active), in this order.
 */
const int	array_cols[NARRAYS] = {
	S_SKU_ID, S_PRODUCT_ID, S_SKU, S_TITLE, S_VARIANT_TITLE, S_VENDOR, S_PRODUCT_TYPE, S_HANDLE,
	S_STATUS, S_TAGS, S_PRICE, S_COMPARE_AT, S_BARCODE, S_INVENTORY, S_INVENTORY_ITEM,
	S_POSITION, S_VARIANT_UPDATED, S_PRODUCT_UPDATED
};

Oid
store_col_type(int s)
{
	switch (s)
	{
		case S_SKU_ID:
		case S_SHOP_ID:
		case S_PRODUCT_ID:
		case S_INVENTORY_ITEM:
			return INT8OID;
		case S_INVENTORY:
		case S_POSITION:
			return INT4OID;
		case S_PRICE:
		case S_COMPARE_AT:
			return NUMERICOID;
		case S_IS_ACTIVE:
			return BOOLOID;
		case S_VARIANT_UPDATED:
		case S_PRODUCT_UPDATED:
			return TIMESTAMPTZOID;
		default:
			return TEXTOID;
	}
}

void
variant_prepare_plans(void)
{
	Oid			t2[2] = {INT8OID, INT8ARRAYOID};
	Oid			t1[1] = {INT8ARRAYOID};
	Oid			targs[NARRAYS + 2];
	StringInfoData unnest;
	StringInfoData sql;
	char	   *cols;

	if (probe_product_plan != NULL)
		return;
	cols = col_list("");
	probe_product_plan = mirror_keep_plan(psprintf("SELECT %s FROM shopify.products"
									   " WHERE shop_id = $1 AND product_id = ANY ($2)", cols),
							  2, t2);
	probe_sku_plan = mirror_keep_plan(psprintf("SELECT %s FROM shopify.products WHERE sku_id = ANY ($1)", cols),
						  1, t1);

	/* unnest($3::int8[], $4::int8[], ...) AS u(sku_id, product_id, ...) */
	initStringInfo(&unnest);
	appendStringInfoString(&unnest, "unnest(");
	for (int i = 0; i < (int) NARRAYS; i++)
	{
		targs[i + 2] = get_array_type(store_col_type(array_cols[i]));
		appendStringInfo(&unnest, "%s$%d", i ? ", " : "", i + 3);
	}
	appendStringInfoString(&unnest, ") AS u(");
	for (int i = 0; i < (int) NARRAYS; i++)
		appendStringInfo(&unnest, "%s%s", i ? ", " : "", store_cols[array_cols[i]]);
	appendStringInfoChar(&unnest, ')');
	targs[0] = INT8OID;
	targs[1] = BOOLOID;

	initStringInfo(&sql);
	appendStringInfoString(&sql, "INSERT INTO shopify.products (shop_id, is_active, first_synced_at, last_synced_at");
	for (int i = 0; i < (int) NARRAYS; i++)
		appendStringInfo(&sql, ", %s", store_cols[array_cols[i]]);
	appendStringInfoString(&sql, ") SELECT $1, true, now(), now()");
	for (int i = 0; i < (int) NARRAYS; i++)
		appendStringInfo(&sql, ", u.%s", store_cols[array_cols[i]]);
	appendStringInfo(&sql, " FROM %s", unnest.data);
	insert_plan = mirror_keep_plan(sql.data, NARRAYS + 2, targs);

	/* $2: sync_inventory (else the stored inventory_quantity stays) */
	resetStringInfo(&sql);
	appendStringInfoString(&sql, "UPDATE shopify.products p SET is_active = true, deactivated_at = NULL, last_synced_at = now()");
	for (int i = 0; i < (int) NARRAYS; i++)
	{
		const char *c = store_cols[array_cols[i]];

		if (array_cols[i] == S_SKU_ID)
			continue;
		if (array_cols[i] == S_INVENTORY)
			appendStringInfo(&sql, ", %s = CASE WHEN $2 THEN u.%s ELSE p.%s END", c, c, c);
		else
			appendStringInfo(&sql, ", %s = u.%s", c, c);
	}
	appendStringInfo(&sql, " FROM %s WHERE p.sku_id = u.sku_id AND p.shop_id = $1", unnest.data);
	update_plan = mirror_keep_plan(sql.data, NARRAYS + 2, targs);

	deactivate_plan = mirror_keep_plan("UPDATE shopify.products SET is_active = false, deactivated_at = now()"
						   " WHERE sku_id = ANY ($1) AND is_active", 1, t1);
	seen_plan = mirror_keep_plan("INSERT INTO shopify.sync_seen (job_id, ids) VALUES ($1, $2)", 2, t2);
}

/* ----- comparing ----- */

static bool
datum_same(int s, Datum a, bool an, Datum b, bool bn)
{
	if (an || bn)
		return an == bn;
	switch (store_col_type(s))
	{
		case INT8OID:
		case TIMESTAMPTZOID:
			return DatumGetInt64(a) == DatumGetInt64(b);
		case INT4OID:
			return DatumGetInt32(a) == DatumGetInt32(b);
		case BOOLOID:
			return DatumGetBool(a) == DatumGetBool(b);
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

/* Would writing row r change the stored row s? */
bool
vrow_differs(VRow *r, Stored *s, bool sync_inventory)
{
	if (s->n[S_IS_ACTIVE] || !DatumGetBool(s->v[S_IS_ACTIVE]))
		return true;
	for (int c = 0; c < S_NCOLS; c++)
	{
		int			rc = store_from_row[c];

		if (rc < 0 || c == S_SKU_ID)
			continue;
		if (c == S_INVENTORY && !sync_inventory)
			continue;
		if (!datum_same(c, r->v[rc], r->n[rc], s->v[c], s->n[c]))
			return true;
	}
	return false;
}

/* Is row r older than the stored row s (writes never go back in time)? */
bool
vrow_stale(VRow *r, Stored *s)
{
	return !r->n[VROW_PRODUCT_UPDATED] && !s->n[S_PRODUCT_UPDATED] &&
		DatumGetTimestampTz(r->v[VROW_PRODUCT_UPDATED]) < DatumGetTimestampTz(s->v[S_PRODUCT_UPDATED]);
}

