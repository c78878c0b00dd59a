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


-- Orders name their customer (shopify._orders() returns it too).
ALTER TABLE shopify.orders ADD COLUMN customer_id bigint;
COMMENT ON COLUMN shopify.orders.customer_id IS 'The customer who placed the order (NULL: a guest checkout); join shopify.customers when the store syncs customers';
CREATE INDEX orders_customer_idx ON shopify.orders (shop_id, customer_id) WHERE customer_id IS NOT NULL;
DROP FUNCTION shopify._orders(jsonb, text);
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
