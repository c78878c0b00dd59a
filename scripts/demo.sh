#!/usr/bin/env bash
# The main job, end to end, on a fresh Debian 12 machine as root:
#   installs what is missing, builds and installs shopify_sync, starts a
#   throw-away PostgreSQL 15 cluster (as the postgres user) with the
#   extension preloaded and a local Shopify stand-in serving a realistic
#   catalog and order history, then connects the store, syncs it with
#   visible progress, shows statistics and a few products, syncs changes,
#   syncs the orders and shows revenue and best sellers, and disconnects.
#
# With SHOPIFY_SHOP=<name>.myshopify.com and SHOPIFY_ACCESS_TOKEN=shpat_...
# in the environment it talks to that real store instead (read-only calls:
# shop.json, products/count.json, products.json, and orders.json when the
# token has the read_orders scope).
#
# Everything is removed at the end (KEEP_WORKDIR=1 keeps the cluster directory).
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
. "$ROOT/scripts/as-root.sh"
as_root "$0" "$@"

"$ROOT/scripts/install-deps.sh"
echo "== building and installing shopify_sync"
make -C "$ROOT" -s all >/dev/null
make -C "$ROOT" -s install >/dev/null

. "$ROOT/scripts/lib.sh"
make_workdir shopify_sync_demo
trap cleanup_workdir EXIT
DEMO=$WORKDIR

if [ -n "${SHOPIFY_SHOP:-}" ] && [ -n "${SHOPIFY_ACCESS_TOKEN:-}" ]; then
  MODE=real
  SHOP=$SHOPIFY_SHOP
  TOKEN=$SHOPIFY_ACCESS_TOKEN
  BASE_URL=
  echo "== using the real store $SHOP"
else
  MODE=standin
  SHOP=demo-outfitters.myshopify.com
  TOKEN="shpat_$(head -c 16 /dev/urandom | od -An -tx1 | tr -d ' \n')"
  # A Standard-plan store, as most merchants have: GraphQL restores 100
  # points/s into a 1,000-point bucket, REST leaks 2 requests/s from 40.  At
  # that rate pages of 2,500 products would take minutes: the worker
  # chooses bulk operations for the full syncs and pages for the few changes.
  echo "== starting the Shopify stand-in (a Standard-plan store: 2,500 products, 3,000 orders, stock at 5 locations, 40 collections, metafields; GraphQL 100 points/s, REST 2 requests/s)"
  start_standin "{\"shops\": [{\"domain\": \"$SHOP\", \"token\": \"$TOKEN\", \"name\": \"Demo Outfitters\",
    \"currency\": \"EUR\", \"plan_name\": \"basic\",
    \"catalog\": {\"products\": 2500, \"variants_min\": 1, \"variants_max\": 8,
                \"big_products\": [100], \"seed\": 42, \"awkward\": false,
                \"drafts\": 0.05, \"archived\": 0.03},
    \"orders\": {\"count\": 3000, \"seed\": 42, \"days\": 120},
    \"locations\": {\"count\": 6, \"inactive\": 1, \"seed\": 42},
    \"inventory\": {\"locations_per_item\": [1, 4], \"seed\": 42},
    \"collections\": {\"count\": 40, \"smart\": 0.3, \"products_max\": 120, \"seed\": 42},
    \"metafields\": {\"per_product\": [0, 3], \"per_variant\": [0, 0], \"per_order\": [0, 0], \"per_customer\": [0, 0], \"shop\": 5, \"seed\": 42},
    \"bucket\": {\"size\": 40, \"leak\": 2.0},
    \"graphql\": {\"maximum\": 1000, \"restore\": 100}}]}"
  # a bulk operation takes a few seconds on Shopify even for a small store
  curl -s -X POST -d '{"delay_s": 4}' "$STANDIN_URL/_control/shops/$SHOP/bulk" >/dev/null
  BASE_URL=$STANDIN_URL
  # a realistic network round trip
  curl -s -X POST -d '{"rate": 0, "latency_ms": 120}' "$BASE_URL/_control/faults" >/dev/null
fi

echo "== starting a throw-away PostgreSQL cluster"
start_cluster demo "shopify_sync.api_base_url = '$BASE_URL'"
PORT=$PGPORT_DEMO

