/* shopify_sync 0.1.0 → 0.2.0
 *
 * 0.2.0 adds the order mirror (shopify.orders, shopify.order_lines,
 * shopify_sync_orders(), orders in shopify_store_stats and disconnect), the
 * operator views shopify.worker_status and shopify.sync_progress, and marks
 * the data tables for pg_dump.  Existing rows are not touched.
 */

\echo Use "ALTER EXTENSION shopify_sync UPDATE TO '0.2.0'" to load this file. \quit

-- orders and order_lines: the order mirror
-------------------------------------------------------------------------------

CREATE TABLE shopify.orders (
    order_id            bigint PRIMARY KEY,
    shop_id             bigint NOT NULL REFERENCES shopify.stores (shop_id) ON DELETE CASCADE,
    name                text,
    created_at          timestamptz,
    processed_at        timestamptz,
    updated_at          timestamptz,
    cancelled_at        timestamptz,
    financial_status    text,
    fulfillment_status  text,
    currency            text,
    total_price         numeric,
    subtotal_price      numeric,
    total_tax           numeric,
    total_discounts     numeric,
    total_refunded      numeric NOT NULL DEFAULT 0,
    line_item_count     integer,
    is_active           boolean NOT NULL DEFAULT true,
    first_synced_at     timestamptz NOT NULL DEFAULT now(),
    last_synced_at      timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT orders_order_id_check CHECK (order_id > 0),
    CONSTRAINT orders_line_item_count_check CHECK (line_item_count >= 0)
);
-- statistics: revenue by shop over processed_at, without touching the heap
CREATE INDEX orders_shop_processed_idx ON shopify.orders (shop_id, processed_at)
    INCLUDE (total_price, total_refunded, cancelled_at);

CREATE TABLE shopify.order_lines (
    line_id             bigint PRIMARY KEY,
    order_id            bigint NOT NULL REFERENCES shopify.orders (order_id) ON DELETE CASCADE,
    shop_id             bigint NOT NULL,
    sku_id              bigint,
    product_id          bigint,
    quantity            integer,
    price               numeric,
    order_cancelled     boolean NOT NULL DEFAULT false,
    CONSTRAINT order_lines_line_id_check CHECK (line_id > 0)
);
CREATE INDEX order_lines_order_idx ON shopify.order_lines (order_id);
-- sales per variant, joined to the catalog
CREATE INDEX order_lines_shop_sku_idx ON shopify.order_lines (shop_id, sku_id);

COMMENT ON TABLE shopify.orders IS
    'Mirror of the store''s orders: one row per order, amounts in the shop currency; no customer data';
COMMENT ON COLUMN shopify.orders.name IS 'Order name as shown in Shopify, e.g. #1001';
COMMENT ON COLUMN shopify.orders.financial_status IS 'paid, pending, authorized, partially_paid, partially_refunded, refunded, voided (REST words, also for GraphQL syncs)';
COMMENT ON COLUMN shopify.orders.fulfillment_status IS 'NULL (unfulfilled), partial, fulfilled or restocked (REST words, also for GraphQL syncs)';
COMMENT ON COLUMN shopify.orders.total_refunded IS 'Sum of the order''s successful refunds';
COMMENT ON COLUMN shopify.orders.is_active IS 'False once the store was disconnected';
COMMENT ON TABLE shopify.order_lines IS
    'Line items of the mirrored orders; sku_id is the Shopify variant id (joins shopify.products), NULL for custom items';
COMMENT ON COLUMN shopify.order_lines.sku_id IS 'Shopify variant id of the line, or NULL (custom item, deleted variant)';
COMMENT ON COLUMN shopify.order_lines.order_cancelled IS 'Whether the line''s order is cancelled (kept by triggers; such lines do not count as sold)';

