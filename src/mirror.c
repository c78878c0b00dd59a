/*
 * mirror.c — the one write path into shopify.products.
 *
 * A payload (a page of a sync, later a webhook product) becomes one
 * set-based statement: shopify._variants() turns the JSON into typed rows,
 * and one INSERT ... ON CONFLICT (sku_id) DO UPDATE writes them.  The update
 * happens only when a stored value differs, so an unchanged row is not
 * rewritten (no new tuple, no WAL); RETURNING (xmax = 0) tells created rows
 * from updated ones, and unchanged = processed - created - updated - failed.
 * A variant id that belongs to another store is never taken over: it is
 * counted failed.  With sync_inventory = false an existing row keeps its
 * inventory_quantity (new rows get NULL).  Writes never go back in time: a
 * payload whose product updated_at is older than the stored one (a late
 * webhook, a page fetched before a webhook was applied) leaves the row as
 * it is and counts as unchanged.
 *
 * Full syncs also record the variant ids they were given in
 * shopify.sync_seen, in the same statement; when the listing is complete,
 * mirror_sweep() marks the store's other active rows inactive (deleted in
 * Shopify) with one anti-join, and forgets the job's ids.  The mirror itself
 * carries no per-sync marker, so unchanged rows stay untouched.
 *
 * The caller provides the transaction and the SPI connection; the statement
 * is prepared once per process.  Nothing here knows about HTTP.
 */
#include "postgres.h"

#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "utils/builtins.h"

#include "mirror.h"
#include "util.h"

/* rows of a page or a webhook product */
static const char *head_sql =
"WITH src AS MATERIALIZED (SELECT * FROM shopify._variants($1, $2)),"
" nprod AS (SELECT count(DISTINCT product_id)::int AS n FROM src),";

/*
 * rows of a batch of bulk JSONL lines: product lines go to the job's
 * staging table, variant lines take their product's fields from the batch
 * itself or from the staging table (parents come first, not always in the
 * same batch).  $2 is the job.
 */
static const char *bulk_head_sql =
"WITH raw AS MATERIALIZED (SELECT * FROM shopify._variants($1, 'bulk_jsonl')),"
" staged AS (INSERT INTO shopify.bulk_products AS b"
"   (job_id, product_id, title, vendor, product_type, handle, status, tags, product_updated_at)"
"   SELECT DISTINCT ON (product_id) $2::bigint, product_id, title, vendor, product_type, handle,"
"          status, tags, product_updated_at"
"     FROM raw WHERE kind = 'product' AND ok ORDER BY product_id"
"   ON CONFLICT (job_id, product_id) DO NOTHING),"
" bp AS (SELECT DISTINCT ON (product_id) * FROM raw WHERE kind = 'product' AND ok ORDER BY product_id),"
" src AS MATERIALIZED ("
"   SELECT v.ok AND (p.product_id IS NOT NULL OR b.product_id IS NOT NULL) AS ok,"
"          coalesce(v.error, CASE WHEN p.product_id IS NULL AND b.product_id IS NULL"
"                            THEN 'variant line before its product line' END) AS error,"
"          v.sku_id, v.product_id, v.sku, coalesce(p.title, b.title) AS title, v.variant_title,"
"          coalesce(p.vendor, b.vendor) AS vendor, coalesce(p.product_type, b.product_type) AS product_type,"
"          coalesce(p.handle, b.handle) AS handle, coalesce(p.status, b.status) AS status,"
"          coalesce(p.tags, b.tags) AS tags, v.price, v.compare_at_price, v.barcode,"
"          v.inventory_quantity, v.inventory_item_id, v.position, v.variant_updated_at,"
"          coalesce(p.product_updated_at, b.product_updated_at) AS product_updated_at,"
"          v.kind"
"     FROM raw v"
"     LEFT JOIN bp p ON p.product_id = v.product_id"
"     LEFT JOIN shopify.bulk_products b ON b.job_id = $2::bigint AND b.product_id = v.product_id"
"    WHERE v.kind = 'variant'),"
" nprod AS (SELECT count(*)::int AS n FROM raw WHERE kind = 'product'),";

