#!/usr/bin/env bash
# Benchmark of the sync engine (not part of the tests).  Everything runs on
# this machine against the local stand-in, in one run, and is printed as raw
# times beside ratios:
#
#  Figures of section 1 and of the bulk order sync are medians of REPS (3)
#  runs, the runs of the extension and of its baselines alternating.
#  1. Rate limits off, ~100,000 variants (22,000 products), for each path
#     (REST pages, GraphQL pages, a GraphQL bulk operation): a first full sync
#     (inserts) and an unchanged re-sync, against the baseline "fetch the
#     same pages + COPY the same rows into the same table" (the fetch timed
#     with Shopify's Node client writing nothing, or a bulk operation and its
#     download with curl; COPY into shopify.products with its indexes and
#     foreign key), and against what a user would run instead: a short
#     script around Shopify's official Node client and node-postgres
#     (scripts/bench/client_sync.mjs) upserting each page into a table with
#     only a primary key, and into one like shopify.products (its indexes,
#     checks and foreign key).  The worker's peak private memory (RssAnon).
#  2. Orders, rate limits off: 100,000 orders (~225,000 line items) through a
#     bulk operation and over GraphQL pages, against COPY of the same orders
#     and lines into the same tables (with the statistics triggers).
#  3. Standard-plan limits (GraphQL 100 points/s, 1,000-point bucket; REST
#     2 requests/s): time to a complete mirror of 2,500 and 25,000 products
#     and 50,000 orders, over pages, through a bulk operation, and as the
#     worker chooses ('auto', first, from defaults).  Pages of the two large
#     ones would take 40 minutes and hours: they run for PAGES_SAMPLE_S
#     seconds and their time is extrapolated from the listing's progress
#     (said so in the output).
#  4. shopify_store_stats over the orders; where a page's time goes.
#  5. Webhook deliveries over HTTP to the webhook listener (16 clients, ~4 kB
#     signed payloads) against shopify_receive_webhook() from one session,
#     and the latency from a delivery's HTTP 200 to its row in the mirror
#     (scripts/bench/webhooks.sh).  BENCH_ONLY=webhooks runs only this one.
#  6. The rest of the store, every resource at once: 25,000 products, ~100,000
#     inventory levels, 500 collections, ~100,000 metafields, time to a complete
#     mirror with limits off and under Standard limits, against COPY of the same
#     rows (scripts/bench/store.sh).  BENCH_ONLY=store runs only this one.
# Run as root: scripts/bench.sh   (or: make bench)
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
. "$ROOT/scripts/as-root.sh"
as_root "$0" "$@"

"$ROOT/scripts/install-deps.sh"
make -C "$ROOT" -s all >/dev/null
make -C "$ROOT" -s install >/dev/null
. "$ROOT/scripts/lib.sh"
. "$ROOT/scripts/bench/client.sh"
. "$ROOT/scripts/bench/webhooks.sh"
. "$ROOT/scripts/bench/store.sh"
make_workdir shopify_sync_bench
trap cleanup_workdir EXIT

