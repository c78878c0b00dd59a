-- shopify_sync 0.3.0 → 0.4.0: resources.
--
-- A store syncs a list of resources (shopify.stores.resources, default
-- products and orders), enqueued at once by shopify_sync(); the resources
-- that exist are listed by shopify_resources(); a superuser (or a role
-- granted EXECUTE on it) declares more from a GraphQL connection query with
-- shopify_define_resource(), synced into shopify.objects.

\echo Use "ALTER EXTENSION shopify_sync UPDATE TO '0.4.0'" to load this file. \quit

ALTER TABLE shopify.stores ADD COLUMN resources text[] NOT NULL DEFAULT '{products,orders}';
COMMENT ON COLUMN shopify.stores.resources IS
    'What shopify_sync(shop_id) syncs when no resources are named (shopify_set_store_resources())';
GRANT SELECT (resources) ON shopify.stores TO PUBLIC;

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

ALTER TABLE shopify.sync_jobs DROP CONSTRAINT sync_jobs_resource_check;
ALTER TABLE shopify.sync_jobs ADD CONSTRAINT sync_jobs_resource_check
    CHECK (resource ~ '^[a-z][a-z0-9_]{0,62}$');
COMMENT ON COLUMN shopify.sync_jobs.resource IS
    'What the job mirrors: products, orders, or a declared resource (for orders and declared resources, the products_*/variants_* counters count orders, objects)';

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
