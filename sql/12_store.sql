-- The rest of the store: locations, inventory levels, collections,
-- metafields, customers — payloads read by their declarations, opt-in of
-- personal data, a customer's data.
SET client_min_messages = warning;
CREATE FUNCTION pg_temp.try(sql text) RETURNS text LANGUAGE plpgsql AS $$
BEGIN
  EXECUTE sql;
  RETURN 'succeeded';
EXCEPTION WHEN others THEN
  RETURN SQLSTATE || ': ' || SQLERRM;
END $$;

-- Locations: a GraphQL page (a unicode name, an inactive one, a bad
-- timestamp, an id that is not one).
SELECT tbl, ok, error, "row" FROM shopify._resource_rows('locations', 'graphql_page', $$
{"data": {"locations": {"pageInfo": {"hasNextPage": false, "endCursor": null}, "nodes": [
 {"id": "gid://shopify/Location/11", "name": "Entrepôt Lyon", "isActive": true, "fulfillsOnlineOrders": true,
  "createdAt": "2025-01-02T03:04:05Z", "updatedAt": "2026-07-01T10:00:00-05:00",
  "address": {"address1": "1 rue de la Paix", "address2": null, "city": "Lyon", "province": null,
              "provinceCode": null, "country": "France", "countryCode": "FR", "zip": "69001"}},
 {"id": "gid://shopify/Location/12", "name": "倉庫", "isActive": false, "fulfillsOnlineOrders": false,
  "createdAt": "2025-01-02T03:04:05Z", "updatedAt": "2026-07-01T10:00:00Z", "address": {}},
 {"id": "gid://shopify/Location/13", "name": "Broken", "updatedAt": "yesterday"},
 {"id": "gid://shopify/Location/x", "name": "No id", "updatedAt": "2026-07-01T10:00:00Z"},
 "not an object"]}}}
$$) ORDER BY "row"->>'location_id';

-- A locations/update webhook: REST words; what it does not carry is absent.
SELECT tbl, ok, "row" FROM shopify._resource_rows('locations', 'rest_one', $$
{"id": 11, "name": "Entrepôt Lyon 2", "address1": "2 rue de la Paix", "address2": "", "city": "Lyon",
 "zip": "69002", "province": null, "country": "FR", "country_name": "France", "country_code": "FR",
 "province_code": null, "active": true, "created_at": "2025-01-02T04:04:05+01:00",
 "updated_at": "2026-07-02T10:00:00+02:00", "admin_graphql_api_id": "gid://shopify/Location/11"}
$$);

-- Inventory levels: a location with its levels (named quantities in any
-- order, one missing, one not an integer), and one that continues.
SELECT tbl, ok, error, "row" FROM shopify._resource_rows('inventory_levels', 'graphql_page', $$
{"data": {"locations": {"pageInfo": {"hasNextPage": false, "endCursor": "c"}, "nodes": [
 {"id": "gid://shopify/Location/11", "inventoryLevels": {"pageInfo": {"hasNextPage": false, "endCursor": "x"}, "nodes": [
   {"id": "gid://shopify/InventoryLevel/1?inventory_item_id=501", "updatedAt": "2026-07-01T10:00:00Z",
    "item": {"id": "gid://shopify/InventoryItem/501"},
    "quantities": [{"name": "on_hand", "quantity": 12}, {"name": "available", "quantity": 10},
                   {"name": "committed", "quantity": 2}, {"name": "incoming", "quantity": 0},
                   {"name": "reserved", "quantity": 0}]},
   {"id": "gid://shopify/InventoryLevel/2?inventory_item_id=502", "updatedAt": "2026-07-01T10:00:00Z",
    "item": {"id": "gid://shopify/InventoryItem/502"},
    "quantities": [{"name": "available", "quantity": -3}]},
   {"id": "gid://shopify/InventoryLevel/3?inventory_item_id=503", "updatedAt": "2026-07-01T10:00:00Z",
    "item": {"id": "gid://shopify/InventoryItem/503"},
    "quantities": [{"name": "available", "quantity": 1.5}]}]}},
 {"id": "gid://shopify/Location/12", "inventoryLevels": {"pageInfo": {"hasNextPage": true, "endCursor": "y"}, "nodes": [
   {"id": "gid://shopify/InventoryLevel/4?inventory_item_id=501", "updatedAt": "2026-07-01T10:00:00Z",
    "item": {"id": "gid://shopify/InventoryItem/501"},
    "quantities": [{"name": "available", "quantity": 7}]}]}}]}}}
$$) ORDER BY "row"->>'location_id', "row"->>'inventory_item_id';