LARGE_PRODUCTS=${LARGE_PRODUCTS:-22000}
ORDERS=${ORDERS:-100000}
STD_SMALL=${STD_SMALL:-2500}
STD_LARGE=${STD_LARGE:-25000}
STD_ORDERS=${STD_ORDERS:-50000}
PAGES_SAMPLE_S=${PAGES_SAMPLE_S:-90}
REPS=${REPS:-3}
V=2026-07
tok() { echo "shpat_$(head -c 16 /dev/urandom | od -An -tx1 | tr -d ' \n')"; }
TOK_L=$(tok); TOK_S=$(tok); TOK_M=$(tok); TOK_O=$(tok); TOK_SF=$(tok); TOK_SS=$(tok)
STD_GQL='"graphql": {"maximum": 1000, "restore": 100}, "bucket": {"size": 40, "leak": 2.0}'
echo "== stand-in: $LARGE_PRODUCTS products and $ORDERS orders without limits; $STD_SMALL and $STD_LARGE products, $STD_ORDERS orders on Standard limits"
# --cache-answers: a page asked for again (same request, same data) is served
# from memory, so the Python stand-in's page generation is paid once, in a
# warm-up pass, not inside the timings of the worker or of the baselines
STANDIN_ARGS=--cache-answers
start_standin "{\"shops\": [
 {\"domain\": \"bench-large.myshopify.com\", \"token\": \"$TOK_L\", \"bucket\": null, \"graphql\": null,
  \"catalog\": {\"products\": $LARGE_PRODUCTS, \"variants_min\": 1, \"variants_max\": 8, \"seed\": 2, \"awkward\": false},
  \"orders\": {\"count\": $ORDERS, \"seed\": 7, \"days\": 365}},
 {\"domain\": \"std-small.myshopify.com\", \"token\": \"$TOK_S\", $STD_GQL,
  \"catalog\": {\"products\": $STD_SMALL, \"variants_min\": 1, \"variants_max\": 8, \"seed\": 3, \"awkward\": false}},
 {\"domain\": \"std-large.myshopify.com\", \"token\": \"$TOK_M\", $STD_GQL,
  \"catalog\": {\"products\": $STD_LARGE, \"variants_min\": 1, \"variants_max\": 8, \"seed\": 4, \"awkward\": false}},
 {\"domain\": \"std-orders.myshopify.com\", \"token\": \"$TOK_O\", $STD_GQL,
  \"catalog\": {\"products\": 200, \"seed\": 5, \"awkward\": false},
  \"orders\": {\"count\": $STD_ORDERS, \"seed\": 8, \"days\": 365}},
$(store_shop_json store-free.myshopify.com "$TOK_SF" '"bucket": null, "graphql": null' 21),
$(store_shop_json store-std.myshopify.com "$TOK_SS" "$STD_GQL" 22)]}"
BENCH_DB=bench
echo "== cluster"
WH_PORT=$(free_port)
WH_SECRET="bench-secret-$(head -c 8 /dev/urandom | od -An -tx1 | tr -d ' \n')"
start_cluster bench "shopify_sync.api_base_url = '$STANDIN_URL'
shopify_sync.webhook_listen = '127.0.0.1:$WH_PORT'
shopify_sync.webhook_secret = '$WH_SECRET'
track_commit_timestamp = on
shared_buffers = 256MB
max_wal_size = 4GB
checkpoint_timeout = 30min"
"${PSQL[@]}" -c "CREATE EXTENSION shopify_sync"
wait_worker
WPID=
L_ID=$("${PSQL[@]}" -At -v t="$TOK_L" <<<"SELECT shopify_connect_store('bench-large.myshopify.com', :'t')")
S_ID=$("${PSQL[@]}" -At -v t="$TOK_S" <<<"SELECT shopify_connect_store('std-small.myshopify.com', :'t')")
M_ID=$("${PSQL[@]}" -At -v t="$TOK_M" <<<"SELECT shopify_connect_store('std-large.myshopify.com', :'t')")
O_ID=$("${PSQL[@]}" -At -v t="$TOK_O" <<<"SELECT shopify_connect_store('std-orders.myshopify.com', :'t')")
SF_ID=$("${PSQL[@]}" -At -v t="$TOK_SF" <<<"SELECT shopify_connect_store('store-free.myshopify.com', :'t')")
SS_ID=$("${PSQL[@]}" -At -v t="$TOK_SS" <<<"SELECT shopify_connect_store('store-std.myshopify.com', :'t')")

q() { "${PSQL[@]}" -At -c "$1"; }
now_s() { date +%s.%N; }
rss_anon() { awk '/^RssAnon:/ {print $2}' "/proc/$WPID/status"; }
cpu_s() { awk -v hz="$(getconf CLK_TCK)" '{print ($14 + $15) / hz}' "/proc/$WPID/stat"; }
f0() { awk -v a="$1" 'BEGIN { printf "%.0f", a }'; }
f2() { awk -v a="$1" 'BEGIN { printf "%.2f", a }'; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", a / b }'; }
sum() { awk -v a="$1" -v b="$2" 'BEGIN { print a + b }'; }

# a new worker process, so that each run's memory is its own
fresh_worker() {
  q "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE backend_type = 'shopify_sync worker'" >/dev/null
  sleep 0.5
  wait_worker
  WPID=$(q "SELECT pid FROM pg_stat_activity WHERE backend_type = 'shopify_sync worker'")
}

# set_path SHOP_ID rest|graphql|bulk|auto
set_path() {
  local sid=$1 path=$2 api=graphql thr=-1
  case "$path" in rest) api=rest ;; bulk) thr=0 ;; auto) thr=auto ;; esac
  q "SELECT shopify_set_store_api($sid, '$api')" >/dev/null
  q "ALTER SYSTEM SET shopify_sync.bulk_threshold = '$thr'" >/dev/null
  q "SELECT pg_reload_conf()" >/dev/null
  sleep 0.3
}

