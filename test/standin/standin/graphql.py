"""GraphQL Admin API: POST /admin/api/{version}/graphql.json, and the product
root fields.

Every request goes through the oracle (oracle.py: graphql-js and Shopify's
published schema of the version in the URL): an invalid document is answered
as Shopify answers it (HTTP 200, {"errors": [...]}, nothing charged); a valid
one carries its requested cost, computed by Shopify's rules from the schema.
Cost accounting (limits.CostBucket per shop): requested > 1000 ->
MAX_COST_EXCEEDED; requested > available -> THROTTLED (HTTP 200, nothing
deducted); otherwise requested is deducted, the request executed by root
field (gqlexec.py) and requested - actual refunded, actual being the cost of
what was returned.

This module owns the endpoint, product rendering (shared with bulk.py),
signed cursors, the ``updated_at`` search filter, connection building, and the
product root fields: shop, productsCount, products, product, productVariants,
productVariantsCount (orders_graphql.py and bulk.py add theirs).
"""
import base64
import binascii
import bisect
import hashlib
import hmac
import json
import re
from urllib.parse import unquote

from . import oracle
from .gqlexec import (Ctx, GqlError, execute, limitation, node_loader,  # noqa: F401
                      root_field)
from .limits import CostBucket
from .routing import ROUTER, VERSION_RE, HttpError, Response
from .timefmt import fmt_utc, parse_ts

MAX_QUERY_COST = 1000
MAX_PAGE = 250
COUNT_LIMIT = 10000          # the default `limit:` of the *Count root fields
CURSOR_SECRET = b"shopify-standin-graphql-cursor-v1"
THROTTLE_DOC = "https://shopify.dev/api/usage/rate-limits"
OP_RE = re.compile(r"\A(?:\s|,|#[^\n]*(?:\n|\Z))*(query|mutation)\s+([_A-Za-z][_0-9A-Za-z]*)")
FILTER_RE = re.compile(r"""\A\s*updated_at:\s*(>=|>)\s*(?:'([^']*)'|"([^"]*)"|([^\s'"]+))\s*\Z""")
PRODUCT_GID = "gid://shopify/Product/"
VARIANT_GID = "gid://shopify/ProductVariant/%d"
GID_RE = re.compile(r"\Agid://shopify/([A-Za-z]+)/([0-9]+)\Z")


# -- rendering (shared with bulk.py) ----------------------------------------------
def tags_list(s):
    return s.split(", ") if s else []


def product_fields(p):
    return {"id": PRODUCT_GID + str(p.id), "title": p.title, "vendor": p.vendor,
            "productType": p.product_type, "handle": p.handle,
            "status": p.status.upper(), "tags": tags_list(p.tags),
            "updatedAt": fmt_utc(p.updated_at)}


def variant_node(v, position):
    return {"id": VARIANT_GID % v.id, "sku": v.sku,
            "title": v.title, "barcode": v.barcode, "price": v.price,
            "compareAtPrice": v.compare_at_price,
            "inventoryQuantity": v.inventory_quantity, "position": position,
            "updatedAt": fmt_utc(v.updated_at),
            "inventoryItem": {"__typename": "InventoryItem",
                              "id": "gid://shopify/InventoryItem/%d" % v.inventory_item_id}}


def _count(n):
    return {"__typename": "Count", "count": n, "precision": "EXACT"}


# Fields computed only when selected: fn(ctx, field, obj), obj["__rec__"] the record.
PRODUCT_LAZY = {
    "legacyResourceId": lambda ctx, f, o: str(o["__rec__"].id),
    "createdAt": lambda ctx, f, o: fmt_utc(o["__rec__"].created_at),
    "publishedAt": lambda ctx, f, o: fmt_utc(o["__rec__"].published_at),
    "templateSuffix": lambda ctx, f, o: o["__rec__"].template_suffix,
    "descriptionHtml": lambda ctx, f, o: o["__rec__"].body(),
    "variants": lambda ctx, f, o: variants_connection(ctx, o["__rec__"], f),
    "variantsCount": lambda ctx, f, o: _count(len(o["__rec__"].variants)),
}
VARIANT_LAZY = {
    "legacyResourceId": lambda ctx, f, o: str(o["__rec__"][1].id),
    "createdAt": lambda ctx, f, o: fmt_utc(o["__rec__"][1].created_at),
    "product": lambda ctx, f, o: product_obj(ctx.shop, o["__rec__"][0]),
}