-- An inventory_levels/update webhook names its location itself.
SELECT tbl, ok, "row" FROM shopify._resource_rows('inventory_levels', 'rest_one', $$
{"inventory_item_id": 501, "location_id": 11, "available": 9, "updated_at": "2026-07-03T10:00:00-04:00",
 "admin_graphql_api_id": "gid://shopify/InventoryLevel/1?inventory_item_id=501"}
$$);

-- Collections: custom and smart (ruleSet before 2026-07, sources from then
-- on), their products in order; positions continue across a bulk result's
-- lines, wherever a product line stands.
SELECT tbl, ok, error, "row" FROM shopify._resource_rows('collections', 'graphql_page', $$
{"data": {"collections": {"pageInfo": {"hasNextPage": false, "endCursor": null}, "nodes": [
 {"id": "gid://shopify/Collection/21", "title": "Summer", "handle": "summer", "sortOrder": "MANUAL",
  "updatedAt": "2026-07-01T10:00:00Z", "ruleSet": null,
  "products": {"pageInfo": {"hasNextPage": false, "endCursor": null},
               "nodes": [{"id": "gid://shopify/Product/9"}, {"id": "gid://shopify/Product/7"}]}},
 {"id": "gid://shopify/Collection/22", "title": "Cheap", "handle": "cheap", "sortOrder": "BEST_SELLING",
  "updatedAt": "2026-07-01T10:00:00Z",
  "ruleSet": {"appliedDisjunctively": false, "rules": [{"column": "VARIANT_PRICE", "relation": "LESS_THAN", "condition": "10"}]},
  "products": {"pageInfo": {"hasNextPage": true, "endCursor": "p"}, "nodes": [{"id": "gid://shopify/Product/7"}]}},
 {"id": "gid://shopify/Collection/23", "title": "Tagged", "handle": "tagged", "sortOrder": "ALPHA_ASC",
  "updatedAt": "2026-07-01T10:00:00Z",
  "sources": [{"__typename": "CollectionConditionsSource", "inclusion": {"matchType": "ALL", "conditions": [
     {"__typename": "CollectionSourceInclusionConditionProductTag", "tagRelation": "EQUALS", "tags": ["sale", "été"]}]}}],
  "products": {"pageInfo": {"hasNextPage": false, "endCursor": null}, "nodes": []}},
 {"id": "gid://shopify/Collection/24", "title": "Manual", "handle": "manual", "sortOrder": "CREATED_DESC",
  "updatedAt": "2026-07-01T10:00:00Z", "sources": [], "products": {"nodes": []}}]}}}
$$) ORDER BY tbl, "row"->>'collection_id', ("row"->>'position')::int;
SELECT tbl, ok, error, "row" FROM shopify._resource_rows('collections', 'bulk', $$
{"id":"gid://shopify/Collection/21","title":"Summer","handle":"summer","sortOrder":"MANUAL","updatedAt":"2026-07-01T10:00:00Z","ruleSet":null}
{"id":"gid://shopify/Product/9","__parentId":"gid://shopify/Collection/21"}
{"id":"gid://shopify/Product/8","__parentId":"gid://shopify/Collection/22"}
{"id":"gid://shopify/Collection/22","title":"Cheap","handle":"cheap","sortOrder":"BEST_SELLING","updatedAt":"2026-07-01T10:00:00Z","ruleSet":{"appliedDisjunctively":true,"rules":[]}}
{"id":"gid://shopify/Product/7","__parentId":"gid://shopify/Collection/21"}
{"id":"gid://shopify/Product/6","__parentId":"gid://shopify/Collection/22"}
{"id":"gid://shopify/Product/5","__parentId":"nonsense"}
$$);
-- A collections/update webhook: sort order in REST words; kind and rules not carried.
SELECT tbl, ok, "row" FROM shopify._resource_rows('collections', 'rest_one', $$
{"collection": {"id": 22, "handle": "cheap", "title": "Cheap!", "updated_at": "2026-07-02T00:00:00Z",
 "sort_order": "best-selling", "published_scope": "web"}}
$$);

