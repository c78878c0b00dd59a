# Section 6 of scripts/bench.sh (sourced by it): time to a complete mirror of
# the rest of the store, every resource at once.
#
# A store of ST_PRODUCTS (25,000) products with ~100,000 inventory levels over
# 10 locations, ST_COLLECTIONS (500) collections and ~100,000 product
# metafields; one shopify_sync(shop_id, '{products, locations,
# inventory_levels, collections, product_metafields}') — one job per
# resource, run side by side by the one worker, each on the path it chooses
# ('auto': a first full sync of a size it does not know takes a bulk
# operation, five of them at once on 2026-07) — timed from the call until
# the last job completes; under Standard-plan limits (GraphQL 100 points/s,
# 1,000-point bucket) and with limits off.  Baseline: COPY of the same rows
# (every table's, one transaction) into the same tables, with their indexes,
# constraints and triggers.  Runs alternate; medians of ST_REPS (3).
# Needs: PSQL, q, WORKDIR, f2, ratio, median (bench.sh).

ST_PRODUCTS=${ST_PRODUCTS:-25000}
ST_COLLECTIONS=${ST_COLLECTIONS:-500}
ST_REPS=${ST_REPS:-3}
ST_RESOURCES='{products,locations,inventory_levels,collections,product_metafields}'
ST_TABLES="shopify.locations shopify.inventory_levels shopify.collections shopify.collection_products shopify.metafields shopify.products"

# the stand-in's shop config (bench.sh adds it to the stand-in's shops)
store_shop_json() {  # store_shop_json DOMAIN TOKEN LIMITS_JSON_FRAGMENT SEED
  cat <<JSON
 {"domain": "$1", "token": "$2", $3,
  "catalog": {"products": $ST_PRODUCTS, "variants_min": 1, "variants_max": 3, "seed": $4, "awkward": false},
  "locations": {"count": 10, "inactive": 0, "seed": $4},
  "inventory": {"locations_per_item": [1, 3], "seed": $4},
  "collections": {"count": $ST_COLLECTIONS, "smart": 0.3, "products_max": 200, "seed": $4, "awkward": false},
  "metafields": {"per_product": [3, 5], "per_variant": [0, 0], "per_order": [0, 0], "per_customer": [0, 0], "shop": 0, "seed": $4}}
JSON
}

store_clear() {  # store_clear SHOP_ID
  local t
  for t in $ST_TABLES; do q "DELETE FROM $t WHERE shop_id = $1" >/dev/null; done
  q "VACUUM $(echo $ST_TABLES | tr ' ' ',')" >/dev/null
  q "CHECKPOINT" >/dev/null
}

# store_sync SHOP_ID: every resource at once; prints "seconds rows paths"
store_sync() {
  local sid=$1 ids t0 left
  ids=$(q "SELECT string_agg(id::text, ',') FROM shopify_sync($sid, '$ST_RESOURCES')")
  t0=$(now_s)
  while :; do
    left=$(q "SELECT count(*) FROM shopify.sync_jobs WHERE id IN ($ids) AND status IN ('pending', 'running')")
    [ "$left" = 0 ] && break
    sleep 0.2
  done
  if [ "$(q "SELECT count(*) FROM shopify.sync_jobs WHERE id IN ($ids) AND status <> 'completed'")" != 0 ]; then
    "${PSQL[@]}" -c "SELECT resource, status, error FROM shopify.sync_jobs WHERE id IN ($ids)" >&2
    exit 1
  fi
  echo "$(q "SELECT extract(epoch FROM max(finished_at) - min(created_at)) FROM shopify.sync_jobs WHERE id IN ($ids)")" \
    "$(q "SELECT sum(variants_processed) FROM shopify.sync_jobs WHERE id IN ($ids)")" \
    "$(q "SELECT string_agg(resource || ' ' || api || ' ' || round(extract(epoch FROM finished_at - started_at)::numeric, 1) || ' s', ', ' ORDER BY resource) FROM shopify.sync_jobs WHERE id IN ($ids)")"
}