-- Statistics kept current by the triggers below, so that shopify_store_stats
-- reads a few rows instead of aggregating every order of the store.
CREATE TABLE shopify.order_totals (
    shop_id             bigint PRIMARY KEY REFERENCES shopify.stores (shop_id) ON DELETE CASCADE,
    order_count         bigint NOT NULL DEFAULT 0,
    cancelled_count     bigint NOT NULL DEFAULT 0,
    revenue             numeric NOT NULL DEFAULT 0
);
CREATE TABLE shopify.variant_sales (
    shop_id             bigint NOT NULL REFERENCES shopify.stores (shop_id) ON DELETE CASCADE,
    sku_id              bigint NOT NULL,
    units               bigint NOT NULL DEFAULT 0,
    PRIMARY KEY (shop_id, sku_id)
);
CREATE INDEX variant_sales_top_idx ON shopify.variant_sales (shop_id, units DESC, sku_id);
COMMENT ON TABLE shopify.order_totals IS
    'Per store: orders, cancelled orders and revenue (Σ total_price − total_refunded of orders not cancelled); kept by triggers on shopify.orders';
COMMENT ON TABLE shopify.variant_sales IS
    'Per store and variant: units sold in orders not cancelled; kept by triggers on shopify.order_lines';

-- orders → order_totals (statement level, from the transition tables)
CREATE FUNCTION shopify._orders_totals() RETURNS trigger
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
    -- an order cancelled or un-cancelled: its lines follow (and variant_sales with them)
    UPDATE shopify.order_lines l SET order_cancelled = (n.cancelled_at IS NOT NULL)
      FROM new_rows n JOIN old_rows o ON o.order_id = n.order_id
     WHERE l.order_id = n.order_id
       AND (n.cancelled_at IS NULL) <> (o.cancelled_at IS NULL)
       AND l.order_cancelled <> (n.cancelled_at IS NOT NULL);
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
COMMENT ON FUNCTION shopify._orders_totals() IS 'Internal trigger: keeps shopify.order_totals current';
REVOKE ALL ON FUNCTION shopify._orders_totals() FROM PUBLIC;

-- order_lines → variant_sales; a line counts while order_cancelled is false
CREATE FUNCTION shopify._lines_sales() RETURNS trigger
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $fn$
BEGIN
  IF TG_OP = 'INSERT' THEN
    INSERT INTO shopify.variant_sales AS v (shop_id, sku_id, units)
    SELECT shop_id, sku_id, sum(coalesce(quantity, 0)) FROM new_rows
     WHERE sku_id IS NOT NULL AND NOT order_cancelled GROUP BY shop_id, sku_id
    ON CONFLICT (shop_id, sku_id) DO UPDATE SET units = v.units + EXCLUDED.units;
    -- lines written without their order's cancellation (any writer): set it
    UPDATE shopify.order_lines l SET order_cancelled = true
      FROM new_rows n JOIN shopify.orders o ON o.order_id = n.order_id
     WHERE l.line_id = n.line_id AND o.cancelled_at IS NOT NULL AND NOT n.order_cancelled;
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
COMMENT ON FUNCTION shopify._lines_sales() IS 'Internal trigger: keeps shopify.variant_sales and order_lines.order_cancelled current';
REVOKE ALL ON FUNCTION shopify._lines_sales() FROM PUBLIC;

CREATE TRIGGER orders_totals_insert AFTER INSERT ON shopify.orders
    REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION shopify._orders_totals();
CREATE TRIGGER orders_totals_update AFTER UPDATE ON shopify.orders
    REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION shopify._orders_totals();
CREATE TRIGGER orders_totals_delete AFTER DELETE ON shopify.orders
    REFERENCING OLD TABLE AS old_rows FOR EACH STATEMENT EXECUTE FUNCTION shopify._orders_totals();
CREATE TRIGGER order_lines_sales_insert AFTER INSERT ON shopify.order_lines
    REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION shopify._lines_sales();
CREATE TRIGGER order_lines_sales_update AFTER UPDATE ON shopify.order_lines
    REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION shopify._lines_sales();
