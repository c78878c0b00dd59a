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

#include "mirror/mirror.h"
#include "mirror/variant_store.h"
#include "mirror/rowinsert.h"
#include "base/util.h"
#include "mirror/variants.h"

/* ----- the write ----- */

typedef struct ProductInfo
{
	int64		product_id;		/* hash key */
	int			listed;			/* rows of the payload naming it */
	bool		unreliable;		/* a row of it has no usable variant id */
	bool		incomplete;		/* the payload does not carry all its variants */
	bool		stale;			/* the stored product is newer than the payload */
} ProductInfo;


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
void
variant_write_rows(VRow *rows, int nrows, int64 shop_id, bool sync_inventory, int64 seen_job_id,
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
		if (!vrow_ok(r))
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
			shopify_int64_in(pi->product_id, scope->incomplete, scope->nincomplete) ||
			(scope->rest_cap && pi->listed >= REST_VARIANT_CAP) || pi->unreliable)
			pi->incomplete = true;
	}

	/* 1. probe: the stored variants of these products, then the other ids */
	variant_prepare_plans();
	if (npids > 0)
	{
		Datum		a[2] = {Int64GetDatum(shop_id), shopify_int8_array(pids, npids)};

		if (SPI_execute_plan(probe_product_plan, a, NULL, true, 0) != SPI_OK_SELECT)
			elog(ERROR, "mirror probe failed");
		load_stored(stored);
	}
	for (int i = 0; i < nrows; i++)
	{
		int64		id;

		if (!vrow_ok(&rows[i]))
			continue;
		id = DatumGetInt64(rows[i].v[VROW_SKU_ID]);
		if (!hash_search(stored, &id, HASH_FIND, NULL))
			missing[nmissing++] = id;
	}
	if (nmissing > 0)
	{
		Datum		a[1] = {shopify_int8_array(missing, nmissing)};

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

		if (!vrow_ok(r))
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
		if (vrow_stale(r, s))
		{
			int64		pid = DatumGetInt64(r->v[VROW_PRODUCT_ID]);

			pi = hash_search(products, &pid, HASH_FIND, NULL);
			if (pi)
				pi->stale = true;
			continue;			/* unchanged */
		}
		if (vrow_differs(r, s, sync_inventory))
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
			shopify_int64_in(s->sku_id, scope->extra_ids, scope->nextra))
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
			if (!shopify_int64_in(pid, scope->incomplete, scope->nincomplete))
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
		Datum		a[1] = {shopify_int8_array(gone, ngone)};

		if (SPI_execute_plan(deactivate_plan, a, NULL, false, 0) != SPI_OK_UPDATE)
			elog(ERROR, "mirror deactivation failed");
		out->deactivated += (int) SPI_processed;
	}
	if (seen_job_id > 0 && nseen > 0)
	{
		Datum		a[2] = {Int64GetDatum(seen_job_id), shopify_int8_array(seen, nseen)};

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
	variants_parse(doc, len, shape, vrow_collect, &r);
	if (scope)
		s = *scope;
	else
		memset(&s, 0, sizeof(s));
	if (strcmp(shape, "rest_products") == 0)
		s.rest_cap = true;
	guc = shopify_index_lookups_begin();
	variant_write_rows(r.rows, r.n, shop_id, sync_inventory, seen_job_id, &s, out);
	shopify_index_lookups_end(guc);
	MemoryContextDelete(cxt);
}

