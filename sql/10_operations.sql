-- Operator views: shopify.worker_status and shopify.sync_progress.
-- (In this cluster the worker serves the database "postgres", where the
-- extension is not created: it runs, idle, waiting for it.)
SELECT count(DISTINCT worker_pid) AS workers, bool_and(worker_pid > 0) AS has_pid,
       bool_and(launcher_pid > 0) AS has_launcher,
       min(worker_state) AS worker_state,
       bool_and(worker_started_at <= now()) AS started_in_the_past
  FROM shopify.worker_status;
-- The raw slots: only the worker's own row while nothing runs.
SELECT count(*) AS slots, count(job_id) AS busy FROM shopify._worker_slots();

SELECT 'shpat_' || md5('regress-ops') AS tok \gset
SELECT shopify_connect_store('ops-one.myshopify.com', :'tok') AS s1 \gset
SELECT shopify_connect_store('ops-two.myshopify.com', :'tok') AS s2 \gset
SELECT id AS j1 FROM shopify_sync_products(:s1) \gset
SELECT id AS j2 FROM shopify_sync_orders(:s1) \gset
-- A store per row: jobs pending, none running, no rate-limit figures yet.
SELECT shop_domain, jobs_running, jobs_pending, running_job_ids, rate_limit_used,
       next_request_at, last_error
  FROM shopify.worker_status WHERE shop_id IN (:s1, :s2) ORDER BY shop_id;

-- A running job (as the worker would have it): percentage, rate, time left.
UPDATE shopify.sync_jobs SET status = 'running', started_at = now() - interval '100 seconds',
       attempts = 1, total_products = 1000, products_fetched = 250, variants_processed = 2000,
       progress_percentage = 25, pages_fetched = 1, api_calls = 3, heartbeat_at = now()
 WHERE id = :j1;
SELECT job_id = :j1 AS is_j1, shop_domain, resource, sync_type, status, job_state,
       progress_percentage, total, fetched, processed,
       processed_per_second BETWEEN 19 AND 20.1 AS about_20_per_s,
       estimated_time_left BETWEEN interval '290 s' AND interval '310 s' AS about_300_s_left
  FROM shopify.sync_progress;
SELECT jobs_running, jobs_pending, running_job_ids = ARRAY[:j1]::bigint[] AS running_ids
  FROM shopify.worker_status WHERE shop_id = :s1;

-- The last failure of a store is shown until its next sync.
UPDATE shopify.sync_jobs SET status = 'failed', finished_at = now(), error_class = 'http',
       error = 'http: GET /admin/api/2026-07/products.json: HTTP 500' WHERE id = :j1;
SELECT jobs_running, last_error, last_error_at IS NOT NULL AS has_time
  FROM shopify.worker_status WHERE shop_id = :s1;
SELECT count(*) AS running_now FROM shopify.sync_progress;

-- Row-level security applies: another role sees neither the stores nor the jobs.
CREATE ROLE regress_ops_eve;
SET ROLE regress_ops_eve;
SELECT count(*) AS rows_seen, count(shop_id) AS stores_seen, count(worker_pid) AS worker_seen
  FROM shopify.worker_status;
SELECT count(*) AS progress_rows FROM shopify.sync_progress;
RESET ROLE;
DROP ROLE regress_ops_eve;

-- Disconnected stores are not listed.
SELECT (shopify_disconnect(:s2))->'cleanup_results'->'store_deactivated' AS gone;
SELECT count(*) AS listed FROM shopify.worker_status WHERE shop_id = :s2;

-- Every table holding data is dumped by pg_dump (with the sequences behind its ids).
SELECT c.relname, c.relkind, e.extcondition
  FROM pg_extension x, unnest(x.extconfig) WITH ORDINALITY AS cfg(oid, n)
  JOIN pg_class c ON c.oid = cfg.oid
  LEFT JOIN LATERAL (SELECT x.extcondition[cfg.n] AS extcondition) e ON true
 WHERE x.extname = 'shopify_sync' ORDER BY c.relkind, c.relname;
