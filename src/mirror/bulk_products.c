/*
 * bulk_products.c — variants from a bulk operation's lines.
 *
 * A bulk result is JSONL: a product's line, then its variants' lines, each
 * naming its product (__parentId) — children after their parent, though not
 * necessarily right after it.  Product lines are staged in
 * shopify.bulk_products for the job; a variant line is joined to its staged
 * product and written through the same rows as a page (products.c); a
 * variant whose product line has not come yet waits in shopify.bulk_pending.
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
	stage_plan = mirror_keep_plan("INSERT INTO shopify.bulk_products AS b"
					  "  (job_id, product_id, title, vendor, product_type, handle, status, tags, product_updated_at)"
					  " SELECT $1, u.* FROM unnest($2, $3, $4, $5, $6, $7, $8, $9) AS u"
					  " ON CONFLICT (job_id, product_id) DO NOTHING", 9, t);
	staged_plan = mirror_keep_plan("SELECT product_id, title, vendor, product_type, handle, status, tags, product_updated_at"
					   "  FROM shopify.bulk_products WHERE job_id = $1 AND product_id = ANY ($2)", 2, t2);
	pending_take_plan = mirror_keep_plan("DELETE FROM shopify.bulk_pending WHERE job_id = $1 AND parent_id = ANY ($2)"
							 " RETURNING line", 2, t2);
	pending_put_plan = mirror_keep_plan("INSERT INTO shopify.bulk_pending (job_id, parent_id, line)"
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
	a[1] = shopify_int8_array(pids, npids);
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
	a[1] = shopify_int8_array(pids, n);
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
	variants_parse(doc, len, "bulk_jsonl", vrow_collect, &r);
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

		if (!vrow_is_product_line(row))
			continue;
		out->products++;
		if (!vrow_ok(row))
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
		variants_parse(pending, strlen(pending), "bulk_jsonl", vrow_collect, &r);
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

		if (vrow_is_product_line(row) || row->n[VROW_PRODUCT_ID])
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
		Datum		a[2] = {Int64GetDatum(job_id), shopify_int8_array(need, nneed)};

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

		if (vrow_is_product_line(row))
			continue;
		if (vrow_ok(row))
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
		if (!vrow_ok(row))
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

		variant_write_rows(vars, nvars, shop_id, sync_inventory, seen_job_id, &scope, out);
		/* variant_write_rows counted the variant lines' products; a batch counts its product lines */
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

