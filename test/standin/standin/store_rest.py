"""REST for the rest of the store: the REST objects (also the webhook
payloads, store_control.py) and the endpoints Shopify still serves:

    GET locations.json, locations/count.json, locations/{id}.json,
        locations/{id}/inventory_levels.json
    GET inventory_levels.json?location_ids=...|inventory_item_ids=...
    GET customers.json, customers/count.json, customers/{id}.json
    GET custom_collections.json, smart_collections.json (+ /count.json, /{id}.json),
        collections/{id}.json, collects.json

Listings (but locations.json, which Shopify does not paginate) page by id with
``limit`` (1..250, default 50) and a signed ``page_info`` in ``Link``
headers (rel="previous" on later pages, rel="next" when more follow), as
products.json does; filters go on the first request only.  Timestamps carry
the varying offsets of timefmt.fmt_ts, as everywhere in REST.
"""
import base64
import binascii
import bisect
import hashlib
import hmac
import json
from urllib.parse import quote

from .orders import money
from .rest import parse_limit
from .routing import ROUTER, VERSION_RE, HttpError, Response, json_array
from .store import (COLLECTION_GID, CUSTOMER_GID, ITEM_GID, LEVEL_GID, LOCATION_GID,
                    book_of)
from .store_gen import COUNTRY_NAMES
from .timefmt import fmt_ts, parse_ts

SECRET = b"shopify-standin-store-page-info-v1"
PAGED_FILTERS = ("since_id", "updated_at_min", "updated_at_max", "created_at_min",
                 "created_at_max", "ids", "location_ids", "inventory_item_ids",
                 "collection_id", "product_id", "handle")


# -- REST objects ------------------------------------------------------------------------
def rest_location(loc):
    return {"id": loc.id, "name": loc.name, "address1": loc.address1,
            "address2": loc.address2, "city": loc.city, "zip": loc.zip,
            "province": loc.province, "country": loc.country_code, "phone": loc.phone,
            "created_at": fmt_ts(loc.created_at, loc.id),
            "updated_at": fmt_ts(loc.updated_at, loc.id),
            "country_code": loc.country_code,
            "country_name": COUNTRY_NAMES.get(loc.country_code, loc.country_code),
            "province_code": loc.province_code, "legacy": loc.legacy, "active": loc.active,
            "admin_graphql_api_id": LOCATION_GID % loc.id,
            "localized_country_name": COUNTRY_NAMES.get(loc.country_code, loc.country_code),
            "localized_province_name": loc.province}


def rest_level(lv):
    return {"inventory_item_id": lv.item_id, "location_id": lv.location_id,
            "available": lv.available, "updated_at": fmt_ts(lv.updated_at, lv.item_id),
            "admin_graphql_api_id": LEVEL_GID % (lv.location_id, lv.item_id)}


def rest_item(book, item):
    pv = book.variant_of_item(item)
    meta = book.item_meta.get(item, {})
    v = pv[1] if pv else None
    created = v.created_at if v else meta.get("updated_at", 0)
    updated = max(meta.get("updated_at", 0), v.updated_at if v else created)
    return {"id": item, "sku": v.sku if v else None,
            "created_at": fmt_ts(created, item), "updated_at": fmt_ts(updated, item),
            "requires_shipping": True, "cost": meta.get("cost"),
            "country_code_of_origin": None, "province_code_of_origin": None,
            "harmonized_system_code": None, "tracked": meta.get("tracked", True),
            "country_harmonized_system_codes": [],
            "admin_graphql_api_id": ITEM_GID % item}


def rest_sort_order(s):
    return s.lower().replace("_", "-")


def rest_collection(c, full=False):
    d = {"id": c.id, "handle": c.handle, "title": c.title,
         "updated_at": fmt_ts(c.updated_at, c.id), "body_html": c.body_html,
         "published_at": fmt_ts(c.published_at, c.id),
         "sort_order": rest_sort_order(c.sort_order), "template_suffix": c.template_suffix,
         "published_scope": c.published_scope, "admin_graphql_api_id": COLLECTION_GID % c.id}
    if full and c.smart:
        d["disjunctive"] = c.disjunctive
        d["rules"] = [{"column": col.lower(), "relation": rel.lower(), "condition": cond}
                      for col, rel, cond in c.rules]
    return d