# sync_once SHOP_ID products|orders [full]: prints "rows seconds peak_kB cpu_s api"
sync_once() {
  local sid=$1 what=${2:-products} full=${3:-true} base peak job st v s c0
  c0=$(cpu_s)
  base=$(rss_anon)
  peak=$base
  job=$(q "SELECT id FROM shopify_sync_$what($sid, $full)")
  while :; do
    v=$(rss_anon)
    [ "$v" -gt "$peak" ] && peak=$v
    st=$(q "SELECT status FROM shopify.sync_jobs WHERE id = $job")
    case "$st" in completed|failed|cancelled) break ;; esac
    sleep 0.02
  done
  if [ "$st" != completed ]; then
    "${PSQL[@]}" -c "SELECT status, error FROM shopify.sync_jobs WHERE id = $job" >&2
    exit 1
  fi
  read -r v s a < <(q "SELECT variants_processed, extract(epoch FROM finished_at - started_at), api FROM shopify.sync_jobs WHERE id = $job" | tr '|' ' ')
  echo "$v $s $peak $(awk -v a="$(cpu_s)" -v b="$c0" 'BEGIN {print a - b}') $a"
}

clear_products() { q "DELETE FROM shopify.products WHERE shop_id = $1" >/dev/null; q "VACUUM shopify.products" >/dev/null; q "CHECKPOINT" >/dev/null; }
clear_orders() { q "DELETE FROM shopify.orders WHERE shop_id = $1" >/dev/null; q "VACUUM shopify.orders, shopify.order_lines" >/dev/null; q "CHECKPOINT" >/dev/null; }

# copy_time TABLE SHOP_ID...: COPY the store's rows out, delete them, time the
# COPY back into the same table (same indexes, foreign keys, triggers)
copy_products() {
  local sid=$1 f="$WORKDIR/rows_$1.copy"
  q "COPY (SELECT * FROM shopify.products WHERE shop_id = $sid) TO '$f'" >/dev/null
  clear_products "$sid"
  "${PSQL[@]}" -At -c "SELECT extract(epoch FROM clock_timestamp())" \
    -c "COPY shopify.products FROM '$f'" -c "SELECT extract(epoch FROM clock_timestamp())" \
    | awk 'NR == 1 {a = $1} END {print $1 - a}'
}
copy_orders() {
  local sid=$1 fo="$WORKDIR/orders_$1.copy" fl="$WORKDIR/lines_$1.copy"
  q "COPY (SELECT * FROM shopify.orders WHERE shop_id = $sid) TO '$fo'" >/dev/null
  q "COPY (SELECT * FROM shopify.order_lines WHERE shop_id = $sid) TO '$fl'" >/dev/null
  clear_orders "$sid"
  "${PSQL[@]}" -At -c "SELECT extract(epoch FROM clock_timestamp())" \
    -c "BEGIN" -c "COPY shopify.orders FROM '$fo'" -c "COPY shopify.order_lines FROM '$fl'" -c "COMMIT" \
    -c "SELECT extract(epoch FROM clock_timestamp())" \
    | awk 'NR == 1 {a = $1} END {print $1 - a}'
}

# the GraphQL endpoint with a shop's token (for the bulk fetch baseline)
gql() {  # gql TOKEN QUERY_JSON
  curl -s -X POST -H "X-Shopify-Access-Token: $1" -H 'Content-Type: application/json' \
    --data-binary "$2" "$STANDIN_URL/admin/api/$V/graphql.json"
}
# bulk_fetch_time TOKEN products|orders: a bulk operation of the same query
# as the worker's, polled every 0.2 s, and its file downloaded; prints seconds
bulk_fetch_time() {
  local token=$1 what=$2 inner start id st url t0
  inner=$(q "SELECT query FROM shopify._graphql_documents() WHERE name = 'bulk:$what'")
  start=$(python3 -c 'import json,sys; print(json.dumps({"query": "mutation { bulkOperationRunQuery(query: %s) { bulkOperation { id } userErrors { message } } }" % json.dumps(sys.argv[1])}))' "$inner")
  t0=$(now_s)
  id=$(gql "$token" "$start" | python3 -c 'import json,sys; print(json.load(sys.stdin)["data"]["bulkOperationRunQuery"]["bulkOperation"]["id"])')
  while :; do
    read -r st url < <(gql "$token" "{\"query\": \"{ node(id: \\\"$id\\\") { ... on BulkOperation { status url } } }\"}" \
      | python3 -c 'import json,sys; n=json.load(sys.stdin)["data"]["node"]; print(n["status"], n["url"] or "-")')
    [ "$st" = COMPLETED ] && break
    case "$st" in FAILED|CANCELED|EXPIRED) echo "bulk fetch baseline: $st" >&2; exit 1 ;; esac
    sleep 0.2
  done
  curl -s -o /dev/null "$url"
  awk -v a="$(now_s)" -v b="$t0" 'BEGIN {print a - b}'
}
json_field() { python3 -c 'import json,sys; print(json.loads(sys.argv[1])[sys.argv[2]])' "$1" "$2"; }