PSQL=(runuser -u postgres -- env SHOP="$SHOP" TOKEN="$TOKEN" "$BINDIR/psql" -X -q -h "$DEMO" -p "$PORT" -d demo -v ON_ERROR_STOP=1)
step() { echo; echo "demo=# $1"; "${PSQL[@]}" -c "$1"; }

step "CREATE EXTENSION shopify_sync;"
echo
echo "demo=# SELECT shopify_connect_store('$SHOP', '<token>', 'Demo Outfitters');"
"${PSQL[@]}" <<'EOF'
\getenv shop SHOP
\getenv token TOKEN
SELECT shopify_connect_store(:'shop', :'token', 'Demo Outfitters');
EOF
step "SELECT shop_id, shop_domain, shop_name, is_active, variant_count FROM shopify_stores();"
step "SELECT shopify_store(1) - 'created_at' - 'updated_at' AS store;"

echo
echo "demo=# SELECT id, status FROM shopify_sync_products(1);   -- the worker does the rest"
JOB=$("${PSQL[@]}" -At -c "SELECT id FROM shopify_sync_products(1)")
echo "job $JOB enqueued; progress (printed when it changes):"
T0=$EPOCHREALTIME
PREV=
while :; do
  LINE=$("${PSQL[@]}" -At -F ' ' -c "SELECT status, progress_percentage, products_fetched, coalesce(total_products, 0), variants_processed, api_calls FROM shopify.sync_jobs WHERE id = $JOB")
  if [ "$LINE" != "$PREV" ]; then
    read -r st pct prods total vars calls <<<"$LINE"
    printf '  %6.1f s  %-9s %6s %%  %5s / %-5s products  %6s variants  %3s API calls\n' \
      "$(awk -v a="$EPOCHREALTIME" -v b="$T0" 'BEGIN { print a - b }')" "$st" "$pct" "$prods" "$total" "$vars" "$calls"
    PREV=$LINE
  fi
  case "$st" in completed|failed|cancelled) break ;; esac
  sleep 0.4
done
step "SELECT status, api, total_products, variants_processed, variants_created, variants_failed, api_calls, rate_limited, round(extract(epoch FROM finished_at - started_at)::numeric, 2) AS seconds, error FROM shopify.sync_jobs WHERE id = $JOB;"
step "SELECT path_reason FROM shopify.sync_jobs WHERE id = $JOB;   -- why this path"
step "SELECT jsonb_pretty(shopify_store_stats(1));"
step "SELECT sku_id, sku, left(title, 30) AS title, variant_title, price, inventory_quantity AS qty, status FROM shopify.products WHERE shop_id = 1 ORDER BY product_id, position LIMIT 8;"
step "SELECT status, count(*) AS variants, sum(inventory_quantity) FILTER (WHERE inventory_quantity > 0) AS units FROM shopify.products WHERE is_active GROUP BY status ORDER BY 2 DESC;"

if [ "$MODE" = standin ]; then
  echo
  echo "== meanwhile in Shopify: 25 products edited, 4 deleted, 6 created"
  curl -s -X POST -d '{"update": 25, "delete": 4, "create": 6, "seed": 5}' \
    "$BASE_URL/_control/shops/$SHOP/mutate" >/dev/null
  sleep 1
  step "SELECT id, sync_type, status FROM shopify_sync_products(1, full_sync => false);"
  step "SELECT status, sync_type, api, products_fetched, variants_created, variants_updated, variants_unchanged, variants_deactivated FROM shopify_wait_for_sync(2);"
  step "SELECT id, sync_type, status FROM shopify_sync_products(1);"
  step "SELECT status, sync_type, api, variants_unchanged, variants_deactivated, round(extract(epoch FROM finished_at - started_at)::numeric, 2) AS seconds FROM shopify_wait_for_sync(3);"
fi

