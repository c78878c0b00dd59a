-- Orders: payload shapes, validation, the order sync entry point, statistics
-- and disconnect.  (The sync itself and webhooks are tested in TAP.)
CREATE FUNCTION pg_temp.try(q text) RETURNS text LANGUAGE plpgsql AS $$
BEGIN
  EXECUTE q;
  RETURN 'succeeded';
EXCEPTION WHEN OTHERS THEN
  RETURN SQLSTATE || ': ' || SQLERRM;
END $$;

-- A REST order with a partial refund (one successful and one failed
-- refund transaction), a custom line without variant, timestamps with offsets.
SELECT $j${"order": {"id": 820982911946154508, "name": "#1042", "email": "not-kept@example.com",
  "created_at": "2026-11-01T10:00:00-05:00", "processed_at": "2026-11-01T10:00:05-05:00",
  "updated_at": "2026-11-03T09:30:00-05:00", "cancelled_at": null,
  "financial_status": "partially_refunded", "fulfillment_status": "partial", "currency": "EUR",
  "total_price": "254.90", "subtotal_price": "240.00", "total_tax": "24.90", "total_discounts": "10.00",
  "customer": {"id": 1, "first_name": "Not", "last_name": "Kept"},
  "line_items": [
    {"id": 866550311766439020, "variant_id": 808950810, "product_id": 632910392, "quantity": 2, "price": "100.00", "sku": "A"},
    {"id": 141249953214522974, "variant_id": null, "product_id": null, "quantity": 1, "price": "50.00", "title": "Gift wrap"}],
  "refunds": [{"id": 509562969, "transactions": [
      {"id": 1, "kind": "refund", "status": "success", "amount": "30.45"},
      {"id": 2, "kind": "refund", "status": "failure", "amount": "99.00"},
      {"id": 3, "kind": "sale", "status": "success", "amount": "5.00"}]},
    {"id": 509562970, "transactions": [{"id": 4, "kind": "refund", "status": "success", "amount": "0.05"}]}]}}$j$ AS rest_order \gset

SELECT kind, ok, error, order_id, name, created_at AT TIME ZONE 'UTC' AS created_utc,
       updated_at AT TIME ZONE 'UTC' AS updated_utc, cancelled_at, financial_status,
       fulfillment_status, currency, total_price, subtotal_price, total_tax, total_discounts,
       total_refunded, lines_complete
  FROM shopify._orders(:'rest_order', 'rest_order') WHERE kind = 'order';
SELECT kind, ok, order_id, line_id, sku_id, product_id, quantity, price
  FROM shopify._orders(:'rest_order', 'rest_order') WHERE kind = 'line' ORDER BY line_id;
-- The bare order (as webhooks deliver it) reads the same.
SELECT count(*) AS same_rows FROM (
  SELECT * FROM shopify._orders(:'rest_order', 'rest_order')
  INTERSECT SELECT * FROM shopify._orders((:'rest_order'::jsonb)->'order', 'rest_order')) x;

-- A REST page: a cancelled order, and invalid values, each named.
SELECT kind, ok, error, order_id, line_id, total_price, total_refunded, quantity
  FROM shopify._orders($j${"orders": [
    {"id": 1001, "name": "#1001", "updated_at": "2026-11-01T00:00:00Z", "cancelled_at": "2026-11-02T00:00:00Z",
     "total_price": "10.00", "line_items": [{"id": 5001, "variant_id": 77, "quantity": 1, "price": "10.00"}]},
    {"id": "1002", "updated_at": "2026-11-01T00:00:00Z"},
    {"id": -5, "updated_at": "2026-11-01T00:00:00Z"},
    {"id": 1003, "updated_at": "yesterday"},
    {"id": 1004, "updated_at": "2026-11-01T00:00:00Z", "total_price": "ten"},
    {"id": 1005, "updated_at": "2026-11-01T00:00:00Z", "cancelled_at": "soon"},
    {"id": 1006, "updated_at": "2026-11-01T00:00:00Z", "refunds": [{"transactions": [{"kind": "refund", "status": "success", "amount": "1e999999"}]}]},
    {"id": 99999999999999999999, "updated_at": "2026-11-01T00:00:00Z"},
    {"id": 1007, "updated_at": "2026-11-01T00:00:00Z", "line_items": [
       {"id": 5002, "quantity": 1.5}, {"id": 0, "quantity": 1}, {"id": 5003, "quantity": 1, "price": "x"},
       {"id": 5004, "quantity": 99999999999}, {"id": 5005, "quantity": 3, "variant_id": "12"}]},
    "not an object", 17]}$j$, 'rest_orders')
 ORDER BY kind DESC, order_id NULLS LAST, line_id NULLS FIRST;