-- Metafields: each type Shopify lists, value as text; jsonb where the type
-- says JSON (and the value is JSON).
SELECT "row"->>'type' AS type, ok, "row"->>'owner_type' AS owner_type, "row"->>'owner_id' AS owner_id,
       "row"->>'value' AS value, "row"->'value_json' AS value_json
  FROM shopify._resource_rows('product_metafields', 'graphql_page', $$
{"data": {"products": {"pageInfo": {"hasNextPage": false, "endCursor": null}, "nodes": [
 {"id": "gid://shopify/Product/7", "metafields": {"pageInfo": {"hasNextPage": false, "endCursor": null}, "nodes": [
  {"id": "gid://shopify/Metafield/1", "namespace": "custom", "key": "a", "type": "single_line_text_field", "value": "héllo", "updatedAt": "2026-07-01T00:00:00Z"},
  {"id": "gid://shopify/Metafield/2", "namespace": "custom", "key": "b", "type": "number_integer", "value": "42", "updatedAt": "2026-07-01T00:00:00Z"},
  {"id": "gid://shopify/Metafield/3", "namespace": "custom", "key": "c", "type": "json", "value": "{\"a\": [1, 2]}", "updatedAt": "2026-07-01T00:00:00Z"},
  {"id": "gid://shopify/Metafield/4", "namespace": "custom", "key": "d", "type": "list.single_line_text_field", "value": "[\"x\", \"y\"]", "updatedAt": "2026-07-01T00:00:00Z"},
  {"id": "gid://shopify/Metafield/5", "namespace": "custom", "key": "e", "type": "money", "value": "{\"amount\": \"5.99\", \"currency_code\": \"EUR\"}", "updatedAt": "2026-07-01T00:00:00Z"},
  {"id": "gid://shopify/Metafield/6", "namespace": "custom", "key": "f", "type": "json", "value": "{not json", "updatedAt": "2026-07-01T00:00:00Z"},
  {"id": "gid://shopify/Metafield/7", "namespace": "custom", "key": "g", "type": "boolean", "value": "true", "updatedAt": "2026-07-01T00:00:00Z"},
  {"id": "gid://shopify/Metafield/8", "namespace": "custom", "key": "h", "type": "product_reference", "value": "gid://shopify/Product/9", "updatedAt": "2026-07-01T00:00:00Z"},
  {"id": "gid://shopify/Metafield/9", "namespace": null, "key": "i", "type": "number_decimal", "value": "1.5", "updatedAt": "2026-07-01T00:00:00Z"}]}}]}}}
$$) ORDER BY ("row"->>'metafield_id')::bigint;
-- The shop's own metafields come from its one node.
SELECT tbl, ok, "row"->>'owner_type' AS owner_type, "row"->>'owner_id' AS owner_id, "row"->>'key' AS key
  FROM shopify._resource_rows('shop_metafields', 'graphql_one', $$
{"data": {"shop": {"id": "gid://shopify/Shop/55", "metafields": {"pageInfo": {"hasNextPage": false},
 "nodes": [{"id": "gid://shopify/Metafield/31", "namespace": "n", "key": "k", "type": "url", "value": "https://x.example", "updatedAt": "2026-07-01T00:00:00Z"}]}}}}
$$);