def rest_customer(book, c, stats=True):
    orders = getattr(book.shop, "orders", None)
    last = orders.orders.get(c.last_order_id) if orders and c.last_order_id else None
    d = {"id": c.id, "email": c.email, "created_at": fmt_ts(c.created_at, c.id),
         "updated_at": fmt_ts(c.updated_at, c.id), "first_name": c.first_name,
         "last_name": c.last_name, "state": c.state.lower(), "note": c.note,
         "verified_email": c.verified_email, "multipass_identifier": None,
         "tax_exempt": c.tax_exempt, "phone": c.phone, "tags": ", ".join(c.tags),
         "currency": book.currency, "addresses": [], "tax_exemptions": [],
         "email_marketing_consent": None if c.email is None else {
             "state": "not_subscribed", "opt_in_level": "single_opt_in",
             "consent_updated_at": None},
         "sms_marketing_consent": None, "admin_graphql_api_id": CUSTOMER_GID % c.id,
         "default_address": None}
    if stats:
        d.update(orders_count=c.orders_count, total_spent=money(c.spent),
                 last_order_id=c.last_order_id,
                 last_order_name=None if last is None else "#%d" % (1000 + last.number))
    return d


def rest_collect(book, c, pid, k):
    cid = book.collect_id(c.id, pid)
    ts = fmt_ts(c.updated_at, cid)
    return {"id": cid, "collection_id": c.id, "product_id": pid, "created_at": ts,
            "updated_at": ts, "position": k + 1, "sort_value": "%010d" % (k + 1)}


# -- paging -------------------------------------------------------------------------------
def _b64(b):
    return base64.urlsafe_b64encode(b).rstrip(b"=").decode("ascii")


def _sign(shop, kind, raw):
    return hmac.new(SECRET, shop.domain.encode() + b"\0" + kind.encode() + b"\0" + raw,
                    hashlib.sha256).digest()[:12]


def encode_page_info(shop, kind, direction, key, params):
    raw = json.dumps({"d": direction, "k": key, "p": params}, separators=(",", ":"),
                     sort_keys=True).encode()
    return _b64(raw + _sign(shop, kind, raw))


def decode_page_info(shop, kind, token):
    bad = HttpError(400, {"page_info": ["Invalid value."]})
    try:
        blob = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4))
    except (binascii.Error, ValueError):
        raise bad
    if len(blob) < 13 or _b64(blob) != token:
        raise bad
    raw, sig = blob[:-12], blob[-12:]
    if not hmac.compare_digest(sig, _sign(shop, kind, raw)):
        raise bad
    d = json.loads(raw)
    return d["d"], d["k"], d["p"]


def _first_params(req):
    """The filter params of a first request (a page_info request may carry only
    limit and fields)."""
    if "page_info" in req.params:
        for name, _ in req.params_list:
            if name in PAGED_FILTERS:
                raise HttpError(400, "%s cannot be passed when page_info is present" % name)
        return None
    return {k: v for k, v in req.params.items() if k in PAGED_FILTERS}


def _ids(s, name):
    try:
        return {int(x) for x in s.split(",") if x.strip()}
    except ValueError:
        raise HttpError(400, {name: ["expected a comma-separated list of ids"]})


def _int(s, name):
    try:
        return int(s)
    except ValueError:
        raise HttpError(400, {name: ["expected Integer to be a id"]})


def _ts(shop, s, name):
    try:
        return parse_ts(s, shop.utc_offset).epoch
    except ValueError:
        raise HttpError(400, {name: ["must be a valid ISO 8601 date/time"]})


