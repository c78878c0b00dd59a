-- Resources: what exists, what a store syncs, and declaring one's own
-- (the checks made inside the server, each with its SQLSTATE).
CREATE FUNCTION pg_temp.try(q text) RETURNS text LANGUAGE plpgsql AS $$
BEGIN
  EXECUTE q;
  RETURN 'succeeded';
EXCEPTION WHEN OTHERS THEN
  RETURN SQLSTATE || ': ' || SQLERRM;
END $$;

SELECT name, kind, tables, webhook_topics FROM shopify_resources() ORDER BY name;

SELECT 'shpat_' || md5('regress-resources') AS tok \gset
SELECT shopify_connect_store('resources-shop.myshopify.com', :'tok') AS sid \gset
SELECT resources FROM shopify.stores WHERE shop_id = :sid;

-- one job per resource; a second call returns the same jobs
SELECT resource, sync_type, status FROM shopify_sync(:sid) ORDER BY resource;
SELECT count(*) AS jobs FROM shopify_sync(:sid, '{orders,products,orders}');
SELECT count(*) AS active FROM shopify.sync_jobs WHERE shop_id = :sid AND status IN ('pending', 'running');
SELECT count(*) AS cancelled FROM shopify.sync_jobs j, shopify_cancel_sync(j.id) c WHERE j.shop_id = :sid;

SELECT pg_temp.try(q) AS outcome FROM (VALUES
  (format('SELECT * FROM shopify_sync(%s, %L)', :sid, '{products,nosuch}')),
  (format('SELECT * FROM shopify_sync(%s, %L)', :sid, '{{products}}')),
  (format('SELECT * FROM shopify_sync(%s, NULL, NULL)', :sid)),
  ('SELECT * FROM shopify_sync(NULL)'),
  ('SELECT * FROM shopify_sync(999999)'),
  (format('SELECT shopify_set_store_resources(%s, %L)', :sid, '{products,NULL}')),
  (format('SELECT shopify_set_store_resources(%s, %L)', :sid, '{gift_card_ledger}'))
) t(q);
SELECT shopify_set_store_resources(:sid, '{orders}');
SELECT shopify_set_store_resources(:sid, '{}');
SELECT count(*) AS none FROM shopify_sync(:sid);

-- declarations: refused ones, with their SQLSTATE
SELECT pg_temp.try(format('SELECT shopify_define_resource(%L, %L)', n, q)) AS outcome FROM (VALUES
  ('x1', 'draftOrders { nodes { id name }'),
  ('x2', 'shop { name }'),
  ('x3', 'draftOrders { nodes { name } }'),
  ('x4', 'draftOrders { nodes { id lineItems { nodes { id } } } }'),
  ('x5', 'draftOrders { nodes { id lineItems(first: 5) { nodes { title } } } }'),
  ('x6', 'draftOrders(first: $n) { nodes { id } }'),
  ('x7', 'mutation { draftOrderDelete(input: {id: "x"}) { deletedId } }'),
  ('x8', 'draftOrders { nodes { id } } orders { nodes { id } }'),
  ('x9', 'draftOrders { nodes { id ...F } } fragment F on DraftOrder { name }'),
  ('x10', 'draftOrders(query: 12) { nodes { id } }'),
  ('x11', 'draftOrders { nodes { id lineItems(first: 250) { nodes { id a: lineItems(first: 250) { nodes { id } } } } } }'),
  ('products', 'draftOrders { nodes { id } }'),
  ('Bad Name', 'draftOrders { nodes { id } }'),
  ('x12', '')
) t(n, q);
SELECT count(*) AS stored FROM shopify.resource_definitions;

-- accepted: the page size is the largest within 1,000 points
SELECT shopify_define_resource('draft_orders',
  'draftOrders(sortKey: NUMBER, reverse: false) { edges { node { id name lineItems(first: 10) { nodes { id quantity } } } } }',
  'Draft orders', true);
SELECT name, connection, description, page_size, page_cost, incremental
  FROM shopify.resource_definitions;
SELECT shopify_define_resource('gift_cards', 'query { giftCards(query: "status:enabled") { nodes { id balance { amount } } } }');
SELECT name, page_size, page_cost, incremental FROM shopify.resource_definitions ORDER BY name;
SELECT name, kind, tables FROM shopify_resources() ORDER BY name;
-- the page documents the worker sends
SELECT name, query, variables, cost FROM shopify._graphql_documents() WHERE name LIKE 'declared:%' ORDER BY name, variables::text;
-- declaring again replaces
SELECT shopify_define_resource('gift_cards', 'giftCards { nodes { id } }');
SELECT page_size, page_cost FROM shopify.resource_definitions WHERE name = 'gift_cards';

SELECT shopify_set_store_resources(:sid, '{products,draft_orders}');
SELECT shopify_drop_resource('draft_orders');
SELECT shopify_drop_resource('draft_orders');
SELECT resources FROM shopify.stores WHERE shop_id = :sid;
SELECT pg_temp.try('SELECT shopify_drop_resource(''products'')') AS outcome;

-- only superusers (and roles granted EXECUTE) declare
CREATE ROLE regress_declarer;
SET ROLE regress_declarer;
SELECT pg_temp.try('SELECT shopify_define_resource(''y'', ''giftCards { nodes { id } }'')') AS outcome;
SELECT pg_temp.try('SELECT shopify_drop_resource(''gift_cards'')') AS outcome;
SELECT count(*) AS visible FROM shopify.objects;
RESET ROLE;
DROP ROLE regress_declarer;
SELECT shopify_drop_resource('gift_cards');
SELECT shopify_disconnect(:sid) IS NOT NULL AS disconnected;
