-- shopify._variants: Shopify payloads to typed variant rows.  Real payloads
-- map field by field; bad values fail the variant, with a reason, instead of
-- the page.
\getenv fixtures SHOPIFY_FIXTURES
\set page_file :fixtures '/products_2026-07_shopify-api-ruby.json'
\set product_file :fixtures '/product_4variants_shopify_python_api.json'

-- A real REST page (shopify-api-ruby 2026-07 fixture).
SELECT ok, sku_id, product_id, sku, title, variant_title, vendor, product_type, handle,
       status, tags, price, compare_at_price, barcode, inventory_quantity,
       inventory_item_id, position, variant_updated_at, product_updated_at
  FROM shopify._variants(pg_read_file(:'page_file'), 'rest_products');

-- A real product payload (shopify_python_api fixture), as a webhook carries it.
SELECT ok, sku_id, product_id, sku, title, variant_title, price, inventory_quantity, position
  FROM shopify._variants(pg_read_file(:'product_file'), 'rest_product');

-- Hostile and malformed values: each variant fails on its own.
SELECT v.ok, v.error, v.sku_id, v.price, v.inventory_quantity
  FROM shopify._variants($$
{"products": [
 {"id": 1, "title": "T", "status": "active", "updated_at": "2026-01-02T03:04:05Z", "variants": [
   {"id": 11, "product_id": 1, "price": "10.00", "inventory_quantity": 3},
   {"id": 12, "product_id": 1, "price": 10.5, "inventory_quantity": -7},
   {"id": 13, "product_id": 1, "price": "ten"},
   {"id": 14, "product_id": 1, "price": "NaN"},
   {"id": 15, "product_id": 1, "price": "1e400"},
   {"id": 16, "product_id": 1, "price": "1.00", "inventory_quantity": 3000000000},
   {"id": 17, "product_id": 1, "price": "1.00", "inventory_quantity": "many"},
   {"id": 99999999999999999999, "product_id": 1, "price": "1.00"},
   {"id": -5, "product_id": 1, "price": "1.00"},
   {"id": "19", "product_id": 1, "price": "1.00"},
   {"id": 20, "product_id": 2, "price": "1.00"},
   {"id": 21, "product_id": 1, "price": "1.00", "sku": 12345},
   {"id": 22, "product_id": 1, "price": "1.00", "sku": ["a"]},
   {"id": 23, "product_id": 1, "price": "1.00", "updated_at": "yesterday-ish"},
   {"id": 24, "product_id": 1, "price": "1.00", "updated_at": "2026-02-30T00:00:00Z"},
   {"id": 25, "product_id": 1, "price": "1.00", "inventory_item_id": 0},
   {"id": 26, "product_id": 1, "price": "1.00", "compare_at_price": ""},
   {"id": 27, "product_id": 1, "price": "1.00", "position": 1.5},
   "not an object",
   {"product_id": 1, "price": "1.00"}
 ]},
 {"id": "x", "title": "bad product id", "variants": [{"id": 31, "price": "1.00"}]},
 {"id": 4, "title": ["not", "a", "string"], "variants": [{"id": 41, "price": "1.00"}]},
 {"id": 5, "title": "no variants"},
 {"id": 6, "title": "gid ids", "variants": [{"id": "gid://shopify/ProductVariant/61", "price": "2.50"}]},
 42
]}$$, 'rest_products') v;

-- Products and variants whose keys come in any order; tags as an array;
-- a {"product": ...} wrapper.
SELECT ok, sku_id, product_id, title, status, tags, price
  FROM shopify._variants($${"product": {"variants": [{"price": "3.00", "id": 101}], "tags": ["a", "b c"],
                                      "status": "DRAFT", "title": "Late fields", "id": 100}}$$, 'rest_product');

