"""HTTP/1.1 server, shop registry and the request pipeline.

Pipeline for ``kind="api"`` routes:  token -> shop; fault pick; latency;
pre-faults (5xx/429/reset/hang/nonjson) short-circuit; 401 if the token is
unknown/revoked; REST leaky bucket (routes with bucket="rest"); handler;
headers (X-Request-Id, call limit, deprecation, API version); delivery
(normal, or slow/truncated); stats.  ``kind="public"`` routes (bulk files)
take the same path minus auth and bucket; their shop comes from
``route.shop_of``; streamed bodies are cut mid-way by reset/truncated.
Crafted answers (inject.py) replace or edit the body of a 2xx answer just
before delivery.
"""
import io
import itertools
import random
import socket
import struct
import sys
import threading
import time
import traceback
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import urlsplit

from . import catalog, limits
from .routing import ROUTER, HttpError, Response, Request, error
from .stats import Stats, UNAUTH

# Handler modules register their routes on import; add new ones here.
from . import rest, control, graphql, bulk  # noqa: E402
from . import orders_gen, orders_rest, orders_graphql, draft_orders  # noqa: E402
from . import store_gen, store_graphql, store_rest, store_control  # noqa: E402
from . import inject  # noqa: E402
HANDLER_MODULES = (rest, control, graphql, bulk, orders_rest, orders_graphql, store_graphql,
                   store_rest, store_control, inject)

INVALID_TOKEN = ("[API] Invalid API key or access token "
                 "(unrecognized login or wrong password)")
THROTTLED = ("Exceeded 2 calls per second for api client. "
             "Reduce request rates to resume uninterrupted service.")
FAULT_BODIES = {500: "Internal Server Error", 502: "Bad Gateway",
                503: "Service Unavailable", 504: "Gateway Timeout"}
NONJSON_BODY = ("<!DOCTYPE html><html><head><title>502 Bad Gateway</title></head>"
                "<body><center><h1>502 Bad Gateway</h1></center><hr>"
                "<center>cloudflare</center></body></html>")
ID_BLOCK = 10 ** 9
_CONN_IDS = itertools.count(1)


def log(msg):
    sys.stderr.write("standin: %s\n" % msg)
    sys.stderr.flush()


class ConfigError(ValueError):
    pass


