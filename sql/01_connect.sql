-- shopify_connect_store: domain validation and normalisation, tokens,
-- reconnect semantics, NULLs.
\set VERBOSITY default
SELECT 'shpat_' || md5('regress-connect-1') AS tok1,
       'shpat_' || md5('regress-connect-2') AS tok2 \gset

-- Accepted spellings all normalise to <name>.myshopify.com.
SELECT shopify_connect_store('Regress-One.myshopify.com', :'tok1', 'Regress One') AS id1 \gset
SELECT shop_domain, shop_name, is_active, token_status FROM shopify.stores WHERE shop_id = :id1;
SELECT shopify_connect_store('https://regress-one.myshopify.com/', :'tok1') = :id1 AS same_id;
SELECT shopify_connect_store('HTTP://REGRESS-ONE.MYSHOPIFY.COM', :'tok1') = :id1 AS same_id;
SELECT shopify_connect_store('regress-one.myshopify.com/', :'tok1') = :id1 AS same_id;
SELECT shopify_connect_store('1234.myshopify.com', :'tok1') IS NOT NULL AS digits_ok;
SELECT shopify_connect_store('a.myshopify.com', :'tok1') IS NOT NULL AS one_letter_ok;
SELECT shop_domain FROM shopify.stores ORDER BY shop_id;

-- Hostile and malformed domains: every one refused with 22023, nothing stored.
CREATE TEMP TABLE hostile (d text);
INSERT INTO hostile VALUES
  ('evil.com'),
  ('myshopify.com'),
  ('.myshopify.com'),
  ('-shop.myshopify.com'),
  ('shop-.myshopify.com'),
  ('shop.myshopify.com.evil.com'),
  ('shop.myshopify.com.'),
  ('shop.myshopify.co'),
  ('shop.notmyshopify.com'),
  ('a.b.myshopify.com'),
  ('127.0.0.1'),
  ('127.0.0.1.myshopify.com'),
  ('[::1]'),
  ('shop.myshopify.com:8443'),
  ('https://shop.myshopify.com:443/'),
  ('user@shop.myshopify.com'),
  ('https://user:pass@shop.myshopify.com'),
  ('shop.myshopify.com@evil.com'),
  ('evil.com#.myshopify.com'),
  ('evil.com?.myshopify.com'),
  ('evil.com/.myshopify.com'),
  ('evil.com\.myshopify.com'),
  ('shop.myshopify.com/admin'),
  ('shop%2emyshopify.com'),
  ('shop.myshopify%2ecom'),
  (' shop.myshopify.com'),
  ('shop.myshopify.com '),
  ('shop .myshopify.com'),
  (E'shop.myshopify.com\n'),
  (E'shop\t.myshopify.com'),
  ('shоp.myshopify.com'),        -- Cyrillic o
  ('shop。myshopify.com'),        -- ideographic full stop
  ('ftp://shop.myshopify.com'),
  ('javascript://shop.myshopify.com'),
  ('//shop.myshopify.com'),
  ('https://https://shop.myshopify.com'),
  ('shop.myshopify.com//'),
  ('shop_name.myshopify.com'),
  (''),
  (repeat('a', 64) || '.myshopify.com'),
  (repeat('a', 300) || '.myshopify.com');
SELECT count(*) AS hostile_domains FROM hostile;

DO $$
DECLARE
  r record;
  refused int := 0;
BEGIN
  FOR r IN SELECT d FROM hostile LOOP
    BEGIN
      PERFORM shopify_connect_store(r.d, 'shpat_' || md5('x'));
      RAISE NOTICE 'accepted: %', r.d;
    EXCEPTION WHEN SQLSTATE '22023' THEN
      refused := refused + 1;
    END;
  END LOOP;
  RAISE NOTICE 'refused % of % hostile domains with SQLSTATE 22023', refused, (SELECT count(*) FROM hostile);
END $$;
SELECT count(*) AS stores_after_hostile FROM shopify.stores;