# ------------------------------------------------------------ 1. products, limits off
# Each figure is the median of REPS runs (this kind of machine varies by
# +-30 % from one run to the next); the runs of the extension and of its
# baselines alternate, so that they see the same machine.
median() { printf '%s\n' "$@" | sort -g | awk '{a[NR] = $1} END {print a[int((NR + 1) / 2)]}'; }
if [ "${BENCH_ONLY:-}" = webhooks ]; then
  bench_webhooks
  exit 0
fi
if [ "${BENCH_ONLY:-}" = store ]; then
  WPID=$(q "SELECT pid FROM pg_stat_activity WHERE backend_type = 'shopify_sync worker'")
  bench_store "$SF_ID" "$SS_ID"
  echo
  store_results
  exit 0
fi
declare -A R F N
C_RUNS=()
for path in rest graphql bulk; do
  echo "== $LARGE_PRODUCTS products, $path: first sync (inserts), re-sync (no change), $REPS runs each"
  set_path "$L_ID" "$path"
  fresh_worker
  clear_products "$L_ID"
  sync_once "$L_ID" >/dev/null     # warm-up: the stand-in generates these answers once
  case "$path" in
    bulk) bulk_fetch_time "$TOK_L" products >/dev/null ;;
    *) client_sync_time "$path" bench-large.myshopify.com "$TOK_L" --fetch-only >/dev/null ;;
  esac
  s1s=(); u1s=(); s2s=(); u2s=(); fs=(); p1=0; p2=0
  for _ in $(seq 1 "$REPS"); do
    clear_products "$L_ID"
    read -r v1 s1 pk u1 a1 < <(sync_once "$L_ID")
    s1s+=("$s1"); u1s+=("$u1"); [ "$pk" -gt "$p1" ] && p1=$pk
    q "CHECKPOINT" >/dev/null
    read -r v2 s2 pk u2 a2 < <(sync_once "$L_ID")
    s2s+=("$s2"); u2s+=("$u2"); [ "$pk" -gt "$p2" ] && p2=$pk
    case "$path" in
      bulk) fs+=("$(bulk_fetch_time "$TOK_L" products)") ;;
      *) fs+=("$(json_field "$(client_sync_time "$path" bench-large.myshopify.com "$TOK_L" --fetch-only)" seconds)") ;;
    esac
  done
  R[$path]="$v1 $(median "${s1s[@]}") $p1 $(median "${u1s[@]}") $v2 $(median "${s2s[@]}") $p2 $(median "${u2s[@]}")"
  F[$path]=$(median "${fs[@]}")
  # COPY of the same rows, between the runs of each path
  C_RUNS+=("$(copy_products "$L_ID")")
done
C_PRODUCTS=$(median "${C_RUNS[@]}")
echo "== what a user would run instead: Shopify's Node client + node-postgres, REST and GraphQL, $REPS runs each"
for api in rest graphql; do
  # into a table with only a primary key, then into one like shopify.products
  n1s=(); n2s=(); n3s=(); n4s=()
  for _ in $(seq 1 "$REPS"); do
    n1=$(client_sync_time "$api" bench-large.myshopify.com "$TOK_L" --truncate)
    n1s+=("$(json_field "$n1" seconds)")
    n2s+=("$(json_field "$(client_sync_time "$api" bench-large.myshopify.com "$TOK_L")" seconds)")
    n3s+=("$(json_field "$(client_sync_time "$api" bench-large.myshopify.com "$TOK_L" --truncate --like-mirror --table client_like --shop-id "$L_ID")" seconds)")
    n4s+=("$(json_field "$(client_sync_time "$api" bench-large.myshopify.com "$TOK_L" --like-mirror --table client_like --shop-id "$L_ID")" seconds)")
  done
  N[$api]="$(median "${n1s[@]}") $(median "${n2s[@]}") $(json_field "$n1" variants) $(median "${n3s[@]}") $(median "${n4s[@]}")"
