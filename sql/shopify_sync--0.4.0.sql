/* shopify_sync 0.4.0 — install script
 *
 * Data lives in the schema "shopify", which this script creates; the
 * functions live in the extension's own schema (@extschema@, public unless
 * CREATE EXTENSION ... SCHEMA says otherwise).
 *
 * Privilege model: every table is readable by PUBLIC under row-level security
 * (a role sees the rows of the stores it owns; superusers and the background
 * worker see all), and the encrypted token column is readable by nobody but
 * superusers.  Nothing is writable by ordinary roles: every change goes through
 * the functions below, which check that the calling role owns the store and
 * then act with the extension owner's rights.
 */

\echo Use "CREATE EXTENSION shopify_sync" to load this file. \quit

CREATE SCHEMA shopify;
COMMENT ON SCHEMA shopify IS
    'shopify_sync: connected Shopify stores, the product mirror, sync jobs, webhook events and the log';
GRANT USAGE ON SCHEMA shopify TO PUBLIC;

-------------------------------------------------------------------------------
-- stores
-------------------------------------------------------------------------------

CREATE TABLE shopify.stores (
    shop_id                 bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    shop_domain             text NOT NULL,
    shop_name               text,
    owner                   name NOT NULL DEFAULT current_user,
    is_active               boolean NOT NULL DEFAULT true,
    access_token_encrypted  bytea,
    token_key_id            text,
    token_status            text NOT NULL DEFAULT 'valid',
    api                     text,
    currency                text,
    plan_name               text,
    connected_at            timestamptz NOT NULL DEFAULT now(),
    disconnected_at         timestamptz,
    last_sync_at            timestamptz,
    last_sync_status        text,
    last_sync_job_id        bigint,
    last_error              text,
    created_at              timestamptz NOT NULL DEFAULT now(),
    updated_at              timestamptz NOT NULL DEFAULT now(),
    path_stats              jsonb NOT NULL DEFAULT '{}',
    resources               text[] NOT NULL DEFAULT '{products,orders}',
    CONSTRAINT stores_shop_domain_key UNIQUE (shop_domain),
    CONSTRAINT stores_shop_domain_check
        CHECK (shop_domain ~ '^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\.myshopify\.com$'),
    CONSTRAINT stores_token_status_check
        CHECK (token_status IN ('valid', 'invalid', 'none')),
    CONSTRAINT stores_api_check CHECK (api IN ('rest', 'graphql')),
    CONSTRAINT stores_active_has_token_check
        CHECK (NOT is_active OR access_token_encrypted IS NOT NULL),
    CONSTRAINT stores_last_sync_status_check
        CHECK (last_sync_status IN ('pending', 'running', 'completed', 'failed', 'cancelled'))
);

CREATE INDEX stores_owner_idx ON shopify.stores (owner);

COMMENT ON TABLE shopify.stores IS
    'Connected Shopify stores, one row per shop domain; rows are kept after a disconnect';
COMMENT ON COLUMN shopify.stores.shop_id IS 'Identifier used by every shopify_* function';
COMMENT ON COLUMN shopify.stores.shop_domain IS 'Normalised <name>.myshopify.com domain; the only host the worker sends requests to';
COMMENT ON COLUMN shopify.stores.owner IS 'Role that connected the store; only it (and superusers) can use the store';
COMMENT ON COLUMN shopify.stores.is_active IS 'False once the store is disconnected';
COMMENT ON COLUMN shopify.stores.access_token_encrypted IS
    'Admin API access token, AES-256-GCM encrypted with the key in shopify_sync.token_key_file (1 version byte, 12-byte nonce, ciphertext, 16-byte tag); NULL after a disconnect; superusers only';
COMMENT ON COLUMN shopify.stores.token_key_id IS 'Fingerprint of the key that encrypted the token (first 16 hex digits of its SHA-256)';
COMMENT ON COLUMN shopify.stores.token_status IS 'valid; invalid once Shopify answered 401 (reconnect with a new token); none after a disconnect';
COMMENT ON COLUMN shopify.stores.api IS 'Admin API used for this store''s syncs (rest or graphql); NULL follows shopify_sync.api';
COMMENT ON COLUMN shopify.stores.path_stats IS
    'What the worker learned of this store to choose between pages and a bulk operation: graphql_restore_rate and graphql_bucket (points), cost_per_product and cost_per_order (points a node costs on a page), request_s (a page''s round trip), products_per_s and orders_per_s (written), bulk_fixed_s, bulk_ms_per_object and objects_per_product/objects_per_order (bulk operations), bulk_operations';
COMMENT ON COLUMN shopify.stores.resources IS
    'What shopify_sync(shop_id) syncs when no resources are named (shopify_set_store_resources())';
COMMENT ON COLUMN shopify.stores.currency IS 'Shop currency, learned from shop.json during a sync';
COMMENT ON COLUMN shopify.stores.last_sync_status IS 'Status of the store''s most recent sync job';
COMMENT ON COLUMN shopify.stores.last_error IS 'Error of the most recent failed sync, if the last one failed';

-------------------------------------------------------------------------------
-- products: the mirror, one row per Shopify variant
-------------------------------------------------------------------------------

CREATE TABLE shopify.products (
    sku_id              bigint PRIMARY KEY,
    shop_id             bigint NOT NULL REFERENCES shopify.stores (shop_id) ON DELETE CASCADE,
    product_id          bigint NOT NULL,
    sku                 text,
    title               text,
    variant_title       text,
    vendor              text,
    product_type        text,
    handle              text,
    status              text,
    tags                text,
    price               numeric,
    compare_at_price    numeric,
    barcode             text,
    inventory_quantity  integer,
    inventory_item_id   bigint,
    position            integer,
    is_active           boolean NOT NULL DEFAULT true,
    shopify_updated_at  timestamptz,
    product_updated_at  timestamptz,
    first_synced_at     timestamptz NOT NULL DEFAULT now(),
    last_synced_at      timestamptz NOT NULL DEFAULT now(),
    deactivated_at      timestamptz,
    CONSTRAINT products_sku_id_check CHECK (sku_id > 0),
    CONSTRAINT products_product_id_check CHECK (product_id > 0),
    CONSTRAINT products_deactivated_check CHECK (is_active = (deactivated_at IS NULL))
);

CREATE INDEX products_shop_product_idx ON shopify.products (shop_id, product_id);
CREATE INDEX products_shop_sku_idx ON shopify.products (shop_id, sku) WHERE sku IS NOT NULL;

COMMENT ON TABLE shopify.products IS
    'Mirror of the catalog: one row per Shopify variant, with its product''s fields copied onto it';
COMMENT ON COLUMN shopify.products.sku_id IS 'Shopify variant id';
COMMENT ON COLUMN shopify.products.product_id IS 'Shopify product id';
COMMENT ON COLUMN shopify.products.sku IS 'Merchant SKU; may be NULL, empty or repeated (Shopify does not enforce uniqueness)';
COMMENT ON COLUMN shopify.products.title IS 'Product title';
COMMENT ON COLUMN shopify.products.variant_title IS 'Variant title (e.g. "Red / XL"; "Default Title" for single-variant products)';
COMMENT ON COLUMN shopify.products.status IS 'Product status: active, draft or archived';
COMMENT ON COLUMN shopify.products.price IS 'Exact price in the shop currency';
COMMENT ON COLUMN shopify.products.inventory_quantity IS 'Inventory across locations as Shopify reports it; left untouched by syncs run with sync_inventory = false';
COMMENT ON COLUMN shopify.products.is_active IS 'False when the store was disconnected or the variant no longer exists in Shopify';
COMMENT ON COLUMN shopify.products.shopify_updated_at IS 'Variant updated_at in Shopify';
COMMENT ON COLUMN shopify.products.product_updated_at IS 'Product updated_at in Shopify (orders webhook deliveries)';
COMMENT ON COLUMN shopify.products.last_synced_at IS 'When a sync or webhook last wrote this row (unchanged rows are not rewritten)';
COMMENT ON COLUMN shopify.products.deactivated_at IS 'When the row became inactive';