echo
echo "demo=# SELECT id, resource, status FROM shopify_sync_orders(1);"
OJOB=$("${PSQL[@]}" -At -c "SELECT id FROM shopify_sync_orders(1)")
echo "job $OJOB enqueued"
step "SELECT status, api, total_products AS orders_listed, variants_processed AS orders_processed, api_calls, round(extract(epoch FROM finished_at - started_at)::numeric, 2) AS seconds, error FROM shopify_wait_for_sync($OJOB);"
step "SELECT s->'order_count' AS orders, s->'total_revenue' AS revenue, s->'revenue_last_30_days' AS last_30_days, s->'average_order_value' AS avg_order, s->>'currency' AS currency FROM shopify_store_stats(1) s;"
step "SELECT t->>'sku' AS sku, left(t->>'title', 30) AS title, (t->>'units')::int AS units_sold FROM shopify_store_stats(1) s, jsonb_array_elements(s->'top_variants') t;"
step "SELECT date_trunc('month', o.processed_at)::date AS month, count(*) AS orders, sum(o.total_price - o.total_refunded) AS net_revenue FROM shopify.orders o WHERE o.shop_id = 1 AND o.cancelled_at IS NULL GROUP BY 1 ORDER BY 1 DESC LIMIT 4;"

echo
echo "== the rest of the store: locations, stock per location, collections, metafields, all at once"
step "SELECT shopify_set_store_resources(1, '{products,orders,locations,inventory_levels,collections,product_metafields,shop_metafields}');"
echo
echo "demo=# SELECT id, resource, status FROM shopify_sync(1, '{locations,inventory_levels,collections,product_metafields,shop_metafields}');"
RJOBS=$("${PSQL[@]}" -At -c "SELECT string_agg(id::text, ',') FROM shopify_sync(1, '{locations,inventory_levels,collections,product_metafields,shop_metafields}')")
echo "jobs $RJOBS enqueued; the worker runs them side by side"
for j in ${RJOBS//,/ }; do "${PSQL[@]}" -At -c "SELECT 1 FROM shopify_wait_for_sync($j)" >/dev/null; done
step "SELECT resource, status, api, variants_processed AS rows, variants_created AS created, round(extract(epoch FROM finished_at - started_at)::numeric, 2) AS seconds, left(coalesce(error, path_reason), 60) AS why_or_error FROM shopify.sync_jobs WHERE id IN ($RJOBS) ORDER BY id;"
step "SELECT l.name AS location, count(*) AS items, sum(i.available) AS available, sum(i.committed) AS committed FROM shopify.inventory_levels i JOIN shopify.locations l USING (shop_id, location_id) WHERE i.shop_id = 1 GROUP BY l.name ORDER BY 3 DESC;"
step "SELECT c.title AS collection, c.kind, cp.position, left(p.title, 30) AS product FROM shopify.collections c JOIN shopify.collection_products cp USING (shop_id, collection_id) JOIN LATERAL (SELECT title FROM shopify.products WHERE shop_id = cp.shop_id AND product_id = cp.product_id LIMIT 1) p ON true WHERE c.shop_id = 1 AND c.collection_id = (SELECT collection_id FROM shopify.collection_products WHERE shop_id = 1 GROUP BY 1 ORDER BY count(*) DESC LIMIT 1) ORDER BY cp.position LIMIT 5;"
step "SELECT owner_type, type, count(*) AS metafields, count(value_json) AS as_jsonb FROM shopify.metafields WHERE shop_id = 1 GROUP BY 1, 2 ORDER BY 3 DESC LIMIT 8;"
step "SELECT s->'location_count' AS locations, s->'collection_count' AS collections, jsonb_pretty(s->'inventory_by_location') AS units_by_location FROM shopify_store_stats(1) s;"

step "SELECT event, count(*) FROM shopify.sync_log GROUP BY event ORDER BY 2 DESC;"
step "SELECT jsonb_pretty(shopify_disconnect(1));"
step "SELECT count(*) FILTER (WHERE is_active) AS active_rows, count(*) AS kept_rows FROM shopify.products;"
step "SELECT count(*) FILTER (WHERE is_active) AS active_orders, count(*) AS kept_orders FROM shopify.orders;"

echo
echo "== the server log has the same events, one line each, e.g.:"
grep -m 3 'event=sync_operation' "$DEMO/server.log" | sed 's/^/  /' | cut -c1-220
echo
echo "demo finished."
