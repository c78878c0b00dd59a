/* shopify_sync 0.2.0 → 0.3.0
 *
 * 0.3.0: the GraphQL documents the worker sends can be listed for checking
 * (shopify._graphql_documents()); a sync's seen set is one row of variant
 * ids per page written, not one row per variant (the ids of a sync running
 * during the update are carried over); orders are read by the extension's
 * C reader (shopify._orders() is now that reader); order syncs can run as
 * bulk operations (shopify.bulk_orders, shopify.bulk_pending).  Mirror rows
 * are not touched.
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
    job_id  bigint NOT NULL REFERENCES shopify.sync_jobs (id) ON DELETE CASCADE,
    ids     bigint[] NOT NULL
);
INSERT INTO shopify.sync_seen (job_id, ids)
    SELECT job_id, array_agg(sku_id) FROM shopify.sync_seen_0_2 GROUP BY job_id;
DROP TABLE shopify.sync_seen_0_2;
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