done

# ------------------------------------------------------------ 2. orders, limits off
echo "== $ORDERS orders: through a bulk operation and over GraphQL pages"
declare -A O
# bulk: REPS runs, each followed by the bulk fetch and the COPY baselines;
# pages (40 s a run): one
CO=(); FO=()
for path in bulk graphql; do
  set_path "$L_ID" "$path"
  fresh_worker
  clear_orders "$L_ID"
  sync_once "$L_ID" orders >/dev/null   # warm-up, as for products
  oss=(); ous=(); opk=0
  n=1; [ "$path" = bulk ] && n=$REPS
  for _ in $(seq 1 "$n"); do
    clear_orders "$L_ID"
    read -r ov os op ou oa < <(sync_once "$L_ID" orders)
    oss+=("$os"); ous+=("$ou"); [ "$op" -gt "$opk" ] && opk=$op
    if [ "$path" = bulk ]; then
      FO+=("$(bulk_fetch_time "$TOK_L" orders)")
      CO+=("$(copy_orders "$L_ID")")
    fi
  done
  O[$path]="$ov $(median "${oss[@]}") $opk $(median "${ous[@]}")"
done
O_LINES=$(q "SELECT count(*) FROM shopify.order_lines WHERE shop_id = $L_ID")
F_ORDERS=$(median "${FO[@]}")
C_ORDERS=$(median "${CO[@]}")
q "VACUUM ANALYZE shopify.orders, shopify.order_lines" >/dev/null

# ------------------------------------------------------------ 3. Standard limits
# time to a complete mirror, per path; pages of the large stores are sampled
# std_run SHOP_ID products|orders PATH [sample_s]: prints "seconds api extrapolated"
std_run() {
  local sid=$1 what=$2 path=$3 sample=${4:-0} job st t0 el got total
  set_path "$sid" "$path"
  [ "$what" = products ] && clear_products "$sid" || clear_orders "$sid"
  job=$(q "SELECT id FROM shopify_sync_$what($sid)")
  t0=$(now_s)
  while :; do
    st=$(q "SELECT status FROM shopify.sync_jobs WHERE id = $job")
    case "$st" in completed|failed|cancelled) break ;; esac
    el=$(awk -v a="$(now_s)" -v b="$t0" 'BEGIN {print a - b}')
    if [ "$sample" != 0 ] && awk -v e="$el" -v s="$sample" 'BEGIN {exit !(e >= s)}'; then
      read -r got total < <(q "SELECT products_fetched, coalesce(total_products, 0) FROM shopify.sync_jobs WHERE id = $job" | tr '|' ' ')
      q "SELECT shopify_cancel_sync($job)" >/dev/null
      q "SELECT status FROM shopify_wait_for_sync($job, '60 seconds')" >/dev/null
      awk -v e="$el" -v g="$got" -v t="$total" 'BEGIN { if (g > 0) printf "%.0f", e * t / g; else print "nan" }'
      echo " pages extrapolated"
      return
    fi
    sleep 0.5
  done
  [ "$st" = completed ] || { "${PSQL[@]}" -c "SELECT status, error FROM shopify.sync_jobs WHERE id = $job" >&2; exit 1; }
  q "SELECT round(extract(epoch FROM finished_at - started_at)::numeric, 1), api FROM shopify.sync_jobs WHERE id = $job" | tr '|' ' '
}
declare -A S
# warm: the stand-in generates a bulk export once and serves it from its
# cache afterwards (--cache-answers); one bulk run per store first, so the
# chosen and the bulk run below both meet a warm stand-in.  The stores then
# forget what that run taught the choice of path: "chosen" is from defaults.
warm_std() {
  std_run "$1" "$2" bulk >/dev/null
  q "UPDATE shopify.stores SET path_stats = '{}' WHERE shop_id = $1" >/dev/null
}
echo "== Standard limits: $STD_SMALL products (chosen, then each path)"
warm_std "$S_ID" products
S[small.auto]=$(std_run "$S_ID" products auto)
S[small.reason]=$(q "SELECT path_reason FROM shopify.sync_jobs WHERE shop_id = $S_ID ORDER BY id DESC LIMIT 1")
S[small.bulk]=$(std_run "$S_ID" products bulk)
S[small.pages]=$(std_run "$S_ID" products graphql)
echo "== Standard limits: $STD_LARGE products"
warm_std "$M_ID" products
S[large.auto]=$(std_run "$M_ID" products auto)
S[large.reason]=$(q "SELECT path_reason FROM shopify.sync_jobs WHERE shop_id = $M_ID ORDER BY id DESC LIMIT 1")
S[large.bulk]=$(std_run "$M_ID" products bulk)
S[large.pages]=$(std_run "$M_ID" products graphql "$PAGES_SAMPLE_S")
echo "== Standard limits: $STD_ORDERS orders"
warm_std "$O_ID" orders
S[orders.auto]=$(std_run "$O_ID" orders auto)
S[orders.reason]=$(q "SELECT path_reason FROM shopify.sync_jobs WHERE shop_id = $O_ID ORDER BY id DESC LIMIT 1")
S[orders.bulk]=$(std_run "$O_ID" orders bulk)
S[orders.pages]=$(std_run "$O_ID" orders graphql "$PAGES_SAMPLE_S")