-- Strings longer than 64 kB fail the variant; unicode, quotes and
-- backslashes are kept exactly.
SELECT ok, error, length(title) AS title_len
  FROM shopify._variants(jsonb_build_object('id', 7, 'title', repeat('x', 70000),
         'variants', jsonb_build_array(jsonb_build_object('id', 71, 'price', '1.00')))::text, 'rest_product');
SELECT ok, title, variant_title, sku
  FROM shopify._variants($${"id": 8, "title": "Café \"Crème\" \\ 😀 مرحبا 漢字",
         "variants": [{"id": 81, "price": "1.00", "title": "Tab\there", "sku": ""}]}$$, 'rest_product');

-- Timestamps with offsets become the same instant.
SELECT variant_updated_at = '2026-07-01 14:20:30+00' AS same_instant
  FROM shopify._variants($${"id": 9, "variants": [{"id": 91, "price": "1", "updated_at": "2026-07-01T10:20:30-04:00"}]}$$, 'rest_product');

-- GraphQL pages: nodes or edges, global ids, tags as arrays, inventoryItem.
SELECT ok, error, sku_id, product_id, title, variant_title, status, tags, price,
       compare_at_price, inventory_quantity, inventory_item_id, position, variant_updated_at, kind
  FROM shopify._variants($${"data": {"products": {"pageInfo": {"hasNextPage": true, "endCursor": "abc"},
    "nodes": [
      {"id": "gid://shopify/Product/10", "title": "Graph", "vendor": "V", "productType": "T",
       "handle": "graph", "status": "ACTIVE", "tags": ["x", "y z"], "updatedAt": "2026-07-01T10:00:00Z",
       "variants": {"pageInfo": {"hasNextPage": false, "endCursor": "v1"}, "nodes": [
         {"id": "gid://shopify/ProductVariant/101", "sku": "G-1", "title": "Small", "barcode": null,
          "price": "9.50", "compareAtPrice": "12.00", "inventoryQuantity": 4, "position": 1,
          "updatedAt": "2026-07-01T10:00:00Z", "inventoryItem": {"id": "gid://shopify/InventoryItem/1001"}},
         {"id": "gid://shopify/ProductVariant/102", "sku": null, "title": "Large", "price": "oops",
          "compareAtPrice": null, "inventoryQuantity": null, "position": 2,
          "updatedAt": "2026-07-01T10:00:00Z", "inventoryItem": null}]}},
      {"id": "gid://shopify/Product/20", "title": "Edges", "status": "DRAFT", "tags": [],
       "updatedAt": "2026-07-02T10:00:00Z",
       "variants": {"edges": [{"node": {"id": "gid://shopify/ProductVariant/201", "title": "Only",
          "price": "1.00", "position": 1, "inventoryItem": {"id": "gid://shopify/InventoryItem/2001"}}}]}}]}},
  "extensions": {"cost": {"requestedQueryCost": 42}}}$$, 'graphql_products');

-- A product's further variants (data.product), and a deleted one (null).
SELECT sku_id, product_id, title, variant_title, kind
  FROM shopify._variants($${"data": {"product": {"id": "gid://shopify/Product/30", "title": "More",
    "variants": {"nodes": [{"id": "gid://shopify/ProductVariant/301", "title": "A", "price": "1"},
                           {"id": "gid://shopify/ProductVariant/302", "title": "B", "price": "2"}]}}}}$$,
    'graphql_product');
SELECT count(*) FROM shopify._variants('{"data": {"product": null}}', 'graphql_product');
SELECT * FROM shopify._variants('{"errors": [{"message": "Throttled"}]}', 'graphql_products');

