"""GraphQL Admin API: POST /admin/api/{version}/graphql.json.

GraphQL is not parsed.  The request is dispatched on its operation name
(``query|mutation <Name>`` at the start of the text); each operation the
client sends has a handler in ``OPERATIONS`` (bulk.py registers its own).
An operation has two steps: ``prepare(ctx)`` checks the variables and returns
the requested cost (nothing is charged when it raises ``GqlError``), then
``run(ctx)`` returns ``(data, actual_cost)``.

Cost accounting (limits.CostBucket per shop): requested > 1000 ->
MAX_COST_EXCEEDED; requested > available -> THROTTLED (HTTP 200, nothing
deducted); otherwise requested is deducted and requested - actual refunded.
"""
import base64
import binascii
import bisect
import hashlib
import hmac
import json
import re
from urllib.parse import unquote

from .limits import CostBucket
from .routing import ROUTER, VERSION_RE, HttpError, Response
from .timefmt import fmt_utc, parse_ts

MAX_QUERY_COST = 1000
MAX_PAGE = 250
CURSOR_SECRET = b"shopify-standin-graphql-cursor-v1"
THROTTLE_DOC = "https://shopify.dev/api/usage/rate-limits"
OP_RE = re.compile(r"\A(?:\s|,|#[^\n]*(?:\n|\Z))*(query|mutation)\s+([_A-Za-z][_0-9A-Za-z]*)")
FIRST_FIELD_RE = re.compile(r"\{\s*([_A-Za-z][_0-9A-Za-z]*)")
FILTER_RE = re.compile(r"""\A\s*updated_at:\s*(>=|>)\s*(?:'([^']*)'|"([^"]*)"|([^\s'"]+))\s*\Z""")
SORT_RE = re.compile(r"sortKey\s*:\s*UPDATED_AT\b")
PRODUCT_GID = "gid://shopify/Product/"
GID_RE = re.compile(r"\Agid://shopify/([A-Za-z]+)/([0-9]+)\Z")
OPERATIONS = {}


class GqlError(Exception):
    """A GraphQL-level error (HTTP 200, {"errors":[...]})."""

    def __init__(self, message, code=None, **ext):
        super().__init__(message)
        self.message = message
        self.ext = dict(ext)
        if code is not None:
            self.ext = {"code": code, **self.ext}

    def to_dict(self):
        d = {"message": self.message}
        if self.ext:
            d["extensions"] = self.ext
        return d


class Operation:
    __slots__ = ("name", "kind", "prepare", "run")

    def __init__(self, name, kind, prepare, run):
        self.name, self.kind, self.prepare, self.run = name, kind, prepare, run


def operation(name, kind="query", cost=1):
    """Register ``run(ctx) -> (data, actual)``.  ``cost`` is a number or a
    ``prepare(ctx) -> requested`` function."""
    def deco(run):
        prep = cost if callable(cost) else (lambda ctx, c=cost: c)
        OPERATIONS[name] = Operation(name, kind, prep, run)
        return run
    return deco


class Ctx:
    """Per-request context handed to operation handlers."""

    def __init__(self, req, shop, variables):
        self.req, self.shop, self.vars = req, shop, variables
        self.state = req.state
        self.text = ""
        self.args = {}

    # -- variable helpers ----------------------------------------------------
    def _bad(self, name, gql_type, value, why):
        return GqlError("Variable $%s of type %s was provided invalid value"
                        % (name, gql_type), value=value,
                        problems=[{"path": [], "explanation": why}])

    def int_var(self, name, lo=1, hi=MAX_PAGE, required=True):
        v = self.vars.get(name)
        if v is None:
            if required:
                raise self._bad(name, "Int!", None, "Expected value to not be null")
            return None
        if isinstance(v, bool) or not isinstance(v, int):
            raise self._bad(name, "Int!", v, "Could not coerce value %s to Int"
                            % json.dumps(v))
        if not lo <= v <= hi:
            raise GqlError("%s: the page size must be between %d and %d (got %d)"
                           % (name, lo, hi, v), "BAD_REQUEST", argument=name)
        return v

    def str_var(self, name, gql_type="String", required=False):
        v = self.vars.get(name)
        if v is None:
            if required:
                raise self._bad(name, gql_type + "!", None,
                                "Expected value to not be null")
            return None
        if not isinstance(v, str):
            raise self._bad(name, gql_type, v, "Could not coerce value %s to %s"
                            % (json.dumps(v), gql_type))
        return v