def product_obj(shop, p):
    """The GraphQL Product object of p (hold shop.lock while projecting it)."""
    d = product_fields(p)
    d["__typename"] = "Product"
    d["__rec__"] = p
    d["__lazy__"] = PRODUCT_LAZY
    return d


def variant_obj(shop, p, v, position):
    d = variant_node(v, position)
    d["__typename"] = "ProductVariant"
    d["__rec__"] = (p, v)
    d["__lazy__"] = VARIANT_LAZY
    return d


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
    if not isinstance(token, str):
        raise bad
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


# -- search filter and the updated_at keyset index ----------------------------------
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


def filter_match(flt, ts):
    if flt is None:
        return True
    return ts >= flt[1] if flt[0] == ">=" else ts > flt[1]


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


# -- connections ----------------------------------------------------------------------
def page_size(ctx, f, what):
    """`first` of a connection field (None in a bulk export: everything).
    `last`/`before`/`reverse` paging is not implemented by the stand-in."""
    a = f.args
    if a.get("last") is not None or a.get("before") is not None or a.get("reverse"):
        raise limitation("%s(last:/before:/reverse:) paging" % what)
    if ctx.bulk:
        return None
    n = a.get("first")
    if not isinstance(n, int) or not 1 <= n <= MAX_PAGE:
        raise GqlError("first: the page size must be between 1 and %d (got %s)"
                       % (MAX_PAGE, json.dumps(n)), "BAD_REQUEST", argument="first")
    return n


PAGE_INFO_LAZY = {"startCursor": lambda ctx, f, o: o["__rec__"][0](0) if o["__rec__"][1] >= 0
                  else None,
                  "endCursor": lambda ctx, f, o: o["__rec__"][0](o["__rec__"][1])
                  if o["__rec__"][1] >= 0 else None}
EDGE_LAZY = {"cursor": lambda ctx, f, o: o["__rec__"][0](o["__rec__"][1])}


def connection(typename, nodes, has_next, cursor_of, has_prev=False):
    """A GraphQL connection object; cursor_of(i) is the cursor of nodes[i]
    (computed only when selected)."""
    edge_type = typename[:-len("Connection")] + "Edge"

    def edges(ctx, f):
        return [{"__typename": edge_type, "node": n, "__rec__": (cursor_of, i),
                 "__lazy__": EDGE_LAZY} for i, n in enumerate(nodes)]
    return {"__typename": typename, "nodes": nodes, "edges": edges,
            "pageInfo": {"__typename": "PageInfo", "hasNextPage": has_next,
                         "hasPreviousPage": has_prev, "__rec__": (cursor_of, len(nodes) - 1),
                         "__lazy__": PAGE_INFO_LAZY}}


def count_obj(n, f):
    """A Count with the field's `limit:` applied (default 10000, null: exact)."""
    limit = f.args.get("limit", COUNT_LIMIT)
    if limit is not None and n > limit:
        return {"__typename": "Count", "count": limit, "precision": "AT_LEAST"}
    return _count(n)


def require_sort(f, what, key="UPDATED_AT"):
    if f.args.get("sortKey") != key:
        raise GqlError("The test stand-in implements %s(...) only with sortKey: %s"
                       % (what, key), "BAD_REQUEST", argument="sortKey")


def _saved_search(f, what):
    if f.args.get("savedSearchId") is not None:
        raise limitation("%s(savedSearchId:)" % what)


# -- the endpoint --------------------------------------------------------------------
def _body(req):
    """The request body -> (query, variables, operationName); HttpError 400."""
    missing = HttpError(400, {"query": "Required parameter missing or invalid"})
    try:
        body = json.loads(req.body.decode("utf-8")) if req.body else None
    except (ValueError, UnicodeDecodeError):
        raise missing
    if not isinstance(body, dict) or not isinstance(body.get("query"), str) \
            or not body["query"].strip():
        raise missing
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
    name = body.get("operationName")
    return body["query"], variables, name if isinstance(name, str) and name else None


