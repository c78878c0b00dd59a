-- shopify_receive_webhook: verification, refusals with their SQLSTATEs,
-- deduplication, rate limit.  (Processing is tested in TAP: the worker of
-- this cluster serves another database.)  Signatures are computed
-- independently with pgcrypto.
CREATE EXTENSION pgcrypto;
\getenv fixtures SHOPIFY_FIXTURES
\set vectors_file :fixtures '/webhook_hmac_vectors.json'

CREATE FUNCTION pg_temp.try(q text) RETURNS text LANGUAGE plpgsql AS $$
BEGIN
  EXECUTE q;
  RETURN 'succeeded';
EXCEPTION WHEN OTHERS THEN
  RETURN SQLSTATE || ': ' || SQLERRM;
END $$;
CREATE FUNCTION pg_temp.sign(secret text, body text) RETURNS text LANGUAGE sql AS $$
  SELECT encode(hmac(convert_to(body, 'UTF8'), convert_to(secret, 'UTF8'), 'sha256'), 'base64')
$$;

-- The published vectors pass or fail as they say.
SELECT v->>'source' AS source, (v->>'valid')::boolean AS expected,
       (SELECT set_config('shopify_sync.webhook_secret', v->>'secret', false)) IS NOT NULL
       AND shopify_verify_webhook(v->>'raw_body', v->>'x_shopify_hmac_sha256') AS verified
  FROM jsonb_array_elements(pg_read_file(:'vectors_file')::jsonb) v;

SET shopify_sync.webhook_secret = 'regress-secret';
SELECT 'shpat_' || md5('regress-webhooks') AS tok \gset
SELECT shopify_connect_store('hooks.myshopify.com', :'tok') AS sid \gset
SELECT '{"id": 4242, "title": "Hook", "updated_at": "2026-11-01T10:00:00Z", "variants": [{"id": 42421, "price": "1.00"}]}' AS body \gset
SELECT pg_temp.sign('regress-secret', :'body') AS sig \gset

-- Accepted: an id; the same webhook_id again returns the first id and stores nothing.
SELECT shopify_receive_webhook('products/update', 'hooks.myshopify.com', :'sig', :'body', 'hook-1', '2026-11-01 10:00:01+00') AS e1 \gset
SELECT :e1 > 0 AS stored;
SELECT shopify_receive_webhook('products/update', 'hooks.myshopify.com', :'sig', :'body', 'hook-1') = :e1 AS same_id;
SELECT count(*) AS rows_for_wh1 FROM shopify.webhook_events WHERE webhook_id = 'hook-1';
SELECT topic, shop_id = :sid AS right_shop, payload->>'title' AS title, processed, triggered_at
  FROM shopify.webhook_events WHERE id = :e1;
-- Without a webhook_id, every delivery is stored.
SELECT shopify_receive_webhook('products/update', 'https://Hooks.myshopify.com/', :'sig', :'body') > :e1 AS stored_again;

-- The previous secret is accepted during a rotation.
SET shopify_sync.webhook_previous_secret = 'old-secret';
SELECT shopify_receive_webhook('products/update', 'hooks.myshopify.com',
       pg_temp.sign('old-secret', :'body'), :'body', 'wh-rotated') > 0 AS old_secret_accepted;
RESET shopify_sync.webhook_previous_secret;

