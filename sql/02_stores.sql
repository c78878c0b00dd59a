-- shopify_stores, shopify_store, shopify_store_stats over a seeded mirror.
SELECT 'shpat_' || md5('regress-stores') AS tok \gset
SELECT shopify_connect_store('stats-shop.myshopify.com', :'tok', 'Stats Shop') AS sid \gset

-- A small mirror: 3 products, 6 variants, one of them deleted in Shopify.
INSERT INTO shopify.products (sku_id, shop_id, product_id, sku, title, variant_title,
                              status, price, inventory_quantity, is_active, deactivated_at)
VALUES (9001, :sid, 901, 'A-1', 'Alpha', 'S', 'active', 10.50, 5, true, NULL),
       (9002, :sid, 901, 'A-2', 'Alpha', 'M', 'active', 10.50, 7, true, NULL),
       (9003, :sid, 902, 'B-1', 'Beta', 'Default Title', 'draft', 99.99, -2, true, NULL),
       (9004, :sid, 903, NULL, 'Gamma', 'One', 'archived', 0, 0, true, NULL),
       (9005, :sid, 903, '', 'Gamma', 'Two', 'archived', 1, 100, true, NULL),
       (9006, :sid, 904, 'D-1', 'Deleted', 'X', 'active', 5, 50, false, now());

SELECT shop_domain, shop_name, is_active, last_sync_status, variant_count,
       active_variant_count, token_status, api
  FROM shopify_stores() WHERE shop_id = :sid;

-- The listing never exposes a token column.
SELECT string_agg(column_name, ',' ORDER BY column_name) ~ 'token_status' AS has_status,
       string_agg(column_name, ',' ORDER BY column_name) ~ 'encrypted' AS has_ciphertext
  FROM (SELECT unnest(proargnames) AS column_name FROM pg_proc WHERE proname = 'shopify_stores') s;

SELECT shopify_store(:sid) - ARRAY['shop_id', 'connected_at', 'created_at', 'updated_at'] AS store;
SELECT shopify_store_stats(:sid) - 'shop_id' AS stats;

-- Disconnected stores are not listed; shopify_store still describes them.
SELECT shopify_connect_store('stats-gone.myshopify.com', :'tok') AS gone \gset
SELECT (shopify_disconnect(:gone))->'cleanup_results' AS cleanup;
SELECT count(*) AS listed FROM shopify_stores() WHERE shop_id = :gone;
SELECT shopify_store(:gone)->'is_active' AS is_active,
       shopify_store(:gone)->'has_access_token' AS has_access_token,
       shopify_store(:gone)->'token_status' AS token_status,
       shopify_store(:gone)->'token_key_matches' AS token_key_matches;

-- Unknown stores and NULLs.
SELECT shopify_store(-1);
SELECT shopify_store_stats(987654321);
SELECT shopify_store(NULL);
SELECT shopify_store_stats(NULL);

-- The API of a store's syncs: per store, or the setting.
SHOW shopify_sync.api;
SELECT shopify_set_store_api(:sid, 'rest') AS effective;
SELECT api FROM shopify.stores WHERE shop_id = :sid;
SELECT shopify_set_store_api(:sid, NULL) AS effective;
SELECT api FROM shopify.stores WHERE shop_id = :sid;
SELECT shopify_set_store_api(:sid, 'soap');
SELECT shopify_set_store_api(NULL, 'rest');
SELECT details->>'operation', details->>'effective_api' FROM shopify.sync_log
 WHERE shop_id = :sid AND details->>'operation' = 'api_changed' ORDER BY id;