def op_label(req):
    """Operation name for the stats log (the query string column)."""
    try:
        d = json.loads(req.body.decode("utf-8")) if req.body else None
        if isinstance(d.get("operationName"), str) and d["operationName"]:
            return d["operationName"]
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
    text, variables, op_name = _body(req)
    ans = oracle.get().ask(req.match["version"], text, variables, op_name)
    if ans.errors:                          # invalid: nothing charged
        extra["available"] = bucket.peek()
        extra["invalid"] = True
        return Response(200, {"errors": ans.errors})
    requested = ans.cost
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
    ctx = Ctx(req, shop, ans.api_version, ans)
    try:
        with shop.lock:
            data, actual = execute(ctx, ans)
    except GqlError as e:                  # execution error: refund everything
        avail = extra["available"] = bucket.refund(requested)
        return _errors(bucket, [e], requested, avail)
    except BaseException:
        bucket.refund(requested)
        raise
    actual = min(actual, requested)
    avail = extra["available"] = bucket.refund(requested - actual)
    ext = cost_ext(bucket, requested, actual, avail)
    if ctx.search:                          # search terms the connection ignored
        ext["search"] = ctx.search
    return Response(200, {"data": data, "extensions": ext})


# -- product root fields ----------------------------------------------------------
SHOP_LAZY = {}          # Shop fields added by other modules (store_graphql: metafields)


@root_field("shop")
def rf_shop(ctx, f):
    s = ctx.shop
    plan = s.plan_name.replace("_", " ").title()
    return {"__typename": "Shop", "id": "gid://shopify/Shop/%d" % s.shop_id,
            "name": s.name, "currencyCode": s.currency, "myshopifyDomain": s.domain,
            "url": "https://%s" % s.domain, "timezoneOffsetMinutes": s.utc_offset,
            "plan": {"__typename": "ShopPlan", "displayName": plan,
                     "publicDisplayName": plan, "partnerDevelopment": False,
                     "shopifyPlus": s.plan_name in ("shopify_plus", "plus")},
            "__rec__": s, "__lazy__": SHOP_LAZY}


@root_field("productsCount")
def rf_products_count(ctx, f):
    _saved_search(f, "productsCount")
    flt = parse_search(ctx.shop, f.args.get("query"))
    keys = sorted_keys(ctx.shop)
    return count_obj(len(keys) - search_start(keys, flt), f)


@root_field("products")
def rf_products(ctx, f):
    shop = ctx.shop
    a = f.args
    first = page_size(ctx, f, "products")
    _saved_search(f, "products")
    require_sort(f, "products")
    q = a.get("query")
    flt = parse_search(shop, q)
    keys = sorted_keys(shop)
    start = search_start(keys, flt)
    after = a.get("after")
    if after is not None:
        c = decode_cursor(shop, after, "products")
        if c.get("q") != q:
            raise GqlError("Invalid cursor for current pagination: the cursor was "
                           "issued for query %r, not %r" % (c.get("q"), q),
                           "BAD_REQUEST", argument="after")
        start = max(start, bisect.bisect_right(keys, (c["u"], c["i"])))
    page = keys[start:start + first]
    nodes = [product_obj(shop, shop.products[pid]) for _, pid in page]

    def cursor_of(i):
        u, pid = page[i]
        return encode_cursor(shop, {"t": "products", "u": u, "i": pid, "q": q})
    return connection("ProductConnection", nodes, start + len(page) < len(keys), cursor_of,
                      start > 0)


@root_field("product")
def rf_product(ctx, f):
    pid = parse_gid(f.args.get("id"), "Product")
    return load_product(ctx, pid) if pid is not None else None


@node_loader("Product")
def load_product(ctx, pid):
    p = ctx.shop.products.get(pid)
    return product_obj(ctx.shop, p) if p is not None else None