-------------------------------------------------------------------------------
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
    customer_id         bigint,
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
COMMENT ON COLUMN shopify.orders.customer_id IS 'The customer who placed the order (NULL: a guest checkout); join shopify.customers when the store syncs customers';
CREATE INDEX orders_customer_idx ON shopify.orders (shop_id, customer_id) WHERE customer_id IS NOT NULL;
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

-------------------------------------------------------------------------------
-- sync_jobs: the work queue of the background worker
-------------------------------------------------------------------------------

CREATE TABLE shopify.sync_jobs (
    id                  bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    shop_id             bigint NOT NULL REFERENCES shopify.stores (shop_id) ON DELETE CASCADE,
    resource            text NOT NULL DEFAULT 'products',
    sync_type           text NOT NULL,
    status              text NOT NULL DEFAULT 'pending',
    full_sync           boolean NOT NULL,
    sync_inventory      boolean NOT NULL DEFAULT true,
    api                 text,
    attempts            integer NOT NULL DEFAULT 0,
    total_products      integer,
    products_fetched    integer NOT NULL DEFAULT 0,
    variants_processed  integer NOT NULL DEFAULT 0,
    variants_created    integer NOT NULL DEFAULT 0,
    variants_updated    integer NOT NULL DEFAULT 0,
    variants_unchanged  integer NOT NULL DEFAULT 0,
    variants_failed     integer NOT NULL DEFAULT 0,
    variants_deactivated integer NOT NULL DEFAULT 0,
    progress_percentage numeric(5,2) NOT NULL DEFAULT 0,
    pages_fetched       integer NOT NULL DEFAULT 0,
    api_calls           integer NOT NULL DEFAULT 0,
    api_retries         integer NOT NULL DEFAULT 0,
    rate_limited        integer NOT NULL DEFAULT 0,
    cursor              text,
    updated_since       timestamptz,
    bulk_operation_id   text,
    bulk_objects_expected bigint,
    error               text,
    error_class         text,
    cancel_requested    boolean NOT NULL DEFAULT false,
    requested_by        name NOT NULL DEFAULT current_user,
    worker_pid          integer,
    created_at          timestamptz NOT NULL DEFAULT now(),
    run_after           timestamptz NOT NULL DEFAULT now(),
    started_at          timestamptz,
    heartbeat_at        timestamptz,
    lease_expires_at    timestamptz,
    finished_at         timestamptz,
    path_reason         text,
    path_estimate       jsonb,
    CONSTRAINT sync_jobs_resource_check CHECK (resource ~ '^[a-z][a-z0-9_]{0,62}$'),
    CONSTRAINT sync_jobs_sync_type_check CHECK (sync_type IN ('full_sync', 'incremental_sync')),
    CONSTRAINT sync_jobs_sync_type_full_check
        CHECK ((sync_type = 'full_sync') = full_sync),
    CONSTRAINT sync_jobs_status_check
        CHECK (status IN ('pending', 'running', 'completed', 'failed', 'cancelled')),
    CONSTRAINT sync_jobs_api_check CHECK (api IN ('rest', 'graphql', 'bulk')),
    CONSTRAINT sync_jobs_counters_check CHECK (
        attempts >= 0 AND total_products >= 0 AND products_fetched >= 0
        AND variants_processed >= 0 AND variants_created >= 0
        AND variants_updated >= 0 AND variants_unchanged >= 0
        AND variants_failed >= 0 AND variants_deactivated >= 0
        AND pages_fetched >= 0 AND api_calls >= 0 AND api_retries >= 0
        AND rate_limited >= 0),
    CONSTRAINT sync_jobs_progress_check
        CHECK (progress_percentage BETWEEN 0 AND 100),
    CONSTRAINT sync_jobs_finished_check
        CHECK ((status IN ('completed', 'failed', 'cancelled')) = (finished_at IS NOT NULL))
);

-- At most one pending or running sync per store and resource.
CREATE UNIQUE INDEX sync_jobs_one_active_idx
    ON shopify.sync_jobs (shop_id, resource) WHERE status IN ('pending', 'running');
CREATE INDEX sync_jobs_shop_created_idx ON shopify.sync_jobs (shop_id, created_at DESC, id DESC);
CREATE INDEX sync_jobs_queue_idx ON shopify.sync_jobs (run_after, id) WHERE status = 'pending';
CREATE INDEX sync_jobs_running_idx ON shopify.sync_jobs (lease_expires_at) WHERE status = 'running';
CREATE INDEX sync_jobs_finished_idx ON shopify.sync_jobs (finished_at) WHERE finished_at IS NOT NULL;

COMMENT ON TABLE shopify.sync_jobs IS
    'Sync jobs: enqueued by shopify_sync_products(), run by the background worker';
COMMENT ON COLUMN shopify.sync_jobs.resource IS
    'What the job mirrors: products, orders, or a declared resource (for orders and declared resources, the products_*/variants_* counters count orders, objects)';
COMMENT ON COLUMN shopify.sync_jobs.sync_type IS 'full_sync (whole catalog, deletes reflected) or incremental_sync (products updated since the last completed sync)';
COMMENT ON COLUMN shopify.sync_jobs.status IS 'pending, running, completed, failed or cancelled';
COMMENT ON COLUMN shopify.sync_jobs.api IS 'Admin API the job uses (rest, graphql, or bulk for a GraphQL bulk operation)';
COMMENT ON COLUMN shopify.sync_jobs.path_reason IS 'Why the job took its path (pages or a bulk operation): the estimates compared, or the setting that decided';
COMMENT ON COLUMN shopify.sync_jobs.path_estimate IS 'The expected seconds of each path when the job chose (pages_s, bulk_s) and what they were computed from';
COMMENT ON COLUMN shopify.sync_jobs.attempts IS 'Times the worker started (or resumed) the job';
COMMENT ON COLUMN shopify.sync_jobs.total_products IS 'Products Shopify reported before the listing started';
COMMENT ON COLUMN shopify.sync_jobs.variants_processed IS 'Variants received = created + updated + unchanged + failed';
COMMENT ON COLUMN shopify.sync_jobs.variants_failed IS 'Variants that could not be stored (invalid values, or an id owned by another store)';
COMMENT ON COLUMN shopify.sync_jobs.variants_deactivated IS 'Rows a full sync marked inactive because Shopify no longer returned them';
COMMENT ON COLUMN shopify.sync_jobs.cursor IS 'Checkpoint: the page cursor of the first page not yet written; a resumed job continues here';
COMMENT ON COLUMN shopify.sync_jobs.updated_since IS 'Lower bound of an incremental sync (updated_at_min)';
COMMENT ON COLUMN shopify.sync_jobs.bulk_operation_id IS 'The GraphQL bulk operation of a bulk sync (gid://shopify/BulkOperation/...)';
COMMENT ON COLUMN shopify.sync_jobs.bulk_objects_expected IS 'objectCount of the bulk operation: the lines its result must have';
COMMENT ON COLUMN shopify.sync_jobs.error_class IS 'Class of the error of a failed job: dns, connect, tls, timeout, http, auth, payload, internal, ...';
COMMENT ON COLUMN shopify.sync_jobs.cancel_requested IS 'Set by shopify_cancel_sync() on a running job; the worker stops at its next checkpoint';
COMMENT ON COLUMN shopify.sync_jobs.lease_expires_at IS 'A running job whose lease expired is recovered and resumed from its cursor';

