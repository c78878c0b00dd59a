-- Sync jobs: enqueue, de-duplication, listing, cancel, wait.
SELECT 'shpat_' || md5('regress-jobs') AS tok \gset
SELECT shopify_connect_store('jobs-shop.myshopify.com', :'tok') AS sid \gset

SELECT id AS j1 FROM shopify_sync_products(:sid) \gset
SELECT shop_id = :sid AS right_shop, resource, sync_type, status, full_sync,
       sync_inventory, attempts, progress_percentage, requested_by = current_user AS by_me,
       started_at IS NULL AS not_started
  FROM shopify.sync_jobs WHERE id = :j1;
SELECT last_sync_status FROM shopify.stores WHERE shop_id = :sid;

-- A second request returns the pending job instead of a new one.
SELECT id = :j1 AS same_job FROM shopify_sync_products(:sid);
SELECT id = :j1 AS same_job FROM shopify_sync_products(:sid, false, false);
SELECT count(*) AS active_jobs FROM shopify.sync_jobs WHERE shop_id = :sid AND status IN ('pending', 'running');

-- The unique index enforces it even for direct inserts.
\set VERBOSITY terse
INSERT INTO shopify.sync_jobs (shop_id, sync_type, full_sync) VALUES (:sid, 'full_sync', true);

-- Constraints on the job table.
INSERT INTO shopify.sync_jobs (shop_id, sync_type, full_sync, status) VALUES (:sid, 'full_sync', true, 'exploded');
INSERT INTO shopify.sync_jobs (shop_id, sync_type, full_sync) VALUES (:sid, 'full_sync', false);
UPDATE shopify.sync_jobs SET variants_created = -1 WHERE id = :j1;
UPDATE shopify.sync_jobs SET progress_percentage = 101 WHERE id = :j1;
\set VERBOSITY default

-- Cancel a pending job: at once.
SELECT status, error, finished_at IS NOT NULL AS finished FROM shopify_cancel_sync(:j1);
SELECT last_sync_status FROM shopify.stores WHERE shop_id = :sid;
-- Cancelling again returns the finished job unchanged.
SELECT status FROM shopify_cancel_sync(:j1);

-- Incremental sync without inventory.
SELECT id AS j2 FROM shopify_sync_products(:sid, false, false) \gset
SELECT id <> :j1 AS new_job, sync_type, full_sync, sync_inventory FROM shopify.sync_jobs WHERE id = :j2;

-- Cancel a running job: it is asked to stop at its next checkpoint.
UPDATE shopify.sync_jobs SET status = 'running', started_at = now(), attempts = 1 WHERE id = :j2;
SELECT status, cancel_requested FROM shopify_cancel_sync(:j2);
UPDATE shopify.sync_jobs SET status = 'cancelled', finished_at = now() WHERE id = :j2;

-- Listing: newest first, limited.
SELECT id AS j3 FROM shopify_sync_products(:sid) \gset
SELECT array_agg(id ORDER BY ord) = ARRAY[:j3, :j2, :j1]::bigint[] AS newest_first
  FROM (SELECT id, row_number() OVER () AS ord FROM shopify_sync_jobs(:sid)) s;
SELECT count(*) FROM shopify_sync_jobs(:sid, 2);
SELECT count(*) FROM shopify_sync_jobs(:sid, 0);
SELECT count(*) FROM shopify_sync_jobs(:sid, NULL);

-- Waiting: a finished job returns at once; a pending one returns when the
-- timeout passes, as it then stands.
SELECT status FROM shopify_wait_for_sync(:j1);
SELECT status FROM shopify_wait_for_sync(:j3, '150 milliseconds');
SELECT status FROM shopify_wait_for_sync(:j3, '-1 second');
SELECT status FROM shopify_wait_for_sync(:j3, NULL);

-- statement_timeout interrupts the wait.
SET statement_timeout = '300ms';
SELECT status FROM shopify_wait_for_sync(:j3, '30 seconds');
RESET statement_timeout;

-- Waiting for a job in the transaction that enqueued it can never succeed.
BEGIN;
SELECT id AS j4 FROM shopify_sync_products(shopify_connect_store('jobs-two.myshopify.com', :'tok')) \gset
SELECT status FROM shopify_wait_for_sync(:j4, '5 seconds');
ROLLBACK;

-- A snapshot that never moves would make the wait endless.
BEGIN ISOLATION LEVEL REPEATABLE READ;
SELECT status FROM shopify_wait_for_sync(:j3, '1 second');
ROLLBACK;

-- Refusals: unknown store or job, disconnected store, rejected token, NULLs.
SELECT * FROM shopify_sync_products(424242);
SELECT * FROM shopify_cancel_sync(424242);
SELECT * FROM shopify_wait_for_sync(424242);
SELECT * FROM shopify_sync_products(NULL);
SELECT * FROM shopify_sync_products(:sid, NULL);
SELECT * FROM shopify_cancel_sync(NULL);
SELECT shopify_connect_store('jobs-gone.myshopify.com', :'tok') AS gone \gset
SELECT (shopify_disconnect(:gone))->'cleanup_results'->'store_deactivated' AS deactivated;
SELECT * FROM shopify_sync_products(:gone);
SELECT count(*) FROM shopify_sync_jobs(:gone);
UPDATE shopify.stores SET token_status = 'invalid' WHERE shop_id = :sid;
SELECT id FROM shopify_sync_products(:sid);
UPDATE shopify.stores SET token_status = 'valid' WHERE shop_id = :sid;

-- Enqueue and cancel were logged.
SELECT details->>'operation' AS operation, count(*)
  FROM shopify.sync_log WHERE event = 'sync_operation' AND shop_id = :sid
 GROUP BY 1 ORDER BY 1;