-- Payloads that are not order pages give no rows, never an error.
SELECT shape, count(*) AS rows FROM (VALUES ('rest_orders', '{"orders": {}}'), ('rest_orders', '[]'),
    ('graphql_orders', '{"data": null}'), ('graphql_order', '{"data": {"order": null}}'),
    ('rest_orders', '{"orders": null}')) v(shape, doc),
  LATERAL shopify._orders(v.doc::jsonb, v.shape) GROUP BY shape ORDER BY shape;

-- GraphQL pages: nodes or edges, gids, money sets, upper-case statuses;
-- lines_complete follows lineItems.pageInfo.hasNextPage.
SELECT $j${"data": {"orders": {"pageInfo": {"hasNextPage": false, "endCursor": "c1"}, "nodes": [
  {"id": "gid://shopify/Order/2001", "name": "#2001", "createdAt": "2026-10-01T08:00:00Z",
   "processedAt": "2026-10-01T08:00:00Z", "updatedAt": "2026-10-02T08:00:00Z", "cancelledAt": null,
   "displayFinancialStatus": "PAID", "displayFulfillmentStatus": "FULFILLED", "currencyCode": "JPY",
   "totalPriceSet": {"shopMoney": {"amount": "1200.0", "currencyCode": "JPY"}},
   "subtotalPriceSet": {"shopMoney": {"amount": "1200.0"}}, "totalTaxSet": {"shopMoney": {"amount": "0.0"}},
   "totalDiscountsSet": {"shopMoney": {"amount": "0.0"}}, "totalRefundedSet": {"shopMoney": {"amount": "200.0"}},
   "lineItems": {"pageInfo": {"hasNextPage": false, "endCursor": "l1"}, "nodes": [
     {"id": "gid://shopify/LineItem/3001", "quantity": 3, "variant": {"id": "gid://shopify/ProductVariant/4001"},
      "product": {"id": "gid://shopify/Product/5001"}, "originalUnitPriceSet": {"shopMoney": {"amount": "400.0"}}},
     {"id": "gid://shopify/LineItem/3002", "quantity": 1, "variant": null, "product": null,
      "originalUnitPriceSet": {"shopMoney": {"amount": "0.0"}}}]}},
  {"id": "gid://shopify/Order/2002", "updatedAt": "2026-10-03T08:00:00Z",
   "totalRefundedSet": {"shopMoney": {"amount": "0.0"}},
   "lineItems": {"pageInfo": {"hasNextPage": true, "endCursor": "l2"}, "nodes": [
     {"id": "gid://shopify/LineItem/3003", "quantity": 1, "variant": {"id": "gid://shopify/ProductVariant/4001"}}]}}]}}}$j$ AS gql_page \gset
SELECT kind, ok, error, order_id, name, financial_status, fulfillment_status, currency,
       total_price, total_refunded, line_id, sku_id, product_id, quantity, price, lines_complete
  FROM shopify._orders(:'gql_page', 'graphql_orders') ORDER BY order_id, kind DESC, line_id NULLS FIRST;
