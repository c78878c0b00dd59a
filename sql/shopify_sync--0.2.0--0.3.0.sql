/* shopify_sync 0.2.0 → 0.3.0
 *
 * 0.3.0: the GraphQL documents the worker sends can be listed for checking
 * (shopify._graphql_documents()); a sync's seen set is one row of variant
 * ids per page written, not one row per variant (the ids of a sync running
 * during the update are carried over); orders are read by the extension's
 * C reader (shopify._orders() is now that reader); order syncs can run as
 * bulk operations (shopify.bulk_orders, shopify.bulk_pending); the
 * statistics triggers look lines up by index; each sync chooses between
 * pages and a bulk operation by expected time (shopify.stores.path_stats,
 * shopify.sync_jobs.path_reason).  Mirror rows are not touched.
 */

\echo Use "ALTER EXTENSION shopify_sync UPDATE TO '0.3.0'" to load this file. \quit

CREATE FUNCTION shopify._graphql_documents(
    OUT name text, OUT api_version text, OUT query text, OUT variables jsonb,
    OUT bulk boolean, OUT cost float8)
RETURNS SETOF record
AS 'MODULE_PATHNAME', 'shopify_graphql_documents'
LANGUAGE C STABLE STRICT;
COMMENT ON FUNCTION shopify._graphql_documents() IS
    'Internal: every GraphQL document the worker can send under the current settings (api_version, page sizes), with example variables, whether it is the inner query of a bulk operation, and its requested cost by Shopify''s rules; the test suite checks each against Shopify''s published schema';
REVOKE ALL ON FUNCTION shopify._graphql_documents() FROM PUBLIC;

-- sync_seen: one row of ids per page
ALTER TABLE shopify.sync_seen RENAME TO sync_seen_0_2;
ALTER INDEX shopify.sync_seen_job_idx RENAME TO sync_seen_0_2_job_idx;
CREATE TABLE shopify.sync_seen (
    job_id  bigint NOT NULL,
    ids     bigint[] NOT NULL
);
INSERT INTO shopify.sync_seen (job_id, ids)
    SELECT job_id, array_agg(sku_id) FROM shopify.sync_seen_0_2 GROUP BY job_id;
DROP TABLE shopify.sync_seen_0_2;
-- (added after the old table is gone, so that it has its name)
ALTER TABLE shopify.sync_seen ADD CONSTRAINT sync_seen_job_id_fkey
    FOREIGN KEY (job_id) REFERENCES shopify.sync_jobs (id) ON DELETE CASCADE;
CREATE INDEX sync_seen_job_idx ON shopify.sync_seen (job_id);
ALTER TABLE shopify.sync_seen ENABLE ROW LEVEL SECURITY;
COMMENT ON TABLE shopify.sync_seen IS
    'Internal: the ids (variants; order lines of bulk order syncs) returned so far by each running full or bulk sync, one row per page written, for the final sweep of deleted ones; emptied when the job ends';

-- orders: read in C, as the worker reads them
DROP FUNCTION shopify._orders(jsonb, text);
CREATE FUNCTION shopify._orders(doc jsonb, shape text,
    OUT kind text, OUT ok boolean, OUT error text, OUT order_id bigint, OUT name text,
    OUT created_at timestamptz, OUT processed_at timestamptz, OUT updated_at timestamptz,
    OUT cancelled_at timestamptz, OUT financial_status text, OUT fulfillment_status text,
    OUT currency text, OUT total_price numeric, OUT subtotal_price numeric,
    OUT total_tax numeric, OUT total_discounts numeric, OUT total_refunded numeric,
    OUT line_id bigint, OUT sku_id bigint, OUT product_id bigint, OUT quantity integer,
    OUT price numeric, OUT lines_complete boolean)
RETURNS SETOF record
AS 'MODULE_PATHNAME', 'shopify_order_rows'
LANGUAGE C STABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION shopify._orders(jsonb, text) IS
    'Internal: an orders payload (shape rest_orders, rest_order, graphql_orders, graphql_order or bulk_orders) as order and line rows; invalid ones come out with ok = false and the reason; lines_complete: the payload carries all of the order''s lines';
REVOKE ALL ON FUNCTION shopify._orders(jsonb, text) FROM PUBLIC;

-- bulk results of orders, and lines that come before their parent
CREATE UNLOGGED TABLE shopify.bulk_orders (
    job_id              bigint NOT NULL,
    order_id            bigint NOT NULL,
    own                 boolean NOT NULL,
    cancelled           boolean NOT NULL,
    PRIMARY KEY (job_id, order_id)
);
COMMENT ON TABLE shopify.bulk_orders IS
    'Internal: orders of a bulk operation result while it is downloaded (own: the result speaks for the order, it was not older than the mirror), for the line items that follow them anywhere in the file; emptied when the job ends (unlogged: a crash restarts the download)';

