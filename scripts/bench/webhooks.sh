# Section 5 of scripts/bench.sh (sourced by it): webhook deliveries over
# HTTP to the webhook listener (shopify_sync.webhook_listen), against the
# baseline of shopify_receive_webhook() called from one session, in the same
# run and on the same cluster (fsync on, synchronous_commit on).
#
#  - the listener: WH_CLIENTS (16) concurrent clients (wrk, 2 threads,
#    scripts/bench/webhook_load.lua) for WH_SECONDS (8) s, ~4 kB signed
#    products/update deliveries as Shopify sends them (its headers, the raw
#    body), each with a webhook id of its own; every one must be answered 200,
#    stored once and applied once (the worker's backlog is drained after
#    each run and counted);
#  - the baseline: WH_SQL_CALLS (3,000) of the same deliveries as
#    SELECT shopify_receive_webhook(...) from one psql session (autocommit);
#  - the latency from a delivery's HTTP 200 to its row in the mirror: a probe
#    sends a delivery every 20 ms beside the load (and 100 more on an idle
#    server) and notes when each 200 arrived; the row is in the mirror when
#    the worker's transaction that applied the event commits
#    (pg_xact_commit_timestamp of the event row it marked processed:
#    track_commit_timestamp is on in this cluster); 0 when that commit came
#    before the client had read its 200 (the worker is woken by the
#    listener's commit, and may be quicker than the answer).
# Figures are medians of REPS runs, the runs of the listener and of the
# baseline alternating.  Needs: PSQL, q, WORKDIR, WH_PORT, WH_SECRET (bench.sh).

WH_CLIENTS=${WH_CLIENTS:-16}
WH_SECONDS=${WH_SECONDS:-8}
WH_SQL_CALLS=${WH_SQL_CALLS:-3000}
WH_PRODUCTS=${WH_PRODUCTS:-2000}
WH_SHOP=bench-hooks.myshopify.com

# the probe: one delivery every INTERVAL s for SECONDS s (or COUNT of them);
# writes "event_id epoch_of_the_200" lines
wh_probe() {  # wh_probe OUT SECONDS INTERVAL RUN
  python3 - "$WH_PORT" "$WH_SECRET" "$WH_SHOP" "$1" "$2" "$3" "$4" <<'PY'
import base64, hashlib, hmac, http.client, json, sys, time
port, secret, shop, out, seconds, interval, run = sys.argv[1:8]
seconds, interval = float(seconds), float(interval)
conn = http.client.HTTPConnection("127.0.0.1", int(port), timeout=60)
t_end = time.time() + seconds
i = 0
with open(out, "w") as f:
    while time.time() < t_end:
        i += 1
        pid = 8_000_000_000 + i * 100
        body = json.dumps({"id": pid, "title": f"probe {run} {i}", "vendor": "Probe", "status": "active",
                           "updated_at": "2026-12-06T10:00:00Z", "product_type": "Probe", "handle": f"probe-{i}",
                           "variants": [{"id": pid + 1, "product_id": pid, "title": "Default", "price": "1.00",
                                         "sku": f"P-{i}", "position": 1, "inventory_quantity": 1,
                                         "inventory_item_id": pid + 2, "updated_at": "2026-12-06T10:00:00Z"}],
                           "variant_gids": [{"admin_graphql_api_id": f"gid://shopify/ProductVariant/{pid + 1}"}]})
        sig = base64.b64encode(hmac.new(secret.encode(), body.encode(), hashlib.sha256).digest()).decode()
        t0 = time.time()
        conn.request("POST", "/shopify/webhooks", body=body, headers={
            "Content-Type": "application/json", "X-Shopify-Topic": "products/update",
            "X-Shopify-Shop-Domain": shop, "X-Shopify-Hmac-Sha256": sig,
            "X-Shopify-Webhook-Id": f"probe-{run}-{i}", "X-Shopify-Api-Version": "2026-07",
            "X-Shopify-Triggered-At": "2026-12-06T10:00:00Z"})
        r = conn.getresponse()
        data = r.read()
        t200 = time.time()
        if r.status == 200:
            f.write(f"{json.loads(data)['event_id']}\t{t200:.6f}\n")
        time.sleep(max(0.0, interval - (t200 - t0)))
PY
}

