/*
 * sweep.c — the end of a full sync, and keeping the writes fast while it
 * runs: the store's rows the job did not see are deleted in Shopify (one
 * anti-join against the seen set), the statistics of the tables it fills
 * kept current, and index lookups forced inside the write statements.
 */
#include "postgres.h"

#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/guc.h"

#include "base/util.h"
#include "mirror/mirror.h"

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
mirror_keep_statistics(const char *const *tables, int64 inserted)
{
	Oid			types[2] = {TEXTARRAYOID, INT8OID};
	Datum		vals[2];
	Datum		names[8];
	int			n = 0;
	char	   *stale;

	/* the tables (products: and the bulk products staged), and the columns looked up by */
	for (; tables[n] && n < 7; n++)
		names[n] = CStringGetTextDatum(tables[n]);
	if (n == 1 && strcmp(tables[0], "shopify.products") == 0)
		names[n++] = CStringGetTextDatum("shopify.bulk_products");
	vals[0] = PointerGetDatum(construct_array(names, n, TEXTOID, -1, false, TYPALIGN_INT));
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
