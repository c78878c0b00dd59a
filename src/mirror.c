/*
 * mirror.c — the one write path into shopify.products.
 *
 * A payload (a page of a sync, a batch of bulk lines, a webhook product)
 * becomes typed variant rows (variants.c) and then a handful of set-based
 * statements, decided in C:
 *
 *   1. probe: the stored rows of the payload's products (one index scan on
 *      (shop_id, product_id)), then, for variant ids not found that way, by
 *      sku_id (ids of another store, a variant that moved);
 *   2. classify each row against what is stored: new (insert), owned by
 *      another store (failed, never taken over), older than the stored
 *      product (a late webhook, a page fetched before a webhook was applied:
 *      left alone, counted unchanged), different (update), or the same
 *      (unchanged: not rewritten, no new tuple, no WAL);
 *   3. write: one INSERT of the new rows and one UPDATE of the changed ones,
 *      each from arrays (unnest), and one UPDATE deactivating the variants a
 *      product no longer has.
 *
 * Removed variants.  A payload that carries a product's complete variant
 * list — a REST page (for products under REST's 100-variant cap), a GraphQL
 * page (for products whose variants did not continue on further pages), the
 * last of a product's further variant pages (with the ids of the pages
 * before, MirrorScope.extra_ids), a webhook (with variant_gids) — makes the
 * product's other active variants inactive in the same transaction; a
 * variant that comes back is reactivated by its update.  Products whose
 * lists are not complete in the payload are named in MirrorScope; their
 * listed ids are handed back (MirrorCounts.pending_*) so that the caller
 * can complete them.  A product whose stored row is newer than the payload
 * is not touched at all.
 *
 * Full syncs (and bulk syncs) also record the variant ids they were given
 * in shopify.sync_seen, one row of ids per payload; when the listing is
 * complete, mirror_sweep() marks the store's other active rows inactive
 * (deleted in Shopify) with one anti-join, and forgets the job's ids.  The
 * mirror itself carries no per-sync marker, so unchanged rows stay
 * untouched.
 *
 * Counts: processed = rows received = created + updated + unchanged +
 * failed (invalid rows, ids of another store).  The caller provides the
 * transaction and the SPI connection; statements are prepared once per
 * process.  Nothing here knows about HTTP.
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
#include "rowinsert.h"
#include "util.h"
#include "variants.h"

/* REST serves at most this many variants of a product */
#define REST_VARIANT_CAP 100

/* ----- rows of a payload ----- */

typedef struct VRow
{
	Datum		v[VROW_NCOLS];
	bool		n[VROW_NCOLS];
	const char *src;			/* bulk: the line it came from (in the payload) */
	int			srclen;
} VRow;

typedef struct VRows
{
	MemoryContext cxt;
	VRow	   *rows;
	int			n;
	int			cap;
} VRows;

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

static void
collect_row(void *arg, Datum *values, bool *nulls, const char *src, int srclen)
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

static bool
row_ok(VRow *r)
{
	return DatumGetBool(r->v[VROW_OK]);
}

static bool
row_is_product_line(VRow *r)
{
	text	   *k = DatumGetTextPP(r->v[VROW_KIND]);

	return VARSIZE_ANY_EXHDR(k) == 7 && memcmp(VARDATA_ANY(k), "product", 7) == 0;
}

/* ----- stored rows ----- */

/* the columns probed, compared and written, in this order */
static const char *const store_cols[] = {
	"sku_id", "shop_id", "product_id", "sku", "title", "variant_title", "vendor", "product_type",
	"handle", "status", "tags", "price", "compare_at_price", "barcode", "inventory_quantity",
	"inventory_item_id", "position", "is_active", "shopify_updated_at", "product_updated_at"
};

enum
{
	S_SKU_ID, S_SHOP_ID, S_PRODUCT_ID, S_SKU, S_TITLE, S_VARIANT_TITLE, S_VENDOR, S_PRODUCT_TYPE,
	S_HANDLE, S_STATUS, S_TAGS, S_PRICE, S_COMPARE_AT, S_BARCODE, S_INVENTORY,
	S_INVENTORY_ITEM, S_POSITION, S_IS_ACTIVE, S_VARIANT_UPDATED, S_PRODUCT_UPDATED,
	S_NCOLS
};

/* the row column of each stored column (-1: none) */
static const int store_from_row[S_NCOLS] = {
	VROW_SKU_ID, -1, VROW_PRODUCT_ID, VROW_SKU, VROW_TITLE, VROW_VARIANT_TITLE, VROW_VENDOR,
	VROW_PRODUCT_TYPE, VROW_HANDLE, VROW_STATUS, VROW_TAGS, VROW_PRICE, VROW_COMPARE_AT,
	VROW_BARCODE, VROW_INVENTORY, VROW_INVENTORY_ITEM, VROW_POSITION, -1, VROW_VARIANT_UPDATED,
	VROW_PRODUCT_UPDATED
};

typedef struct Stored
{
	int64		sku_id;			/* hash key */
	Datum		v[S_NCOLS];
	bool		n[S_NCOLS];
	bool		listed;			/* the payload lists it */
} Stored;

/* ----- prepared statements ----- */

