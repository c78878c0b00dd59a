"""REST orders endpoints and the orders part of the control API.

  GET /admin/api/{v}/orders.json          keyset pagination by id (page_info)
  GET /admin/api/{v}/orders/count.json
  GET /admin/api/{v}/orders/{id}.json
  GET  /_control/shops/{d}/orders_expected
  GET  /_control/shops/{d}/orders_stats[?now=<epoch or ISO 8601>]
  POST /_control/shops/{d}/orders_mutate
  GET  /_control/shops/{d}/orders/{id}

``status`` defaults to ``open`` as on Shopify (open: neither closed nor
cancelled; closed: closed_at set, which includes every cancelled order;
cancelled: cancelled_at set; any).  Same auth, bucket, limit, fields and
page_info rules as products.json (rest.py).
"""
import base64
import binascii
import hashlib
import hmac
import json
from urllib.parse import quote, unquote

from . import orders_gen
from .catalog import IdSpaceError
from .orders import (REST_STATUSES, OrderFilter, book_of, expected_line_rows,
                     expected_order_row, render_order, stats)
from .rest import _csv, _int_param, _ts_param, parse_fields, parse_limit
from .routing import ROUTER, VERSION_RE, HttpError, Response, json_array, to_json
from .timefmt import parse_ts

TOKEN_SECRET = b"shopify-standin-orders-page-info-v1"
FILTER_PARAMS = ("since_id", "updated_at_min", "updated_at_max", "created_at_min",
                 "created_at_max", "processed_at_min", "processed_at_max", "status",
                 "ids", "financial_status", "fulfillment_status", "attribution_app_id")
UNSUPPORTED = ("processed_at_min", "processed_at_max", "financial_status",
               "fulfillment_status", "attribution_app_id")
SHOP = r"/_control/shops/(?P<domain>[^/]+)"


# -- page_info ----------------------------------------------------------------------
def _b64(b):
    return base64.urlsafe_b64encode(b).rstrip(b"=").decode("ascii")


def _sign(shop, raw):
    return hmac.new(TOKEN_SECRET, shop.domain.encode() + b"\0" + raw,
                    hashlib.sha256).digest()[:12]


def encode_page_info(shop, direction, key, flt):
    raw = json.dumps({"d": direction, "k": key, "f": flt.to_dict()},
                     separators=(",", ":"), sort_keys=True).encode()
    return _b64(raw + _sign(shop, raw))


def decode_page_info(shop, token):
    bad = HttpError(400, {"page_info": ["Invalid value."]})
    try:
        blob = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4))
    except (binascii.Error, ValueError):
        raise bad
    if len(blob) < 13 or _b64(blob) != token:
        raise bad
    raw, sig = blob[:-12], blob[-12:]
    if not hmac.compare_digest(sig, _sign(shop, raw)):
        raise bad
    d = json.loads(raw)
    return d["d"], d["k"], OrderFilter.from_dict(d["f"])


# -- parameters ---------------------------------------------------------------------
def parse_filter(req, shop):
    p = req.params
    for name in UNSUPPORTED:
        if name in p:
            raise HttpError(400, "%s is not implemented by the test stand-in" % name)
    f = OrderFilter(status="open")
    if "since_id" in p:
        f.since_id = _int_param(req, "since_id")
    for name, attr in (("updated_at_min", "umin"), ("updated_at_max", "umax"),
                       ("created_at_min", "cmin"), ("created_at_max", "cmax")):
        if name in p:
            setattr(f, attr, _ts_param(req, name, shop))
    if "status" in p:
        st = p["status"].strip()
        if st not in REST_STATUSES:
            raise HttpError(400, {"status": ["is not included in the list"]})
        f.status = None if st == "any" else st
    if "ids" in p:
        try:
            f.ids = {int(x) for x in _csv(p["ids"])}
        except ValueError:
            raise HttpError(400, {"ids": ["expected a comma-separated list of ids"]})
    return f