-------------------------------------------------------------------------------
-- sync_seen: variants returned so far by each running full sync (internal)
-------------------------------------------------------------------------------

CREATE TABLE shopify.sync_seen (
    job_id  bigint NOT NULL REFERENCES shopify.sync_jobs (id) ON DELETE CASCADE,
    ids     bigint[] NOT NULL
);
CREATE INDEX sync_seen_job_idx ON shopify.sync_seen (job_id);
COMMENT ON TABLE shopify.sync_seen IS
    'Internal: the ids (variants; order lines of bulk order syncs) returned so far by each running full or bulk sync, one row per page written, for the final sweep of deleted ones; emptied when the job ends';

-------------------------------------------------------------------------------
-- bulk_products: product lines of a bulk result being downloaded (internal)
-------------------------------------------------------------------------------

CREATE UNLOGGED TABLE shopify.bulk_products (
    job_id              bigint NOT NULL,
    product_id          bigint NOT NULL,
    title               text,
    vendor              text,
    product_type        text,
    handle              text,
    status              text,
    tags                text,
    product_updated_at  timestamptz,
    PRIMARY KEY (job_id, product_id)
);
COMMENT ON TABLE shopify.bulk_products IS
    'Internal: product lines of a bulk operation result while it is downloaded, joined to the variant lines that follow; emptied when the job ends (unlogged: a crash restarts the download)';

-------------------------------------------------------------------------------
-- bulk_orders, bulk_pending: a bulk result being downloaded (internal)
-------------------------------------------------------------------------------

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

-------------------------------------------------------------------------------
-- webhook_events
-------------------------------------------------------------------------------

CREATE TABLE shopify.webhook_events (
    id              bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    shop_id         bigint NOT NULL REFERENCES shopify.stores (shop_id) ON DELETE CASCADE,
    topic           text NOT NULL,
    webhook_id      text,
    payload         jsonb NOT NULL,
    received_at     timestamptz NOT NULL DEFAULT now(),
    triggered_at    timestamptz,
    processed       boolean NOT NULL DEFAULT false,
    processed_at    timestamptz,
    attempts        integer NOT NULL DEFAULT 0,
    next_attempt_at timestamptz,
    error           text,
    note            text,
    CONSTRAINT webhook_events_webhook_id_key UNIQUE (webhook_id),
    CONSTRAINT webhook_events_attempts_check CHECK (attempts >= 0),
    CONSTRAINT webhook_events_processed_check CHECK (processed = (processed_at IS NOT NULL))
);

CREATE INDEX webhook_events_pending_idx ON shopify.webhook_events (id) WHERE NOT processed;
CREATE INDEX webhook_events_shop_idx ON shopify.webhook_events (shop_id, received_at);

COMMENT ON TABLE shopify.webhook_events IS
    'Verified webhook deliveries, processed by the worker in order of arrival';
COMMENT ON COLUMN shopify.webhook_events.webhook_id IS 'X-Shopify-Webhook-Id; a repeated delivery is recognised by it and not stored twice';
COMMENT ON COLUMN shopify.webhook_events.processed IS 'True once the worker applied (or deliberately skipped) the event';

-------------------------------------------------------------------------------
-- sync_log
-------------------------------------------------------------------------------

CREATE TABLE shopify.sync_log (
    id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    logged_at   timestamptz NOT NULL DEFAULT clock_timestamp(),
    level       text NOT NULL,
    event       text NOT NULL,
    shop_id     bigint,
    sync_job_id bigint,
    message     text,
    details     jsonb NOT NULL DEFAULT '{}',
    CONSTRAINT sync_log_level_check CHECK (level IN ('debug', 'info', 'warning', 'error')),
    CONSTRAINT sync_log_event_check CHECK (event IN (
        'sync_operation', 'shopify_api_call', 'product_sync_progress',
        'store_operation', 'webhook_processing', 'security'))
);

CREATE INDEX sync_log_logged_at_idx ON shopify.sync_log (logged_at);
CREATE INDEX sync_log_shop_idx ON shopify.sync_log (shop_id, logged_at);
CREATE INDEX sync_log_job_idx ON shopify.sync_log (sync_job_id) WHERE sync_job_id IS NOT NULL;

COMMENT ON TABLE shopify.sync_log IS
    'Operations log; every row is also written to the server log. Rows older than shopify_sync.log_retention are deleted by the worker';
COMMENT ON COLUMN shopify.sync_log.event IS
    'sync_operation, shopify_api_call, product_sync_progress, store_operation, webhook_processing or security';
COMMENT ON COLUMN shopify.sync_log.details IS 'Event fields: durations, counts, percentages, rate-limit use; never a secret';

-------------------------------------------------------------------------------
-- Privileges and row-level security
-------------------------------------------------------------------------------

GRANT SELECT (shop_id, shop_domain, shop_name, owner, is_active, token_key_id,
              token_status, api, currency, plan_name, connected_at,
              disconnected_at, last_sync_at, last_sync_status, last_sync_job_id,
              last_error, created_at, updated_at, path_stats, resources)
    ON shopify.stores TO PUBLIC;
GRANT SELECT ON shopify.products, shopify.orders, shopify.order_lines, shopify.sync_jobs,
                shopify.webhook_events, shopify.sync_log TO PUBLIC;

ALTER TABLE shopify.stores ENABLE ROW LEVEL SECURITY;
ALTER TABLE shopify.products ENABLE ROW LEVEL SECURITY;
ALTER TABLE shopify.orders ENABLE ROW LEVEL SECURITY;
ALTER TABLE shopify.order_lines ENABLE ROW LEVEL SECURITY;
ALTER TABLE shopify.sync_jobs ENABLE ROW LEVEL SECURITY;
ALTER TABLE shopify.sync_seen ENABLE ROW LEVEL SECURITY;
ALTER TABLE shopify.bulk_products ENABLE ROW LEVEL SECURITY;
ALTER TABLE shopify.bulk_orders ENABLE ROW LEVEL SECURITY;
ALTER TABLE shopify.bulk_pending ENABLE ROW LEVEL SECURITY;
ALTER TABLE shopify.webhook_events ENABLE ROW LEVEL SECURITY;
ALTER TABLE shopify.sync_log ENABLE ROW LEVEL SECURITY;

CREATE POLICY stores_owner ON shopify.stores
    USING (owner = current_user) WITH CHECK (owner = current_user);
CREATE POLICY products_owner ON shopify.products
    USING (shop_id IN (SELECT s.shop_id FROM shopify.stores s WHERE s.owner = current_user));
CREATE POLICY orders_owner ON shopify.orders
    USING (shop_id IN (SELECT s.shop_id FROM shopify.stores s WHERE s.owner = current_user));
CREATE POLICY order_lines_owner ON shopify.order_lines
    USING (shop_id IN (SELECT s.shop_id FROM shopify.stores s WHERE s.owner = current_user));
CREATE POLICY sync_jobs_owner ON shopify.sync_jobs
    USING (shop_id IN (SELECT s.shop_id FROM shopify.stores s WHERE s.owner = current_user));
CREATE POLICY webhook_events_owner ON shopify.webhook_events
    USING (shop_id IN (SELECT s.shop_id FROM shopify.stores s WHERE s.owner = current_user));
CREATE POLICY sync_log_owner ON shopify.sync_log
    USING (shop_id IN (SELECT s.shop_id FROM shopify.stores s WHERE s.owner = current_user));