static SPIPlanPtr probe_product_plan = NULL;
static SPIPlanPtr probe_sku_plan = NULL;
static SPIPlanPtr insert_plan = NULL;
static SPIPlanPtr update_plan = NULL;
static SPIPlanPtr deactivate_plan = NULL;
static SPIPlanPtr seen_plan = NULL;

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
static SPIPlanPtr
keep(const char *sql, int nargs, Oid *types)
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
static const int array_cols[] = {
	S_SKU_ID, S_PRODUCT_ID, S_SKU, S_TITLE, S_VARIANT_TITLE, S_VENDOR, S_PRODUCT_TYPE, S_HANDLE,
	S_STATUS, S_TAGS, S_PRICE, S_COMPARE_AT, S_BARCODE, S_INVENTORY, S_INVENTORY_ITEM,
	S_POSITION, S_VARIANT_UPDATED, S_PRODUCT_UPDATED
};
#define NARRAYS lengthof(array_cols)

static Oid
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

static void
prepare_plans(void)
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
	probe_product_plan = keep(psprintf("SELECT %s FROM shopify.products"
									   " WHERE shop_id = $1 AND product_id = ANY ($2)", cols),
							  2, t2);
	probe_sku_plan = keep(psprintf("SELECT %s FROM shopify.products WHERE sku_id = ANY ($1)", cols),
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
	insert_plan = keep(sql.data, NARRAYS + 2, targs);

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
	update_plan = keep(sql.data, NARRAYS + 2, targs);

	deactivate_plan = keep("UPDATE shopify.products SET is_active = false, deactivated_at = now()"
						   " WHERE sku_id = ANY ($1) AND is_active", 1, t1);
	seen_plan = keep("INSERT INTO shopify.sync_seen (job_id, ids) VALUES ($1, $2)", 2, t2);
}

