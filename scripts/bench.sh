#!/usr/bin/env bash
# Benchmark of the product sync (not part of the tests): syncs catalogs of
# about 10,000 and 100,000 variants from the local stand-in with rate
# limiting off, through each path (REST pages, GraphQL pages, GraphQL bulk
# operation), and prints
#   - variants per second of a full sync (first sync: inserts; second: no change),
#   - the time of a plain COPY of the same rows into the same table, measured
#     in the same run, and the ratio between the two,
#   - the worker's peak private memory (RssAnon) during each sync,
#   - where a page's time goes (JSON parse, extraction, insert),
#   - orders per second of a full order sync of 100,000 orders (REST, GraphQL),
#   - the time of shopify_store_stats over them (trigger-kept totals),
#     against the same figures aggregated from every order and line at each
#     call, and the write-side cost of those triggers (an order sync with
#     them disabled).
# Run as root: scripts/bench.sh   (or: make bench)
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
. "$ROOT/scripts/as-root.sh"
as_root "$0" "$@"

"$ROOT/scripts/install-deps.sh"
make -C "$ROOT" -s all >/dev/null
make -C "$ROOT" -s install >/dev/null
. "$ROOT/scripts/lib.sh"
make_workdir shopify_sync_bench
trap cleanup_workdir EXIT