CREATE UNLOGGED TABLE shopify.bulk_pending (
    job_id              bigint NOT NULL,
    parent_id           bigint NOT NULL,
    line                text NOT NULL
);
CREATE INDEX bulk_pending_parent_idx ON shopify.bulk_pending (job_id, parent_id);
COMMENT ON TABLE shopify.bulk_pending IS
    'Internal: lines of a bulk operation result that came before the line of their parent (results of groupObjects: false are not ordered), kept until it comes; emptied when the job ends';

ALTER TABLE shopify.bulk_orders ENABLE ROW LEVEL SECURITY;
ALTER TABLE shopify.bulk_pending ENABLE ROW LEVEL SECURITY;

-- the statistics triggers find the lines they fix by index
CREATE OR REPLACE FUNCTION shopify._orders_totals() RETURNS trigger
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $fn$
BEGIN
  IF TG_OP = 'INSERT' THEN
    INSERT INTO shopify.order_totals AS t (shop_id, order_count, cancelled_count, revenue)
    SELECT shop_id, count(*), count(*) FILTER (WHERE cancelled_at IS NOT NULL),
           coalesce(sum(coalesce(total_price, 0) - total_refunded) FILTER (WHERE cancelled_at IS NULL), 0)
      FROM new_rows GROUP BY shop_id
    ON CONFLICT (shop_id) DO UPDATE SET order_count = t.order_count + EXCLUDED.order_count,
        cancelled_count = t.cancelled_count + EXCLUDED.cancelled_count, revenue = t.revenue + EXCLUDED.revenue;
  ELSIF TG_OP = 'UPDATE' THEN
    WITH d AS (
      SELECT shop_id, 1 AS n, (cancelled_at IS NOT NULL)::int AS c,
             CASE WHEN cancelled_at IS NULL THEN coalesce(total_price, 0) - total_refunded ELSE 0 END AS r
        FROM new_rows
      UNION ALL
      SELECT shop_id, -1, -(cancelled_at IS NOT NULL)::int,
             CASE WHEN cancelled_at IS NULL THEN total_refunded - coalesce(total_price, 0) ELSE 0 END
        FROM old_rows)
    INSERT INTO shopify.order_totals AS t (shop_id, order_count, cancelled_count, revenue)
    SELECT shop_id, sum(n), sum(c), sum(r) FROM d GROUP BY shop_id
    HAVING sum(n) <> 0 OR sum(c) <> 0 OR sum(r) <> 0
    ON CONFLICT (shop_id) DO UPDATE SET order_count = t.order_count + EXCLUDED.order_count,
        cancelled_count = t.cancelled_count + EXCLUDED.cancelled_count, revenue = t.revenue + EXCLUDED.revenue;
    -- an order cancelled or un-cancelled: its lines follow (and variant_sales
    -- with them); the lines are found by their order's index whatever the
    -- statistics say (a join planned as a scan of every line ran per page)
    UPDATE shopify.order_lines l SET order_cancelled = c.cancelled
      FROM (SELECT n.order_id, n.cancelled_at IS NOT NULL AS cancelled
              FROM new_rows n JOIN old_rows o ON o.order_id = n.order_id
             WHERE (n.cancelled_at IS NULL) <> (o.cancelled_at IS NULL)) c
     WHERE l.order_id = ANY (ARRAY(SELECT n.order_id FROM new_rows n JOIN old_rows o ON o.order_id = n.order_id
                                    WHERE (n.cancelled_at IS NULL) <> (o.cancelled_at IS NULL)))
       AND l.order_id = c.order_id AND l.order_cancelled <> c.cancelled;
  ELSE
    -- deletions only subtract (a store being deleted takes its totals with it)
    UPDATE shopify.order_totals t SET order_count = t.order_count - d.n,
           cancelled_count = t.cancelled_count - d.c, revenue = t.revenue - d.r
      FROM (SELECT shop_id, count(*) AS n, count(*) FILTER (WHERE cancelled_at IS NOT NULL) AS c,
                   coalesce(sum(coalesce(total_price, 0) - total_refunded) FILTER (WHERE cancelled_at IS NULL), 0) AS r
              FROM old_rows GROUP BY shop_id) d
     WHERE t.shop_id = d.shop_id;
  END IF;
  RETURN NULL;