# ------------------------------------------------------------ 4. statistics, anatomy
echo "== shopify_store_stats over the orders (mean of 20 calls)"
set_path "$L_ID" bulk
fresh_worker
clear_orders "$L_ID"
sync_once "$L_ID" orders >/dev/null
q "VACUUM ANALYZE shopify.orders, shopify.order_lines" >/dev/null
ST_MS=$("${PSQL[@]}" -At 2>&1 <<SQL | grep -o 'stats_ms.*' | awk '{print $2}'
DO \$\$
DECLARE t0 timestamptz; n int := 20;
BEGIN
  PERFORM shopify_store_stats($L_ID);
  t0 := clock_timestamp();
  FOR i IN 1..n LOOP PERFORM shopify_store_stats($L_ID); END LOOP;
  RAISE NOTICE 'stats_ms %', round((extract(epoch FROM clock_timestamp() - t0) * 1000 / n)::numeric, 1);
END \$\$;
SQL
)
echo "== anatomy of one 250-product REST page"
curl -s -H "X-Shopify-Access-Token: $TOK_L" \
  "$STANDIN_URL/admin/api/$V/products.json?limit=250&fields=id,title,vendor,product_type,handle,status,tags,updated_at,variants" \
  > "$WORKDIR/page.json"
chmod 644 "$WORKDIR/page.json"
ANATOMY=$("${PSQL[@]}" -At 2>&1 <<SQL
CREATE TEMP TABLE p (t text);
ALTER TABLE p ALTER t SET STORAGE EXTERNAL;
INSERT INTO p SELECT pg_read_file('$WORKDIR/page.json');
DO \$\$
DECLARE t0 timestamptz; n int := 20; sqlway float8; cway float8; nrows int;
BEGIN
  SELECT count(*) INTO nrows FROM p, shopify._variants(p.t, 'rest_products');
  t0 := clock_timestamp();
  FOR i IN 1..n LOOP
    PERFORM count(*) FROM (SELECT t::jsonb AS d FROM p) x,
      jsonb_array_elements(d->'products') pr, jsonb_array_elements(pr->'variants') va;
  END LOOP;
  sqlway := extract(epoch FROM clock_timestamp() - t0) * 1000 / n;
  t0 := clock_timestamp();
  FOR i IN 1..n LOOP PERFORM count(*) FROM p, shopify._variants(p.t, 'rest_products'); END LOOP;
  cway := extract(epoch FROM clock_timestamp() - t0) * 1000 / n;
  RAISE NOTICE 'anatomy % % % %', nrows, length((SELECT t FROM p)), round(sqlway::numeric, 2),
    round(cway::numeric, 2);
END \$\$;
SQL
)
read -r _ A_ROWS A_BYTES A_SQL A_C <<<"$(grep -o 'anatomy.*' <<<"$ANATOMY")"