CREATE TRIGGER order_lines_sales_delete AFTER DELETE ON shopify.order_lines
    REFERENCING OLD TABLE AS old_rows FOR EACH STATEMENT EXECUTE FUNCTION shopify._lines_sales();

COMMENT ON COLUMN shopify.sync_jobs.resource IS 'What the job mirrors: products or orders (for orders, the products_*/variants_* counters count orders)';

GRANT SELECT ON shopify.orders, shopify.order_lines TO PUBLIC;
ALTER TABLE shopify.orders ENABLE ROW LEVEL SECURITY;
ALTER TABLE shopify.order_lines ENABLE ROW LEVEL SECURITY;
CREATE POLICY orders_owner ON shopify.orders
    USING (shop_id IN (SELECT s.shop_id FROM shopify.stores s WHERE s.owner = current_user));
CREATE POLICY order_lines_owner ON shopify.order_lines
    USING (shop_id IN (SELECT s.shop_id FROM shopify.stores s WHERE s.owner = current_user));
COMMENT ON POLICY orders_owner ON shopify.orders IS 'A role sees only the orders of its own stores';
COMMENT ON POLICY order_lines_owner ON shopify.order_lines IS 'A role sees only the order lines of its own stores';

GRANT SELECT ON shopify.order_totals, shopify.variant_sales TO PUBLIC;
ALTER TABLE shopify.order_totals ENABLE ROW LEVEL SECURITY;
ALTER TABLE shopify.variant_sales ENABLE ROW LEVEL SECURITY;
CREATE POLICY order_totals_owner ON shopify.order_totals
    USING (shop_id IN (SELECT s.shop_id FROM shopify.stores s WHERE s.owner = current_user));
CREATE POLICY variant_sales_owner ON shopify.variant_sales
    USING (shop_id IN (SELECT s.shop_id FROM shopify.stores s WHERE s.owner = current_user));
COMMENT ON POLICY order_totals_owner ON shopify.order_totals IS 'A role sees only the totals of its own stores';
COMMENT ON POLICY variant_sales_owner ON shopify.variant_sales IS 'A role sees only the sales of its own stores';

CREATE FUNCTION shopify._to_numeric(v text) RETURNS numeric
AS 'MODULE_PATHNAME', 'shopify_to_numeric'
LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION shopify._to_numeric(text) IS 'Internal: a decimal string as numeric, or NULL when it is not one (never an error)';
CREATE FUNCTION shopify._to_timestamptz(v text) RETURNS timestamptz
AS 'MODULE_PATHNAME', 'shopify_to_timestamptz'
LANGUAGE C STABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION shopify._to_timestamptz(text) IS 'Internal: an ISO 8601 timestamp, or NULL when it is not one (never an error)';
CREATE FUNCTION shopify._to_id(v jsonb) RETURNS bigint
AS 'MODULE_PATHNAME', 'shopify_to_id'
LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION shopify._to_id(jsonb) IS 'Internal: a Shopify id (number, digit string or gid://shopify/Type/N) as bigint, or NULL';
REVOKE ALL ON FUNCTION shopify._to_numeric(text), shopify._to_timestamptz(text), shopify._to_id(jsonb) FROM PUBLIC;

-- Orders payloads to rows: kind 'order' (one per order) and 'line' (one per
-- line item).  REST pages {"orders": [...]}, REST single orders (webhooks,
-- {"order": ...} or the order itself), GraphQL pages {"data": {"orders":
-- {"nodes"|"edges"}}} and single orders {"data": {"order": ...}}.  A value
-- of the wrong shape makes its order (or line) ok = false, never an error.
CREATE FUNCTION shopify._orders(doc jsonb, shape text,
    OUT kind text, OUT ok boolean, OUT error text, OUT order_id bigint, OUT name text,
    OUT created_at timestamptz, OUT processed_at timestamptz, OUT updated_at timestamptz,
    OUT cancelled_at timestamptz, OUT financial_status text, OUT fulfillment_status text,
    OUT currency text, OUT total_price numeric, OUT subtotal_price numeric,
    OUT total_tax numeric, OUT total_discounts numeric, OUT total_refunded numeric,
    OUT line_id bigint, OUT sku_id bigint, OUT product_id bigint, OUT quantity integer,
    OUT price numeric, OUT lines_complete boolean)