COMMENT ON POLICY stores_owner ON shopify.stores IS 'A role sees only the stores it connected';
COMMENT ON POLICY products_owner ON shopify.products IS 'A role sees only the mirror of its own stores';
COMMENT ON POLICY sync_jobs_owner ON shopify.sync_jobs IS 'A role sees only the jobs of its own stores';
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
COMMENT ON POLICY webhook_events_owner ON shopify.webhook_events IS 'A role sees only the events of its own stores';
COMMENT ON POLICY sync_log_owner ON shopify.sync_log IS 'A role sees only the log rows of its own stores';

-------------------------------------------------------------------------------
-- Internal functions (schema shopify, not for direct use)
-------------------------------------------------------------------------------

CREATE FUNCTION shopify._variants(doc text, shape text,
    OUT ok boolean, OUT error text, OUT sku_id bigint, OUT product_id bigint,
    OUT sku text, OUT title text, OUT variant_title text, OUT vendor text,
    OUT product_type text, OUT handle text, OUT status text, OUT tags text,
    OUT price numeric, OUT compare_at_price numeric, OUT barcode text,
    OUT inventory_quantity integer, OUT inventory_item_id bigint,
    OUT "position" integer, OUT variant_updated_at timestamptz,
    OUT product_updated_at timestamptz, OUT kind text)
RETURNS SETOF record
AS 'MODULE_PATHNAME', 'shopify_page_variants'
LANGUAGE C STABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION shopify._variants(text, text) IS
    'Internal: a Shopify payload (shape rest_products, rest_product, graphql_products, graphql_product or bulk_jsonl) as typed rows; invalid variants come out with ok = false and the reason';
REVOKE ALL ON FUNCTION shopify._variants(text, text) FROM PUBLIC;

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

CREATE FUNCTION shopify._graphql_documents(
    OUT name text, OUT api_version text, OUT query text, OUT variables jsonb,
    OUT bulk boolean, OUT cost float8)
RETURNS SETOF record
AS 'MODULE_PATHNAME', 'shopify_graphql_documents'
LANGUAGE C STABLE STRICT;
COMMENT ON FUNCTION shopify._graphql_documents() IS
    'Internal: every GraphQL document the worker can send under the current settings (api_version, page sizes), with example variables, whether it is the inner query of a bulk operation, and its requested cost by Shopify''s rules; the test suite checks each against Shopify''s published schema';
REVOKE ALL ON FUNCTION shopify._graphql_documents() FROM PUBLIC;

-- Orders payloads to rows: kind 'order' (one per order) and 'line' (one per
-- line item).  REST pages {"orders": [...]}, REST single orders (webhooks,
-- {"order": ...} or the order itself), GraphQL pages {"data": {"orders":
-- {"nodes"|"edges"}}}, single orders {"data": {"order": ...}} and bulk
-- results (bulk_orders).  A value of the wrong shape makes its order (or
-- line) ok = false, never an error.  The worker reads the same rows from
-- the payload's text (order_rows.c); this is that reader for SQL.
CREATE FUNCTION shopify._orders(doc jsonb, shape text,
    OUT kind text, OUT ok boolean, OUT error text, OUT order_id bigint, OUT name text,
    OUT created_at timestamptz, OUT processed_at timestamptz, OUT updated_at timestamptz,
    OUT cancelled_at timestamptz, OUT financial_status text, OUT fulfillment_status text,
    OUT currency text, OUT total_price numeric, OUT subtotal_price numeric,
    OUT total_tax numeric, OUT total_discounts numeric, OUT total_refunded numeric,
    OUT line_id bigint, OUT sku_id bigint, OUT product_id bigint, OUT quantity integer,
    OUT price numeric, OUT lines_complete boolean, OUT customer_id bigint)
RETURNS SETOF record
AS 'MODULE_PATHNAME', 'shopify_order_rows'
LANGUAGE C STABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION shopify._orders(jsonb, text) IS
    'Internal: an orders payload (shape rest_orders, rest_order, graphql_orders, graphql_order or bulk_orders) as order and line rows; invalid ones come out with ok = false and the reason; lines_complete: the payload carries all of the order''s lines';
REVOKE ALL ON FUNCTION shopify._orders(jsonb, text) FROM PUBLIC;

-------------------------------------------------------------------------------
-- Functions
-------------------------------------------------------------------------------

CREATE FUNCTION shopify_connect_store(shop_domain text, access_token text,
                                      shop_name text DEFAULT NULL)
RETURNS bigint
AS 'MODULE_PATHNAME', 'shopify_connect_store'
LANGUAGE C VOLATILE PARALLEL UNSAFE
SET search_path = pg_catalog, pg_temp;
COMMENT ON FUNCTION shopify_connect_store(text, text, text) IS
    'Connect a store (or reconnect a disconnected one): validates <name>.myshopify.com, stores the token encrypted, returns shop_id';

CREATE FUNCTION shopify_stores()
RETURNS TABLE (shop_id bigint, shop_domain text, shop_name text, is_active boolean,
               connected_at timestamptz, last_sync_at timestamptz,
               last_sync_status text, variant_count bigint,
               active_variant_count bigint, owner name, token_status text,
               api text)
AS 'MODULE_PATHNAME', 'shopify_stores'
LANGUAGE C STABLE PARALLEL UNSAFE
SET search_path = pg_catalog, pg_temp;
COMMENT ON FUNCTION shopify_stores() IS
    'The active stores the calling role owns (all of them for a superuser); never a token';

CREATE FUNCTION shopify_store(shop_id bigint)
RETURNS jsonb
AS 'MODULE_PATHNAME', 'shopify_store'
LANGUAGE C STABLE PARALLEL UNSAFE
SET search_path = pg_catalog, pg_temp;
COMMENT ON FUNCTION shopify_store(bigint) IS
    'One store''s details as jsonb (has_access_token instead of the token)';

CREATE FUNCTION shopify_store_stats(shop_id bigint)
RETURNS jsonb
AS 'MODULE_PATHNAME', 'shopify_store_stats'
LANGUAGE C STABLE PARALLEL UNSAFE
SET search_path = pg_catalog, pg_temp;
COMMENT ON FUNCTION shopify_store_stats(bigint) IS
    'Counts from the mirror: products, variants, inventory, orders, revenue, last sync';

CREATE FUNCTION shopify_disconnect(shop_id bigint)
RETURNS jsonb
AS 'MODULE_PATHNAME', 'shopify_disconnect'
LANGUAGE C VOLATILE PARALLEL UNSAFE
SET search_path = pg_catalog, pg_temp;
COMMENT ON FUNCTION shopify_disconnect(bigint) IS
    'Atomically cancel the store''s jobs, deactivate its mirror rows and pending events, erase its token and deactivate it';

CREATE FUNCTION shopify_sync_products(shop_id bigint, full_sync boolean DEFAULT true,
                                      sync_inventory boolean DEFAULT true)
RETURNS shopify.sync_jobs
AS 'MODULE_PATHNAME', 'shopify_sync_products'
LANGUAGE C VOLATILE PARALLEL UNSAFE
SET search_path = pg_catalog, pg_temp;
COMMENT ON FUNCTION shopify_sync_products(bigint, boolean, boolean) IS
    'Enqueue a product sync (or return the store''s pending/running one) and wake the worker at commit';

CREATE FUNCTION shopify_sync_orders(shop_id bigint, full_sync boolean DEFAULT true)
RETURNS shopify.sync_jobs
AS 'MODULE_PATHNAME', 'shopify_sync_orders'
LANGUAGE C VOLATILE PARALLEL UNSAFE
SET search_path = pg_catalog, pg_temp;
COMMENT ON FUNCTION shopify_sync_orders(bigint, boolean) IS
    'Enqueue an order sync (or return the store''s pending/running one) and wake the worker at commit';