# -- rendering (shared with bulk.py) ----------------------------------------------
def tags_list(s):
    return s.split(", ") if s else []


def product_fields(p):
    return {"id": PRODUCT_GID + str(p.id), "title": p.title, "vendor": p.vendor,
            "productType": p.product_type, "handle": p.handle,
            "status": p.status.upper(), "tags": tags_list(p.tags),
            "updatedAt": fmt_utc(p.updated_at)}


def variant_node(v, position):
    return {"id": "gid://shopify/ProductVariant/%d" % v.id, "sku": v.sku,
            "title": v.title, "barcode": v.barcode, "price": v.price,
            "compareAtPrice": v.compare_at_price,
            "inventoryQuantity": v.inventory_quantity, "position": position,
            "updatedAt": fmt_utc(v.updated_at),
            "inventoryItem": {"id": "gid://shopify/InventoryItem/%d"
                                    % v.inventory_item_id}}


def parse_gid(s, kind):
    m = GID_RE.match(s or "")
    if not m or m.group(1) != kind:
        return None
    return int(m.group(2))


# -- cursors ------------------------------------------------------------------------
def _b64(b):
    return base64.urlsafe_b64encode(b).rstrip(b"=").decode("ascii")


def encode_cursor(shop, d):
    raw = json.dumps(d, separators=(",", ":"), sort_keys=True).encode()
    sig = hmac.new(CURSOR_SECRET, shop.domain.encode() + b"\0" + raw,
                   hashlib.sha256).digest()[:10]
    return _b64(raw + sig)


def decode_cursor(shop, token, what):
    bad = GqlError("Invalid cursor for current pagination: %s" % what, "BAD_REQUEST",
                   argument="after")
    try:
        blob = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4))
    except (binascii.Error, ValueError, TypeError):
        raise bad
    if len(blob) < 11 or _b64(blob) != token:
        raise bad
    raw, sig = blob[:-10], blob[-10:]
    good = hmac.new(CURSOR_SECRET, shop.domain.encode() + b"\0" + raw,
                    hashlib.sha256).digest()[:10]
    if not hmac.compare_digest(sig, good):
        raise bad
    d = json.loads(raw)
    if d.get("t") != what:
        raise bad
    return d


# -- product search filter and the updated_at keyset index --------------------------
def parse_search(shop, q):
    """None or 'updated_at:>=<ISO>' / '>' -> (op, epoch) or None."""
    if q is None or not q.strip():
        return None
    m = FILTER_RE.match(q)
    if not m:
        raise GqlError("The test stand-in only supports the search query "
                       "updated_at:>='<ISO 8601>' (or >), alone; got %r" % q,
                       "BAD_REQUEST", argument="query")
    value = next(g for g in m.groups()[1:] if g is not None)
    try:
        epoch = parse_ts(value, shop.utc_offset).epoch
    except ValueError:
        raise GqlError("Invalid date in search query: %r" % value, "BAD_REQUEST",
                       argument="query")
    return m.group(1), epoch


def sorted_keys(shop):
    """[(updated_at, id)] of live products, ascending (cached; hold shop.lock)."""
    stamp = (shop.mutations, len(shop.order), shop.max_ts, shop.variant_count)
    cached = getattr(shop, "_gql_keys", None)
    if cached is not None and cached[0] == stamp:
        return cached[1]
    keys = sorted((p.updated_at, p.id) for p in shop.products.values())
    shop._gql_keys = (stamp, keys)
    return keys


def search_start(keys, flt):
    if flt is None:
        return 0
    op, t = flt
    if op == ">=":
        return bisect.bisect_left(keys, (t, float("-inf")))
    return bisect.bisect_right(keys, (t, float("inf")))


# -- the endpoint --------------------------------------------------------------------
def op_label(req):
    """Operation name for the stats log (the query string column)."""
    try:
        d = json.loads(req.body.decode("utf-8")) if req.body else None
        m = OP_RE.match(d.get("query") or "")
        return m.group(2) if m else ""
    except (ValueError, UnicodeDecodeError, AttributeError, TypeError):
        return ""


def cost_ext(bucket, requested, actual, available):
    return {"cost": {"requestedQueryCost": requested, "actualQueryCost": actual,
                     "throttleStatus": bucket.throttle_status(available)}}


def _errors(bucket, errs, requested, available):
    return Response(200, {"errors": [e.to_dict() for e in errs],
                          "extensions": cost_ext(bucket, requested, None, available)})


