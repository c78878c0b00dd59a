/* shopify_sync 0.2.0 → 0.3.0
 *
 * 0.3.0: the GraphQL documents the worker sends can be listed for checking
 * (shopify._graphql_documents()); a sync's seen set is one row of variant
 * ids per page written, not one row per variant (the ids of a sync running
 * during the update are carried over).  Mirror rows are not touched.
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
    sku_ids bigint[] NOT NULL
);
INSERT INTO shopify.sync_seen (job_id, sku_ids)
    SELECT job_id, array_agg(sku_id) FROM shopify.sync_seen_0_2 GROUP BY job_id;
DROP TABLE shopify.sync_seen_0_2;
CREATE INDEX sync_seen_job_idx ON shopify.sync_seen (job_id);
ALTER TABLE shopify.sync_seen ENABLE ROW LEVEL SECURITY;
COMMENT ON TABLE shopify.sync_seen IS
    'Internal: variant ids returned so far by each running full (or bulk) sync, one row per page written, for the final sweep of deleted variants; emptied when the job ends';