static const char *tail_sql =
" good AS (SELECT DISTINCT ON (sku_id) * FROM src WHERE ok ORDER BY sku_id),"
" alien AS MATERIALIZED (SELECT g.sku_id FROM good g,"
"   LATERAL (SELECT 1 FROM shopify.products p"
"             WHERE p.sku_id = g.sku_id AND p.shop_id <> $3 LIMIT 1) x),"
" up AS ("
"  INSERT INTO shopify.products AS p"
"   (sku_id, shop_id, product_id, sku, title, variant_title, vendor, product_type,"
"    handle, status, tags, price, compare_at_price, barcode, inventory_quantity,"
"    inventory_item_id, position, is_active, shopify_updated_at, product_updated_at,"
"    first_synced_at, last_synced_at, deactivated_at)"
"  SELECT g.sku_id, $3, g.product_id, g.sku, g.title, g.variant_title, g.vendor,"
"         g.product_type, g.handle, g.status, g.tags, g.price, g.compare_at_price,"
"         g.barcode, CASE WHEN $4 THEN g.inventory_quantity END, g.inventory_item_id,"
"         g.position, true, g.variant_updated_at, g.product_updated_at, now(), now(), NULL"
"    FROM good g"
"  ON CONFLICT (sku_id) DO UPDATE SET"
"    product_id = EXCLUDED.product_id, sku = EXCLUDED.sku, title = EXCLUDED.title,"
"    variant_title = EXCLUDED.variant_title, vendor = EXCLUDED.vendor,"
"    product_type = EXCLUDED.product_type, handle = EXCLUDED.handle,"
"    status = EXCLUDED.status, tags = EXCLUDED.tags, price = EXCLUDED.price,"
"    compare_at_price = EXCLUDED.compare_at_price, barcode = EXCLUDED.barcode,"
"    inventory_quantity = CASE WHEN $4 THEN EXCLUDED.inventory_quantity ELSE p.inventory_quantity END,"
"    inventory_item_id = EXCLUDED.inventory_item_id, position = EXCLUDED.position,"
"    is_active = true, shopify_updated_at = EXCLUDED.shopify_updated_at,"
"    product_updated_at = EXCLUDED.product_updated_at, last_synced_at = now(),"
"    deactivated_at = NULL"
"  WHERE p.shop_id = EXCLUDED.shop_id"
"    AND (p.product_updated_at IS NULL OR EXCLUDED.product_updated_at IS NULL"
"         OR EXCLUDED.product_updated_at >= p.product_updated_at)"
"    AND ((p.product_id, p.sku, p.title, p.variant_title, p.vendor, p.product_type,"
"          p.handle, p.status, p.tags, p.price, p.compare_at_price, p.barcode,"
"          p.inventory_item_id, p.position, p.is_active, p.shopify_updated_at,"
"          p.product_updated_at)"
"         IS DISTINCT FROM"
"         (EXCLUDED.product_id, EXCLUDED.sku, EXCLUDED.title, EXCLUDED.variant_title,"
"          EXCLUDED.vendor, EXCLUDED.product_type, EXCLUDED.handle, EXCLUDED.status,"
"          EXCLUDED.tags, EXCLUDED.price, EXCLUDED.compare_at_price, EXCLUDED.barcode,"
"          EXCLUDED.inventory_item_id, EXCLUDED.position, true,"
"          EXCLUDED.shopify_updated_at, EXCLUDED.product_updated_at)"
"         OR ($4 AND p.inventory_quantity IS DISTINCT FROM EXCLUDED.inventory_quantity))"
"  RETURNING (xmax = 0) AS inserted),"
" seen AS ("
"  INSERT INTO shopify.sync_seen (job_id, sku_id)"
"  SELECT $5, g.sku_id FROM good g"
"   WHERE $5 IS NOT NULL AND NOT EXISTS (SELECT 1 FROM alien a WHERE a.sku_id = g.sku_id))"
"SELECT (SELECT n FROM nprod),"
"       (SELECT count(*) FROM src)::int,"
"       (SELECT count(*) FILTER (WHERE inserted) FROM up)::int,"
"       (SELECT count(*) FILTER (WHERE NOT inserted) FROM up)::int,"
"       ((SELECT count(*) FROM src WHERE NOT ok) + (SELECT count(*) FROM alien))::int,"
"       (SELECT string_agg(e, '; ') FROM"
"          (SELECT coalesce('variant ' || sku_id, 'product ' || product_id, 'item') || ': ' || error AS e"
"             FROM src WHERE NOT ok LIMIT 3) x)";

static SPIPlanPtr
prepare(const char *head, Oid type2)
{
	Oid			types[5] = {TEXTOID, type2, INT8OID, BOOLOID, INT8OID};
	char	   *sql = psprintf("%s%s", head, tail_sql);
	SPIPlanPtr	plan = SPI_prepare(sql, 5, types);

	if (plan == NULL)
		elog(ERROR, "SPI_prepare failed for the mirror write: %s",
			 SPI_result_code_string(SPI_result));
	SPI_keepplan(plan);
	pfree(sql);
	return plan;
}