@ROUTER.api("POST", "/admin/api/%s/graphql\\.json" % VERSION_RE, bucket=None,
            log_query=op_label, stats_kind="graphql")
def graphql(req):
    shop = req.shop
    bucket = shop.gql_bucket
    extra = req.stats_extra = {}
    missing = HttpError(400, {"query": "Required parameter missing or invalid"})
    try:
        body = json.loads(req.body.decode("utf-8")) if req.body else None
    except (ValueError, UnicodeDecodeError):
        raise missing
    if not isinstance(body, dict) or not isinstance(body.get("query"), str) \
            or not body["query"].strip():
        raise missing
    text = body["query"]
    variables = body.get("variables")
    if isinstance(variables, str):          # some clients send a JSON string
        try:
            variables = json.loads(variables) if variables.strip() else None
        except ValueError:
            raise missing
    if variables is None:
        variables = {}
    if not isinstance(variables, dict):
        raise missing
    m = OP_RE.match(text)
    op = OPERATIONS.get(m.group(2)) if m else None
    if op is None or op.kind != m.group(1):
        kind = m.group(1) if m else "query"
        f = FIRST_FIELD_RE.search(text)
        field = f.group(1) if f else (m.group(2) if m else "query")
        err = GqlError("Field '%s' doesn't exist on type '%s'"
                       % (field, "Mutation" if kind == "mutation" else "QueryRoot"),
                       "undefinedField", typeName="Mutation" if kind == "mutation"
                       else "QueryRoot", fieldName=field)
        avail = extra["available"] = bucket.peek()
        return Response(200, {"errors": [err.to_dict()],
                              "extensions": cost_ext(bucket, 0, 0, avail)})
    ctx = Ctx(req, shop, variables)
    ctx.text = text
    try:
        requested = op.prepare(ctx)
    except GqlError as e:
        avail = extra["available"] = bucket.peek()
        return _errors(bucket, [e], ctx.args.get("requested", 0), avail)
    if requested > MAX_QUERY_COST:
        extra["max_cost"] = True
        avail = extra["available"] = bucket.peek()
        err = GqlError("Query cost is %d, which exceeds the single query max cost "
                       "limit (%d)." % (requested, MAX_QUERY_COST), "MAX_COST_EXCEEDED",
                       cost=requested, maxCost=MAX_QUERY_COST)
        return _errors(bucket, [err], requested, avail)
    ok, avail = bucket.admit(requested)
    if not ok:
        extra["throttled"] = True
        extra["available"] = avail
        err = GqlError("Throttled", "THROTTLED", documentation=THROTTLE_DOC)
        return _errors(bucket, [err], requested, avail)
    try:
        data, actual = op.run(ctx)
    except GqlError as e:                  # execution error: refund everything
        avail = extra["available"] = bucket.refund(requested)
        return _errors(bucket, [e], requested, avail)
    except BaseException:
        bucket.refund(requested)
        raise
    avail = extra["available"] = bucket.refund(requested - actual)
    return Response(200, {"data": data,
                          "extensions": cost_ext(bucket, requested, actual, avail)})


# -- queries ----------------------------------------------------------------------
@operation("ShopifySyncShop", cost=1)
def op_shop(ctx):
    s = ctx.shop
    return {"shop": {"name": s.name, "currencyCode": s.currency,
                     "myshopifyDomain": s.domain,
                     "plan": {"displayName": s.plan_name.replace("_", " ").title()}}}, 1


def _prepare_count(ctx):
    ctx.args["filter"] = parse_search(ctx.shop, ctx.str_var("query"))
    return 1


@operation("ShopifySyncCount", cost=_prepare_count)
def op_count(ctx):
    flt = ctx.args["filter"]
    shop = ctx.shop
    with shop.lock:
        keys = sorted_keys(shop)
        n = len(keys) - search_start(keys, flt)
    return {"productsCount": {"count": n, "precision": "EXACT"}}, 1