SELECT count(*) AS edges_same_rows FROM (
  SELECT * FROM shopify._orders(:'gql_page', 'graphql_orders')
  INTERSECT
  SELECT * FROM shopify._orders(jsonb_build_object('data', jsonb_build_object('orders', jsonb_build_object(
           'edges', (SELECT jsonb_agg(jsonb_build_object('node', n))
                       FROM jsonb_array_elements((:'gql_page'::jsonb)#>'{data,orders,nodes}') n)))),
         'graphql_orders')) x;
-- Further lines of one order: never "complete" (earlier pages are elsewhere).
SELECT kind, ok, order_id, line_id, lines_complete
  FROM shopify._orders(jsonb_build_object('data', jsonb_build_object('order',
         (:'gql_page'::jsonb)#>'{data,orders,nodes,1}')), 'graphql_order') ORDER BY kind DESC;

-- The internal functions are not for PUBLIC.
SELECT p.proname, has_function_privilege('public', p.oid, 'EXECUTE') AS public_can_execute
  FROM pg_proc p WHERE p.pronamespace = 'shopify'::regnamespace
   AND p.proname IN ('_orders', '_to_numeric', '_to_timestamptz', '_to_id') ORDER BY 1;

-- shopify_sync_orders: a job of resource 'orders', one active per store,
-- independent of the product sync.
SELECT 'shpat_' || md5('regress-orders') AS tok \gset
SELECT shopify_connect_store('orders-shop.myshopify.com', :'tok') AS sid \gset
SELECT id AS oj FROM shopify_sync_orders(:sid) \gset
SELECT resource, sync_type, status, full_sync FROM shopify.sync_jobs WHERE id = :oj;
SELECT id = :oj AS same_job FROM shopify_sync_orders(:sid, false);
SELECT id <> :oj AS product_job_separate FROM shopify_sync_products(:sid);
SELECT resource, count(*) FROM shopify.sync_jobs WHERE shop_id = :sid AND status = 'pending' GROUP BY 1 ORDER BY 1;
SELECT details->>'resource' AS resource, message FROM shopify.sync_log
 WHERE sync_job_id = :oj AND details->>'operation' = 'enqueued';
SELECT pg_temp.try('SELECT shopify_sync_orders(NULL)') AS null_shop,
       pg_temp.try(format('SELECT shopify_sync_orders(%s, NULL)', :sid)) AS null_full,
       pg_temp.try('SELECT shopify_sync_orders(987654321)') AS unknown_shop;
SELECT status FROM shopify_cancel_sync(:oj);
SELECT id <> :oj AS new_incremental, sync_type FROM shopify_sync_orders(:sid, false);

-- Statistics from a known mirror (rows written directly, as the worker
-- would): 3 orders, one cancelled, one refunded in part, one old.
INSERT INTO shopify.products (sku_id, shop_id, product_id, title, sku, price, status, is_active)
VALUES (4001, :sid, 5001, 'Mug', 'MUG-1', 12.00, 'active', true),
       (4002, :sid, 5002, 'Tee', 'TEE-1', 20.00, 'active', true);
INSERT INTO shopify.orders (order_id, shop_id, name, processed_at, updated_at, cancelled_at,
                            currency, total_price, total_refunded)
VALUES (9001, :sid, '#1', now() - interval '2 days', now(), NULL, 'EUR', 100.10, 0),
       (9002, :sid, '#2', now() - interval '40 days', now(), NULL, 'EUR', 50.00, 20.05),
       (9003, :sid, '#3', now() - interval '1 day', now(), now(), 'EUR', 999.99, 0);
INSERT INTO shopify.order_lines (line_id, order_id, shop_id, sku_id, product_id, quantity, price)
VALUES (1, 9001, :sid, 4001, 5001, 3, 12.00), (2, 9001, :sid, 4002, 5002, 1, 20.00),
       (3, 9002, :sid, 4002, 5002, 2, 20.00), (4, 9002, :sid, NULL, NULL, 5, 1.00),
       (5, 9003, :sid, 4002, 5002, 50, 20.00), (6, 9001, :sid, 4003, NULL, 3, 1.00);
UPDATE shopify.stores SET currency = 'EUR' WHERE shop_id = :sid;
SELECT s->'order_count' AS order_count, s->'cancelled_order_count' AS cancelled,
       s->'total_revenue' AS total_revenue, s->'revenue_last_30_days' AS last_30_days,
       s->'average_order_value' AS aov, s->>'currency' AS currency,
       jsonb_pretty(s->'top_variants') AS top_variants
  FROM shopify_store_stats(:sid) s;
-- The statistics read per-store totals kept by triggers: after every kind of
-- change they equal a full recomputation from the orders and lines.
CREATE FUNCTION pg_temp.summary_matches(sid bigint) RETURNS text LANGUAGE sql AS $$
  SELECT CASE WHEN t IS NOT DISTINCT FROM f AND v IS NOT DISTINCT FROM w THEN 'matches'
              ELSE format('totals %s vs %s; sales %s vs %s', t, f, v, w) END
    FROM (SELECT (order_count, cancelled_count, revenue)::text AS t FROM shopify.order_totals WHERE shop_id = sid) a,
         (SELECT (count(*), count(*) FILTER (WHERE cancelled_at IS NOT NULL),
                  coalesce(sum(coalesce(total_price, 0) - total_refunded) FILTER (WHERE cancelled_at IS NULL), 0))::text AS f
            FROM shopify.orders WHERE shop_id = sid) b,
         (SELECT string_agg(sku_id || ':' || units, ',' ORDER BY sku_id) AS v
            FROM shopify.variant_sales WHERE shop_id = sid AND units <> 0) c,
         (SELECT string_agg(sku_id || ':' || u, ',' ORDER BY sku_id) AS w
            FROM (SELECT l.sku_id, sum(l.quantity) AS u FROM shopify.order_lines l
                    JOIN shopify.orders o USING (order_id)
                   WHERE l.shop_id = sid AND l.sku_id IS NOT NULL AND o.cancelled_at IS NULL
                   GROUP BY 1 HAVING sum(l.quantity) <> 0) x) d
$$;
SELECT 'inserted' AS step, pg_temp.summary_matches(:sid)
UNION ALL SELECT 'lines of the cancelled order flagged', string_agg(DISTINCT order_cancelled::text, ',')
  FROM shopify.order_lines WHERE order_id = 9003;
UPDATE shopify.orders SET cancelled_at = now() WHERE order_id = 9001;
SELECT 'cancelled' AS step, pg_temp.summary_matches(:sid);
UPDATE shopify.orders SET cancelled_at = NULL WHERE order_id IN (9001, 9003);
SELECT 'un-cancelled' AS step, pg_temp.summary_matches(:sid);
UPDATE shopify.orders SET total_refunded = total_refunded + 1.11, total_price = 77.77 WHERE order_id = 9002;
SELECT 'refund and price' AS step, pg_temp.summary_matches(:sid);
UPDATE shopify.order_lines SET quantity = quantity + 5 WHERE line_id = 1;
UPDATE shopify.order_lines SET sku_id = 4001 WHERE line_id = 2;
SELECT 'lines changed' AS step, pg_temp.summary_matches(:sid);
DELETE FROM shopify.order_lines WHERE line_id = 3;
SELECT 'line deleted' AS step, pg_temp.summary_matches(:sid);
DELETE FROM shopify.orders WHERE order_id = 9003;
SELECT 'order deleted with its lines' AS step, pg_temp.summary_matches(:sid);
INSERT INTO shopify.orders (order_id, shop_id, updated_at, cancelled_at, total_price)
VALUES (9003, :sid, now(), now(), 999.99)
ON CONFLICT (order_id) DO UPDATE SET cancelled_at = EXCLUDED.cancelled_at;
INSERT INTO shopify.order_lines (line_id, order_id, shop_id, sku_id, quantity, price)
VALUES (5, 9003, :sid, 4002, 50, 20.00);
SELECT 'cancelled order re-inserted' AS step, pg_temp.summary_matches(:sid);

-- An empty store: zeros, not NULLs.
SELECT shopify_connect_store('orders-empty.myshopify.com', :'tok') AS eid \gset
SELECT s->'order_count' AS order_count, s->'total_revenue' AS total_revenue,
       s->'revenue_last_30_days' AS last_30_days, s->'average_order_value' AS aov,
       s->'top_variants' AS top_variants
  FROM shopify_store_stats(:eid) s;

-- Disconnect deactivates the orders and reports them; the documented keys stay.
SELECT r->'cleanup_results' AS cleanup FROM shopify_disconnect(:sid) r;
SELECT count(*) FILTER (WHERE is_active) AS active_orders, count(*) AS orders
  FROM shopify.orders WHERE shop_id = :sid;

-- Deleting a store takes its orders and their lines with it.
DELETE FROM shopify.stores WHERE shop_id = :sid;
SELECT (SELECT count(*) FROM shopify.orders WHERE order_id BETWEEN 9001 AND 9003) AS orders_left,
       (SELECT count(*) FROM shopify.order_lines WHERE order_id BETWEEN 9001 AND 9003) AS lines_left;
