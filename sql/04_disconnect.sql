-- shopify_disconnect: one transaction, the contract's JSON, idempotent.
SELECT 'shpat_' || md5('regress-disconnect') AS tok \gset
SELECT shopify_connect_store('bye-shop.myshopify.com', :'tok', 'Bye Shop') AS sid \gset
SELECT shopify_connect_store('stay-shop.myshopify.com', :'tok', 'Stay Shop') AS other \gset

-- Seed: 150 active variants + 3 already inactive, 2 active jobs of which one
-- running, 5 unprocessed and 2 processed webhook events; and a neighbour.
INSERT INTO shopify.products (sku_id, shop_id, product_id, title, price, is_active, deactivated_at)
SELECT 100000 + g, :sid, 1000 + g / 3, 'P' || g, g, true, NULL FROM generate_series(1, 150) g;
INSERT INTO shopify.products (sku_id, shop_id, product_id, title, price, is_active, deactivated_at)
SELECT 200000 + g, :sid, 2000 + g, 'Old' || g, g, false, now() FROM generate_series(1, 3) g;
INSERT INTO shopify.products (sku_id, shop_id, product_id, title, price)
SELECT 300000 + g, :other, 3000 + g, 'N' || g, g FROM generate_series(1, 10) g;
SELECT id AS job1 FROM shopify_sync_products(:sid) \gset
UPDATE shopify.sync_jobs SET status = 'running', started_at = now(), attempts = 1 WHERE id = :job1;
INSERT INTO shopify.sync_jobs (shop_id, resource, sync_type, full_sync)
VALUES (:sid, 'orders', 'full_sync', true);
INSERT INTO shopify.webhook_events (shop_id, topic, webhook_id, payload)
SELECT :sid, 'products/update', 'wh-' || g, '{}' FROM generate_series(1, 5) g;
INSERT INTO shopify.webhook_events (shop_id, topic, webhook_id, payload, processed, processed_at)
SELECT :sid, 'products/update', 'wh-done-' || g, '{}', true, now() FROM generate_series(1, 2) g;

SELECT shopify_disconnect(:sid) AS result \gset
SELECT jsonb_pretty(:'result'::jsonb - 'disconnect_duration');
SELECT jsonb_typeof(:'result'::jsonb->'disconnect_duration') AS duration_type,
       (:'result'::jsonb->>'disconnect_duration')::float8 BETWEEN 0 AND 5 AS duration_plausible;
-- The documented keys (the cleanup results also count the orders deactivated).
SELECT array_agg(k ORDER BY k) FROM jsonb_object_keys(:'result'::jsonb) k;
SELECT array_agg(k ORDER BY k) FROM jsonb_object_keys(:'result'::jsonb->'cleanup_results') k;

-- The state after it.
SELECT is_active, access_token_encrypted IS NULL AS token_erased, token_status FROM shopify.stores WHERE shop_id = :sid;
SELECT is_active, count(*), count(deactivated_at) AS with_time FROM shopify.products WHERE shop_id = :sid GROUP BY 1 ORDER BY 1;
SELECT status, count(*), bool_and(finished_at IS NOT NULL) AS finished FROM shopify.sync_jobs WHERE shop_id = :sid GROUP BY 1 ORDER BY 1;
SELECT processed, count(*) FROM shopify.webhook_events WHERE shop_id = :sid GROUP BY 1 ORDER BY 1;
-- The neighbour is untouched.
SELECT is_active, count(*) FROM shopify.products WHERE shop_id = :other GROUP BY 1;
SELECT is_active FROM shopify.stores WHERE shop_id = :other;

-- A second call succeeds with zero counts.
SELECT jsonb_pretty(shopify_disconnect(:sid) - 'disconnect_duration');

-- Logged, with the counts.
SELECT details - 'duration_ms' - 'by' AS details
  FROM shopify.sync_log WHERE event = 'store_operation' AND shop_id = :sid
   AND details->>'operation' = 'disconnect' ORDER BY id;

-- Atomic: a disconnect rolled back leaves everything as it was.
BEGIN;
SELECT (shopify_disconnect(:other))->'cleanup_results' AS cleanup;
ROLLBACK;
SELECT is_active, access_token_encrypted IS NOT NULL AS has_token FROM shopify.stores WHERE shop_id = :other;
SELECT count(*) FILTER (WHERE is_active) AS active FROM shopify.products WHERE shop_id = :other;

-- Reconnecting does not bring rows back: only a sync does.
SELECT shopify_connect_store('bye-shop.myshopify.com', :'tok') = :sid AS same_id;
SELECT count(*) FILTER (WHERE is_active) AS active_rows FROM shopify.products WHERE shop_id = :sid;

SELECT shopify_disconnect(NULL);
SELECT shopify_disconnect(-5);