-- Refusals, each with its own SQLSTATE; nothing stored for any of them.
SELECT count(*) AS events_before FROM shopify.webhook_events \gset
SELECT shopify_connect_store('gone-hooks.myshopify.com', :'tok') AS gone \gset
SELECT (shopify_disconnect(:gone))->'cleanup_results'->'store_deactivated' AS gone_deactivated;
SELECT shopify_connect_store('bob-hooks.myshopify.com', :'tok') AS bobs \gset
UPDATE shopify.stores SET owner = 'regress_shop_bob' WHERE shop_id = :bobs;
SELECT case_name, pg_temp.try(q) AS outcome FROM (VALUES
  ('signature mismatch', format('SELECT shopify_receive_webhook(%L, %L, %L, %L)', 'products/update', 'hooks.myshopify.com', pg_temp.sign('wrong', :'body'), :'body')),
  ('body changed after signing', format('SELECT shopify_receive_webhook(%L, %L, %L, %L)', 'products/update', 'hooks.myshopify.com', :'sig', :'body' || ' ')),
  ('signature not base64', format('SELECT shopify_receive_webhook(%L, %L, %L, %L)', 'products/update', 'hooks.myshopify.com', '!!!', :'body')),
  ('missing signature', format('SELECT shopify_receive_webhook(%L, %L, NULL, %L)', 'products/update', 'hooks.myshopify.com', :'body')),
  ('empty signature', format('SELECT shopify_receive_webhook(%L, %L, %L, %L)', 'products/update', 'hooks.myshopify.com', '', :'body')),
  ('unknown shop', format('SELECT shopify_receive_webhook(%L, %L, %L, %L)', 'products/update', 'nobody.myshopify.com', :'sig', :'body')),
  ('hostile shop domain', format('SELECT shopify_receive_webhook(%L, %L, %L, %L)', 'products/update', 'evil.com', :'sig', :'body')),
  ('disconnected shop', format('SELECT shopify_receive_webhook(%L, %L, %L, %L)', 'products/update', 'gone-hooks.myshopify.com', :'sig', :'body')),
  ('malformed body', format('SELECT shopify_receive_webhook(%L, %L, %L, %L)', 'products/update', 'hooks.myshopify.com', pg_temp.sign('regress-secret', '{"id": 1,'), '{"id": 1,')),
  ('NUL in body', format('SELECT shopify_receive_webhook(%L, %L, %L, %L)', 'products/update', 'hooks.myshopify.com', pg_temp.sign('regress-secret', '{"t": "a\u0000b"}'), '{"t": "a\u0000b"}')),
  ('bad topic', format('SELECT shopify_receive_webhook(%L, %L, %L, %L)', 'Products Update', 'hooks.myshopify.com', :'sig', :'body')),
  ('NULL topic', format('SELECT shopify_receive_webhook(NULL, %L, %L, %L)', 'hooks.myshopify.com', :'sig', :'body')),
  ('NULL body', format('SELECT shopify_receive_webhook(%L, %L, %L, NULL)', 'products/update', 'hooks.myshopify.com', :'sig')),
  ('empty webhook_id', format('SELECT shopify_receive_webhook(%L, %L, %L, %L, %L)', 'products/update', 'hooks.myshopify.com', :'sig', :'body', ''))
) v(case_name, q);
SELECT count(*) - :events_before AS stored_by_refusals FROM shopify.webhook_events;
-- A webhook_id already received for another store is refused.
SELECT pg_temp.try(format('SELECT shopify_receive_webhook(%L, %L, %L, %L, %L)',
       'products/update', 'bob-hooks.myshopify.com', :'sig', :'body', 'hook-1')) AS id_of_another_store;

-- A disconnected store still receives app/uninstalled and the GDPR topics.
SELECT shopify_receive_webhook('app/uninstalled', 'gone-hooks.myshopify.com',
       pg_temp.sign('regress-secret', '{"id": 1}'), '{"id": 1}') > 0 AS uninstall_accepted;
SELECT shopify_receive_webhook('shop/redact', 'gone-hooks.myshopify.com',
       pg_temp.sign('regress-secret', '{"shop_id": 1}'), '{"shop_id": 1}') > 0 AS redact_accepted;

-- Only the owner (or a superuser) may hand in a store's deliveries.
GRANT EXECUTE ON FUNCTION pg_temp.try(text) TO regress_shop_alice;
SET ROLE regress_shop_alice;
SELECT pg_temp.try(format('SELECT shopify_receive_webhook(%L, %L, %L, %L)',
       'products/update', 'bob-hooks.myshopify.com', :'sig', :'body')) AS not_owner;
RESET ROLE;

-- No secret configured: refused.
RESET shopify_sync.webhook_secret;
SELECT pg_temp.try(format('SELECT shopify_receive_webhook(%L, %L, %L, %L)',
       'products/update', 'hooks.myshopify.com', :'sig', :'body')) AS no_secret;
SET shopify_sync.webhook_secret = 'regress-secret';

-- The per-shop rate limit: a burst of 3, then refusals; another shop passes.
SET shopify_sync.webhook_rate_limit = 1;
SET shopify_sync.webhook_rate_burst = 3;
SELECT shopify_connect_store('flood.myshopify.com', :'tok') AS flood \gset
SELECT shopify_connect_store('calm.myshopify.com', :'tok') AS calm \gset
SELECT n, pg_temp.try(format('SELECT shopify_receive_webhook(%L, %L, %L, %L)',
       'products/update', 'flood.myshopify.com', :'sig', :'body')) AS outcome
  FROM generate_series(1, 5) n;
SELECT pg_temp.try(format('SELECT shopify_receive_webhook(%L, %L, %L, %L)',
       'products/update', 'calm.myshopify.com', :'sig', :'body')) AS other_shop;
-- a repeated delivery is answered even when the shop is over its rate
SELECT shopify_receive_webhook('products/update', 'hooks.myshopify.com', :'sig', :'body', 'hook-1') = :e1 AS duplicate_still_answered;
RESET shopify_sync.webhook_rate_limit;
RESET shopify_sync.webhook_rate_burst;

-- The secret is never in the stored rows.
SELECT count(*) AS rows_with_secret FROM shopify.webhook_events e
 WHERE e::text LIKE '%regress-secret%';