SMALL_PRODUCTS=${SMALL_PRODUCTS:-2200}
LARGE_PRODUCTS=${LARGE_PRODUCTS:-22000}
ORDERS=${ORDERS:-100000}
tok() { echo "shpat_$(head -c 16 /dev/urandom | od -An -tx1 | tr -d ' \n')"; }
TOK_S=$(tok)
TOK_L=$(tok)
echo "== stand-in: $SMALL_PRODUCTS and $LARGE_PRODUCTS products, $ORDERS orders, rate limiting off"
start_standin "{\"shops\": [
 {\"domain\": \"bench-small.myshopify.com\", \"token\": \"$TOK_S\", \"bucket\": null, \"graphql\": null,
  \"catalog\": {\"products\": $SMALL_PRODUCTS, \"variants_min\": 1, \"variants_max\": 8, \"seed\": 1, \"awkward\": false}},
 {\"domain\": \"bench-large.myshopify.com\", \"token\": \"$TOK_L\", \"bucket\": null, \"graphql\": null,
  \"catalog\": {\"products\": $LARGE_PRODUCTS, \"variants_min\": 1, \"variants_max\": 8, \"seed\": 2, \"awkward\": false},
  \"orders\": {\"count\": $ORDERS, \"seed\": 7, \"days\": 365}}]}"
echo "== cluster"
start_cluster bench "shopify_sync.api_base_url = '$STANDIN_URL'
shopify_sync.api = 'rest'
shared_buffers = 256MB
max_wal_size = 4GB
checkpoint_timeout = 30min"
"${PSQL[@]}" -c "CREATE EXTENSION shopify_sync"
wait_worker
WPID=$("${PSQL[@]}" -At -c "SELECT pid FROM pg_stat_activity WHERE backend_type = 'shopify_sync worker'")
S_ID=$("${PSQL[@]}" -At -v t="$TOK_S" <<<"SELECT shopify_connect_store('bench-small.myshopify.com', :'t')")
L_ID=$("${PSQL[@]}" -At -v t="$TOK_L" <<<"SELECT shopify_connect_store('bench-large.myshopify.com', :'t')")

rss_anon() { awk '/^RssAnon:/ {print $2}' "/proc/$WPID/status"; }
# CPU seconds used by the worker so far (user + system)
cpu_s() { awk -v hz="$(getconf CLK_TCK)" '{print ($14 + $15) / hz}' "/proc/$WPID/stat"; }

# sync_once SHOP_ID [products|orders]: a full sync while sampling the
# worker's RssAnon every 20 ms; prints "rows seconds peak_kB base_kB
# worker_cpu_s" (rows: variants, or orders).
sync_once() {
  local sid=$1 what=${2:-products} base peak job st v s c0
  c0=$(cpu_s)
  base=$(rss_anon)
  peak=$base
  job=$("${PSQL[@]}" -At -c "SELECT id FROM shopify_sync_$what($sid)")
  while :; do
    v=$(rss_anon)
    [ "$v" -gt "$peak" ] && peak=$v
    st=$("${PSQL[@]}" -At -c "SELECT status FROM shopify.sync_jobs WHERE id = $job")
    case "$st" in completed|failed|cancelled) break ;; esac
    sleep 0.02
  done
  if [ "$st" != completed ]; then
    "${PSQL[@]}" -c "SELECT status, error FROM shopify.sync_jobs WHERE id = $job" >&2
    exit 1
  fi
  read -r v s < <("${PSQL[@]}" -At -F ' ' -c \
    "SELECT variants_processed, extract(epoch FROM finished_at - started_at) FROM shopify.sync_jobs WHERE id = $job")
  echo "$v $s $peak $base $(awk -v a="$(cpu_s)" -v b="$c0" 'BEGIN {print a - b}')"
}

# copy_time SHOP_ID: COPY the store's rows out, delete them, time the COPY
# back into the same table (same indexes, same foreign key).
copy_time() {
  local sid=$1 f="$WORKDIR/rows_$1.copy"
  "${PSQL[@]}" -c "COPY (SELECT * FROM shopify.products WHERE shop_id = $sid) TO '$f'"
  "${PSQL[@]}" -c "DELETE FROM shopify.products WHERE shop_id = $sid" -c "VACUUM shopify.products" -c "CHECKPOINT"
  "${PSQL[@]}" -At -c "SELECT extract(epoch FROM clock_timestamp())" \
    -c "COPY shopify.products FROM '$f'" -c "SELECT extract(epoch FROM clock_timestamp())" \
    | awk 'NR == 1 {a = $1} END {print $1 - a}'
}

# use_path SHOP_ID PATH: rest, graphql (pages) or bulk (a bulk operation)
use_path() {
  local sid=$1 path=$2 api=rest thr=-1
  [ "$path" != rest ] && api=graphql
  [ "$path" = bulk ] && thr=0
  "${PSQL[@]}" -q -c "SELECT shopify_set_store_api($sid, '$api')" \
    -c "ALTER SYSTEM SET shopify_sync.bulk_threshold = $thr" -c "SELECT pg_reload_conf()" >/dev/null
  sleep 0.3
}

# a new worker process, so that each path's memory is measured on its own
fresh_worker() {
  "${PSQL[@]}" -c "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE backend_type = 'shopify_sync worker'" >/dev/null
  sleep 0.5
  wait_worker
  WPID=$("${PSQL[@]}" -At -c "SELECT pid FROM pg_stat_activity WHERE backend_type = 'shopify_sync worker'")
}

clear_rows() {
  "${PSQL[@]}" -c "DELETE FROM shopify.products WHERE shop_id = $1" -c "VACUUM shopify.products" -c "CHECKPOINT"
}

declare -A R CPU C
for which in small large; do
  sid=$S_ID
  [ "$which" = large ] && sid=$L_ID
  for path in rest graphql bulk; do
    echo "== $which catalog, $path: first sync (inserts), re-sync (no change)"
    use_path "$sid" "$path"
    fresh_worker
    clear_rows "$sid"
    read -r v1 s1 p1 b1 u1 < <(sync_once "$sid")
    "${PSQL[@]}" -c "CHECKPOINT"
    read -r v2 s2 p2 b2 u2 < <(sync_once "$sid")
    R[$which.$path]="$v1 $s1 $p1 $b1 $v2 $s2 $p2 $b2"
    CPU[$which.$path]="$u1 $u2"
  done
  echo "== $which catalog: COPY of the same rows"
  C[$which]=$(copy_time "$sid")
done

echo "== orders: $ORDERS orders of the large shop, full order sync per path"
declare -A O
# first, the write-side cost of the statistics: one GraphQL order sync with
# the triggers that keep order_totals and variant_sales disabled (the
# tables stay empty and consistent: the rows are deleted before the
# triggers come back)
use_path "$L_ID" graphql
fresh_worker
"${PSQL[@]}" -c "ALTER TABLE shopify.orders DISABLE TRIGGER USER" -c "ALTER TABLE shopify.order_lines DISABLE TRIGGER USER" -c "CHECKPOINT"
read -r ov os op ob ou < <(sync_once "$L_ID" orders)
O[notriggers]="$ov $os $op $ou"
"${PSQL[@]}" -c "DELETE FROM shopify.orders WHERE shop_id = $L_ID" \
  -c "ALTER TABLE shopify.orders ENABLE TRIGGER USER" -c "ALTER TABLE shopify.order_lines ENABLE TRIGGER USER" \
  -c "VACUUM shopify.orders, shopify.order_lines"
for path in rest graphql; do
  use_path "$L_ID" "$path"
  fresh_worker
  "${PSQL[@]}" -c "DELETE FROM shopify.orders WHERE shop_id = $L_ID" -c "VACUUM shopify.orders, shopify.order_lines" -c "CHECKPOINT"
  read -r ov os op ob ou < <(sync_once "$L_ID" orders)
  O[$path]="$ov $os $op $ou"
done
"${PSQL[@]}" -c "VACUUM ANALYZE shopify.orders, shopify.order_lines, shopify.products"
O_LINES=$("${PSQL[@]}" -At -c "SELECT count(*) FROM shopify.order_lines WHERE shop_id = $L_ID")
echo "== shopify_store_stats over them (mean of 20 calls), indexes on and off"
stats_ms() {
  "${PSQL[@]}" -At 2>&1 <<SQL | grep -o 'stats_ms.*' | awk '{print $2}'
$1
DO \$\$
DECLARE t0 timestamptz; n int := 20;
BEGIN
  PERFORM shopify_store_stats($L_ID);
  t0 := clock_timestamp();
  FOR i IN 1..n LOOP PERFORM shopify_store_stats($L_ID); END LOOP;
  RAISE NOTICE 'stats_ms %', round((extract(epoch FROM clock_timestamp() - t0) * 1000 / n)::numeric, 1);
END \$\$;
SQL
}
ST_IDX=$(stats_ms "")
ST_SEQ=$(stats_ms "SET enable_indexscan = off; SET enable_indexonlyscan = off; SET enable_bitmapscan = off;")
# baseline: the same order figures aggregated from every order and line at each call
ST_AGG=$("${PSQL[@]}" -At 2>&1 <<SQL | grep -o 'agg_ms.*' | awk '{print $2}'
DO \$\$
DECLARE t0 timestamptz; n int := 20; j jsonb;
BEGIN
  FOR i IN 0..n LOOP
    IF i = 1 THEN t0 := clock_timestamp(); END IF;
    SELECT jsonb_build_object(
        'order_count', count(*),
        'total_revenue', coalesce(sum(coalesce(total_price, 0) - total_refunded) FILTER (WHERE cancelled_at IS NULL), 0),
        'revenue_last_30_days', coalesce(sum(coalesce(total_price, 0) - total_refunded)
            FILTER (WHERE cancelled_at IS NULL AND processed_at >= now() - interval '30 days'), 0),
        'kept', count(*) FILTER (WHERE cancelled_at IS NULL),
        'top_variants', (SELECT jsonb_agg(t) FROM (SELECT l.sku_id, sum(l.quantity) AS units
                           FROM shopify.order_lines l JOIN shopify.orders o USING (order_id)
                          WHERE o.shop_id = $L_ID AND o.cancelled_at IS NULL AND l.sku_id IS NOT NULL
                          GROUP BY l.sku_id ORDER BY units DESC, l.sku_id LIMIT 5) t))
      INTO j FROM shopify.orders WHERE shop_id = $L_ID;
  END LOOP;
  RAISE NOTICE 'agg_ms %', round((extract(epoch FROM clock_timestamp() - t0) * 1000 / n)::numeric, 1);
END \$\$;
SQL
)
ST_PLAN=$("${PSQL[@]}" -At -c "EXPLAIN SELECT count(*), sum(total_price - total_refunded) FILTER (WHERE cancelled_at IS NULL) FROM shopify.orders WHERE shop_id = $L_ID" | head -3 | tr '\n' ' ')
echo "plan of the order aggregate: $ST_PLAN"

echo "== anatomy of one 250-product page"
curl -s -H "X-Shopify-Access-Token: $TOK_L" \
  "$STANDIN_URL/admin/api/2026-07/products.json?limit=250&fields=id,title,vendor,product_type,handle,status,tags,updated_at,variants" \
  > "$WORKDIR/page.json"
chmod 644 "$WORKDIR/page.json"
ANATOMY=$("${PSQL[@]}" -At 2>&1 <<SQL
CREATE TEMP TABLE p AS SELECT pg_read_file('$WORKDIR/page.json') AS t;
CREATE TEMP TABLE v AS SELECT * FROM shopify._variants((SELECT t FROM p), 'rest_products');
CREATE TEMP TABLE sink (LIKE shopify.products INCLUDING DEFAULTS INCLUDING INDEXES);
DO \$\$
DECLARE t0 timestamptz; n int := 20; sqlway float8; cway float8; ins float8; nrows int;
BEGIN
  SELECT count(*) INTO nrows FROM v;
  -- the page handed to SQL as jsonb and expanded there
  t0 := clock_timestamp();
  FOR i IN 1..n LOOP
    PERFORM count(*) FROM (SELECT t::jsonb AS d FROM p) x,
      jsonb_array_elements(d->'products') pr, jsonb_array_elements(pr->'variants') va,
      LATERAL (SELECT (va->>'id')::bigint, (pr->>'id')::bigint, va->>'sku', pr->>'title', va->>'title',
                      pr->>'vendor', pr->>'product_type', pr->>'handle', pr->>'status', pr->>'tags',
                      (va->>'price')::numeric, (va->>'compare_at_price')::numeric, va->>'barcode',
                      (va->>'inventory_quantity')::int, (va->>'inventory_item_id')::bigint,
                      (va->>'position')::int, (va->>'updated_at')::timestamptz,
                      (pr->>'updated_at')::timestamptz) r;
  END LOOP;
  sqlway := extract(epoch FROM clock_timestamp() - t0) * 1000 / n;
  -- the page parsed in C, streaming, straight to typed rows
  t0 := clock_timestamp();
  FOR i IN 1..n LOOP PERFORM count(*) FROM shopify._variants((SELECT t FROM p), 'rest_products'); END LOOP;
  cway := extract(epoch FROM clock_timestamp() - t0) * 1000 / n;
  t0 := clock_timestamp();
  FOR i IN 1..n LOOP
    TRUNCATE sink;
    INSERT INTO sink (sku_id, shop_id, product_id, sku, title, variant_title, vendor, product_type,
                      handle, status, tags, price, compare_at_price, barcode, inventory_quantity,
                      inventory_item_id, position, shopify_updated_at, product_updated_at)
    SELECT sku_id, 1, product_id, sku, title, variant_title, vendor, product_type, handle, status,
           tags, price, compare_at_price, barcode, inventory_quantity, inventory_item_id, position,
           variant_updated_at, product_updated_at FROM v;
  END LOOP;
  ins := extract(epoch FROM clock_timestamp() - t0) * 1000 / n;
  RAISE NOTICE 'anatomy % % % % %', nrows, length((SELECT t FROM p)), round(sqlway::numeric, 2),
    round(cway::numeric, 2), round(ins::numeric, 2);
END \$\$;
SQL
)
read -r _ A_ROWS A_BYTES A_SQL A_C A_INSERT <<<"$(grep -o 'anatomy.*' <<<"$ANATOMY")"

f() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.0f", a / b }'; }
r() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", a / b }'; }
max() { if [ "$1" -gt "$2" ]; then echo "$1"; else echo "$2"; fi; }
echo
echo "== results (PostgreSQL $(pg_config --version | awk '{print $2}'), $(nproc) cores, rate limiting off, stand-in on 127.0.0.1)"
printf '%-6s %-8s %8s | %-25s | %-25s | %s\n' catalog path variants "first sync (all inserts)" "re-sync (nothing changed)" "worker peak RssAnon"
for which in small large; do
  for path in rest graphql bulk; do
    read -r v1 s1 p1 b1 v2 s2 p2 b2 <<<"${R[$which.$path]}"
    printf '%-6s %-8s %8d | %6.2f s %9s var/s | %6.2f s %9s var/s | %6d kB\n' \
      "$which" "$path" "$v1" "$s1" "$(f "$v1" "$s1")" "$s2" "$(f "$v2" "$s2")" "$(max "$p1" "$p2")"
  done
  printf '%-6s %-8s %8s | COPY of the same rows: %.2f s (%s rows/s)\n' "$which" COPY "" "${C[$which]}" "$(f "$v1" "${C[$which]}")"
done
for path in rest graphql bulk; do
  read -r v1 s1 p1 b1 v2 s2 p2 b2 <<<"${R[large.$path]}"
  read -r u1 u2 <<<"${CPU[large.$path]}"
  read -r _ _ q1 _ _ _ q2 _ <<<"${R[small.$path]}"
  echo "$path (large catalog): first sync $(r "$s1" "${C[large]}") x the COPY time, re-sync $(r "$s2" "${C[large]}") x; worker CPU $(printf '%.2f' "$u1") s of $(printf '%.2f' "$s1") s wall; peak memory $(r "$(max "$p1" "$p2")" "$(max "$q1" "$q2")") x the small catalog's"
done
for path in rest graphql; do
  read -r ov os op ou <<<"${O[$path]}"
  echo "orders, $path: $ov orders ($O_LINES line items) in $(printf '%.2f' "$os") s = $(f "$ov" "$os") orders/s; worker peak RssAnon $op kB; worker CPU $(printf '%.2f' "$ou") s"
done
read -r nv ns np nu <<<"${O[notriggers]}"
read -r gv gs gp gu <<<"${O[graphql]}"
echo "orders, graphql without the totals triggers: $nv orders in $(printf '%.2f' "$ns") s = $(f "$nv" "$ns") orders/s (with them: $(r "$gs" "$ns") x the time)"
echo "shopify_store_stats over $ORDERS orders and $O_LINES line items: $ST_IDX ms; the order figures aggregated from every order and line instead: $ST_AGG ms ($(r "$ST_AGG" "$ST_IDX") x); shopify_store_stats with index scans off: $ST_SEQ ms"
echo "one 250-product page ($A_ROWS variants, $A_BYTES bytes) to typed rows: expanded in SQL from jsonb $A_SQL ms, parsed in C $A_C ms ($(r "$A_SQL" "$A_C") x faster); inserting the rows into an indexed table $A_INSERT ms"