def variants_connection(ctx, p, f):
    """variants(first:, after:) of p in position order (all of them in a bulk
    export).  A variant cursor keeps its place by variant id."""
    first = page_size(ctx, f, "variants")
    if f.args.get("sortKey", "POSITION") != "POSITION":
        raise limitation("variants(sortKey: %s)" % f.args.get("sortKey"))
    shop = ctx.shop
    start = 0
    after = f.args.get("after")
    if after is not None:
        cur = decode_cursor(shop, after, "variants")
        if cur["p"] != p.id:
            raise GqlError("Invalid cursor for current pagination: the cursor "
                           "belongs to another product", "BAD_REQUEST", argument="after")
        idx = next((k for k, v in enumerate(p.variants) if v.id == cur["v"]), None)
        start = (idx if idx is not None else cur["k"]) + 1
    vs = p.variants[start:] if first is None else p.variants[start:start + first]
    nodes = [variant_obj(shop, p, v, start + k + 1) for k, v in enumerate(vs)]

    def cursor_of(i):
        return encode_cursor(shop, {"t": "variants", "p": p.id, "v": vs[i].id,
                                    "k": start + i})
    return connection("ProductVariantConnection", nodes, start + len(vs) < len(p.variants),
                      cursor_of, start > 0)


def _variant_index(shop):
    """[(variant id, product id)] of the live catalog, ascending (cached)."""
    stamp = (shop.mutations, len(shop.order), shop.max_ts, shop.variant_count)
    cached = getattr(shop, "_gql_vindex", None)
    if cached is not None and cached[0] == stamp:
        return cached[1]
    idx = sorted((v.id, p.id) for p in shop.products.values() for v in p.variants)
    shop._gql_vindex = (stamp, idx)
    return idx


def _variant_by_id(shop, vid):
    idx = _variant_index(shop)
    k = bisect.bisect_left(idx, (vid, -1))
    if k < len(idx) and idx[k][0] == vid:
        p = shop.products[idx[k][1]]
        for pos, v in enumerate(p.variants):
            if v.id == vid:
                return p, v, pos + 1
    return None


@node_loader("ProductVariant")
def load_variant(ctx, vid):
    hit = _variant_by_id(ctx.shop, vid)
    return variant_obj(ctx.shop, *hit) if hit else None


@root_field("productVariant")
def rf_product_variant(ctx, f):
    vid = parse_gid(f.args.get("id"), "ProductVariant")
    return load_variant(ctx, vid) if vid is not None else None


def variant_keys(shop, flt):
    """[(variant id, product id)] of the live variants whose updated_at meets
    the search filter (all of them without one), ascending (cached)."""
    if flt is None:
        return _variant_index(shop)
    stamp = (shop.mutations, len(shop.order), shop.max_ts, shop.variant_count, tuple(flt))
    cached = getattr(shop, "_gql_vfilter", None)
    if cached is not None and cached[0] == stamp:
        return cached[1]
    idx = sorted((v.id, p.id) for p in shop.products.values() for v in p.variants
                 if filter_match(flt, v.updated_at))
    shop._gql_vfilter = (stamp, idx)
    return idx


@root_field("productVariants")
def rf_product_variants(ctx, f):
    """All variants by id (sortKey ID, the default); the search query accepts
    updated_at:>= / > (the variant's own updatedAt), alone."""
    shop = ctx.shop
    first = page_size(ctx, f, "productVariants")
    _saved_search(f, "productVariants")
    require_sort(f, "productVariants", "ID")
    q = f.args.get("query")
    idx = variant_keys(shop, parse_search(shop, q))
    start = 0
    after = f.args.get("after")
    if after is not None:
        c = decode_cursor(shop, after, "pvariants")
        if c.get("q") != q:
            raise GqlError("Invalid cursor for current pagination: the cursor was "
                           "issued for query %r, not %r" % (c.get("q"), q),
                           "BAD_REQUEST", argument="after")
        start = bisect.bisect_right(idx, (c["v"], float("inf")))
    page = idx[start:] if first is None else idx[start:start + first]
    nodes = [load_variant(ctx, vid) for vid, _ in page]

    def cursor_of(i):
        return encode_cursor(shop, {"t": "pvariants", "v": page[i][0], "q": q})
    return connection("ProductVariantConnection", nodes, start + len(page) < len(idx),
                      cursor_of, start > 0)


@root_field("productVariantsCount")
def rf_product_variants_count(ctx, f):
    _saved_search(f, "productVariantsCount")
    flt = parse_search(ctx.shop, f.args.get("query"))
    return count_obj(len(variant_keys(ctx.shop, flt)), f)


# -- control: the cost bucket, the oracle ------------------------------------------------
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


@ROUTER.control("GET", r"/_control/graphql_oracle")
def get_oracle(req):
    return Response(200, {"oracle": oracle.get().stats()})