-- Each refusal says why, without an internal name.
SELECT shopify_connect_store('shop.myshopify.com:8443', :'tok1');
SELECT shopify_connect_store('user@shop.myshopify.com', :'tok1');
SELECT shopify_connect_store('shop%2emyshopify.com', :'tok1');
SELECT shopify_connect_store('shop.myshopify.com.evil.com', :'tok1');
SELECT shopify_connect_store('a.b.myshopify.com', :'tok1');

-- Tokens: required, no whitespace, bounded; the message never quotes them.
SELECT shopify_connect_store('tokens.myshopify.com', '');
SELECT shopify_connect_store('tokens.myshopify.com', 'shpat_with space');
SELECT shopify_connect_store('tokens.myshopify.com', repeat('x', 300));
SELECT shopify_connect_store('tokens.myshopify.com', NULL);
SELECT shopify_connect_store(NULL, :'tok1');
SELECT count(*) AS tokens_store_absent FROM shopify.stores WHERE shop_domain = 'tokens.myshopify.com';
SELECT shopify_connect_store('tokens.myshopify.com', :'tok1', repeat('n', 256));
-- A token given as the shop name (arguments swapped) would be stored in plain text.
SELECT shopify_connect_store('tokens.myshopify.com', 'Tokens', :'tok1');

-- The token is stored encrypted: different ciphertext for the same token
-- (fresh nonce), never the plaintext.
SELECT shopify_connect_store('enc-a.myshopify.com', :'tok2') AS enc_a,
       shopify_connect_store('enc-b.myshopify.com', :'tok2') AS enc_b \gset
SELECT count(DISTINCT access_token_encrypted) AS distinct_ciphertexts,
       bool_and(position(convert_to(:'tok2', 'UTF8') IN access_token_encrypted) = 0) AS no_plaintext,
       bool_and(length(access_token_encrypted) = 1 + 12 + length(:'tok2') + 16) AS gcm_layout,
       bool_and(get_byte(access_token_encrypted, 0) = 1) AS format_v1,
       count(DISTINCT token_key_id) AS key_ids
  FROM shopify.stores WHERE shop_id IN (:enc_a, :enc_b);

-- Replacing the token of an active store keeps the id and changes the ciphertext.
SELECT access_token_encrypted AS before_ct FROM shopify.stores WHERE shop_id = :id1 \gset
SELECT shopify_connect_store('regress-one.myshopify.com', :'tok2') = :id1 AS same_id;
SELECT access_token_encrypted <> :'before_ct'::bytea AS ciphertext_changed FROM shopify.stores WHERE shop_id = :id1;

-- shop_name: kept when NULL is passed, replaced otherwise.
SELECT shop_name FROM shopify.stores WHERE shop_id = :id1;
SELECT shopify_connect_store('regress-one.myshopify.com', :'tok2', 'Renamed') = :id1 AS same_id;
SELECT shop_name FROM shopify.stores WHERE shop_id = :id1;

-- Reconnecting a disconnected store reactivates it under the same id.
SELECT (shopify_disconnect(:id1))->'cleanup_results'->'store_deactivated' AS deactivated;
SELECT is_active, access_token_encrypted IS NULL AS token_erased, token_status,
       disconnected_at IS NOT NULL AS has_disconnected_at
  FROM shopify.stores WHERE shop_id = :id1;
SELECT shopify_connect_store('regress-one.myshopify.com', :'tok1') = :id1 AS same_id;
SELECT is_active, access_token_encrypted IS NOT NULL AS has_token, token_status,
       disconnected_at IS NULL AS disconnected_at_cleared
  FROM shopify.stores WHERE shop_id = :id1;

-- Store operations were logged: connect, token_replaced, disconnect, reconnect.
SELECT details->>'operation' AS operation, count(*)
  FROM shopify.sync_log WHERE event = 'store_operation' AND shop_id = :id1
 GROUP BY 1 ORDER BY 1;

-- The owner is the calling role.
SET ROLE regress_shop_alice;
SELECT shopify_connect_store('alice-one.myshopify.com', :'tok1', 'Alice One') > 0 AS connected;
RESET ROLE;
SELECT owner FROM shopify.stores WHERE shop_domain = 'alice-one.myshopify.com';