# store_copy SHOP_ID: COPY the store's rows out, clear, time COPY back in
store_copy() {
  local sid=$1 t args=()
  for t in $ST_TABLES; do
    q "COPY (SELECT * FROM $t WHERE shop_id = $sid) TO '$WORKDIR/st_${t#shopify.}.copy'" >/dev/null
  done
  store_clear "$sid"
  args=(-c "SELECT extract(epoch FROM clock_timestamp())" -c "BEGIN")
  for t in shopify.products shopify.locations shopify.inventory_levels shopify.collections shopify.collection_products shopify.metafields; do
    args+=(-c "COPY $t FROM '$WORKDIR/st_${t#shopify.}.copy'")
  done
  args+=(-c "COMMIT" -c "SELECT extract(epoch FROM clock_timestamp())")
  "${PSQL[@]}" -At "${args[@]}" | awk 'NR == 1 {a = $1} END {print $1 - a}'
}

# bench_store FREE_ID STD_ID: the figures (call after the stores are connected)
bench_store() {
  local free=$1 std=$2 sid runs=() copies=() rows paths s c
  q "ALTER SYSTEM SET shopify_sync.bulk_threshold = 'auto'" >/dev/null
  q "SELECT pg_reload_conf()" >/dev/null
  for sid in "$free" "$std"; do
    q "SELECT shopify_set_store_resources($sid, '$ST_RESOURCES')" >/dev/null
  done
  echo "== the rest of the store: $ST_PRODUCTS products, inventory, $ST_COLLECTIONS collections, metafields; limits off, $ST_REPS runs"
  store_clear "$free"
  store_sync "$free" >/dev/null            # warm-up: the stand-in generates its answers once
  for _ in $(seq 1 "$ST_REPS"); do
    store_clear "$free"
    q "UPDATE shopify.stores SET path_stats = '{}' WHERE shop_id = $free" >/dev/null
    read -r s rows paths < <(store_sync "$free")
    runs+=("$s")
    ST_PATHS_FREE=$paths
    copies+=("$(store_copy "$free")")
  done
  ST_FREE=$(median "${runs[@]}")
  ST_COPY=$(median "${copies[@]}")
  ST_ROWS=$rows
  ST_COUNTS=$(q "SELECT string_agg(n || ' ' || t, ', ') FROM (VALUES
      ((SELECT count(*) FROM shopify.products WHERE shop_id = $free), 'variants'),
      ((SELECT count(*) FROM shopify.inventory_levels WHERE shop_id = $free), 'inventory levels'),
      ((SELECT count(*) FROM shopify.locations WHERE shop_id = $free), 'locations'),
      ((SELECT count(*) FROM shopify.collections WHERE shop_id = $free), 'collections'),
      ((SELECT count(*) FROM shopify.collection_products WHERE shop_id = $free), 'collection memberships'),
      ((SELECT count(*) FROM shopify.metafields WHERE shop_id = $free), 'metafields')) v(n, t)")
  echo "== the rest of the store under Standard limits (one run, after a warm-up)"
  store_clear "$std"
  store_sync "$std" >/dev/null
  store_clear "$std"
  q "UPDATE shopify.stores SET path_stats = '{}' WHERE shop_id = $std" >/dev/null
  read -r ST_STD _ ST_PATHS_STD < <(store_sync "$std")
}

store_results() {
  echo "6. The rest of the store, every resource at once ($ST_COUNTS; $ST_ROWS rows processed)"
  echo "   limits off: $(f2 "$ST_FREE") s to a complete mirror; COPY of the same rows into the same tables: $(f2 "$ST_COPY") s; $(ratio "$ST_FREE" "$ST_COPY") x COPY"
  echo "     jobs: $ST_PATHS_FREE"
  echo "   Standard limits (100 points/s): $(f2 "$ST_STD") s to a complete mirror; $(ratio "$ST_STD" "$ST_COPY") x COPY"
  echo "     jobs: $ST_PATHS_STD"
}