def record_filter(shop, params):
    """since_id / ids / updated_at_* / created_at_* -> predicate on records."""
    since = _int(params["since_id"], "since_id") if "since_id" in params else None
    ids = _ids(params["ids"], "ids") if "ids" in params else None
    bounds = [(k, _ts(shop, params[k], k)) for k in ("updated_at_min", "updated_at_max",
                                                     "created_at_min", "created_at_max")
              if k in params]

    def ok(r):
        if since is not None and r.id <= since:
            return False
        if ids is not None and r.id not in ids:
            return False
        for k, t in bounds:
            v = r.updated_at if k.startswith("updated") else r.created_at
            if (v < t) if k.endswith("min") else (v > t):
                return False
        return True
    return ok


def paged(req, kind, key_list, render, wrapper):
    """One page of `key_list` (ascending keys) -> Response with Link headers.
    key_list(params) -> keys; render(key) -> REST object."""
    shop = req.shop
    limit = parse_limit(req)
    params = _first_params(req)
    if params is None:
        direction, key, params = decode_page_info(shop, kind, req.params["page_info"])
    else:
        direction, key = "n", None
    with shop.lock:
        keys = key_list(params)
        if direction == "n":
            start = 0 if key is None else bisect.bisect_right(keys, key)
            page = keys[start:start + limit]
            has_prev, has_next = key is not None, start + limit < len(keys)
        else:
            end = bisect.bisect_left(keys, key)
            start = max(0, end - limit)
            page = keys[start:end]
            has_prev, has_next = start > 0, True
        body = json_array(wrapper, (render(k) for k in page))
    base = "<https://%s/admin/api/%s/%s?limit=%d&page_info=" % (
        shop.domain, req.match["version"], quote(req.path.split("/", 4)[4]), limit)
    links = []
    if has_prev and page:
        links.append(base + encode_page_info(shop, kind, "p", page[0], params)
                     + '>; rel="previous"')
    if has_next and page:
        links.append(base + encode_page_info(shop, kind, "n", page[-1], params)
                     + '>; rel="next"')
    return Response(200, headers=[("Link", ", ".join(links))] if links else [], raw=body)


def _one(wrapper, obj):
    if obj is None:
        raise HttpError(404, "Not Found")
    return Response(200, {wrapper: obj})


API = "/admin/api/%s/" % VERSION_RE


# -- locations and inventory levels ------------------------------------------------------
@ROUTER.api("GET", API + r"locations\.json")
def list_locations(req):
    book = book_of(req.shop)
    with req.shop.lock:
        return Response(200, raw=json_array("locations", [rest_location(loc)
                                                          for loc in book.sorted_locations()]))


@ROUTER.api("GET", API + r"locations/count\.json")
def count_locations(req):
    return Response(200, {"count": len(book_of(req.shop).locations)})


@ROUTER.api("GET", API + r"locations/(?P<id>[0-9]+)\.json")
def get_location(req):
    loc = book_of(req.shop).locations.get(int(req.match["id"]))
    return _one("location", rest_location(loc) if loc else None)


def _levels(req, locs, items):
    book = book_of(req.shop)

    def keys(params):
        out = []
        for lid in sorted(locs or book.locations):
            loc = book.locations.get(lid)
            if loc is None:
                continue
            for item in loc.items:
                if items is None or item in items:
                    out.append([lid, item])
        if "updated_at_min" in params:
            t = _ts(req.shop, params["updated_at_min"], "updated_at_min")
            out = [k for k in out if book.levels[k[1]][k[0]].updated_at >= t]
        return out
    return paged(req, "levels", keys, lambda k: rest_level(book.levels[k[1]][k[0]]),
                 "inventory_levels")


@ROUTER.api("GET", API + r"inventory_levels\.json")
def list_levels(req):
    p = req.params
    if "page_info" in p:
        _, _, params = decode_page_info(req.shop, "levels", p["page_info"])
    else:
        params = p
    locs = _ids(params["location_ids"], "location_ids") if params.get("location_ids") else None
    items = _ids(params["inventory_item_ids"], "inventory_item_ids") \
        if params.get("inventory_item_ids") else None
    if locs is None and items is None:
        raise HttpError(422, {"base": ["location_ids or inventory_item_ids is required"]})
    return _levels(req, locs, items)