static void
run(SPIPlanPtr plan, Datum doc, Datum arg2, int64 shop_id, bool sync_inventory,
	int64 seen_job_id, MirrorCounts *out)
{
	Datum		vals[5];
	char		nulls[5] = {' ', ' ', ' ', ' ', ' '};
	bool		isnull;
	int			rc;

	vals[0] = doc;
	vals[1] = arg2;
	vals[2] = Int64GetDatum(shop_id);
	vals[3] = BoolGetDatum(sync_inventory);
	vals[4] = Int64GetDatum(seen_job_id);
	if (seen_job_id <= 0)
		nulls[4] = 'n';

	rc = SPI_execute_plan(plan, vals, nulls, false, 0);
	if (rc != SPI_OK_SELECT || SPI_processed != 1)
		elog(ERROR, "mirror write failed: %s", SPI_result_code_string(rc));

	out->products = DatumGetInt32(shopify_spi_value(0, 1, &isnull));
	out->processed = DatumGetInt32(shopify_spi_value(0, 2, &isnull));
	out->created = DatumGetInt32(shopify_spi_value(0, 3, &isnull));
	out->updated = DatumGetInt32(shopify_spi_value(0, 4, &isnull));
	out->failed = DatumGetInt32(shopify_spi_value(0, 5, &isnull));
	out->errors = shopify_spi_text(0, 6);
	out->unchanged = out->processed - out->created - out->updated - out->failed;
	/* a row is created, updated or failed at most once per payload */
	Assert(out->unchanged >= 0);
	if (out->unchanged < 0)
		out->unchanged = 0;
}

static SPIPlanPtr write_plan = NULL;
static SPIPlanPtr bulk_plan = NULL;

/*
 * Write one payload.  seen_job_id is the full sync whose seen set receives
 * the variant ids, or 0.
 */
void
mirror_write(const char *doc, size_t len, const char *shape, int64 shop_id,
			 bool sync_inventory, int64 seen_job_id, MirrorCounts *out)
{
	text	   *t = cstring_to_text_with_len(doc, len);

	if (write_plan == NULL)
		write_plan = prepare(head_sql, TEXTOID);
	run(write_plan, PointerGetDatum(t), CStringGetTextDatum(shape), shop_id, sync_inventory,
		seen_job_id, out);
	pfree(t);
}

/*
 * Write a batch of complete bulk JSONL lines of job_id.  out->products
 * counts the batch's product lines.
 */
void
mirror_write_bulk(const char *doc, size_t len, int64 shop_id, bool sync_inventory,
				  int64 seen_job_id, int64 job_id, MirrorCounts *out)
{
	text	   *t = cstring_to_text_with_len(doc, len);

	if (bulk_plan == NULL)
		bulk_plan = prepare(bulk_head_sql, INT8OID);
	run(bulk_plan, PointerGetDatum(t), Int64GetDatum(job_id), shop_id, sync_inventory,
		seen_job_id, out);
	pfree(t);
}

/*
 * End of a full sync: the store's active rows that the job did not see are
 * deleted in Shopify.  Returns the number of rows deactivated.
 */
int
mirror_sweep(int64 shop_id, int64 job_id)
{
	Oid			types[2] = {INT8OID, INT8OID};
	Datum		vals[2] = {Int64GetDatum(shop_id), Int64GetDatum(job_id)};
	int			n;

	n = shopify_spi_exec("UPDATE shopify.products p SET is_active = false, deactivated_at = now()"
						 " WHERE p.shop_id = $1 AND p.is_active"
						 "   AND NOT EXISTS (SELECT 1 FROM shopify.sync_seen s"
						 "                    WHERE s.job_id = $2 AND s.sku_id = p.sku_id)",
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
 * changed is the larger of the cumulative statistics' count (all writers,
 * flushed at most once a second) and inserted, the rows the caller's sync
 * inserted since it last got true from here.
 * SKIP_LOCKED: an autovacuum already at work on a table is as good.
 * Tables that a 0.1.0 schema lacks are skipped.
 */
bool
mirror_keep_statistics(bool orders, int64 inserted)
{
	static const char *product_tables = "{shopify.products,shopify.sync_seen,shopify.bulk_products}";
	static const char *order_tables = "{shopify.orders,shopify.order_lines}";
	Oid			types[2] = {TEXTOID, INT8OID};
	Datum		vals[2];
	char	   *stale;

	vals[0] = CStringGetTextDatum(orders ? order_tables : product_tables);
	vals[1] = Int64GetDatum(inserted);
	if (shopify_spi_exec("SELECT string_agg(c.oid::regclass::text, ', ')"
						 "  FROM pg_class c"
						 " WHERE c.oid IN (SELECT to_regclass(t) FROM unnest($1::text[]) t)"
						 "   AND greatest($2, pg_stat_get_mod_since_analyze(c.oid))"
						 "       > greatest(c.reltuples, 0) + 1000",
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