RETURNS SETOF record
LANGUAGE sql STABLE PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
AS $fn$
WITH o AS (
  SELECT x.o, shape LIKE 'graphql%' AS gql
    FROM (SELECT CASE shape
            WHEN 'rest_orders' THEN doc->'orders'
            WHEN 'rest_order' THEN jsonb_build_array(coalesce(doc->'order', doc))
            WHEN 'graphql_orders' THEN coalesce(doc->'data'->'orders'->'nodes',
                   (SELECT jsonb_agg(e->'node') FROM jsonb_array_elements(doc->'data'->'orders'->'edges') e))
            WHEN 'graphql_order' THEN CASE WHEN jsonb_typeof(doc->'data'->'order') = 'object'
                                           THEN jsonb_build_array(doc->'data'->'order') END
          END AS arr) a,
         LATERAL jsonb_array_elements(CASE WHEN jsonb_typeof(a.arr) = 'array' THEN a.arr ELSE '[]' END) x(o)
),
f AS (
  SELECT o.o, o.gql,
         shopify._to_id(o.o->'id') AS order_id,
         CASE WHEN jsonb_typeof(o.o->'name') = 'string' THEN o.o->>'name' END AS name,
         shopify._to_timestamptz(o.o->>CASE WHEN gql THEN 'createdAt' ELSE 'created_at' END) AS created_at,
         shopify._to_timestamptz(o.o->>CASE WHEN gql THEN 'processedAt' ELSE 'processed_at' END) AS processed_at,
         shopify._to_timestamptz(o.o->>CASE WHEN gql THEN 'updatedAt' ELSE 'updated_at' END) AS updated_at,
         o.o->>CASE WHEN gql THEN 'cancelledAt' ELSE 'cancelled_at' END AS cancelled_raw,
         lower(o.o->>CASE WHEN gql THEN 'displayFinancialStatus' ELSE 'financial_status' END) AS financial_status,
         -- GraphQL's display status in REST's words: one mirror whichever API wrote it
         CASE WHEN NOT gql THEN lower(o.o->>'fulfillment_status')
              ELSE CASE upper(o.o->>'displayFulfillmentStatus')
                     WHEN 'UNFULFILLED' THEN NULL
                     WHEN 'PARTIALLY_FULFILLED' THEN 'partial'
                     ELSE lower(o.o->>'displayFulfillmentStatus') END
         END AS fulfillment_status,
         o.o->>CASE WHEN gql THEN 'currencyCode' ELSE 'currency' END AS currency,
         CASE WHEN gql THEN o.o#>>'{totalPriceSet,shopMoney,amount}' ELSE o.o->>'total_price' END AS total_raw,
         CASE WHEN gql THEN o.o#>>'{subtotalPriceSet,shopMoney,amount}' ELSE o.o->>'subtotal_price' END AS subtotal_raw,
         CASE WHEN gql THEN o.o#>>'{totalTaxSet,shopMoney,amount}' ELSE o.o->>'total_tax' END AS tax_raw,
         CASE WHEN gql THEN o.o#>>'{totalDiscountsSet,shopMoney,amount}' ELSE o.o->>'total_discounts' END AS discounts_raw,
         CASE WHEN gql THEN shopify._to_numeric(o.o#>>'{totalRefundedSet,shopMoney,amount}')
              -- NULL (invalid) when one successful refund amount is not a number
              ELSE (SELECT CASE WHEN coalesce(bool_and(shopify._to_numeric(t->>'amount') IS NOT NULL), true)
                                THEN coalesce(sum(shopify._to_numeric(t->>'amount')), 0) END
                      FROM jsonb_array_elements(CASE WHEN jsonb_typeof(o.o->'refunds') = 'array' THEN o.o->'refunds' ELSE '[]' END) r,
                           jsonb_array_elements(CASE WHEN jsonb_typeof(r->'transactions') = 'array' THEN r->'transactions' ELSE '[]' END) t
                     WHERE t->>'kind' = 'refund' AND t->>'status' = 'success')
         END AS total_refunded,
         CASE WHEN gql THEN o.o#>'{lineItems,nodes}' ELSE o.o->'line_items' END AS lines,
         -- the payload carries all of the order's lines (REST always; GraphQL
         -- when the order's first page of lines is its last)
         CASE WHEN NOT gql THEN true
              WHEN shape = 'graphql_orders' THEN coalesce(o.o#>'{lineItems,pageInfo,hasNextPage}' = 'false', false)
              ELSE false END AS lines_complete
    FROM o
),
g AS (
  SELECT f.*,
         shopify._to_timestamptz(cancelled_raw) AS cancelled_at,
         shopify._to_numeric(total_raw) AS total_price,
         shopify._to_numeric(subtotal_raw) AS subtotal_price,
         shopify._to_numeric(tax_raw) AS total_tax,
         shopify._to_numeric(discounts_raw) AS total_discounts
    FROM f
)
SELECT 'order'::text,
       coalesce(g.order_id > 0, false) AND g.updated_at IS NOT NULL
         AND (g.cancelled_raw IS NULL OR g.cancelled_at IS NOT NULL)
         AND (g.total_raw IS NULL OR g.total_price IS NOT NULL)
         AND (g.subtotal_raw IS NULL OR g.subtotal_price IS NOT NULL)
         AND (g.tax_raw IS NULL OR g.total_tax IS NOT NULL)
         AND (g.discounts_raw IS NULL OR g.total_discounts IS NOT NULL)
         AND g.total_refunded IS NOT NULL,
       CASE WHEN g.order_id IS NULL OR g.order_id <= 0 THEN 'order id missing or not a positive 64-bit integer'
            WHEN g.updated_at IS NULL THEN 'order updated_at missing or not a timestamp'
            WHEN g.cancelled_raw IS NOT NULL AND g.cancelled_at IS NULL THEN 'cancelled_at is not a timestamp'
            WHEN (g.total_raw IS NOT NULL AND g.total_price IS NULL) OR (g.subtotal_raw IS NOT NULL AND g.subtotal_price IS NULL)
              OR (g.tax_raw IS NOT NULL AND g.total_tax IS NULL) OR (g.discounts_raw IS NOT NULL AND g.total_discounts IS NULL)
              OR g.total_refunded IS NULL THEN 'an amount is not a decimal number' END,
       g.order_id, left(g.name, 255), g.created_at, g.processed_at, g.updated_at, g.cancelled_at,
       left(g.financial_status, 64), left(g.fulfillment_status, 64), left(g.currency, 8),
       g.total_price, g.subtotal_price, g.total_tax, g.total_discounts, g.total_refunded,
       NULL::bigint, NULL::bigint, NULL::bigint, NULL::integer, NULL::numeric, g.lines_complete
  FROM g
UNION ALL
SELECT 'line'::text,
       coalesce(g.order_id > 0 AND l.line_id > 0, false) AND l.quantity IS NOT NULL AND (l.price_raw IS NULL OR l.price IS NOT NULL),
       CASE WHEN l.line_id IS NULL OR l.line_id <= 0 THEN 'line id missing or not a positive 64-bit integer'
            WHEN l.quantity IS NULL THEN 'quantity is not an integer'
            WHEN l.price_raw IS NOT NULL AND l.price IS NULL THEN 'line price is not a decimal number' END,
       g.order_id, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL,
       l.line_id, l.sku_id, l.product_id, l.quantity, l.price, NULL::boolean
  FROM g,
       LATERAL (SELECT shopify._to_id(li->'id') AS line_id,
                       shopify._to_id(CASE WHEN g.gql THEN li#>'{variant,id}' ELSE li->'variant_id' END) AS sku_id,
                       shopify._to_id(CASE WHEN g.gql THEN li#>'{product,id}' ELSE li->'product_id' END) AS product_id,
                       CASE WHEN jsonb_typeof(li->'quantity') = 'number' AND li->>'quantity' ~ '^-?\d{1,9}$'
                            THEN (li->>'quantity')::int END AS quantity,
                       CASE WHEN g.gql THEN li#>>'{originalUnitPriceSet,shopMoney,amount}' ELSE li->>'price' END AS price_raw,
                       shopify._to_numeric(CASE WHEN g.gql THEN li#>>'{originalUnitPriceSet,shopMoney,amount}' ELSE li->>'price' END) AS price
                  FROM jsonb_array_elements(CASE WHEN jsonb_typeof(g.lines) = 'array' THEN g.lines ELSE '[]' END) li) l
$fn$;
COMMENT ON FUNCTION shopify._orders(jsonb, text) IS
    'Internal: an orders payload (shape rest_orders, rest_order, graphql_orders or graphql_order) as order and line rows; invalid ones come out with ok = false and the reason; lines_complete: the payload carries all of the order''s lines';
REVOKE ALL ON FUNCTION shopify._orders(jsonb, text) FROM PUBLIC;

CREATE FUNCTION shopify_sync_orders(shop_id bigint, full_sync boolean DEFAULT true)
RETURNS shopify.sync_jobs
AS 'MODULE_PATHNAME', 'shopify_sync_orders'
LANGUAGE C VOLATILE PARALLEL UNSAFE
SET search_path = pg_catalog, pg_temp;
COMMENT ON FUNCTION shopify_sync_orders(bigint, boolean) IS
    'Enqueue an order sync (or return the store''s pending/running one) and wake the worker at commit';
GRANT EXECUTE ON FUNCTION shopify_sync_orders(bigint, boolean) TO PUBLIC;

-- retention now also removes processed webhook events
COMMENT ON FUNCTION shopify_cleanup(integer) IS
    'Delete log rows older than shopify_sync.log_retention, and finished jobs and processed webhook events older than shopify_sync.job_retention, in batches; superusers only (the worker runs it hourly)';

-------------------------------------------------------------------------------
-- Operator views
-------------------------------------------------------------------------------

-- The worker's shared-memory status: one row for the worker itself (slot
-- columns NULL), then one per sync it is running.
CREATE FUNCTION shopify._worker_slots(
    OUT worker_pid integer, OUT worker_state text, OUT worker_started_at timestamptz,
    OUT launcher_pid integer, OUT job_id bigint, OUT shop_id bigint, OUT job_state text,
    OUT bucket_used integer, OUT bucket_size integer, OUT points_available float8,
    OUT points_maximum float8, OUT next_request_at timestamptz)
RETURNS SETOF record
AS 'MODULE_PATHNAME', 'shopify_worker_slots'
LANGUAGE C VOLATILE STRICT;
COMMENT ON FUNCTION shopify._worker_slots() IS
    'Internal: the worker''s state and its running syncs, from shared memory (see shopify.worker_status)';
GRANT EXECUTE ON FUNCTION shopify._worker_slots() TO PUBLIC;

-- Runs with the caller's rights (security_invoker): a role sees the stores it owns.
CREATE VIEW shopify.worker_status WITH (security_invoker = true) AS
WITH w AS (SELECT * FROM shopify._worker_slots()),
     me AS (SELECT * FROM w WHERE job_id IS NULL)
SELECT me.worker_pid, me.worker_state, me.worker_started_at, me.launcher_pid,
       s.shop_id, s.shop_domain, s.api AS store_api, s.token_status,
       coalesce(j.running, 0) AS jobs_running, coalesce(j.pending, 0) AS jobs_pending,
       j.running_job_ids,
       sl.job_states,
       sl.rate_limit_used, sl.rate_limit_size,
       sl.graphql_points_available, sl.graphql_points_maximum,
       sl.next_request_at,
       s.last_sync_at, s.last_sync_status,
       coalesce(s.last_error, f.error) AS last_error,
       f.finished_at AS last_error_at
  FROM me
  LEFT JOIN shopify.stores s ON s.is_active
  LEFT JOIN LATERAL (
        SELECT count(*) FILTER (WHERE status = 'running') AS running,
               count(*) FILTER (WHERE status = 'pending') AS pending,
               array_agg(id ORDER BY id) FILTER (WHERE status = 'running') AS running_job_ids
          FROM shopify.sync_jobs WHERE shop_id = s.shop_id AND status IN ('pending', 'running')) j ON true
  LEFT JOIN LATERAL (
        SELECT string_agg(w.job_state, ', ' ORDER BY w.job_id) AS job_states,
               max(w.bucket_used) AS rate_limit_used, max(w.bucket_size) AS rate_limit_size,
               min(w.points_available) AS graphql_points_available,
               max(w.points_maximum) AS graphql_points_maximum,
               max(w.next_request_at) AS next_request_at
          FROM w WHERE w.shop_id = s.shop_id AND w.job_id IS NOT NULL) sl ON true
  LEFT JOIN LATERAL (
        SELECT error, finished_at FROM shopify.sync_jobs
         WHERE shop_id = s.shop_id AND status = 'failed'
         ORDER BY finished_at DESC NULLS LAST LIMIT 1) f ON true;
COMMENT ON VIEW shopify.worker_status IS
    'The background worker (pid, state) and, per active store you own: jobs in flight, rate-limit use as last observed (REST calls, GraphQL points), the next allowed request time, the last error';
GRANT SELECT ON shopify.worker_status TO PUBLIC;

CREATE VIEW shopify.sync_progress WITH (security_invoker = true) AS
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
       j.heartbeat_at, j.attempts
  FROM shopify.sync_jobs j
  JOIN shopify.stores s ON s.shop_id = j.shop_id
  LEFT JOIN (SELECT job_id, job_state FROM shopify._worker_slots() WHERE job_id IS NOT NULL) w
         ON w.job_id = j.id
 WHERE j.status = 'running';
COMMENT ON VIEW shopify.sync_progress IS
    'Running syncs: percent done, items per second, estimated time left (from the percentage and the time so far); total/fetched count products, or orders for order syncs';
GRANT SELECT ON shopify.sync_progress TO PUBLIC;

-------------------------------------------------------------------------------
-- pg_dump: the stores, mirrors, queue, events and log are data, not
-- extension definition; dump them (and the identity sequences behind ids).
-------------------------------------------------------------------------------

SELECT pg_catalog.pg_extension_config_dump('shopify.stores', '');
SELECT pg_catalog.pg_extension_config_dump('shopify.products', '');
SELECT pg_catalog.pg_extension_config_dump('shopify.orders', '');
SELECT pg_catalog.pg_extension_config_dump('shopify.order_lines', '');
SELECT pg_catalog.pg_extension_config_dump('shopify.sync_jobs', '');
SELECT pg_catalog.pg_extension_config_dump('shopify.webhook_events', '');
SELECT pg_catalog.pg_extension_config_dump('shopify.sync_log', '');
SELECT pg_catalog.pg_extension_config_dump(pg_catalog.pg_get_serial_sequence('shopify.stores', 'shop_id')::regclass, '');
SELECT pg_catalog.pg_extension_config_dump(pg_catalog.pg_get_serial_sequence('shopify.sync_jobs', 'id')::regclass, '');
SELECT pg_catalog.pg_extension_config_dump(pg_catalog.pg_get_serial_sequence('shopify.webhook_events', 'id')::regclass, '');
SELECT pg_catalog.pg_extension_config_dump(pg_catalog.pg_get_serial_sequence('shopify.sync_log', 'id')::regclass, '');