class State:
    """Everything the handlers share: shops, faults, stats."""

    def __init__(self, verbose=False):
        self.lock = threading.RLock()
        self.add_lock = threading.Lock()
        self.shops = {}            # domain -> Shop
        self.tokens = {}           # current token -> Shop
        self.revoked = {}          # old token -> Shop (401s still counted per shop)
        self.faults = limits.Faults()
        self.stats = Stats()
        self.stop_event = threading.Event()
        self.verbose = verbose
        self.port = None           # set by Server once bound (bulk result URLs)
        self.scheme = "http"
        self.cache_answers = False  # --cache-answers (benchmarks)
        self.answer_cache = {}     # (shop, method, path, query, body) -> answer
        self.answer_bytes = 0
        self.cache_lock = threading.Lock()

    def cache_answer(self, key, answer, size=None):
        with self.cache_lock:
            if self.answer_bytes > (512 << 20):
                self.answer_cache.clear()
                self.answer_bytes = 0
            self.answer_cache[key] = answer
            self.answer_bytes += len(answer[1]) if size is None else size

    def answers_changed(self):
        with self.cache_lock:
            self.answer_cache.clear()
            self.answer_bytes = 0

    def lookup(self, token):
        """-> (shop or None, authorized)."""
        if not token:
            return None, False
        with self.lock:
            s = self.tokens.get(token)
            if s is not None:
                return s, True
            return self.revoked.get(token), False

    def shop(self, domain):
        with self.lock:
            s = self.shops.get(domain)
        if s is None:
            raise HttpError(404, "unknown shop %s" % domain)
        return s

    def _auto_id_base(self):
        top = max([s.next_id for s in self.shops.values()] + [0])
        return (top // ID_BLOCK + 1) * ID_BLOCK

    def add_shop(self, cfg):
        if not isinstance(cfg, dict) or not cfg.get("domain") or not cfg.get("token"):
            raise ConfigError("a shop needs at least domain and token")
        with self.add_lock:
            with self.lock:
                if cfg["domain"] in self.shops:
                    raise ConfigError("shop %s already exists" % cfg["domain"])
                if cfg["token"] in self.tokens:
                    raise ConfigError("token already used by another shop")
                base = cfg.get("id_base")
                base = self._auto_id_base() if base is None else int(base)
                for o in self.shops.values():
                    lo, hi = o.id_range()
                    if lo <= base < hi:
                        raise ConfigError("id_base %d of %s lies inside the id range of "
                                          "%s [%d, %d)" % (base, cfg["domain"],
                                                           o.domain, lo, hi))
                above = [o.id_base for o in self.shops.values() if o.id_base > base]
            shop = catalog.Shop(cfg, base)
            shop.id_limit = min(above) if above else None
            shop.bucket = self.make_bucket(shop.bucket_cfg)
            try:
                shop.gql_bucket = limits.CostBucket(cfg.get("graphql",
                                                            limits.CostBucket.DEFAULT))
            except (AttributeError, TypeError, ValueError) as e:
                raise ConfigError("bad graphql config of %s: %s" % (cfg["domain"], e))
            shop.bulk = bulk.BulkState()
            t0 = time.monotonic()
            try:
                catalog.generate(shop, cfg.get("catalog"), random.Random)
                dt = time.monotonic() - t0
                try:
                    orders_gen.generate(shop, cfg.get("orders"))
                except (AttributeError, TypeError, ValueError) as e:
                    raise ConfigError("bad orders config of %s: %s" % (cfg["domain"], e))
                try:
                    draft_orders.generate(shop, cfg.get("draft_orders"))
                except (AttributeError, TypeError, ValueError) as e:
                    raise ConfigError("bad draft_orders config of %s: %s" % (cfg["domain"], e))
                try:
                    store_gen.generate(shop, cfg)
                except (AttributeError, TypeError, ValueError) as e:
                    raise ConfigError("bad store config of %s: %s" % (cfg["domain"], e))
            except catalog.IdSpaceError as e:
                raise ConfigError(str(e))
            with self.lock:
                self.shops[shop.domain] = shop
                self.tokens[shop.token] = shop
                for o in self.shops.values():
                    ups = [x.id_base for x in self.shops.values() if x.id_base > o.id_base]
                    o.id_limit = min(ups) if ups else None
            self.stats.ensure(shop.domain)
        log("shop %s: %d products, %d variants, ids [%d, %d) generated in %.2fs"
            % (shop.domain, len(shop.order), shop.variant_count, shop.id_base,
               shop.next_id, dt))
        if cfg.get("orders"):
            log("shop %s: %d orders generated in %.2fs"
                % (shop.domain, len(shop.orders), shop.orders.gen_seconds))
        if any(cfg.get(k) is not None for k in store_gen.KEYS):
            st = shop.store
            log("shop %s: %d locations, %d inventory levels, %d collections, %d metafields, "
                "%d customers generated in %.2fs"
                % (shop.domain, len(st.locations), sum(len(v) for v in st.levels.values()),
                   len(st.collections), len(st.metafields), len(st.customers), st.gen_seconds))
        return shop

    @staticmethod
    def make_bucket(b):
        if not b or b.get("enabled") is False:
            return None
        return limits.Bucket(b.get("size", 40), b.get("leak", 2.0))

    def set_token(self, shop, token):
        with self.lock:
            if token in self.tokens and self.tokens[token] is not shop:
                raise HttpError(400, "token already used by another shop")
            self.tokens.pop(shop.token, None)
            self.revoked[shop.token] = shop
            self.revoked.pop(token, None)
            shop.token = token
            self.tokens[token] = shop


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "cloudflare"
    sys_version = ""
    timeout = 120          # idle keep-alive connections are closed after this

    def setup(self):
        super().setup()
        self.conn_id = next(_CONN_IDS)
        try:
            self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        except OSError:
            pass

    def version_string(self):
        return self.server_version

    def log_message(self, fmt, *args):     # silence the default access log
        pass

    def do_GET(self):
        self._handle("GET")

    def do_POST(self):
        self._handle("POST")

    def do_PUT(self):
        self._handle("PUT")

    def do_DELETE(self):
        self._handle("DELETE")

    def do_PATCH(self):
        self._handle("PATCH")

    # -- pipeline -------------------------------------------------------------
    def _handle(self, method):
        state = self.server.state
        t0 = time.monotonic()
        url = urlsplit(self.path)
        try:
            n = int(self.headers.get("Content-Length") or 0)
        except ValueError:
            n = 0
        body = self.rfile.read(n) if n > 0 else b""
        req = Request(method, url.path, url.query, self.headers, body, self.conn_id,
                      state)
        req.route = None
        req.req_id = str(uuid.uuid4())
        route, groups = ROUTER.match(method, url.path)
        if route is None and not url.path.startswith("/admin/"):
            self._send(error(404, "Not Found"), req)
            return
        if route is not None:
            req.match = groups
            req.route = route
        if route is not None and route.kind == "control":
            resp = self._call(route.fn, req)
            if method != "GET" and "/stats" not in url.path:
                state.answers_changed()     # data (or tokens, buckets) may differ now
            self._send(resp, req)
            if state.verbose or resp.status >= 400 or method != "GET":
                log("control %s %s -> %d (%.1fms)" % (method, url.path, resp.status,
                                                      (time.monotonic() - t0) * 1000))
            return
        self._api(route, req, t0)

    def _answer(self, route, req, shop):
        """The handler's answer; the same request for the same data is served
        from a cache (a page is generated once: a benchmark that fetches the
        same catalog several times measures its client, not this Python
        server).  Only reads whose answer depends on nothing but the request
        and the data: REST listings, and GraphQL queries of a shop whose cost
        bucket is off (with a bucket, every answer carries its throttle
        status).  Faults, the REST bucket and injections apply as usual."""
        cacheable = self.server.state.cache_answers and shop is not None and route.kind == "api" and not route.streams and (
            req.method == "GET" or (route.bucket is None and req.path.endswith("/graphql.json")
                                    and not shop.gql_bucket.enabled
                                    and b"mutation" not in req.body[:200]
                                    and b"ulkOperation" not in req.body))
        if not cacheable:
            return self._call(route.fn, req)
        key = (shop.domain, req.method, req.path, req.query, req.body)
        hit = self.server.state.answer_cache.get(key)
        if hit is not None:
            status, body, headers, ct, notes, extra = hit
            req.notes.extend(notes)
            req.stats_extra = dict(extra) if extra is not None else None
            return Response(status, raw=body, headers=list(headers), content_type=ct)
        resp = self._call(route.fn, req)
        if 200 <= resp.status < 300 and resp.stream is None:
            body = resp.payload()
            self.server.state.cache_answer(key, (resp.status, body, tuple(resp.headers),
                                                 resp.content_type, tuple(req.notes),
                                                 req.stats_extra))
            return Response(resp.status, raw=body, headers=list(resp.headers),
                            content_type=resp.content_type)
        return resp

    def _call(self, fn, req):
        try:
            return fn(req)
        except HttpError as e:
            return error(e.status, e.errors, e.headers)
        except Exception:       # a bug in the stand-in: report it loudly
            log("ERROR in %s %s:\n%s" % (req.method, req.path, traceback.format_exc()))
            return error(500, "stand-in internal error (see its log)")

    def _api(self, route, req, t0):
        state = self.server.state
        shop, authorized = state.lookup(self.headers.get("X-Shopify-Access-Token"))
        public = route is not None and route.kind == "public"
        if public and route.shop_of is not None:
            shop = route.shop_of(req)
        req.shop = shop
        key = shop.domain if shop else UNAUTH
        kind = route.stats_kind if route is not None else None
        qs = req.query
        if route is not None and route.log_query is not None:
            qs = route.log_query(req)
        fault, spec = state.faults.pick(shop.domain if shop else None, req.path)
        if spec is not None and spec.latency_ms:
            time.sleep(spec.latency_ms / 1000.0)
        rest_route = route is None or route.bucket == "rest"
        bucket = shop.bucket if shop is not None and rest_route else None
        midstream = route is not None and route.streams and fault == "reset"
        if fault in limits.PRE_FAULTS and not midstream:
            resp = self._pre_fault_response(fault, bucket)
            # counted before it is served: a client that reads the stats
            # right after the answer must find it there
            state.stats.record(key, self.conn_id, req.method, req.path, qs,
                               resp.status if resp else 0, None, fault=fault,
                               kind=kind, arrived=t0)
            log("fault %s -> %s %s shop=%s conn=%d" % (fault, req.method, req.path,
                                                      key, self.conn_id))
            self._serve_pre_fault(fault, spec, req, resp)
            return
        used, throttled = None, False
        if not authorized and not public:
            resp = error(401, INVALID_TOKEN)
        elif route is None:
            resp = error(404, "Not Found")
        else:
            allowed = True
            if bucket is not None and route.bucket == "rest":
                allowed, used = bucket.take()
            if not allowed:
                throttled = True
                resp = error(429, THROTTLED, [("Retry-After", "2.0")])
            else:
                resp = self._answer(route, req, shop)
            if route.deprecated:
                resp.headers.append(("X-Shopify-API-Deprecated-Reason", route.deprecated))
            if "version" in req.match:
                resp.headers.append(("X-Shopify-API-Version", req.match["version"]))
        if authorized and bucket is not None:
            resp.headers.append(("X-Shopify-Shop-Api-Call-Limit",
                                 bucket.header(used if used is not None else bucket.peek())))
        if route is not None and (authorized or public) and 200 <= resp.status < 300:
            resp = inject.apply(req, resp)      # crafted answers (inject.py)
        post = fault if fault in limits.POST_FAULTS or midstream else None

        def record(status):
            state.stats.record(key, self.conn_id, req.method, req.path, qs,
                               status, used, fault=post, throttled=throttled,
                               notes=req.notes, kind=kind, extra=req.stats_extra,
                               arrived=t0)

        if resp.stream is not None:
            sent = self._send_stream(resp, req, post, spec)
            record(resp.status if sent is not None else 0)
        elif midstream:             # nothing to stream (e.g. 404): a plain reset
            self._reset()
            record(0)
        else:
            # counted before it is sent: a client that reads the stats right
            # after the answer must find it there
            record(resp.status)
            self._send(resp, req, post, spec)
        if state.verbose or resp.status >= 400 or post or req.notes:
            log("%s %s -> %d shop=%s conn=%d %.1fms%s%s" % (
                req.method, req.path, resp.status, key, self.conn_id,
                (time.monotonic() - t0) * 1000, " fault=" + post if post else "",
                " notes=" + ",".join(req.notes) if req.notes else ""))

    def _pre_fault_response(self, kind, bucket):
        """The answer of a replacing fault; None for reset and hang (no answer)."""
        if kind in ("reset", "hang"):
            return None
        if kind == "nonjson":
            return Response(200, raw=NONJSON_BODY, content_type="text/html; charset=utf-8")
        if kind == "429":
            hdrs = [("Retry-After", "2.0")]
            if bucket is not None:
                hdrs.append(("X-Shopify-Shop-Api-Call-Limit",
                             "%d/%d" % (bucket.size, bucket.size)))
            return error(429, THROTTLED, hdrs)
        code = int(kind)
        return error(code, FAULT_BODIES[code])

    def _serve_pre_fault(self, kind, spec, req, resp):
        """Send the fault's answer, or reset / hang the connection."""
        if kind == "reset":
            self._reset()
        elif kind == "hang":
            self.server.state.stop_event.wait(spec.hang_seconds)
            self.close_connection = True
        else:
            self._send(resp, req)

    def _reset(self):
        """Close with RST (SO_LINGER 0) without answering."""
        self.close_connection = True
        try:
            self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER,
                                       struct.pack("ii", 1, 0))
        except OSError:
            pass
        for f in (self.rfile, self.wfile):
            try:
                f.close()
            except OSError:
                pass
        # the base class still flushes/closes these after we return
        self.rfile, self.wfile = io.BytesIO(), io.BytesIO()
        try:
            self.connection.close()
        except OSError:
            pass

    def _send(self, resp, req, fault=None, spec=None):
        payload = resp.payload()
        try:
            self.send_response(resp.status)
            self.send_header("Content-Type", resp.content_type)
            self.send_header("Content-Length", str(len(payload)))
            self.send_header("X-Request-Id", req.req_id)
            for k, v in resp.headers:
                self.send_header(k, v)
            if fault is None:           # one write: headers + body
                self._headers_buffer.append(b"\r\n")
                self._headers_buffer.append(payload)
                data = b"".join(self._headers_buffer)
                self._headers_buffer = []
                self.wfile.write(data)
                return
            self.end_headers()
            if fault == "slow":
                steps = 10
                chunk = max(1, -(-len(payload) // steps))
                for i in range(0, len(payload), chunk):
                    if self.server.state.stop_event.wait(spec.slow_seconds / steps):
                        break
                    self.wfile.write(payload[i:i + chunk])
            else:                       # truncated
                self.wfile.write(payload[:len(payload) // 2])
                self.close_connection = True
        except (BrokenPipeError, ConnectionResetError, socket.timeout, OSError):
            self.close_connection = True

    def _send_stream(self, resp, req, fault=None, spec=None):
        """Send resp.stream chunk by chunk.  Faults: slow (10 pauses),
        truncated (half, then FIN), reset (half, then RST).  Returns the bytes
        sent (None if not even the headers went out)."""
        st = resp.stream
        length = st.length
        limit = length if fault in (None, "slow") else length // 2
        piece = max(1, -(-length // 10)) if fault == "slow" else None
        stop = self.server.state.stop_event
        sent, headers_out, finished = 0, False, False
        try:
            self.send_response(resp.status)
            self.send_header("Content-Type", resp.content_type)
            self.send_header("Content-Length", str(length))
            self.send_header("X-Request-Id", req.req_id)
            for k, v in resp.headers:
                self.send_header(k, v)
            self.end_headers()
            headers_out = True
            for chunk in st.chunks():
                if sent + len(chunk) > limit:
                    chunk = chunk[:limit - sent]
                while chunk:
                    part = chunk if piece is None else chunk[:piece - sent % piece]
                    chunk = chunk[len(part):]
                    if piece is not None and sent % piece == 0 and \
                            stop.wait(spec.slow_seconds / 10):
                        raise ConnectionAbortedError("stopping")
                    self.wfile.write(part)
                    sent += len(part)
                if sent >= limit:
                    break
            if fault == "reset":
                # recorded before the RST: a client that reads the download log
                # right after its connection error must find this download there
                finished = True
                st.finish(sent, sent == length, fault)
                self._reset()
            elif fault == "truncated" or sent < length:
                self.close_connection = True
        except (BrokenPipeError, ConnectionResetError, socket.timeout, OSError):
            self.close_connection = True
        finally:
            if not finished:
                st.finish(sent, sent == length, fault)
        return sent if headers_out else None


class Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 256

    def __init__(self, port, state):
        self.state = state
        super().__init__(("127.0.0.1", port), Handler)
        state.port = self.server_address[1]

    def handle_error(self, request, client_address):
        exc = sys.exc_info()[1]
        if isinstance(exc, (ConnectionError, socket.timeout, TimeoutError)):
            return
        log("connection error: %r" % (exc,))
