-- Ownership and row-level security between two unprivileged roles; the
-- token is never visible in plaintext, anywhere.
SELECT 'shpat_' || md5('regress-alice') AS atok, 'shpat_' || md5('regress-bob') AS btok \gset

SET ROLE regress_shop_alice;
SELECT shopify_connect_store('alice-sec.myshopify.com', :'atok', 'Alice Sec') AS alice_sid \gset
SELECT id AS alice_job FROM shopify_sync_products(:alice_sid) \gset
RESET ROLE;
-- seed some mirror rows and an event for alice (as superuser)
INSERT INTO shopify.products (sku_id, shop_id, product_id, title, price)
SELECT 700000 + g, :alice_sid, 7000, 'Alice ' || g, 1 FROM generate_series(1, 4) g;
INSERT INTO shopify.webhook_events (shop_id, topic, payload) VALUES (:alice_sid, 'products/update', '{}');

SET ROLE regress_shop_bob;
SELECT shopify_connect_store('bob-sec.myshopify.com', :'btok', 'Bob Sec') AS bob_sid \gset

-- Bob sees only his own rows, in every table.
SELECT shop_domain FROM shopify.stores ORDER BY 1;
SELECT count(*) AS products FROM shopify.products;
SELECT count(*) AS jobs FROM shopify.sync_jobs;
SELECT count(*) AS events FROM shopify.webhook_events;
SELECT count(*) FILTER (WHERE shop_id = :alice_sid) AS alice_log_rows,
       count(*) FILTER (WHERE shop_id = :bob_sid) > 0 AS own_log_rows
  FROM shopify.sync_log;
SELECT shop_domain FROM shopify_stores();

-- Every function refuses Alice's store with 42501, exactly as for a store
-- that does not exist.
RESET ROLE;
CREATE FUNCTION pg_temp.try(q text) RETURNS text LANGUAGE plpgsql AS $$
BEGIN
  EXECUTE q;
  RETURN 'succeeded';
EXCEPTION WHEN OTHERS THEN
  RETURN SQLSTATE || ': ' || SQLERRM;
END $$;
SET ROLE regress_shop_bob;
SELECT replace(replace(q, :'alice_sid', '<alice>'), :'alice_job', '<alice job>') AS call,
       replace(replace(pg_temp.try(q), :'alice_sid', '<alice>'), :'alice_job', '<alice job>') AS outcome
  FROM (VALUES
    (format('SELECT shopify_store(%s)', :alice_sid)),
    ('SELECT shopify_store(999999)'),
    (format('SELECT shopify_store_stats(%s)', :alice_sid)),
    ('SELECT shopify_store_stats(999999)'),
    (format('SELECT shopify_disconnect(%s)', :alice_sid)),
    ('SELECT shopify_disconnect(999999)'),
    (format('SELECT shopify_sync_products(%s)', :alice_sid)),
    ('SELECT shopify_sync_products(999999)'),
    (format('SELECT shopify_sync_jobs(%s)', :alice_sid)),
    ('SELECT shopify_sync_jobs(999999)'),
    (format('SELECT shopify_cancel_sync(%s)', :alice_job)),
    ('SELECT shopify_cancel_sync(999999)'),
    (format('SELECT shopify_wait_for_sync(%s, ''1 second'')', :alice_job)),
    ('SELECT shopify_wait_for_sync(999999, ''1 second'')')
  ) v(q);
SELECT pg_temp.try(format('SELECT shopify_connect_store(%L, %L)', 'alice-sec.myshopify.com', :'btok')) AS reconnect_other_role;

-- Nobody but superusers reads the ciphertext; nobody writes the tables directly.
SELECT access_token_encrypted FROM shopify.stores;
SELECT * FROM shopify.stores;
UPDATE shopify.stores SET shop_name = 'x';
DELETE FROM shopify.products;
INSERT INTO shopify.sync_log (level, event) VALUES ('info', 'security');
SELECT count(*) FROM shopify.sync_seen;
SELECT shopify_cleanup();

-- Secret settings are hidden from ordinary roles.
SHOW shopify_sync.webhook_secret;
SELECT count(*) AS visible FROM pg_settings WHERE name = 'shopify_sync.webhook_secret';
SHOW shopify_sync.token_key_file;
SET shopify_sync.api_base_url = 'http://evil.example';
RESET ROLE;

-- Alice, for her part, still has everything.
SET ROLE regress_shop_alice;
SELECT shop_domain FROM shopify.stores ORDER BY 1;
SELECT count(*) AS products FROM shopify.products;
SELECT count(*) AS events FROM shopify.webhook_events;
SELECT status FROM shopify_cancel_sync(:alice_job);
RESET ROLE;

-- A superuser sees and may act on every store.
SELECT count(*) >= 2 AS sees_all FROM shopify_stores() WHERE shop_id IN (:alice_sid, :bob_sid);
SELECT shopify_store(:alice_sid)->>'owner' AS owner;
SHOW shopify_sync.webhook_secret;

-- The plaintext tokens appear nowhere in the extension's tables, in any
-- function result, or in the log.
SELECT count(*) AS rows_with_plaintext FROM (
  SELECT s::text AS t FROM shopify.stores s
  UNION ALL SELECT encode(access_token_encrypted, 'escape') FROM shopify.stores WHERE access_token_encrypted IS NOT NULL
  UNION ALL SELECT l::text FROM shopify.sync_log l
  UNION ALL SELECT j::text FROM shopify.sync_jobs j
  UNION ALL SELECT shopify_store(shop_id)::text FROM shopify.stores
  UNION ALL SELECT shopify_store_stats(shop_id)::text FROM shopify.stores
  UNION ALL SELECT x::text FROM shopify_stores() x
) all_text
WHERE position(:'atok' IN t) > 0 OR position(:'btok' IN t) > 0;