END
$fn$;
CREATE OR REPLACE FUNCTION shopify._lines_sales() RETURNS trigger
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $fn$
BEGIN
  IF TG_OP = 'INSERT' THEN
    INSERT INTO shopify.variant_sales AS v (shop_id, sku_id, units)
    SELECT shop_id, sku_id, sum(coalesce(quantity, 0)) FROM new_rows
     WHERE sku_id IS NOT NULL AND NOT order_cancelled GROUP BY shop_id, sku_id
    ON CONFLICT (shop_id, sku_id) DO UPDATE SET units = v.units + EXCLUDED.units;
    -- lines written without their order's cancellation (any writer): set it;
    -- rows are found by their keys' indexes whatever the statistics say (a
    -- join planned as a scan of every line ran for each page written)
    UPDATE shopify.order_lines l SET order_cancelled = true
     WHERE l.line_id = ANY (ARRAY(
             SELECT n.line_id FROM new_rows n
              WHERE NOT n.order_cancelled
                AND n.order_id = ANY (ARRAY(
                      SELECT o.order_id FROM shopify.orders o
                       WHERE o.order_id = ANY (ARRAY(SELECT DISTINCT order_id FROM new_rows WHERE NOT order_cancelled))
                         AND o.cancelled_at IS NOT NULL))))
       AND NOT l.order_cancelled;
  ELSIF TG_OP = 'UPDATE' THEN
    WITH d AS (
      SELECT shop_id, sku_id, coalesce(quantity, 0) AS q FROM new_rows
       WHERE sku_id IS NOT NULL AND NOT order_cancelled
      UNION ALL
      SELECT shop_id, sku_id, -coalesce(quantity, 0) FROM old_rows
       WHERE sku_id IS NOT NULL AND NOT order_cancelled)
    INSERT INTO shopify.variant_sales AS v (shop_id, sku_id, units)
    SELECT shop_id, sku_id, sum(q) FROM d GROUP BY shop_id, sku_id HAVING sum(q) <> 0
    ON CONFLICT (shop_id, sku_id) DO UPDATE SET units = v.units + EXCLUDED.units;
  ELSE
    UPDATE shopify.variant_sales v SET units = v.units - d.q
      FROM (SELECT shop_id, sku_id, sum(coalesce(quantity, 0)) AS q FROM old_rows
             WHERE sku_id IS NOT NULL AND NOT order_cancelled GROUP BY shop_id, sku_id) d
     WHERE v.shop_id = d.shop_id AND v.sku_id = d.sku_id;
  END IF;
  RETURN NULL;
END
$fn$;

-- the path each sync takes, chosen by expected time from what the worker learned of the store
ALTER TABLE shopify.stores ADD COLUMN path_stats jsonb NOT NULL DEFAULT '{}';
COMMENT ON COLUMN shopify.stores.path_stats IS
    'What the worker learned of this store to choose between pages and a bulk operation: graphql_restore_rate and graphql_bucket (points), cost_per_product and cost_per_order (points a node costs on a page), request_s (a page''s round trip), products_per_s and orders_per_s (written), bulk_fixed_s, bulk_ms_per_object and objects_per_product/objects_per_order (bulk operations), bulk_operations';
GRANT SELECT (path_stats) ON shopify.stores TO PUBLIC;
ALTER TABLE shopify.sync_jobs ADD COLUMN path_reason text, ADD COLUMN path_estimate jsonb;
COMMENT ON COLUMN shopify.sync_jobs.path_reason IS 'Why the job took its path (pages or a bulk operation): the estimates compared, or the setting that decided';
COMMENT ON COLUMN shopify.sync_jobs.path_estimate IS 'The expected seconds of each path when the job chose (pages_s, bulk_s) and what they were computed from';
CREATE OR REPLACE VIEW shopify.sync_progress WITH (security_invoker = true) AS
SELECT j.id AS job_id, j.shop_id, s.shop_domain, j.resource, j.api, j.sync_type, j.status,
       w.job_state,
       j.started_at, now() - j.started_at AS elapsed,
       j.progress_percentage,
       j.total_products AS total, j.products_fetched AS fetched,
       j.variants_processed AS processed, j.pages_fetched, j.api_calls,
       round((j.variants_processed / nullif(extract(epoch FROM now() - j.started_at), 0))::numeric, 1)
         AS processed_per_second,
       CASE WHEN j.progress_percentage > 0 AND j.progress_percentage < 100
            THEN make_interval(secs => round((extract(epoch FROM now() - j.started_at)
                                * (100 - j.progress_percentage) / j.progress_percentage)::numeric, 0)::float8)
       END AS estimated_time_left,
       j.heartbeat_at, j.attempts, j.path_reason
  FROM shopify.sync_jobs j
  JOIN shopify.stores s ON s.shop_id = j.shop_id
  LEFT JOIN (SELECT job_id, job_state FROM shopify._worker_slots() WHERE job_id IS NOT NULL) w
         ON w.job_id = j.id
 WHERE j.status = 'running';
COMMENT ON VIEW shopify.sync_progress IS
    'Running syncs: percent done, items per second, estimated time left (from the percentage and the time so far), why the job took its path; total/fetched count products, or orders for order syncs';

-- products: (shop_id, is_active) answered nothing that (shop_id, product_id)
-- does not (a store's rows are mostly active), and every insert paid for it
DROP INDEX IF EXISTS shopify.products_shop_active_idx;