static Datum
int8_array(int64 *ids, int n)
{
	Datum	   *d = palloc(sizeof(Datum) * Max(n, 1));

	for (int i = 0; i < n; i++)
		d[i] = Int64GetDatum(ids[i]);
	return PointerGetDatum(construct_array(d, n, INT8OID, 8, true, TYPALIGN_DOUBLE));
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
static bool
row_differs(VRow *r, Stored *s, bool sync_inventory)
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
static bool
row_stale(VRow *r, Stored *s)
{
	return !r->n[VROW_PRODUCT_UPDATED] && !s->n[S_PRODUCT_UPDATED] &&
		DatumGetTimestampTz(r->v[VROW_PRODUCT_UPDATED]) < DatumGetTimestampTz(s->v[S_PRODUCT_UPDATED]);
}

/* ----- the write ----- */

/*
 * The statements of a write look rows up by key: they must use the key's
 * index whatever the statistics say.  While a sync fills a table faster
 * than its statistics follow, a lookup of a page's ids was planned as a
 * scan of the whole table (a tenth of a first sync's time).  Until
 * shopify_index_lookups_end(), the transaction plans without sequential
 * scans.
 */
int
shopify_index_lookups_begin(void)
{
	int			level = NewGUCNestLevel();

	(void) set_config_option("enable_seqscan", "off", PGC_USERSET, PGC_S_SESSION,
							 GUC_ACTION_SAVE, true, 0, false);
	return level;
}

void
shopify_index_lookups_end(int level)
{
	AtEOXact_GUC(true, level);
}

typedef struct ProductInfo
{
	int64		product_id;		/* hash key */
	int			listed;			/* rows of the payload naming it */
	bool		unreliable;		/* a row of it has no usable variant id */
	bool		incomplete;		/* the payload does not carry all its variants */
	bool		stale;			/* the stored product is newer than the payload */
} ProductInfo;

static bool
in_list(int64 v, const int64 *list, int n)
{
	for (int i = 0; i < n; i++)
		if (list[i] == v)
			return true;
	return false;
}

/* Load the rows of an SPI result into the stored-rows hash. */
static void
load_stored(HTAB *stored)
{
	Datum		d[S_NCOLS];
	bool		dn[S_NCOLS];

	Assert(SPI_tuptable->tupdesc->natts == S_NCOLS);
	for (uint64 i = 0; i < SPI_processed; i++)
	{
		int64		id;
		bool		found;
		Stored	   *s;

		heap_deform_tuple(SPI_tuptable->vals[i], SPI_tuptable->tupdesc, d, dn);
		id = DatumGetInt64(d[S_SKU_ID]);
		s = hash_search(stored, &id, HASH_ENTER, &found);
		if (found)
			continue;
		s->listed = false;
		for (int c = 0; c < S_NCOLS; c++)
		{
			s->n[c] = dn[c];
			/* the tuple table lives until SPI_finish: no copy needed */
			s->v[c] = dn[c] ? (Datum) 0 :
				(store_col_type(c) == TEXTOID || store_col_type(c) == NUMERICOID) ?
				PointerGetDatum(PG_DETOAST_DATUM_PACKED(d[c])) : d[c];
		}
	}
}

/* Run a write statement with the arrays of the given rows. */
static int
run_rows(SPIPlanPtr plan, VRow **rows, int n, int64 shop_id, bool sync_inventory)
{
	Datum		args[NARRAYS + 2];
	char		nulls[NARRAYS + 2];
	Datum	   *d = palloc(sizeof(Datum) * n);
	bool	   *dn = palloc(sizeof(bool) * n);
	int			rc;

	memset(nulls, ' ', sizeof(nulls));
	args[0] = Int64GetDatum(shop_id);
	args[1] = BoolGetDatum(sync_inventory);
	for (int i = 0; i < (int) NARRAYS; i++)
	{
		int			s = array_cols[i];
		int			rcol = store_from_row[s];
		Oid			typ = store_col_type(s);
		int16		typlen;
		bool		typbyval;
		char		typalign;
		int			dims[1] = {n};
		int			lbs[1] = {1};

		for (int k = 0; k < n; k++)
		{
			dn[k] = rows[k]->n[rcol];
			d[k] = rows[k]->v[rcol];
		}
		get_typlenbyvalalign(typ, &typlen, &typbyval, &typalign);
		args[i + 2] = PointerGetDatum(construct_md_array(d, dn, 1, dims, lbs, typ,
														 typlen, typbyval, typalign));
	}
	rc = SPI_execute_plan(plan, args, nulls, false, 0);
	if (rc != SPI_OK_INSERT && rc != SPI_OK_UPDATE)
		elog(ERROR, "mirror write failed: %s", SPI_result_code_string(rc));
	return (int) SPI_processed;
}

/*
 * Insert the new rows: straight into the table (rowinsert.c), its foreign
 * key to shopify.stores held by a key-share lock on the store's row for
 * the rest of the transaction (what the per-row check would take), or,
 * when the table needs the executor, by the INSERT statement.
 */
static int
insert_rows(VRow **rows, int n, int64 shop_id, bool sync_inventory)
{
	const char *cols[NARRAYS + 4] = {"shop_id", "is_active", "first_synced_at", "last_synced_at"};
	Oid			types[NARRAYS + 4] = {INT8OID, BOOLOID, TIMESTAMPTZOID, TIMESTAMPTZOID};
	Datum		v[NARRAYS + 4];
	bool		vn[NARRAYS + 4] = {false, false, false, false};
	Oid			t1[1] = {INT8OID};
	Datum		a1[1] = {Int64GetDatum(shop_id)};
	RowInsert  *ri;

	for (int i = 0; i < (int) NARRAYS; i++)
	{
		cols[i + 4] = store_cols[array_cols[i]];
		types[i + 4] = store_col_type(array_cols[i]);
	}
	ri = row_insert_begin("shopify", "products", NARRAYS + 4, cols, types,
						  &(RowInsertFk) {"shop_id", "stores"}, 1);
	if (ri == NULL)
		return run_rows(insert_plan, rows, n, shop_id, sync_inventory);
	if (shopify_spi_run("SELECT 1 FROM shopify.stores WHERE shop_id = $1 FOR KEY SHARE",
						1, t1, a1, NULL, false) != 1)
		ereport(ERROR,
				(errcode(ERRCODE_FOREIGN_KEY_VIOLATION),
				 errmsg("store " INT64_FORMAT " does not exist", shop_id)));
	v[0] = Int64GetDatum(shop_id);
	v[1] = BoolGetDatum(true);
	v[2] = v[3] = TimestampTzGetDatum(GetCurrentTransactionStartTimestamp());
	for (int k = 0; k < n; k++)
	{
		for (int i = 0; i < (int) NARRAYS; i++)
		{
			int			rc = store_from_row[array_cols[i]];

			v[i + 4] = rows[k]->v[rc];
			vn[i + 4] = rows[k]->n[rc];
		}
		row_insert_put(ri, v, vn);
	}
	return (int) row_insert_end(ri);
}

static void
add_error(StringInfo errors, int *nerr, const char *what, int64 id, bool has_id, const char *error)
{
	if (*nerr >= 3)
		return;
	if (errors->len > 0)
		appendStringInfoString(errors, "; ");
	if (has_id)
		appendStringInfo(errors, "%s " INT64_FORMAT ": %s", what, id, error);
	else
		appendStringInfo(errors, "item: %s", error);
	(*nerr)++;
}

/*
 * Write variant rows (full rows: each carries its product's fields).  Every
 * row is counted in out; the product lines of a bulk batch are not given
 * here.
 */
static void
write_rows(VRow *rows, int nrows, int64 shop_id, bool sync_inventory, int64 seen_job_id,
		   const MirrorScope *scope, MirrorCounts *out)
{
	HASHCTL		ctl;
	HTAB	   *products;
	HTAB	   *stored;
	int64	   *pids = palloc(sizeof(int64) * Max(nrows, 1));
	int			npids = 0;
	int64	   *missing = palloc(sizeof(int64) * Max(nrows, 1));
	int			nmissing = 0;
	VRow	  **ins = palloc(sizeof(VRow *) * Max(nrows, 1));
	VRow	  **upd = palloc(sizeof(VRow *) * Max(nrows, 1));
	int64	   *seen = palloc(sizeof(int64) * Max(nrows, 1));
	int			nins = 0,
				nupd = 0,
				nseen = 0,
				nerr = 0;
	int64	   *gone;
	int			ngone = 0;
	StringInfoData errors;
	HASH_SEQ_STATUS hs;
	Stored	   *s;
	ProductInfo *pi;

	initStringInfo(&errors);
	memset(&ctl, 0, sizeof(ctl));
	ctl.keysize = sizeof(int64);
	ctl.entrysize = sizeof(ProductInfo);
	ctl.hcxt = CurrentMemoryContext;
	products = hash_create("shopify_sync payload products", 64, &ctl, HASH_ELEM | HASH_BLOBS | HASH_CONTEXT);
	ctl.entrysize = sizeof(Stored);
	stored = hash_create("shopify_sync stored variants", Max(nrows, 64), &ctl,
						 HASH_ELEM | HASH_BLOBS | HASH_CONTEXT);

	/* the payload: its products, failed rows, duplicates (the last one counts) */
	for (int i = 0; i < nrows; i++)
	{
		VRow	   *r = &rows[i];
		bool		found;

		if (!r->n[VROW_PRODUCT_ID])
		{
			int64		pid = DatumGetInt64(r->v[VROW_PRODUCT_ID]);

			pi = hash_search(products, &pid, HASH_ENTER, &found);
			if (!found)
			{
				memset(pi, 0, sizeof(*pi));
				pi->product_id = pid;
				pids[npids++] = pid;
			}
			pi->listed++;
			if (r->n[VROW_SKU_ID] || DatumGetInt64(r->v[VROW_SKU_ID]) <= 0)
				pi->unreliable = true;
		}
		if (!row_ok(r))
		{
			out->failed++;
			add_error(&errors, &nerr, r->n[VROW_SKU_ID] ? "product" : "variant",
					  r->n[VROW_SKU_ID] ? DatumGetInt64(r->v[VROW_PRODUCT_ID]) : DatumGetInt64(r->v[VROW_SKU_ID]),
					  !r->n[VROW_SKU_ID] || !r->n[VROW_PRODUCT_ID],
					  TextDatumGetCString(r->v[VROW_ERROR]));
		}
	}
	out->products += npids;
	out->processed += nrows;

	/* which products' lists are complete here */
	for (int i = 0; i < npids; i++)
	{
		pi = hash_search(products, &pids[i], HASH_FIND, NULL);
		if (scope == NULL || scope->no_deactivate ||
			in_list(pi->product_id, scope->incomplete, scope->nincomplete) ||
			(scope->rest_cap && pi->listed >= REST_VARIANT_CAP) || pi->unreliable)
			pi->incomplete = true;
	}

	/* 1. probe: the stored variants of these products, then the other ids */
	prepare_plans();
	if (npids > 0)
	{
		Datum		a[2] = {Int64GetDatum(shop_id), int8_array(pids, npids)};

		if (SPI_execute_plan(probe_product_plan, a, NULL, true, 0) != SPI_OK_SELECT)
			elog(ERROR, "mirror probe failed");
		load_stored(stored);
	}
	for (int i = 0; i < nrows; i++)
	{
		int64		id;

		if (!row_ok(&rows[i]))
			continue;
		id = DatumGetInt64(rows[i].v[VROW_SKU_ID]);
		if (!hash_search(stored, &id, HASH_FIND, NULL))
			missing[nmissing++] = id;
	}
	if (nmissing > 0)
	{
		Datum		a[1] = {int8_array(missing, nmissing)};

		if (SPI_execute_plan(probe_sku_plan, a, NULL, true, 0) != SPI_OK_SELECT)
			elog(ERROR, "mirror probe failed");
		load_stored(stored);
	}

	/* 2. classify, from the last row of each variant id backwards */
	for (int i = nrows - 1; i >= 0; i--)
	{
		VRow	   *r = &rows[i];
		int64		id;
		bool		found;

		if (!row_ok(r))
			continue;
		id = DatumGetInt64(r->v[VROW_SKU_ID]);
		s = hash_search(stored, &id, HASH_ENTER, &found);
		if (found && s->listed)
			continue;			/* a duplicate in the payload: the last one counts */
		if (!found)
		{
			memset(s->n, true, sizeof(s->n));
			s->listed = true;
			s->v[S_SHOP_ID] = Int64GetDatum(shop_id);
			s->n[S_SHOP_ID] = false;
			ins[nins++] = r;
			seen[nseen++] = id;
			continue;
		}
		s->listed = true;
		if (DatumGetInt64(s->v[S_SHOP_ID]) != shop_id)
		{
			out->failed++;
			add_error(&errors, &nerr, "variant", id, true, "the variant id belongs to another store");
			continue;
		}
		seen[nseen++] = id;
		if (row_stale(r, s))
		{
			int64		pid = DatumGetInt64(r->v[VROW_PRODUCT_ID]);

			pi = hash_search(products, &pid, HASH_FIND, NULL);
			if (pi)
				pi->stale = true;
			continue;			/* unchanged */
		}
		if (row_differs(r, s, sync_inventory))
			upd[nupd++] = r;
	}

	/* variants a complete product no longer lists */
	gone = palloc(sizeof(int64) * Max(hash_get_num_entries(stored), 1));
	hash_seq_init(&hs, stored);
	while ((s = hash_seq_search(&hs)) != NULL)
	{
		int64		pid;

		if (s->listed || s->n[S_PRODUCT_ID] || s->n[S_SHOP_ID] ||
			DatumGetInt64(s->v[S_SHOP_ID]) != shop_id ||
			s->n[S_IS_ACTIVE] || !DatumGetBool(s->v[S_IS_ACTIVE]))
			continue;
		pid = DatumGetInt64(s->v[S_PRODUCT_ID]);
		pi = hash_search(products, &pid, HASH_FIND, NULL);
		if (pi == NULL || pi->incomplete || pi->stale)
			continue;
		if (scope && pid == scope->extra_pid &&
			in_list(s->sku_id, scope->extra_ids, scope->nextra))
			continue;			/* listed on an earlier page */
		gone[ngone++] = s->sku_id;
	}

	/* what the caller needs to complete the incomplete products */
	if (scope && scope->nincomplete > 0)
	{
		out->pending_pids = palloc(sizeof(int64) * Max(nrows, 1));
		out->pending_ids = palloc(sizeof(int64) * Max(nrows, 1));
		for (int i = 0; i < nrows; i++)
		{
			VRow	   *r = &rows[i];
			int64		pid;

			if (r->n[VROW_PRODUCT_ID] || r->n[VROW_SKU_ID])
				continue;
			pid = DatumGetInt64(r->v[VROW_PRODUCT_ID]);
			if (!in_list(pid, scope->incomplete, scope->nincomplete))
				continue;
			out->pending_pids[out->npending] = pid;
			out->pending_ids[out->npending++] = DatumGetInt64(r->v[VROW_SKU_ID]);
		}
	}

	/* 3. write */
	if (nins > 0)
		out->created += insert_rows(ins, nins, shop_id, sync_inventory);
	if (nupd > 0)
		out->updated += run_rows(update_plan, upd, nupd, shop_id, sync_inventory);
	if (ngone > 0)
	{
		Datum		a[1] = {int8_array(gone, ngone)};

		if (SPI_execute_plan(deactivate_plan, a, NULL, false, 0) != SPI_OK_UPDATE)
			elog(ERROR, "mirror deactivation failed");
		out->deactivated += (int) SPI_processed;
	}
	if (seen_job_id > 0 && nseen > 0)
	{
		Datum		a[2] = {Int64GetDatum(seen_job_id), int8_array(seen, nseen)};

		if (SPI_execute_plan(seen_plan, a, NULL, false, 0) != SPI_OK_INSERT)
			elog(ERROR, "mirror seen set failed");
	}
	if (nerr > 0)
		out->errors = errors.data;
	out->unchanged = out->processed - out->created - out->updated - out->failed;
	/* a row is created, updated or failed at most once per payload */
	Assert(out->unchanged >= 0);
	if (out->unchanged < 0)
		out->unchanged = 0;
	hash_destroy(stored);
	hash_destroy(products);
}

/*
 * Write one payload of the named shape (rest_products, rest_product,
 * graphql_products, graphql_product).  seen_job_id is the full sync whose
 * seen set receives the variant ids, or 0; scope says which products'
 * variant lists the payload does not complete (NULL: none complete, no
 * deactivation).
 */
void
mirror_write(const char *doc, size_t len, const char *shape, int64 shop_id,
			 bool sync_inventory, int64 seen_job_id, const MirrorScope *scope, MirrorCounts *out)
{
	MemoryContext cxt = AllocSetContextCreate(CurrentMemoryContext, "shopify_sync payload rows",
											  ALLOCSET_DEFAULT_SIZES);
	VRows		r = {cxt, NULL, 0, 0};
	MirrorScope s;
	int			guc;

	memset(out, 0, sizeof(*out));
	variants_parse(doc, len, shape, collect_row, &r);
	if (scope)
		s = *scope;
	else
		memset(&s, 0, sizeof(s));
	if (strcmp(shape, "rest_products") == 0)
		s.rest_cap = true;
	guc = shopify_index_lookups_begin();
	write_rows(r.rows, r.n, shop_id, sync_inventory, seen_job_id, &s, out);
	shopify_index_lookups_end(guc);
	MemoryContextDelete(cxt);
}

/* ----- bulk lines ----- */

static SPIPlanPtr stage_plan = NULL;
static SPIPlanPtr staged_plan = NULL;
static SPIPlanPtr pending_take_plan = NULL;
static SPIPlanPtr pending_put_plan = NULL;

/* the product columns a bulk product line gives its variants */
static const int bulk_pcols[8] = {VROW_PRODUCT_ID, VROW_TITLE, VROW_VENDOR, VROW_PRODUCT_TYPE,
VROW_HANDLE, VROW_STATUS, VROW_TAGS, VROW_PRODUCT_UPDATED};
static const Oid bulk_ptypes[8] = {INT8OID, TEXTOID, TEXTOID, TEXTOID, TEXTOID, TEXTOID, TEXTOID,
TIMESTAMPTZOID};

static void
prepare_bulk_plans(void)
{
	Oid			t[9] = {INT8OID, INT8ARRAYOID, TEXTARRAYOID, TEXTARRAYOID, TEXTARRAYOID,
	TEXTARRAYOID, TEXTARRAYOID, TEXTARRAYOID, TIMESTAMPTZARRAYOID};
	Oid			t2[2] = {INT8OID, INT8ARRAYOID};
	Oid			t3[3] = {INT8OID, INT8ARRAYOID, TEXTARRAYOID};

	if (stage_plan != NULL)
		return;
	stage_plan = keep("INSERT INTO shopify.bulk_products AS b"
					  "  (job_id, product_id, title, vendor, product_type, handle, status, tags, product_updated_at)"
					  " SELECT $1, u.* FROM unnest($2, $3, $4, $5, $6, $7, $8, $9) AS u"
					  " ON CONFLICT (job_id, product_id) DO NOTHING", 9, t);
	staged_plan = keep("SELECT product_id, title, vendor, product_type, handle, status, tags, product_updated_at"
					   "  FROM shopify.bulk_products WHERE job_id = $1 AND product_id = ANY ($2)", 2, t2);
	pending_take_plan = keep("DELETE FROM shopify.bulk_pending WHERE job_id = $1 AND parent_id = ANY ($2)"
							 " RETURNING line", 2, t2);
	pending_put_plan = keep("INSERT INTO shopify.bulk_pending (job_id, parent_id, line)"
							" SELECT $1, u.p, u.l FROM unnest($2, $3) AS u(p, l)", 3, t3);
}

/*
 * Lines of job_id kept for parents among pids: taken out of
 * shopify.bulk_pending as one text of lines (NULL: none).
 */
char *
mirror_take_pending(int64 job_id, int64 *pids, int npids)
{
	Datum		a[2];
	StringInfoData b;

	if (npids == 0)
		return NULL;
	prepare_bulk_plans();
	a[0] = Int64GetDatum(job_id);
	a[1] = int8_array(pids, npids);
	if (SPI_execute_plan(pending_take_plan, a, NULL, false, 0) != SPI_OK_DELETE_RETURNING)
		elog(ERROR, "bulk pending lines failed");
	if (SPI_processed == 0)
		return NULL;
	initStringInfo(&b);
	for (uint64 k = 0; k < SPI_processed; k++)
	{
		bool		isnull;
		Datum		d = SPI_getbinval(SPI_tuptable->vals[k], SPI_tuptable->tupdesc, 1, &isnull);
		text	   *t = DatumGetTextPP(d);

		appendBinaryStringInfo(&b, VARDATA_ANY(t), VARSIZE_ANY_EXHDR(t));
		appendStringInfoChar(&b, '\n');
	}
	return b.data;
}

/* Keep lines whose parent has not come yet (parent ids and the lines' text). */
void
mirror_put_pending(int64 job_id, int64 *pids, const char **lines, const int *lens, int n)
{
	Datum		a[3];
	Datum	   *t = palloc(sizeof(Datum) * Max(n, 1));

	if (n == 0)
		return;
	prepare_bulk_plans();
	for (int i = 0; i < n; i++)
		t[i] = PointerGetDatum(cstring_to_text_with_len(lines[i], lens[i]));
	a[0] = Int64GetDatum(job_id);
	a[1] = int8_array(pids, n);
	a[2] = PointerGetDatum(construct_array(t, n, TEXTOID, -1, false, TYPALIGN_INT));
	if (SPI_execute_plan(pending_put_plan, a, NULL, false, 0) != SPI_OK_INSERT)
		elog(ERROR, "bulk pending lines failed");
}

/*
 * Write a batch of complete bulk JSONL lines of job_id.  Product lines are
 * staged in shopify.bulk_products; variant lines take their product's
 * fields from the batch or from the staging table.  A variant line whose
 * product line has not come yet (results are not ordered with groupObjects:
 * false) waits in shopify.bulk_pending and is written with the batch that
 * brings its product.  out->products counts the batch's product lines.
 * Nothing is deactivated here: a product's variant lines may be anywhere in
 * the file (mirror_sweep, mirror_sweep_products).
 */
void
mirror_write_bulk(const char *doc, size_t len, int64 shop_id, bool sync_inventory,
				  int64 seen_job_id, int64 job_id, MirrorCounts *out)
{
	MemoryContext cxt = AllocSetContextCreate(CurrentMemoryContext, "shopify_sync bulk rows",
											  ALLOCSET_DEFAULT_SIZES);
	MemoryContext old;
	VRows		r = {cxt, NULL, 0, 0};
	HASHCTL		ctl;
	HTAB	   *parents;
	VRow	  **prods;
	int			nprods = 0;
	VRow	   *vars;
	int			nvars = 0;
	int64	   *need;
	int			nneed = 0;
	int64	   *wait_pids;
	const char **wait_lines;
	int		   *wait_lens;
	int			nwait = 0;
	MirrorScope scope;
	typedef struct Parent
	{
		int64		product_id;
		VRow	   *row;
	} Parent;
	Parent	   *par;
	bool		found;
	char	   *pending;
	int			guc;

	memset(out, 0, sizeof(*out));
	prepare_bulk_plans();
	guc = shopify_index_lookups_begin();
	variants_parse(doc, len, "bulk_jsonl", collect_row, &r);
	old = MemoryContextSwitchTo(cxt);

	memset(&ctl, 0, sizeof(ctl));
	ctl.keysize = sizeof(int64);
	ctl.entrysize = sizeof(Parent);
	ctl.hcxt = cxt;
	parents = hash_create("shopify_sync bulk parents", 256, &ctl, HASH_ELEM | HASH_BLOBS | HASH_CONTEXT);
	prods = palloc(sizeof(VRow *) * Max(r.n, 1));
	need = palloc(sizeof(int64) * Max(r.n, 1));

	/* product lines of the batch */
	for (int i = 0; i < r.n; i++)
	{
		VRow	   *row = &r.rows[i];
		int64		pid;

		if (!row_is_product_line(row))
			continue;
		out->products++;
		if (!row_ok(row))
			continue;			/* its variant lines will find no product */
		pid = DatumGetInt64(row->v[VROW_PRODUCT_ID]);
		par = hash_search(parents, &pid, HASH_ENTER, &found);
		par->row = row;			/* the last one counts */
		if (!found)
		{
			prods[nprods] = row;
			need[nprods++] = pid;
		}
	}
	/* variant lines that came before these products' lines */
	MemoryContextSwitchTo(old);
	pending = mirror_take_pending(job_id, need, nprods);
	if (pending)
		variants_parse(pending, strlen(pending), "bulk_jsonl", collect_row, &r);
	MemoryContextSwitchTo(cxt);
	vars = palloc(sizeof(VRow) * Max(r.n, 1));
	wait_pids = palloc(sizeof(int64) * Max(r.n, 1));
	wait_lines = palloc(sizeof(char *) * Max(r.n, 1));
	wait_lens = palloc(sizeof(int) * Max(r.n, 1));

	/* products of variant lines that are not in the batch: from staging */
	for (int i = 0; i < r.n; i++)
	{
		VRow	   *row = &r.rows[i];
		int64		pid;

		if (row_is_product_line(row) || row->n[VROW_PRODUCT_ID])
			continue;
		pid = DatumGetInt64(row->v[VROW_PRODUCT_ID]);
		par = hash_search(parents, &pid, HASH_ENTER, &found);
		if (!found)
		{
			par->row = NULL;
			need[nneed++] = pid;
		}
	}
	MemoryContextSwitchTo(old);
	if (nprods > 0)
	{
		Datum		args[9];
		Datum	   *d = palloc(sizeof(Datum) * nprods);
		bool	   *dn = palloc(sizeof(bool) * nprods);

		args[0] = Int64GetDatum(job_id);
		for (int c = 0; c < 8; c++)
		{
			int16		typlen;
			bool		typbyval;
			char		typalign;
			int			dims[1] = {nprods};
			int			lbs[1] = {1};

			for (int k = 0; k < nprods; k++)
			{
				d[k] = prods[k]->v[bulk_pcols[c]];
				dn[k] = prods[k]->n[bulk_pcols[c]];
			}
			get_typlenbyvalalign(bulk_ptypes[c], &typlen, &typbyval, &typalign);
			args[c + 1] = PointerGetDatum(construct_md_array(d, dn, 1, dims, lbs, bulk_ptypes[c], typlen,
															 typbyval, typalign));
		}
		if (SPI_execute_plan(stage_plan, args, NULL, false, 0) != SPI_OK_INSERT)
			elog(ERROR, "bulk staging failed");
	}
	if (nneed > 0)
	{
		Datum		a[2] = {Int64GetDatum(job_id), int8_array(need, nneed)};

		if (SPI_execute_plan(staged_plan, a, NULL, true, 0) != SPI_OK_SELECT)
			elog(ERROR, "bulk staging lookup failed");
		for (uint64 k = 0; k < SPI_processed; k++)
		{
			HeapTuple	tup = SPI_tuptable->vals[k];
			TupleDesc	td = SPI_tuptable->tupdesc;
			VRow	   *pr = MemoryContextAllocZero(cxt, sizeof(VRow));
			int64		pid;

			for (int c = 0; c < 8; c++)
			{
				Datum		v = SPI_getbinval(tup, td, c + 1, &pr->n[bulk_pcols[c]]);

				pr->v[bulk_pcols[c]] = (pr->n[bulk_pcols[c]] || bulk_ptypes[c] != TEXTOID) ? v :
					PointerGetDatum(PG_DETOAST_DATUM_PACKED(v));
			}
			pid = DatumGetInt64(pr->v[VROW_PRODUCT_ID]);
			par = hash_search(parents, &pid, HASH_FIND, NULL);
			if (par)
				par->row = pr;
		}
	}

	/* the variant lines, each completed with its product's fields */
	for (int i = 0; i < r.n; i++)
	{
		VRow	   *row = &r.rows[i];
		VRow	   *v;
		int64		pid;

		if (row_is_product_line(row))
			continue;
		if (row_ok(row))
		{
			pid = DatumGetInt64(row->v[VROW_PRODUCT_ID]);
			par = hash_search(parents, &pid, HASH_FIND, NULL);
			if (par == NULL || par->row == NULL)
			{
				/* its product's line has not come yet: it waits */
				wait_pids[nwait] = pid;
				wait_lines[nwait] = row->src;
				wait_lens[nwait++] = row->srclen;
				continue;
			}
		}
		v = &vars[nvars++];
		*v = *row;
		if (!row_ok(row))
			continue;
		for (int c = 0; c < 8; c++)
		{
			v->v[bulk_pcols[c]] = par->row->v[bulk_pcols[c]];
			v->n[bulk_pcols[c]] = par->row->n[bulk_pcols[c]];
		}
	}
	mirror_put_pending(job_id, wait_pids, wait_lines, wait_lens, nwait);

	memset(&scope, 0, sizeof(scope));
	scope.no_deactivate = true;
	{
		int			nproducts = out->products;

		write_rows(vars, nvars, shop_id, sync_inventory, seen_job_id, &scope, out);
		/* write_rows counted the variant lines' products; a batch counts its product lines */
		out->products = nproducts;
	}
	shopify_index_lookups_end(guc);
	MemoryContextDelete(cxt);
}

/*
 * The end of a bulk download: lines still waiting for a parent whose line
 * never came (or was invalid) are failed items.  Returns how many, with a
 * few of them in *examples.
 */
int
mirror_pending_leftovers(int64 job_id, char **examples)
{
	Oid			types[1] = {INT8OID};
	Datum		vals[1] = {Int64GetDatum(job_id)};
	int			n;

	*examples = NULL;
	if (shopify_spi_exec("SELECT count(*)::int, string_agg(parent_id::text, ', ') FILTER (WHERE rn <= 3)"
						 "  FROM (SELECT parent_id, row_number() OVER () AS rn FROM shopify.bulk_pending"
						 "         WHERE job_id = $1) p",
						 1, types, vals, NULL, true) != 1)
		return 0;
	n = DatumGetInt32(shopify_spi_value(0, 1, &(bool){false}));
	if (n > 0)
		*examples = shopify_spi_text(0, 2);
	return n;
}

/*
 * Has the store active rows that this job did not write (last synced
 * before it started)?  Without any, a full sync has nothing to sweep: every
 * active row at its end was written by it (or by a webhook meanwhile), so
 * it need not record the ids it saw.  A first sync into an empty store, or
 * a resumed one, saves the seen set and the sweep.
 */
bool
mirror_has_older_rows(int64 shop_id, int64 job_id)
{
	Oid			types[2] = {INT8OID, INT8OID};
	Datum		vals[2] = {Int64GetDatum(shop_id), Int64GetDatum(job_id)};
	bool		isnull;

	if (shopify_spi_run("SELECT EXISTS (SELECT 1 FROM shopify.products"
						"  WHERE shop_id = $1 AND is_active"
						"    AND last_synced_at < (SELECT started_at FROM shopify.sync_jobs WHERE id = $2))",
						2, types, vals, NULL, true) != 1)
		return true;
	return DatumGetBool(shopify_spi_value(0, 1, &isnull));
}

/*
 * End of a full sync: the store's active rows that the job did not see are
 * deleted in Shopify.  Only rows last synced before the job started are
 * candidates (what it wrote, it saw).  Returns the number of rows
 * deactivated.
 */
int
mirror_sweep(int64 shop_id, int64 job_id)
{
	Oid			types[2] = {INT8OID, INT8OID};
	Datum		vals[2] = {Int64GetDatum(shop_id), Int64GetDatum(job_id)};
	int			n;

	/*
	 * EXCEPT: a set operation (hashed or sorted), whatever the statistics
	 * say about the seen set; an anti-join on unnest() may be planned as a
	 * nested loop over every seen id for every row of the store.
	 */
	n = shopify_spi_exec("UPDATE shopify.products p SET is_active = false, deactivated_at = now()"
						 "  FROM (SELECT sku_id FROM shopify.products WHERE shop_id = $1 AND is_active"
						 "          AND last_synced_at < (SELECT started_at FROM shopify.sync_jobs WHERE id = $2)"
						 "        EXCEPT"
						 "        SELECT unnest(ids) FROM shopify.sync_seen WHERE job_id = $2) g"
						 " WHERE p.sku_id = g.sku_id AND p.is_active",
						 2, types, vals, NULL, false);
	mirror_forget_seen(job_id);
	return n;
}

/*
 * End of an incremental bulk sync: each product of the result carried all
 * its variants, wherever they were in the file; the stored variants of
 * those products that the job did not see are gone.
 */
int
mirror_sweep_products(int64 shop_id, int64 job_id)
{
	Oid			types[2] = {INT8OID, INT8OID};
	Datum		vals[2] = {Int64GetDatum(shop_id), Int64GetDatum(job_id)};
	int			n;

	n = shopify_spi_exec("UPDATE shopify.products p SET is_active = false, deactivated_at = now()"
						 "  FROM (SELECT p2.sku_id FROM shopify.bulk_products b"
						 "          JOIN shopify.products p2 ON p2.shop_id = $1 AND p2.product_id = b.product_id"
						 "         WHERE b.job_id = $2 AND p2.is_active"
						 "           AND (p2.product_updated_at IS NULL OR b.product_updated_at IS NULL"
						 "                OR p2.product_updated_at <= b.product_updated_at)"
						 "        EXCEPT"
						 "        SELECT unnest(ids) FROM shopify.sync_seen WHERE job_id = $2) g"
						 " WHERE p.sku_id = g.sku_id AND p.is_active",
						 2, types, vals, NULL, false);
	mirror_forget_seen(job_id);
	return n;
}

void
mirror_forget_seen(int64 job_id)
{
	Oid			types[1] = {INT8OID};
	Datum		vals[1] = {Int64GetDatum(job_id)};

	shopify_spi_exec("DELETE FROM shopify.sync_seen WHERE job_id = $1",
					 1, types, vals, NULL, false);
}

/*
 * Keep the statistics of the tables a sync is filling current.
 *
 * The statements above are planned once per worker (SPI_keepplan), and
 * again whenever a table's statistics change.  Planned from statistics that
 * say a table is empty or small while a sync fills it (its store's rows
 * were deleted by shop/redact or by hand, or a large store joins a mirror
 * that was analyzed while small), a lookup of a page's ids becomes a scan
 * of the whole table, for every page, and a sync slows down with its own
 * size (measured: a second sync of 30,000 orders after they were deleted,
 * 67 s against 17 s for the first).  So after each page, every table that
 * changed by more than its estimated size since its last ANALYZE, and by
 * at least 1,000 rows, is analyzed in the page's transaction: about
 * log2(growth) times in a sync, each invalidating the kept plans.  What
 * changed is inserted, the rows the caller's sync inserted since it last
 * got true from here.  Only the columns rows are looked up by are analyzed
 * (the table's size is what the plans need): a full ANALYZE of
 * shopify.products was a fifth of a first sync's time.  (An ANALYZE of
 * some columns does not reset the cumulative statistics' count of changed
 * rows, so that count cannot tell when to analyze again.)
 * SKIP_LOCKED: an autovacuum already at work on a table is as good.
 * Tables that a 0.1.0 schema lacks are skipped.
 */
bool
mirror_keep_statistics(bool orders, int64 inserted)
{
	/* the tables, and the columns the writes look rows up by */
	static const char *product_tables = "{shopify.products,shopify.bulk_products}";
	static const char *order_tables = "{shopify.orders,shopify.order_lines}";
	Oid			types[2] = {TEXTOID, INT8OID};
	Datum		vals[2];
	char	   *stale;

	vals[0] = CStringGetTextDatum(orders ? order_tables : product_tables);
	vals[1] = Int64GetDatum(inserted);
	if (shopify_spi_exec("SELECT string_agg(c.oid::regclass::text || CASE c.relname"
						 "    WHEN 'products' THEN ' (sku_id, shop_id, product_id)'"
						 "    WHEN 'bulk_products' THEN ' (job_id, product_id)'"
						 "    WHEN 'orders' THEN ' (order_id, shop_id)'"
						 "    WHEN 'order_lines' THEN ' (line_id, order_id, shop_id)' ELSE '' END, ', ')"
						 "  FROM pg_class c"
						 " WHERE c.oid IN (SELECT to_regclass(t) FROM unnest($1::text[]) t)"
						 "   AND $2 > greatest(c.reltuples, 0) + 1000",
						 2, types, vals, NULL, true) != 1)
		return false;
	stale = shopify_spi_text(0, 1);
	if (stale == NULL)
		return false;
	if (SPI_execute(psprintf("ANALYZE (SKIP_LOCKED) %s", stale), false, 0) != SPI_OK_UTILITY)
		elog(ERROR, "ANALYZE %s failed", stale);
	elog(DEBUG1, "shopify_sync: analyzed %s (grown since its statistics were made)", stale);
	return true;
}