@ROUTER.api("GET", API + r"locations/(?P<id>[0-9]+)/inventory_levels\.json")
def location_levels(req):
    lid = int(req.match["id"])
    if lid not in book_of(req.shop).locations:
        raise HttpError(404, "Not Found")
    return _levels(req, {lid}, None)


# -- customers -------------------------------------------------------------------------------
@ROUTER.api("GET", API + r"customers\.json")
def list_customers(req):
    book = book_of(req.shop)

    def keys(params):
        ok = record_filter(req.shop, params)
        return sorted(c.id for c in book.customers.values() if ok(c))
    return paged(req, "customers", keys, lambda k: rest_customer(book, book.customers[k]),
                 "customers")


@ROUTER.api("GET", API + r"customers/count\.json")
def count_customers(req):
    book = book_of(req.shop)
    ok = record_filter(req.shop, req.params)
    with req.shop.lock:
        return Response(200, {"count": sum(1 for c in book.customers.values() if ok(c))})


@ROUTER.api("GET", API + r"customers/(?P<id>[0-9]+)\.json")
def get_customer(req):
    book = book_of(req.shop)
    c = book.customers.get(int(req.match["id"]))
    return _one("customer", rest_customer(book, c) if c else None)


# -- collections and collects --------------------------------------------------------------
def _collections(req, smart, count=False):
    book = book_of(req.shop)

    def keys(params):
        ok = record_filter(req.shop, params)
        handles = set(params["handle"].split(",")) if params.get("handle") else None
        pid = _int(params["product_id"], "product_id") if params.get("product_id") else None
        return sorted(c.id for c in book.collections.values()
                      if c.smart == smart and ok(c) and (handles is None or c.handle in handles)
                      and (pid is None or pid in c.members))
    if count:
        with req.shop.lock:
            return Response(200, {"count": len(keys(req.params))})
    return paged(req, "smart" if smart else "custom", keys,
                 lambda k: rest_collection(book.collections[k], True),
                 "smart_collections" if smart else "custom_collections")


for _smart, _name in ((False, "custom_collections"), (True, "smart_collections")):
    def _make(smart, name):
        @ROUTER.api("GET", API + name + r"\.json")
        def listing(req):
            return _collections(req, smart)

        @ROUTER.api("GET", API + name + r"/count\.json")
        def counting(req):
            return _collections(req, smart, True)

        @ROUTER.api("GET", API + name + r"/(?P<id>[0-9]+)\.json")
        def one(req):
            c = book_of(req.shop).collections.get(int(req.match["id"]))
            return _one(name[:-1], rest_collection(c, True) if c and c.smart == smart
                        else None)
    _make(_smart, _name)


@ROUTER.api("GET", API + r"collections/(?P<id>[0-9]+)\.json")
def get_collection(req):
    c = book_of(req.shop).collections.get(int(req.match["id"]))
    if c is None:
        raise HttpError(404, "Not Found")
    d = rest_collection(c, True)
    d["collection_type"] = "smart" if c.smart else "custom"
    d["products_count"] = len(book_of(req.shop).live_members(c))
    return Response(200, {"collection": d})


@ROUTER.api("GET", API + r"collects\.json")
def list_collects(req):
    """Collects of custom collections (a smart collection has none in REST)."""
    book = book_of(req.shop)

    def keys(params):
        cid = _int(params["collection_id"], "collection_id") if params.get("collection_id") \
            else None
        pid = _int(params["product_id"], "product_id") if params.get("product_id") else None
        out = []
        for c in book.collections.values():
            if c.smart or (cid is not None and c.id != cid):
                continue
            for k, p in enumerate(book.live_members(c)):
                if pid is None or p == pid:
                    out.append([book.collect_id(c.id, p), c.id, p, k])
        out.sort()
        return out
    return paged(req, "collects", keys,
                 lambda k: rest_collect(book, book.collections[k[1]], k[2], k[3]), "collects")