# median and p95 (ms) of the probe's deliveries: HTTP 200 -> applied (commit)
wh_latency() {  # wh_latency PROBE_FILE
  chmod 644 "$1"
  "${PSQL[@]}" -At <<SQL | tail -n 1
CREATE TEMP TABLE probe (event_id bigint, t200 float8);
COPY probe FROM '$1';
SELECT round((percentile_cont(0.5) WITHIN GROUP (ORDER BY ms))::numeric, 1) || ' ' ||
       round((percentile_cont(0.95) WITHIN GROUP (ORDER BY ms))::numeric, 1) || ' ' || count(*)
  FROM (SELECT greatest(0, extract(epoch FROM pg_xact_commit_timestamp(e.xmin)) - p.t200) * 1000 AS ms
          FROM probe p JOIN shopify.webhook_events e ON e.id = p.event_id WHERE e.processed) x;
SQL
}

# until the worker has applied every event; prints the seconds it took
wh_drain() {
  local t0
  t0=$(now_s)
  while [ "$(q "SELECT count(*) FROM shopify.webhook_events WHERE NOT processed")" != 0 ]; do sleep 0.2; done
  awk -v a="$(now_s)" -v b="$t0" 'BEGIN {print a - b}'
}

bench_webhooks() {
  local wh_id rep out rps non2xx reqs stored sql_s drain_s t0 f p50 p95 np i50 i95 ni
  local -a H_RPS=() H_P50=() H_P95=() B_RATE=() A_RATE=()
  echo "== webhooks: $WH_CLIENTS clients over HTTP for $WH_SECONDS s against shopify_receive_webhook() from one session, $REPS runs each"
  wh_id=$("${PSQL[@]}" -At -v t="$(tok)" <<<"SELECT shopify_connect_store('$WH_SHOP', :'t')")
  q "ALTER SYSTEM SET shopify_sync.webhook_rate_limit = 0" >/dev/null
  q "SELECT pg_reload_conf()" >/dev/null
  python3 "$ROOT/scripts/bench/webhook_deliveries.py" "$WH_SECRET" "$(( WH_SECONDS * 9000 ))" "$WH_PRODUCTS" \
    "$WORKDIR/deliveries.txt" | sed 's/^/   /'
  chmod 644 "$WORKDIR/deliveries.txt"
  # the baseline's calls: the same bodies as dollar-quoted literals
  python3 - "$WORKDIR/deliveries.txt" "$WH_SQL_CALLS" "$WH_SHOP" "$WORKDIR/baseline" "$REPS" <<'PY'
import sys
src, n, shop, out, reps = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4], int(sys.argv[5])
lines = [l.rstrip("\n").split("\t", 2) for _, l in zip(range(n), open(src))]
for rep in range(1, reps + 1):
    with open(f"{out}_{rep}.sql", "w") as f:
        for i, (sig, topic, body) in enumerate(lines):
            f.write(f"SELECT shopify_receive_webhook('{topic}', '{shop}', '{sig}', $b${body}$b$, 'sql-{rep}-{i}', '2026-12-06T10:00:00Z');\n")