-- Bulk operation results: product lines and variant lines, children after
-- their parent but not necessarily right after it.
SELECT kind, ok, error, sku_id, product_id, title, variant_title, status, tags, price, inventory_item_id
  FROM shopify._variants(
'{"id":"gid://shopify/Product/40","title":"Bulk one","status":"ACTIVE","tags":["a"],"updatedAt":"2026-07-03T00:00:00Z"}
{"id":"gid://shopify/ProductVariant/401","title":"V1","price":"3.00","position":1,"inventoryItem":{"id":"gid://shopify/InventoryItem/4001"},"__parentId":"gid://shopify/Product/40"}
{"id":"gid://shopify/Product/50","title":"Bulk two","status":"ARCHIVED","tags":[],"updatedAt":"2026-07-03T00:00:00Z"}
{"id":"gid://shopify/ProductVariant/402","title":"V2","price":"4.00","position":2,"__parentId":"gid://shopify/Product/40"}
{"id":"gid://shopify/ProductVariant/501","title":"W1","price":"bad","position":1,"__parentId":"gid://shopify/Product/50"}
{"id":"gid://shopify/ProductVariant/502","title":"W2","price":"5","__parentId":"nonsense"}
', 'bulk_jsonl');
SELECT * FROM shopify._variants('{"id":"gid://shopify/Product/60"}
{"id": "broken', 'bulk_jsonl');

-- Not a page at all, not JSON, or an unknown shape: an error for the whole call.
SELECT * FROM shopify._variants('{"items": []}', 'rest_products');
SELECT * FROM shopify._variants('{"products": [{"id": 1, "variants": [{"id": 2', 'rest_products');
SELECT * FROM shopify._variants('<html>502 Bad Gateway</html>', 'rest_products');
SELECT * FROM shopify._variants('{"products": [{"id": 1, "title": "nul \u0000 byte", "variants": []}]}', 'rest_products');
SELECT * FROM shopify._variants(repeat('[', 100000) || repeat(']', 100000), 'rest_products');
SELECT * FROM shopify._variants('{}', 'xml');

-- Ordinary roles cannot call it.
SET ROLE regress_shop_bob;
SELECT * FROM shopify._variants('{}', 'rest_product');
RESET ROLE;

-- Timestamps in the shape Shopify sends take a direct path; it must agree
-- with PostgreSQL's own parser on every one of them (and the general parser
-- still decides what is unusual: words, other shapes, impossible dates).
SET timezone = 'America/New_York';
CREATE FUNCTION pg_temp.ts_or_null(t text) RETURNS timestamptz LANGUAGE plpgsql AS $$
BEGIN RETURN t::timestamptz; EXCEPTION WHEN others THEN RETURN NULL; END $$;
WITH s AS (
  SELECT format('%s-%s-%sT%s:%s:%s%s%s',
           lpad((1 + (i * 7919) % 2999)::text, 4, '0'), lpad((1 + i % 12)::text, 2, '0'),
           lpad((1 + (i * 13) % 31)::text, 2, '0'), lpad(((i * 17) % 24)::text, 2, '0'),
           lpad(((i * 31) % 60)::text, 2, '0'), lpad(((i * 37) % 60)::text, 2, '0'),
           CASE i % 4 WHEN 0 THEN '' WHEN 1 THEN '.5' WHEN 2 THEN '.123456' ELSE '.0001' END,
           CASE i % 5 WHEN 0 THEN 'Z' WHEN 1 THEN '-05:00' WHEN 2 THEN '+14:00'
                      WHEN 3 THEN '+05:45' ELSE '-00:30' END) AS t
    FROM generate_series(1, 20000) i
  UNION ALL
  SELECT unnest(ARRAY['2026-02-29T00:00:00Z', '2024-02-29T00:00:00Z', '2026-04-31T10:00:00Z',
                      '2026-07-01T24:00:00Z', '2026-07-01T10:00:60Z', '2026-07-01 10:00:00+02',
                      '2026-07-01T10:00:00.1234567Z', '2026-07-01T10:00:00', '2026-07-01T10:00Z',
                      '2026-07-01T10:00:00+0530', '2026-07-01T10:00:00.Z', '2026-07-01T10:00:00-16:00']))
SELECT count(*) AS checked,
       count(*) FILTER (WHERE shopify._to_timestamptz(t) IS DISTINCT FROM pg_temp.ts_or_null(t)) AS disagree
  FROM s;
RESET timezone;
