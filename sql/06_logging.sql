-- The log: rows for every operation, failures to log never fail the
-- operation, retention in batches.
SELECT 'shpat_' || md5('regress-log') AS tok \gset
SELECT shopify_connect_store('log-shop.myshopify.com', :'tok', 'Log Shop') AS sid \gset

SELECT level, event, message, details - 'token_key_id' AS details
  FROM shopify.sync_log WHERE shop_id = :sid ORDER BY id;

-- Log rows are checked.
\set VERBOSITY terse
INSERT INTO shopify.sync_log (level, event) VALUES ('loud', 'store_operation');
INSERT INTO shopify.sync_log (level, event) VALUES ('info', 'something_else');
\set VERBOSITY default

-- A log table that refuses rows does not stop the operation: a WARNING is
-- raised and the store is disconnected all the same.
ALTER TABLE shopify.sync_log ADD CONSTRAINT regress_refuse CHECK (false) NOT VALID;
SELECT (shopify_disconnect(:sid))->'cleanup_results'->'store_deactivated' AS deactivated;
ALTER TABLE shopify.sync_log DROP CONSTRAINT regress_refuse;
SELECT is_active FROM shopify.stores WHERE shop_id = :sid;

-- Retention: rows older than shopify_sync.log_retention (30 days by
-- default) and finished jobs older than shopify_sync.job_retention go.
INSERT INTO shopify.sync_log (logged_at, level, event, shop_id, details)
SELECT now() - interval '40 days' - g * interval '1 second', 'info', 'sync_operation', :sid, '{}'
  FROM generate_series(1, 2500) g;
SELECT shopify_connect_store('log-shop.myshopify.com', :'tok') = :sid AS reconnected;
SELECT id AS oldjob FROM shopify_sync_products(:sid) \gset
UPDATE shopify.sync_jobs SET status = 'completed', started_at = now() - interval '100 days',
       finished_at = now() - interval '100 days', created_at = now() - interval '100 days'
 WHERE id = :oldjob;
INSERT INTO shopify.webhook_events (shop_id, topic, webhook_id, payload, processed, processed_at, received_at)
VALUES (:sid, 'products/update', 'old-processed', '{}', true, now() - interval '100 days', now() - interval '100 days'),
       (:sid, 'products/update', 'old-pending', '{}', false, NULL, now() - interval '100 days'),
       (:sid, 'products/update', 'new-processed', '{}', true, now(), now());
SELECT count(*) AS old_rows FROM shopify.sync_log WHERE logged_at < now() - interval '30 days';
SELECT shopify_cleanup(1000);
-- processed events older than job_retention go; unprocessed ones never do
SELECT webhook_id FROM shopify.webhook_events WHERE webhook_id IN ('old-processed', 'old-pending', 'new-processed') ORDER BY 1;
SELECT count(*) AS old_rows FROM shopify.sync_log WHERE logged_at < now() - interval '30 days';
SELECT count(*) AS old_jobs FROM shopify.sync_jobs WHERE id = :oldjob;
SELECT count(*) > 0 AS recent_rows_kept FROM shopify.sync_log WHERE shop_id = :sid;
SELECT shopify_cleanup(0);

-- Every event kind the SQL surface writes is a valid one.
SELECT DISTINCT event FROM shopify.sync_log ORDER BY 1;