PY
  chmod 644 "$WORKDIR"/baseline_*.sql
  # warm-up: the listener's and the worker's plans, the tables' first pages
  WEBHOOK_DELIVERIES="$WORKDIR/deliveries.txt" WEBHOOK_SHOP=$WH_SHOP WEBHOOK_RUN=warm \
    wrk -t2 -c"$WH_CLIENTS" -d2s -s "$ROOT/scripts/bench/webhook_load.lua" "http://127.0.0.1:$WH_PORT/shopify/webhooks" >/dev/null
  wh_drain >/dev/null
  for rep in $(seq 1 "$REPS"); do
    # the baseline: one session
    q "CHECKPOINT" >/dev/null
    t0=$(now_s)
    "${PSQL[@]}" -q -f "$WORKDIR/baseline_$rep.sql" >/dev/null
    sql_s=$(awk -v a="$(now_s)" -v b="$t0" 'BEGIN {print a - b}')
    B_RATE+=("$(awk -v n="$WH_SQL_CALLS" -v s="$sql_s" 'BEGIN {printf "%.0f", n / s}')")
    wh_drain >/dev/null
    # the listener, with the probe beside it
    q "CHECKPOINT" >/dev/null
    wh_probe "$WORKDIR/probe_$rep.txt" "$WH_SECONDS" 0.02 "$rep" &
    f=$!
    out=$(WEBHOOK_DELIVERIES="$WORKDIR/deliveries.txt" WEBHOOK_SHOP=$WH_SHOP WEBHOOK_RUN="$rep" \
      wrk -t2 -c"$WH_CLIENTS" -d"${WH_SECONDS}s" -s "$ROOT/scripts/bench/webhook_load.lua" \
      "http://127.0.0.1:$WH_PORT/shopify/webhooks")
    wait "$f"
    rps=$(awk '/^Requests\/sec:/ {printf "%.0f", $2}' <<<"$out")
    read -r reqs non2xx < <(awk '/^requests / {print $2, $4}' <<<"$out")
    drain_s=$(wh_drain)
    stored=$(q "SELECT count(*) FILTER (WHERE processed AND error IS NULL) || ' ' || count(*) FROM shopify.webhook_events WHERE webhook_id LIKE 'bench-$rep-%'")
    echo "   run $rep: shopify_receive_webhook ${B_RATE[-1]}/s ($(f2 "$sql_s") s for $WH_SQL_CALLS); listener $rps/s ($reqs answered, $non2xx not 200; stored and applied: ${stored% *} of ${stored#* }); backlog applied $(f2 "$drain_s") s after the load"
    # wrk counts the answers that came within its time: the requests still in
    # flight when it stopped (at most one per client) are stored too
    if [ "$non2xx" != 0 ] || [ "${stored% *}" != "${stored#* }" ] || [ "${stored#* }" -lt "$reqs" ] ||
       [ "${stored#* }" -gt $(( reqs + WH_CLIENTS )) ]; then
      echo "   !! not every delivery was answered 200, stored once and applied once" >&2
    fi
    H_RPS+=("$rps")
    read -r p50 p95 np < <(wh_latency "$WORKDIR/probe_$rep.txt")
    H_P50+=("$p50"); H_P95+=("$p95")
    # the worker's rate: events applied per second from the first to the last of the run
    A_RATE+=("$(q "SELECT round(count(*) / extract(epoch FROM max(processed_at) - min(processed_at)))
                   FROM shopify.webhook_events WHERE webhook_id LIKE 'bench-$rep-%'")")
  done
  # idle: one delivery every 50 ms, nothing else running
  wh_probe "$WORKDIR/probe_idle.txt" 5 0.05 idle
  wh_drain >/dev/null
  read -r i50 i95 ni < <(wh_latency "$WORKDIR/probe_idle.txt")
  WH_RESULT="listener $(median "${H_RPS[@]}") deliveries/s with $WH_CLIENTS clients (runs: ${H_RPS[*]}); shopify_receive_webhook from one session $(median "${B_RATE[@]}")/s (runs: ${B_RATE[*]}): $(ratio "$(median "${H_RPS[@]}")" "$(median "${B_RATE[@]}")") x
   HTTP 200 -> row in the mirror under that load: median $(median "${H_P50[@]}") ms, p95 $(median "${H_P95[@]}") ms (runs: ${H_P50[*]} / ${H_P95[*]}); on an idle server: median $i50 ms, p95 $i95 ms ($ni deliveries)
   the worker applied $(median "${A_RATE[@]}") events/s (runs: ${A_RATE[*]}); the backlog a run leaves is applied after it"
  echo "5. webhooks: $WH_RESULT"
}