CREATE FUNCTION shopify_sync_jobs(shop_id bigint, job_limit integer DEFAULT 10)
RETURNS SETOF shopify.sync_jobs
AS 'MODULE_PATHNAME', 'shopify_sync_jobs'
LANGUAGE C STABLE PARALLEL UNSAFE
SET search_path = pg_catalog, pg_temp;
COMMENT ON FUNCTION shopify_sync_jobs(bigint, integer) IS
    'The store''s most recent sync jobs, newest first';

CREATE FUNCTION shopify_cancel_sync(job_id bigint)
RETURNS shopify.sync_jobs
AS 'MODULE_PATHNAME', 'shopify_cancel_sync'
LANGUAGE C VOLATILE PARALLEL UNSAFE
SET search_path = pg_catalog, pg_temp;
COMMENT ON FUNCTION shopify_cancel_sync(bigint) IS
    'Cancel a sync job: a pending one at once, a running one at its next checkpoint';

CREATE FUNCTION shopify_wait_for_sync(job_id bigint, timeout interval DEFAULT '10 minutes')
RETURNS shopify.sync_jobs
AS 'MODULE_PATHNAME', 'shopify_wait_for_sync'
LANGUAGE C VOLATILE PARALLEL UNSAFE
SET search_path = pg_catalog, pg_temp;
COMMENT ON FUNCTION shopify_wait_for_sync(bigint, interval) IS
    'Wait (interruptibly) until the job is completed, failed or cancelled, or the timeout passes; returns the job row';

CREATE FUNCTION shopify_set_store_api(shop_id bigint, api text)
RETURNS text
AS 'MODULE_PATHNAME', 'shopify_set_store_api'
LANGUAGE C VOLATILE PARALLEL UNSAFE
SET search_path = pg_catalog, pg_temp;
COMMENT ON FUNCTION shopify_set_store_api(bigint, text) IS
    'Choose the Admin API of a store''s syncs: rest or graphql, or NULL to follow shopify_sync.api; returns the API now in effect';

CREATE FUNCTION shopify_receive_webhook(topic text, shop_domain text, hmac_sha256 text,
                                        body text, webhook_id text DEFAULT NULL,
                                        triggered_at timestamptz DEFAULT NULL)
RETURNS bigint
AS 'MODULE_PATHNAME', 'shopify_receive_webhook'
LANGUAGE C VOLATILE PARALLEL UNSAFE
SET search_path = pg_catalog, pg_temp;
COMMENT ON FUNCTION shopify_receive_webhook(text, text, text, text, text, timestamptz) IS
    'Verify a webhook delivery (HMAC-SHA256 of the raw body with shopify_sync.webhook_secret), store it once per webhook_id, return the event id; the worker applies it';

CREATE FUNCTION shopify_verify_webhook(body text, hmac_sha256 text)
RETURNS boolean
AS 'MODULE_PATHNAME', 'shopify_verify_webhook'
LANGUAGE C STABLE PARALLEL SAFE
SET search_path = pg_catalog, pg_temp;
COMMENT ON FUNCTION shopify_verify_webhook(text, text) IS
    'Does hmac_sha256 sign body with the configured webhook secret (or the previous one)? Stores nothing';

CREATE FUNCTION shopify_cleanup(batch_size integer DEFAULT 10000)
RETURNS jsonb
AS 'MODULE_PATHNAME', 'shopify_cleanup'
LANGUAGE C VOLATILE PARALLEL UNSAFE
SET search_path = pg_catalog, pg_temp;
COMMENT ON FUNCTION shopify_cleanup(integer) IS
    'Delete log rows older than shopify_sync.log_retention, and finished jobs and processed webhook events older than shopify_sync.job_retention, in batches; superusers only (the worker runs it hourly)';

REVOKE ALL ON FUNCTION shopify_cleanup(integer) FROM PUBLIC;

GRANT EXECUTE ON FUNCTION
    shopify_connect_store(text, text, text),
    shopify_stores(),
    shopify_store(bigint),
    shopify_store_stats(bigint),
    shopify_disconnect(bigint),
    shopify_sync_products(bigint, boolean, boolean),
    shopify_sync_orders(bigint, boolean),
    shopify_sync_jobs(bigint, integer),
    shopify_cancel_sync(bigint),
    shopify_wait_for_sync(bigint, interval),
    shopify_set_store_api(bigint, text),
    shopify_receive_webhook(text, text, text, text, text, timestamptz),
    shopify_verify_webhook(text, text)
TO PUBLIC;

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
       j.heartbeat_at, j.attempts, j.path_reason
  FROM shopify.sync_jobs j
  JOIN shopify.stores s ON s.shop_id = j.shop_id
  LEFT JOIN (SELECT job_id, job_state FROM shopify._worker_slots() WHERE job_id IS NOT NULL) w
         ON w.job_id = j.id
 WHERE j.status = 'running';
COMMENT ON VIEW shopify.sync_progress IS
    'Running syncs: percent done, items per second, estimated time left (from the percentage and the time so far), why the job took its path; total/fetched count products, or orders for order syncs';
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

-------------------------------------------------------------------------------
-- Resources: declared ones, their objects, and the functions of resources
-------------------------------------------------------------------------------

CREATE TABLE shopify.resource_definitions (
    name            text PRIMARY KEY,
    query           text NOT NULL,
    connection      text NOT NULL,
    description     text,
    page_size       integer NOT NULL,
    page_cost       numeric NOT NULL,
    incremental     boolean NOT NULL DEFAULT false,
    defined_by      name NOT NULL DEFAULT current_user,
    defined_at      timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT resource_definitions_name_check
        CHECK (name ~ '^[a-z][a-z0-9_]{0,62}$' AND name NOT IN ('products', 'orders')),
    CONSTRAINT resource_definitions_page_check
        CHECK (page_size BETWEEN 1 AND 250 AND page_cost <= 1000)
);
COMMENT ON TABLE shopify.resource_definitions IS
    'Resources declared with shopify_define_resource(): a GraphQL Admin API connection query each, synced into shopify.objects';
COMMENT ON COLUMN shopify.resource_definitions.query IS 'The connection query as declared (its root connection, the selection of a node)';
COMMENT ON COLUMN shopify.resource_definitions.connection IS 'The root connection field (e.g. draftOrders)';
COMMENT ON COLUMN shopify.resource_definitions.page_size IS 'Nodes per page (the first: the extension sends)';
COMMENT ON COLUMN shopify.resource_definitions.page_cost IS 'Requested cost of one page by Shopify''s rules (at most 1,000)';
COMMENT ON COLUMN shopify.resource_definitions.incremental IS 'Incremental syncs ask for nodes updated since the last sync (query: "updated_at:>..."); false: every sync is full';

CREATE TABLE shopify.objects (
    shop_id         bigint NOT NULL REFERENCES shopify.stores (shop_id) ON DELETE CASCADE,
    resource        text NOT NULL REFERENCES shopify.resource_definitions (name) ON DELETE CASCADE,
    id              text NOT NULL,
    parent_id       text,
    type            text,
    data            jsonb NOT NULL,
    updated_at      timestamptz,
    is_active       boolean NOT NULL DEFAULT true,
    first_synced_at timestamptz NOT NULL DEFAULT now(),
    last_synced_at  timestamptz NOT NULL DEFAULT now(),
    deactivated_at  timestamptz,
    PRIMARY KEY (shop_id, resource, id)
);
CREATE INDEX objects_data_idx ON shopify.objects USING gin (data jsonb_path_ops);
CREATE INDEX objects_parent_idx ON shopify.objects (shop_id, resource, parent_id)
    WHERE parent_id IS NOT NULL;
COMMENT ON TABLE shopify.objects IS
    'Objects of declared resources (shopify_define_resource()): one row per node, and per node of a connection nested in it';
