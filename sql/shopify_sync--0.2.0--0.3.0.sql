/* shopify_sync 0.2.0 → 0.3.0
 *
 * 0.3.0: the GraphQL documents the worker sends can be listed for checking
 * (shopify._graphql_documents()).  Existing rows are not touched.
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