def _prepare_products(ctx):
    first = ctx.int_var("first")
    vfirst = ctx.int_var("variantsFirst")
    requested = 2 + first * (3 + 2 * vfirst)
    ctx.args["requested"] = requested
    q = ctx.str_var("query")
    flt = parse_search(ctx.shop, q)
    after = ctx.str_var("after")
    cur = None
    if after is not None:
        c = decode_cursor(ctx.shop, after, "products")
        if c.get("q") != q:
            raise GqlError("Invalid cursor for current pagination: the cursor was "
                           "issued for query %r, not %r" % (c.get("q"), q),
                           "BAD_REQUEST", argument="after")
        cur = (c["u"], c["i"])
    if not SORT_RE.search(ctx.text):
        raise GqlError("The test stand-in implements products(...) only with "
                       "sortKey: UPDATED_AT", "BAD_REQUEST", argument="sortKey")
    ctx.args.update(first=first, vfirst=vfirst, q=q, filter=flt, cursor=cur)
    return requested


def variants_connection(shop, p, first, start=0):
    """Variants [start, start+first) of p in position order, with pageInfo."""
    vs = p.variants[start:start + first]
    nodes = [variant_node(v, start + k + 1) for k, v in enumerate(vs)]
    more = start + len(vs) < len(p.variants)
    end = None
    if vs:
        end = encode_cursor(shop, {"t": "variants", "p": p.id, "v": vs[-1].id,
                                   "k": start + len(vs) - 1})
    return {"pageInfo": {"hasNextPage": more, "endCursor": end}, "nodes": nodes}, len(vs)


@operation("ShopifySyncProducts", cost=_prepare_products)
def op_products(ctx):
    a = ctx.args
    shop = ctx.shop
    actual = 2
    nodes = []
    with shop.lock:
        keys = sorted_keys(shop)
        start = search_start(keys, a["filter"])
        if a["cursor"] is not None:
            start = max(start, bisect.bisect_right(keys, tuple(a["cursor"])))
        page = keys[start:start + a["first"]]
        more = start + len(page) < len(keys)
        for _, pid in page:
            p = shop.products[pid]
            node = product_fields(p)
            node["variants"], nv = variants_connection(shop, p, a["vfirst"])
            nodes.append(node)
            actual += 3 + 2 * nv
    end = None
    if page:
        u, i = page[-1]
        end = encode_cursor(shop, {"t": "products", "u": u, "i": i, "q": a["q"]})
    return {"products": {"pageInfo": {"hasNextPage": more, "endCursor": end},
                         "nodes": nodes}}, actual


def _prepare_variants(ctx):
    first = ctx.int_var("first")
    ctx.args["requested"] = 3 + 2 * first
    gid = ctx.str_var("id", "ID", required=True)
    pid = parse_gid(gid, "Product")
    if pid is None:
        raise GqlError("Invalid global id '%s'" % gid, "BAD_REQUEST", argument="id")
    after = ctx.str_var("after")
    cur = None
    if after is not None:
        cur = decode_cursor(ctx.shop, after, "variants")
        if cur["p"] != pid:
            raise GqlError("Invalid cursor for current pagination: the cursor "
                           "belongs to another product", "BAD_REQUEST",
                           argument="after")
    ctx.args.update(first=first, pid=pid, cursor=cur)
    return 3 + 2 * first


@operation("ShopifySyncProductVariants", cost=_prepare_variants)
def op_product_variants(ctx):
    a = ctx.args
    shop = ctx.shop
    requested = 3 + 2 * a["first"]
    with shop.lock:
        p = shop.products.get(a["pid"])
        if p is None:
            return {"product": None}, requested
        start = 0
        cur = a["cursor"]
        if cur is not None:       # after the cursor's variant (by id, else index)
            idx = next((k for k, v in enumerate(p.variants) if v.id == cur["v"]), None)
            start = (idx if idx is not None else cur["k"]) + 1
        node = product_fields(p)
        node["variants"], _ = variants_connection(shop, p, a["first"], start)
    return {"product": node}, requested


# -- control: the cost bucket ------------------------------------------------------------
@ROUTER.control("GET", r"/_control/shops/(?P<domain>[^/]+)/graphql")
def get_cost_bucket(req):
    shop = req.state.shop(unquote(req.match["domain"]))
    return Response(200, {"graphql": shop.gql_bucket.to_dict()})


@ROUTER.control("POST", r"/_control/shops/(?P<domain>[^/]+)/graphql")
def set_cost_bucket(req):
    """{"maximum":2000,"restore":100[,"available":n]} or {"enabled":false}."""
    shop = req.state.shop(unquote(req.match["domain"]))
    d = req.json()
    try:
        shop.gql_bucket = CostBucket(None if d.get("enabled") is False else d)
    except (TypeError, ValueError) as e:
        raise HttpError(400, str(e))
    return Response(200, {"graphql": shop.gql_bucket.to_dict()})