COMMENT ON COLUMN shopify.objects.id IS 'The object''s GraphQL id (gid://shopify/<Type>/<n>)';
COMMENT ON COLUMN shopify.objects.parent_id IS 'For a node of a nested connection: the id of the node it belongs to';
COMMENT ON COLUMN shopify.objects.type IS 'The node''s GraphQL type (__typename: DraftOrder, DraftOrderLineItem, ...)';
COMMENT ON COLUMN shopify.objects.data IS 'The node as Shopify returned it (with __typename), without its nested connections: their nodes are rows of their own';
COMMENT ON COLUMN shopify.objects.updated_at IS 'The node''s updatedAt, when the query selects it';
COMMENT ON COLUMN shopify.objects.is_active IS 'false: a full sync no longer found it (deleted in Shopify)';

CREATE INDEX objects_type_idx ON shopify.objects (shop_id, resource, type);

-- The ids a full sync of a declared resource was given, one row of ids per
-- page (the sweep's anti-join), as shopify.sync_seen is for variants.
CREATE TABLE shopify.sync_seen_objects (
    job_id  bigint NOT NULL REFERENCES shopify.sync_jobs (id) ON DELETE CASCADE,
    ids     text[] NOT NULL
);
CREATE INDEX sync_seen_objects_job_idx ON shopify.sync_seen_objects (job_id);
COMMENT ON TABLE shopify.sync_seen_objects IS
    'Internal: the object ids each running full sync of a declared resource has seen (for its final sweep)';
ALTER TABLE shopify.sync_seen_objects ENABLE ROW LEVEL SECURITY;

-- The rows of a page of a declared connection: each node, and each node of
-- a connection nested in it (parent_id: the node's id), without its nested
-- connections.
CREATE FUNCTION shopify._object_rows(page jsonb, connection text,
    OUT id text, OUT parent_id text, OUT type text, OUT data jsonb, OUT updated_at timestamptz)
RETURNS SETOF record
LANGUAGE sql IMMUTABLE PARALLEL SAFE
AS $$
WITH RECURSIVE n(id, parent_id, node, depth) AS (
    SELECT e->>'id', NULL::text, e, 1
      FROM jsonb_array_elements(CASE jsonb_typeof(page->'data'->connection->'nodes')
                                WHEN 'array' THEN page->'data'->connection->'nodes'
                                ELSE '[]' END) e
     WHERE jsonb_typeof(e) = 'object'
    UNION ALL
    SELECT c->>'id', n.id, c, n.depth + 1
      FROM n
      CROSS JOIN LATERAL jsonb_each(n.node) kv
      CROSS JOIN LATERAL jsonb_array_elements(
          CASE WHEN jsonb_typeof(kv.value->'nodes') = 'array' THEN kv.value->'nodes'
               ELSE jsonb_path_query_array(kv.value, 'lax $.edges[*].node') END) c
     WHERE jsonb_typeof(kv.value) = 'object' AND (kv.value ? 'nodes' OR kv.value ? 'edges')
       AND jsonb_typeof(c) = 'object' AND n.depth < 8
)
SELECT n.id, n.parent_id, n.node->>'__typename',
       coalesce((SELECT jsonb_object_agg(k, v) FROM jsonb_each(n.node) AS t(k, v)
                  WHERE NOT (jsonb_typeof(v) = 'object' AND (v ? 'nodes' OR v ? 'edges'))), '{}'),
       shopify._to_timestamptz(n.node->>'updatedAt')
  FROM n
$$;
COMMENT ON FUNCTION shopify._object_rows(jsonb, text) IS
    'Internal: the rows of shopify.objects in a page of a declared connection';
REVOKE ALL ON FUNCTION shopify._object_rows(jsonb, text) FROM PUBLIC;

-- The rows of a batch of a bulk result's lines (a declared resource): each
-- line a node, a nested connection's node naming its parent in __parentId.
CREATE FUNCTION shopify._object_lines(lines text, connection text,
    OUT id text, OUT parent_id text, OUT type text, OUT data jsonb, OUT updated_at timestamptz)
RETURNS SETOF record
LANGUAGE sql IMMUTABLE PARALLEL SAFE
AS $$
SELECT l->>'id', l->>'__parentId', l->>'__typename', l - '__parentId',
       shopify._to_timestamptz(l->>'updatedAt')
  FROM (SELECT t::jsonb AS l FROM string_to_table(lines, E'\n') t WHERE t !~ '^\s*$') x
 WHERE jsonb_typeof(l) = 'object'
$$;
COMMENT ON FUNCTION shopify._object_lines(text, text) IS
    'Internal: the rows of shopify.objects in a batch of a declared resource''s bulk result';
REVOKE ALL ON FUNCTION shopify._object_lines(text, text) FROM PUBLIC;

GRANT SELECT ON shopify.objects, shopify.resource_definitions TO PUBLIC;
ALTER TABLE shopify.objects ENABLE ROW LEVEL SECURITY;
CREATE POLICY objects_owner ON shopify.objects
    USING (shop_id IN (SELECT s.shop_id FROM shopify.stores s WHERE s.owner = current_user));
COMMENT ON POLICY objects_owner ON shopify.objects IS 'A role sees only the objects of its own stores';

CREATE FUNCTION shopify_sync(shop_id bigint, resources text[] DEFAULT NULL, full_sync boolean DEFAULT true)
RETURNS SETOF shopify.sync_jobs
AS 'MODULE_PATHNAME', 'shopify_sync'
LANGUAGE C VOLATILE;
COMMENT ON FUNCTION shopify_sync(bigint, text[], boolean) IS
    'Enqueues one sync job per resource (NULL: the store''s configured resources); a resource already pending or running returns its job';

CREATE FUNCTION shopify_set_store_resources(shop_id bigint, resources text[])
RETURNS text[]
AS 'MODULE_PATHNAME', 'shopify_set_store_resources'
LANGUAGE C VOLATILE;
COMMENT ON FUNCTION shopify_set_store_resources(bigint, text[]) IS
    'Chooses what shopify_sync(shop_id) syncs for the store; returns the new list';

CREATE FUNCTION shopify_resources(
    OUT name text, OUT kind text, OUT description text, OUT tables text[], OUT webhook_topics text[])
RETURNS SETOF record
AS 'MODULE_PATHNAME', 'shopify_resources'
LANGUAGE C STABLE;
COMMENT ON FUNCTION shopify_resources() IS
    'The resources that exist: built-in and declared, with the tables they fill and the webhook topics that carry them';

CREATE FUNCTION shopify_define_resource(name text, query text, description text DEFAULT NULL,
                                        incremental boolean DEFAULT NULL)
RETURNS text
AS 'MODULE_PATHNAME', 'shopify_define_resource'
LANGUAGE C VOLATILE;
COMMENT ON FUNCTION shopify_define_resource(text, text, text, boolean) IS
    'Declares a resource from a GraphQL Admin API connection query (checked: a connection at the root, id on each node, a page within 1,000 points); synced into shopify.objects';
REVOKE ALL ON FUNCTION shopify_define_resource(text, text, text, boolean) FROM PUBLIC;

CREATE FUNCTION shopify_drop_resource(name text)
RETURNS boolean
AS 'MODULE_PATHNAME', 'shopify_drop_resource'
LANGUAGE C VOLATILE;
COMMENT ON FUNCTION shopify_drop_resource(text) IS
    'Removes a declared resource, its objects, and its name from every store''s resources; false if there was none';
REVOKE ALL ON FUNCTION shopify_drop_resource(text) FROM PUBLIC;

GRANT EXECUTE ON FUNCTION
    shopify_sync(bigint, text[], boolean),
    shopify_set_store_resources(bigint, text[]),
    shopify_resources()
TO PUBLIC;

-- declarations and their objects are user data: pg_dump keeps them
SELECT pg_catalog.pg_extension_config_dump('shopify.resource_definitions', '');
SELECT pg_catalog.pg_extension_config_dump('shopify.objects', '');

-------------------------------------------------------------------------------
-- The rest of the store (built-in resources declared in mirror/resource_store.c):
-- locations, inventory levels, collections and their products, metafields,
-- customers.  One row per Shopify object, keyed by (shop_id, id); is_active
-- false when the store is disconnected, or (locations, collections,
-- customers) when the object is gone from Shopify — inventory levels,
-- collection memberships and metafields gone from Shopify are deleted.
-------------------------------------------------------------------------------

CREATE TABLE shopify.locations (
    shop_id                bigint NOT NULL REFERENCES shopify.stores (shop_id) ON DELETE CASCADE,
    location_id            bigint NOT NULL CHECK (location_id > 0),
    name                   text,
    active                 boolean,
    fulfills_online_orders boolean,
    address1               text,
    address2               text,
    city                   text,
    province               text,
    province_code          text,
    country                text,
    country_code           text,
    zip                    text,
    created_at             timestamptz,
    updated_at             timestamptz,
    is_active              boolean NOT NULL DEFAULT true,
    first_synced_at        timestamptz NOT NULL DEFAULT now(),
    last_synced_at         timestamptz NOT NULL DEFAULT now(),
    deactivated_at         timestamptz,
    PRIMARY KEY (shop_id, location_id),
    CONSTRAINT locations_deactivated_check CHECK (is_active = (deactivated_at IS NULL))
);
COMMENT ON TABLE shopify.locations IS
    'Mirror of the store''s locations (resource locations): warehouses, shops, fulfilment services, with their business address';
COMMENT ON COLUMN shopify.locations.active IS 'Shopify''s isActive: the location can stock inventory and fulfil orders';
COMMENT ON COLUMN shopify.locations.fulfills_online_orders IS 'Shopify''s fulfillsOnlineOrders';
COMMENT ON COLUMN shopify.locations.is_active IS 'false: the location is gone from Shopify (a full sync, a locations/delete webhook) or the store was disconnected';

CREATE TABLE shopify.inventory_levels (
    shop_id            bigint NOT NULL REFERENCES shopify.stores (shop_id) ON DELETE CASCADE,
    inventory_item_id  bigint NOT NULL CHECK (inventory_item_id > 0),
    location_id        bigint NOT NULL CHECK (location_id > 0),
    available          integer,
    on_hand            integer,
    committed          integer,
    incoming           integer,
    reserved           integer,
    updated_at         timestamptz,
    is_active          boolean NOT NULL DEFAULT true,
    first_synced_at    timestamptz NOT NULL DEFAULT now(),
    last_synced_at     timestamptz NOT NULL DEFAULT now(),
    deactivated_at     timestamptz,
    PRIMARY KEY (shop_id, inventory_item_id, location_id),
    CONSTRAINT inventory_levels_deactivated_check CHECK (is_active = (deactivated_at IS NULL))
);
CREATE INDEX inventory_levels_location_idx ON shopify.inventory_levels (shop_id, location_id);
COMMENT ON TABLE shopify.inventory_levels IS
    'Stock of each inventory item at each location (resource inventory_levels); join shopify.products on (shop_id, inventory_item_id)';
COMMENT ON COLUMN shopify.inventory_levels.available IS 'Units that can be sold (Shopify''s "available" quantity)';
COMMENT ON COLUMN shopify.inventory_levels.on_hand IS 'Units physically at the location ("on_hand")';
COMMENT ON COLUMN shopify.inventory_levels.committed IS 'Units in unfulfilled orders ("committed")';
COMMENT ON COLUMN shopify.inventory_levels.incoming IS 'Units on their way ("incoming")';
COMMENT ON COLUMN shopify.inventory_levels.reserved IS 'Units held back ("reserved")';

CREATE TABLE shopify.collections (
    shop_id          bigint NOT NULL REFERENCES shopify.stores (shop_id) ON DELETE CASCADE,
    collection_id    bigint NOT NULL CHECK (collection_id > 0),
    title            text,
    handle           text,
    kind             text CHECK (kind IN ('custom', 'smart')),
    sort_order       text,
    rules            jsonb,
    updated_at       timestamptz,
    is_active        boolean NOT NULL DEFAULT true,
    first_synced_at  timestamptz NOT NULL DEFAULT now(),
    last_synced_at   timestamptz NOT NULL DEFAULT now(),
    deactivated_at   timestamptz,
    PRIMARY KEY (shop_id, collection_id),
    CONSTRAINT collections_deactivated_check CHECK (is_active = (deactivated_at IS NULL))
);
COMMENT ON TABLE shopify.collections IS 'Mirror of the store''s collections (resource collections)';
COMMENT ON COLUMN shopify.collections.kind IS 'custom (products chosen by hand) or smart (products chosen by rules)';
COMMENT ON COLUMN shopify.collections.sort_order IS 'How the collection orders its products: manual, best_selling, alpha_asc, ...';
COMMENT ON COLUMN shopify.collections.rules IS 'A smart collection''s rules as Shopify gives them: {"appliedDisjunctively": ..., "rules": [{"column", "relation", "condition"}]}';

CREATE TABLE shopify.collection_products (
    shop_id          bigint NOT NULL REFERENCES shopify.stores (shop_id) ON DELETE CASCADE,
    collection_id    bigint NOT NULL CHECK (collection_id > 0),
    product_id       bigint NOT NULL CHECK (product_id > 0),
    position         integer,
    is_active        boolean NOT NULL DEFAULT true,
    first_synced_at  timestamptz NOT NULL DEFAULT now(),
    last_synced_at   timestamptz NOT NULL DEFAULT now(),
    deactivated_at   timestamptz,
    PRIMARY KEY (shop_id, collection_id, product_id),
    CONSTRAINT collection_products_deactivated_check CHECK (is_active = (deactivated_at IS NULL))
);
CREATE INDEX collection_products_product_idx ON shopify.collection_products (shop_id, product_id);
COMMENT ON TABLE shopify.collection_products IS
    'Which products each collection holds, and where (resource collections); a product taken out of a collection leaves this table';
COMMENT ON COLUMN shopify.collection_products.position IS 'The product''s place in the collection''s own order (1 = first)';

CREATE TABLE shopify.metafields (
    shop_id          bigint NOT NULL REFERENCES shopify.stores (shop_id) ON DELETE CASCADE,
    metafield_id     bigint NOT NULL CHECK (metafield_id > 0),
    owner_type       text NOT NULL CHECK (owner_type IN ('product', 'variant', 'order', 'customer', 'shop')),
    owner_id         bigint NOT NULL CHECK (owner_id > 0),
    namespace        text NOT NULL,
    key              text NOT NULL,
    type             text,
    value            text,
    value_json       jsonb,
    updated_at       timestamptz,
    is_active        boolean NOT NULL DEFAULT true,
    first_synced_at  timestamptz NOT NULL DEFAULT now(),
    last_synced_at   timestamptz NOT NULL DEFAULT now(),
    deactivated_at   timestamptz,
    PRIMARY KEY (shop_id, metafield_id),
    CONSTRAINT metafields_deactivated_check CHECK (is_active = (deactivated_at IS NULL))
);
CREATE INDEX metafields_owner_idx ON shopify.metafields (shop_id, owner_type, owner_id);
CREATE INDEX metafields_key_idx ON shopify.metafields (shop_id, namespace, key);
COMMENT ON TABLE shopify.metafields IS
    'Custom data of products, variants, orders, customers and the shop (resources product_metafields, variant_metafields, order_metafields, customer_metafields, shop_metafields)';
COMMENT ON COLUMN shopify.metafields.owner_id IS 'The Shopify id of the product, variant, order, customer or shop the metafield belongs to';
COMMENT ON COLUMN shopify.metafields.value IS 'The value as Shopify stores it (text)';
COMMENT ON COLUMN shopify.metafields.value_json IS 'The value as jsonb where its type says it is JSON (json, list.*, money, measurements, rating, link, rich text); else NULL';

CREATE TABLE shopify.customers (
    shop_id           bigint NOT NULL REFERENCES shopify.stores (shop_id) ON DELETE CASCADE,
    customer_id       bigint NOT NULL CHECK (customer_id > 0),
    state             text,
    created_at        timestamptz,
    updated_at        timestamptz,
    number_of_orders  bigint,
    amount_spent      numeric,
    currency          text,
    tags              text,
    email             text,
    first_name        text,
    last_name         text,
    is_active         boolean NOT NULL DEFAULT true,
    first_synced_at   timestamptz NOT NULL DEFAULT now(),
    last_synced_at    timestamptz NOT NULL DEFAULT now(),
    deactivated_at    timestamptz,
    PRIMARY KEY (shop_id, customer_id),
    CONSTRAINT customers_deactivated_check CHECK (is_active = (deactivated_at IS NULL))
);
COMMENT ON TABLE shopify.customers IS
    'Mirror of the store''s customers (resource customers, opt-in with shopify_set_store_resources())';
COMMENT ON COLUMN shopify.customers.state IS 'The customer account''s state: enabled, disabled, invited, declined';
COMMENT ON COLUMN shopify.customers.amount_spent IS 'Total spent, exact, in currency';
COMMENT ON COLUMN shopify.customers.email IS 'Personal data: kept only while shopify_sync.customer_personal_data is on';
COMMENT ON COLUMN shopify.customers.first_name IS 'Personal data: kept only while shopify_sync.customer_personal_data is on';
COMMENT ON COLUMN shopify.customers.last_name IS 'Personal data: kept only while shopify_sync.customer_personal_data is on';

-- The keys a full sync of one of these resources was given, one row per
-- page and table (the sweep's anti-join), as shopify.sync_seen is for variants.
CREATE TABLE shopify.sync_seen_keys (
    job_id  bigint NOT NULL REFERENCES shopify.sync_jobs (id) ON DELETE CASCADE,
    tbl     text NOT NULL,
    k1      bigint[] NOT NULL,
    k2      bigint[]
);
CREATE INDEX sync_seen_keys_job_idx ON shopify.sync_seen_keys (job_id, tbl);
COMMENT ON TABLE shopify.sync_seen_keys IS
    'Internal: the keys each running full sync of locations, inventory levels, collections, metafields or customers has seen (for its final sweep)';
ALTER TABLE shopify.sync_seen_keys ENABLE ROW LEVEL SECURITY;

GRANT SELECT ON shopify.locations, shopify.inventory_levels, shopify.collections,
    shopify.collection_products, shopify.metafields, shopify.customers TO PUBLIC;
ALTER TABLE shopify.locations ENABLE ROW LEVEL SECURITY;
ALTER TABLE shopify.inventory_levels ENABLE ROW LEVEL SECURITY;
ALTER TABLE shopify.collections ENABLE ROW LEVEL SECURITY;
ALTER TABLE shopify.collection_products ENABLE ROW LEVEL SECURITY;
ALTER TABLE shopify.metafields ENABLE ROW LEVEL SECURITY;
ALTER TABLE shopify.customers ENABLE ROW LEVEL SECURITY;
CREATE POLICY locations_owner ON shopify.locations
    USING (shop_id IN (SELECT s.shop_id FROM shopify.stores s WHERE s.owner = current_user));
CREATE POLICY inventory_levels_owner ON shopify.inventory_levels
    USING (shop_id IN (SELECT s.shop_id FROM shopify.stores s WHERE s.owner = current_user));
CREATE POLICY collections_owner ON shopify.collections
    USING (shop_id IN (SELECT s.shop_id FROM shopify.stores s WHERE s.owner = current_user));
CREATE POLICY collection_products_owner ON shopify.collection_products
    USING (shop_id IN (SELECT s.shop_id FROM shopify.stores s WHERE s.owner = current_user));
CREATE POLICY metafields_owner ON shopify.metafields
    USING (shop_id IN (SELECT s.shop_id FROM shopify.stores s WHERE s.owner = current_user));
CREATE POLICY customers_owner ON shopify.customers
    USING (shop_id IN (SELECT s.shop_id FROM shopify.stores s WHERE s.owner = current_user));
COMMENT ON POLICY locations_owner ON shopify.locations IS 'A role sees only the locations of its own stores';
COMMENT ON POLICY inventory_levels_owner ON shopify.inventory_levels IS 'A role sees only the inventory of its own stores';
COMMENT ON POLICY collections_owner ON shopify.collections IS 'A role sees only the collections of its own stores';
COMMENT ON POLICY collection_products_owner ON shopify.collection_products IS 'A role sees only the collections of its own stores';
COMMENT ON POLICY metafields_owner ON shopify.metafields IS 'A role sees only the metafields of its own stores';
COMMENT ON POLICY customers_owner ON shopify.customers IS 'A role sees only the customers of its own stores';

SELECT pg_catalog.pg_extension_config_dump('shopify.locations', '');
SELECT pg_catalog.pg_extension_config_dump('shopify.inventory_levels', '');
SELECT pg_catalog.pg_extension_config_dump('shopify.collections', '');
SELECT pg_catalog.pg_extension_config_dump('shopify.collection_products', '');
SELECT pg_catalog.pg_extension_config_dump('shopify.metafields', '');
SELECT pg_catalog.pg_extension_config_dump('shopify.customers', '');

CREATE FUNCTION shopify_customer_data(shop_id bigint, customer_id bigint)
RETURNS jsonb
AS 'MODULE_PATHNAME', 'shopify_customer_data'
LANGUAGE C VOLATILE;
COMMENT ON FUNCTION shopify_customer_data(bigint, bigint) IS
    'Every row held about one customer (customers/data_request): the customer, their metafields, their orders with lines, the stored deliveries that name them';
GRANT EXECUTE ON FUNCTION shopify_customer_data(bigint, bigint) TO PUBLIC;

-- The rows a payload of a resource declared as tables becomes (tests, operators).
CREATE FUNCTION shopify._resource_rows(resource text, shape text, doc text,
    OUT tbl text, OUT ok boolean, OUT error text, OUT "row" jsonb)
RETURNS SETOF record
AS 'MODULE_PATHNAME', 'shopify_resource_rows'
LANGUAGE C STABLE STRICT;
COMMENT ON FUNCTION shopify._resource_rows(text, text, text) IS
    'Internal: the rows a payload (shape rest_page, rest_one, graphql_page, graphql_one or bulk) of a built-in resource would write, with ok and the reason a row would fail; writes nothing';
REVOKE ALL ON FUNCTION shopify._resource_rows(text, text, text) FROM PUBLIC;
-- ---- webhook listener (shopify_sync.webhook_listen) -------------------------
-- The listener stores a delivery's payload (a few kB of JSON) in the request's
-- own transaction: compressing it with pglz took 13 % of the listener's time
-- per delivery (perf), lz4 a fraction of that.  A server built without lz4
-- keeps pglz.
DO $$
BEGIN
    ALTER TABLE shopify.webhook_events ALTER COLUMN payload SET COMPRESSION lz4;
EXCEPTION WHEN feature_not_supported THEN
    NULL;
END
$$;
-- ---- end of webhook listener ------------------------------------------------