-- Customers: personal data only with shopify_sync.customer_personal_data.
SELECT ok, "row" FROM shopify._resource_rows('customers', 'graphql_page', $$
{"data": {"customers": {"pageInfo": {"hasNextPage": false, "endCursor": null}, "nodes": [
 {"id": "gid://shopify/Customer/41", "state": "ENABLED", "createdAt": "2026-01-01T00:00:00Z",
  "updatedAt": "2026-07-01T00:00:00Z", "numberOfOrders": "3", "amountSpent": {"amount": "120.50", "currencyCode": "EUR"},
  "tags": ["vip", "nordic"], "firstName": "Åsa", "lastName": "Lindqvist", "defaultEmailAddress": {"emailAddress": "asa@example.com"}}]}}}
$$);
ALTER SYSTEM SET shopify_sync.customer_personal_data = on;
SELECT pg_reload_conf();
SELECT pg_sleep(0.3);
SELECT ok, "row" FROM shopify._resource_rows('customers', 'rest_one', $$
{"customer": {"id": 41, "email": "asa@example.com", "first_name": "Åsa", "last_name": "Lindqvist",
 "state": "enabled", "orders_count": 3, "total_spent": "120.50", "currency": "EUR", "tags": "vip, nordic",
 "created_at": "2026-01-01T00:00:00Z", "updated_at": "2026-07-01T02:00:00+02:00"}}
$$);
ALTER SYSTEM RESET shopify_sync.customer_personal_data;
SELECT pg_reload_conf();
SELECT pg_sleep(0.3);

-- Refusals.
SELECT pg_temp.try($$SELECT * FROM shopify._resource_rows('products', 'rest_page', '{}')$$);
SELECT pg_temp.try($$SELECT * FROM shopify._resource_rows('locations', 'xml', '{}')$$);
SELECT pg_temp.try($$SELECT * FROM shopify._resource_rows('locations', 'graphql_page', '{"data": ')$$);
SELECT count(*) FROM shopify._resource_rows('locations', 'graphql_page', '{"errors": [{"message": "x"}]}');

-- Customers are opt-in: a store syncs them only once it chose them.
SELECT 'shpat_' || md5('regress-store') AS tok \gset
SELECT shopify_connect_store('store-shop.myshopify.com', :'tok') AS sid \gset
SELECT pg_temp.try(format('SELECT shopify_sync(%s, %L)', :sid, '{customers}'));
SELECT shopify_set_store_resources(:sid, '{products,customers,locations}');
SELECT resource, sync_type, status FROM shopify_sync(:sid, '{customers}') ORDER BY resource;
SELECT resource FROM shopify_sync(:sid) ORDER BY resource;

-- A customer's data: what the mirror holds about them.
INSERT INTO shopify.customers (shop_id, customer_id, state, updated_at, number_of_orders, email)
VALUES (:sid, 41, 'enabled', '2026-07-01', 3, NULL);
INSERT INTO shopify.metafields (shop_id, metafield_id, owner_type, owner_id, namespace, key, type, value)
VALUES (:sid, 71, 'customer', 41, 'custom', 'size', 'single_line_text_field', 'M'),
       (:sid, 72, 'product', 41, 'custom', 'size', 'single_line_text_field', 'not theirs');
INSERT INTO shopify.orders (order_id, shop_id, name, customer_id, updated_at) VALUES (901, :sid, '#1', 41, now()), (902, :sid, '#2', 42, now());
SELECT d->'customer'->>'customer_id' AS customer, jsonb_array_length(d->'metafields') AS metafields,
       d->'metafields'->0->>'value' AS value, jsonb_path_query_array(d->'orders', '$[*].order_id') AS orders,
       jsonb_typeof(d->'webhook_events') AS events
  FROM shopify_customer_data(:sid, 41) d;
SELECT pg_temp.try(format('SELECT shopify_customer_data(%s, 0)', :sid));
SELECT pg_temp.try('SELECT shopify_customer_data(999999, 41)');
-- another role may not ask
CREATE ROLE regress_store_mallory;
SET ROLE regress_store_mallory;
SELECT pg_temp.try(format('SELECT shopify_customer_data(%s, 41)', :sid));
SELECT count(*) AS visible FROM shopify.customers;
RESET ROLE;
DROP ROLE regress_store_mallory;