# -- REST handlers --------------------------------------------------------------------
@ROUTER.api("GET", "/admin/api/%s/orders\\.json" % VERSION_RE)
def list_orders(req):
    shop = req.shop
    book = book_of(shop)
    limit = parse_limit(req)
    fields = parse_fields(req)
    token = req.params.get("page_info")
    if token is not None:
        for name, _ in req.params_list:
            if name in FILTER_PARAMS:
                raise HttpError(400, "%s cannot be passed when page_info is present"
                                % name)
        direction, key, flt = decode_page_info(shop, token)
    else:
        direction, key, flt = "n", None, parse_filter(req, shop)
    with shop.lock:
        if direction == "n":
            page, more = book.page_after(flt, key, limit)
            has_next, has_prev = more, token is not None
        else:
            page, more = book.page_before(flt, key, limit)
            has_next, has_prev = True, more
        body = json_array("orders", (render_order(o, shop, book, fields) for o in page))
        first = page[0].id if page else None
        last = page[-1].id if page else None
    links = []
    base = "<https://%s/admin/api/%s/orders.json?limit=%d%s&page_info=" % (
        shop.domain, req.match["version"], limit,
        "" if fields is None else "&fields=" + quote(req.params["fields"], safe=",_"))
    if has_prev:
        before = first if first is not None else (key + 1 if direction == "n" and key
                                                   is not None else None)
        if before is not None:
            links.append(base + encode_page_info(shop, "p", before, flt)
                         + '>; rel="previous"')
    if has_next and (last is not None or direction == "p"):
        after = last if last is not None else key - 1
        links.append(base + encode_page_info(shop, "n", after, flt) + '>; rel="next"')
    headers = [("Link", ", ".join(links))] if links else []
    return Response(200, headers=headers, raw=body)


@ROUTER.api("GET", "/admin/api/%s/orders/count\\.json" % VERSION_RE)
def count_orders(req):
    shop = req.shop
    book = book_of(shop)
    flt = parse_filter(req, shop)
    with shop.lock:
        n = book.count(flt)
    return Response(200, {"count": n})


@ROUTER.api("GET", "/admin/api/%s/orders/(?P<oid>[0-9]+)\\.json" % VERSION_RE)
def get_order(req):
    shop = req.shop
    book = book_of(shop)
    fields = parse_fields(req)
    with shop.lock:
        o = book.get(int(req.match["oid"]))
        if o is None:
            raise HttpError(404, "Not Found")
        body = render_order(o, shop, book, fields)
    return Response(200, {"order": body})


# -- control API ----------------------------------------------------------------------
def _shop(req):
    return req.state.shop(unquote(req.match["domain"]))


@ROUTER.control("GET", SHOP + "/orders_expected")
def orders_expected(req):
    """{"orders": [...], "lines": [...]}: the rows a correct mirror holds."""
    shop = _shop(req)
    book = book_of(shop)
    buf = bytearray(b'{"orders":[')
    with shop.lock:                 # one growing buffer: 100k orders make ~67 MB
        sep = b""
        for o in book.iter_orders():
            buf += sep
            buf += to_json(expected_order_row(o, book))
            sep = b","
        buf += b'],"lines":['
        sep = b""
        for o in book.iter_orders():
            for r in expected_line_rows(o):
                buf += sep
                buf += to_json(r)
                sep = b","
    buf += b"]}"
    return Response(200, raw=bytes(buf))


@ROUTER.control("GET", SHOP + "/orders_stats")
def orders_stats(req):
    shop = _shop(req)
    book = book_of(shop)
    now = None
    if req.params.get("now"):
        s = req.params["now"]
        try:
            now = float(s)
        except ValueError:
            try:
                now = parse_ts(s, 0).epoch
            except ValueError:
                raise HttpError(400, "now must be epoch seconds or ISO 8601")
    with shop.lock:
        return Response(200, stats(book, now))


@ROUTER.control("POST", SHOP + "/orders_mutate")
def orders_mutate(req):
    shop = _shop(req)
    book_of(shop)
    try:
        res = orders_gen.mutate(shop, req.json())
    except (orders_gen.MutationError, IdSpaceError, ValueError, TypeError) as e:
        raise HttpError(400, str(e))
    return Response(200, res)


@ROUTER.control("GET", SHOP + "/orders/(?P<oid>[0-9]+)")
def control_order(req):
    """The REST JSON of one order ({"order": {...}}), e.g. for webhook bodies."""
    shop = _shop(req)
    book = book_of(shop)
    with shop.lock:
        o = book.get(int(req.match["oid"]))
        if o is None:
            raise HttpError(404, "no order %s" % req.match["oid"])
        return Response(200, {"order": render_order(o, shop, book)})