# ------------------------------------------------------------ results
echo
echo "== results (PostgreSQL $(pg_config --version | awk '{print $2}'), $(nproc) cores, stand-in on 127.0.0.1)"
echo
echo "1. $LARGE_PRODUCTS products, rate limits off"
printf '   %-8s %8s | %-24s | %-24s | %-12s | %s\n' path variants "first sync (inserts)" "re-sync (no change)" "fetch alone" "worker peak RssAnon"
for path in rest graphql bulk; do
  read -r v1 s1 p1 u1 v2 s2 p2 u2 <<<"${R[$path]}"
  printf '   %-8s %8d | %6.2f s %12s | %6.2f s %12s | %6.2f s     | %6d kB\n' "$path" "$v1" "$s1" \
    "($(f0 "$(awk -v a="$v1" -v b="$s1" 'BEGIN{print a/b}')")/s)" "$s2" "($(f0 "$(awk -v a="$v2" -v b="$s2" 'BEGIN{print a/b}')")/s)" \
    "${F[$path]}" "$(( p1 > p2 ? p1 : p2 ))"
done
printf '   COPY of the same rows into shopify.products: %.2f s\n' "$C_PRODUCTS"
for path in rest graphql bulk; do
  read -r v1 s1 p1 u1 v2 s2 p2 u2 <<<"${R[$path]}"
  base=$(sum "${F[$path]}" "$C_PRODUCTS")
  echo "   $path: first sync $(ratio "$s1" "$base") x (fetch $(f2 "${F[$path]}") s + COPY $(f2 "$C_PRODUCTS") s = $(f2 "$base") s), re-sync $(ratio "$s2" "$base") x; worker CPU $(f2 "$u1") s of $(f2 "$s1") s"
done
for api in rest graphql; do
  read -r n1 n2 nv n3 n4 <<<"${N[$api]}"
  read -r v1 s1 p1 u1 v2 s2 p2 u2 <<<"${R[$api]}"
  echo "   the Node client script, $api ($nv variants): into a table with a primary key only: first $(f2 "$n1") s, re-sync $(f2 "$n2") s (the extension $(ratio "$n1" "$s1") x / $(ratio "$n2" "$s2") x faster);"
  echo "      into a table like shopify.products (its indexes, the foreign key): first $(f2 "$n3") s, re-sync $(f2 "$n4") s (the extension $(ratio "$n3" "$s1") x / $(ratio "$n4" "$s2") x faster)"
done
echo
echo "2. $ORDERS orders, $O_LINES line items, rate limits off"
for path in bulk graphql; do
  read -r ov os op ou <<<"${O[$path]}"
  echo "   $path: $(f2 "$os") s ($(f0 "$(awk -v a="$ov" -v b="$os" 'BEGIN{print a/b}')") orders/s, worker CPU $(f2 "$ou") s, peak RssAnon $op kB); $(ratio "$os" "$C_ORDERS") x COPY, $(ratio "$os" "$(sum "$C_ORDERS" "$F_ORDERS")") x (bulk fetch + COPY)"
done
echo "   COPY of the same orders and lines (with the statistics triggers): $(f2 "$C_ORDERS") s; the bulk operation and its download alone: $(f2 "$F_ORDERS") s"
echo
echo "3. Standard limits (GraphQL 100 points/s, 1,000-point bucket): time to a complete mirror"
for k in small large orders; do
  case "$k" in small) what="$STD_SMALL products" ;; large) what="$STD_LARGE products" ;; orders) what="$STD_ORDERS orders" ;; esac
  read -r ta aa <<<"${S[$k.auto]}"
  read -r tb _ <<<"${S[$k.bulk]}"
  read -r tp ap ex <<<"${S[$k.pages]}"
  best=$(awk -v a="$tb" -v b="$tp" 'BEGIN { print (b == "nan" || a < b) ? a : b }')
  echo "   $what: chosen ($aa) $ta s; bulk $tb s; pages $tp s${ex:+ (extrapolated from ${PAGES_SAMPLE_S} s)}; chosen/fastest $(ratio "$ta" "$best") x"
  echo "     why: ${S[$k.reason]}"
done
echo
echo "4. shopify_store_stats over $ORDERS orders: $ST_MS ms"
echo "   one 250-product REST page ($A_ROWS variants, $A_BYTES bytes) to typed rows: expanded in SQL from jsonb $A_SQL ms, read in C (yajl, declared fields) $A_C ms ($(ratio "$A_SQL" "$A_C") x faster)"

# ------------------------------------------------------------ 5. webhooks
echo
bench_webhooks

# ------------------------------------------------------------ 6. the rest of the store
echo
bench_store "$SF_ID" "$SS_ID"
echo
store_results
