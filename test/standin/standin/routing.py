"""Request/response objects and the route table shared by all handler modules.

To add an endpoint (GraphQL, bulk JSONL files, orders, ...) write a module
with functions ``fn(req) -> Response`` and register them::

    from .routing import ROUTER
    @ROUTER.api("POST", r"/admin/api/(?P<version>\\d{4}-\\d{2}|unstable)/graphql\\.json",
                bucket=None)          # None: the handler does its own throttling
    def graphql(req): ...

then import the module in server.py (``HANDLER_MODULES``).  ``kind="api"``
routes get auth, faults, latency, the REST bucket (bucket="rest") and stats;
``kind="control"`` routes get none of that.  ``kind="public"`` routes (e.g.
bulk result files on a CDN) skip auth/bucket but still count in stats.

Optional route hooks (keyword arguments of ``ROUTER.add``/``ROUTER.api``):
``log_query(req) -> str`` replaces the query string in the stats log (GraphQL
logs its operation name); ``shop_of(req) -> Shop`` names the shop of a public
route (for stats and per-shop faults); ``streams=True`` marks routes whose
``Response.stream`` is sent in chunks (a ``reset`` fault then cuts it mid-body);
``stats_kind`` ("graphql", "bulk") selects extra per-shop counters.
"""
import json
import re
from urllib.parse import parse_qsl

JSON_CT = "application/json; charset=utf-8"
VERSION_RE = r"(?P<version>\d{4}-\d{2}|unstable)"


class HttpError(Exception):
    def __init__(self, status, errors, headers=None):
        super().__init__(status, errors)
        self.status = status
        self.errors = errors
        self.headers = headers or []


class Response:
    __slots__ = ("status", "body", "headers", "content_type", "raw", "stream")

    def __init__(self, status=200, body=None, headers=None, content_type=JSON_CT,
                 raw=None, stream=None):
        self.status = status
        self.body = body
        self.headers = list(headers or [])
        self.content_type = content_type
        self.raw = raw
        # stream: object with .length, .chunks() (iterator of bytes) and
        # .finish(bytes_sent, complete, fault) -- sent without buffering.
        self.stream = stream

    def payload(self):
        if self.raw is not None:
            return self.raw if isinstance(self.raw, bytes) else self.raw.encode("utf-8")
        return to_json(self.body)


_ENC = json.JSONEncoder(ensure_ascii=False, separators=(",", ":"))


def to_json(obj):
    """JSON bytes the way Shopify (Rails) writes them: compact, raw UTF-8 for
    non-ASCII text, but <, > and & escaped as \\u003c, \\u003e, \\u0026."""
    s = _ENC.encode(obj)
    if "<" in s or ">" in s or "&" in s:
        s = s.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")
    return s.encode("utf-8")


def json_array(key, items, extra=None):
    """{"key":[...]} encoded item by item (much faster than one big dumps,
    and no giant intermediate str); items is any iterable of JSON-able."""
    head = b"{" + to_json(key) + b":["
    parts = [to_json(i) for i in items]
    tail = b"]"
    if extra:
        tail += b"," + to_json(extra)[1:-1]
    return head + b",".join(parts) + tail + b"}"


def error(status, errors, headers=None):
    return Response(status, {"errors": errors}, headers)


class Request:
    def __init__(self, method, path, query, headers, body, conn_id, state):
        self.method = method
        self.path = path
        self.query = query
        self.params_list = parse_qsl(query, keep_blank_values=True)
        self.params = dict(self.params_list)          # last one wins (Rails)
        self.headers = headers
        self.body = body
        self.conn_id = conn_id
        self.state = state
        self.match = {}
        self.shop = None
        self.notes = []          # anomalies worth counting in stats
        self.stats_extra = None  # per-kind stats details set by handlers

    def json(self):
        if not self.body:
            return {}
        try:
            d = json.loads(self.body.decode("utf-8"))
        except (ValueError, UnicodeDecodeError) as e:
            raise HttpError(400, "invalid JSON body: %s" % e)
        if not isinstance(d, dict):
            raise HttpError(400, "JSON body must be an object")
        return d


class Route:
    __slots__ = ("method", "regex", "fn", "kind", "bucket", "deprecated",
                 "log_query", "shop_of", "streams", "stats_kind")

    def __init__(self, method, pattern, fn, kind, bucket, deprecated, log_query=None,
                 shop_of=None, streams=False, stats_kind=None):
        self.method = method
        self.regex = re.compile("^" + pattern + "$")
        self.fn = fn
        self.kind = kind
        self.bucket = bucket
        self.deprecated = deprecated
        self.log_query = log_query
        self.shop_of = shop_of
        self.streams = streams
        self.stats_kind = stats_kind


class Router:
    def __init__(self):
        self.routes = []

    def add(self, method, pattern, kind="api", bucket="rest", deprecated=None, **hooks):
        def deco(fn):
            self.routes.append(Route(method, pattern, fn, kind, bucket, deprecated,
                                     **hooks))
            return fn
        return deco

    def api(self, method, pattern, bucket="rest", deprecated=None, **hooks):
        return self.add(method, pattern, "api", bucket, deprecated, **hooks)

    def control(self, method, pattern):
        return self.add(method, pattern, "control", None, None)

    def match(self, method, path):
        """-> (route, groups) ; (None, True) if the path exists for another method."""
        other = False
        for r in self.routes:
            m = r.regex.match(path)
            if m:
                if r.method == method:
                    return r, m.groupdict()
                other = True
        return None, other


ROUTER = Router()
