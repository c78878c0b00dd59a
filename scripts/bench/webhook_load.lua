-- wrk script for scripts/bench.sh: POST /shopify/webhooks exactly as Shopify
-- delivers (its headers, the raw body), cycling through pre-signed deliveries
-- that scripts/bench/webhook_deliveries.py wrote to the file named by
-- WEBHOOK_DELIVERIES (one "signature TAB topic TAB body" a line), each with a
-- webhook id of its own (run, thread, sequence).  The requests are built once
-- in init(), around the webhook id, so that wrk spends little CPU per request
-- (wrk.format() per request cost as much as the server); there is no
-- response() callback for the same reason: wrk counts non-2xx answers in
-- summary.errors.status, printed by done().
local pre = {}
local post = {}
local n = 0
local seq = 0
local tid = 0
local run = os.getenv("WEBHOOK_RUN") or "0"
local counter = 0

function setup(thread)
  counter = counter + 1
  thread:set("tid", counter)
end

function init(args)
  tid = wrk.thread:get("tid")
  local shop = os.getenv("WEBHOOK_SHOP")
  local host = wrk.host .. ":" .. wrk.port
  local f = assert(io.open(os.getenv("WEBHOOK_DELIVERIES"), "r"))
  for line in f:lines() do
    local sig, topic, body = line:match("^([^\t]*)\t([^\t]*)\t(.*)$")
    n = n + 1
    pre[n] = "POST /shopify/webhooks HTTP/1.1\r\nHost: " .. host ..
      "\r\nContent-Type: application/json\r\nX-Shopify-Topic: " .. topic ..
      "\r\nX-Shopify-Shop-Domain: " .. shop ..
      "\r\nX-Shopify-Hmac-Sha256: " .. sig ..
      "\r\nX-Shopify-Triggered-At: 2026-12-06T10:00:00.000Z\r\nX-Shopify-Api-Version: 2026-07" ..
      "\r\nX-Shopify-Webhook-Id: bench-" .. run .. "-" .. tid .. "-"
    post[n] = "\r\nContent-Length: " .. #body .. "\r\n\r\n" .. body
  end
  f:close()
  -- threads start at different places of the list
  seq = (tid - 1) * math.floor(n / 2)
end

function request()
  seq = seq + 1
  local i = (seq % n) + 1
  return pre[i] .. seq .. post[i]
end

function done(summary, latency, requests)
  io.write(string.format("requests %d non_2xx %d errors %d %d %d %d\n", summary.requests,
    summary.errors.status, summary.errors.connect, summary.errors.read,
    summary.errors.write, summary.errors.timeout))
  io.write(string.format("latency_p50_us %d p95_us %d\n", latency:percentile(50), latency:percentile(95)))
end
