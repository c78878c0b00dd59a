"""REST Admin API rendering and handlers (shop, products, count, product)."""
import base64
import binascii
import hashlib
import hmac
import json
from urllib.parse import quote

from .catalog import STATUSES, Filter, variant_traits
from .routing import ROUTER, VERSION_RE, HttpError, Response, json_array
from .timefmt import fmt_ts, parse_ts

REST_MAX_VARIANTS = 100
PRODUCT_KEYS = ("id", "title", "body_html", "vendor", "product_type", "created_at",
                "handle", "updated_at", "published_at", "template_suffix",
                "published_scope", "tags", "status", "admin_graphql_api_id",
                "variants", "options", "images", "image")
DEPRECATED = "https://shopify.dev/api/admin-rest/latest/resources/product"
TOKEN_SECRET = b"shopify-standin-page-info-v1"
# Filters that may only appear on a first request.
FILTER_PARAMS = ("since_id", "updated_at_min", "updated_at_max", "created_at_min",
                 "created_at_max", "published_at_min", "published_at_max", "status",
                 "ids", "vendor", "product_type", "handle", "title", "collection_id",
                 "published_status", "presentment_currencies", "product_ids")
UNSUPPORTED = ("published_at_min", "published_at_max", "title", "collection_id",
               "presentment_currencies", "product_ids")
SET_KEYS = ("statuses", "ids", "vendors", "product_types", "handles")


# -- rendering ----------------------------------------------------------------
def render_variant(v, position, currency):
    t = variant_traits(v.id)
    return {
        "id": v.id, "product_id": v.product_id, "title": v.title, "price": v.price,
        "position": position, "inventory_policy": t["inventory_policy"],
        "compare_at_price": v.compare_at_price, "option1": v.option1,
        "option2": v.option2, "option3": v.option3,
        "created_at": fmt_ts(v.created_at, v.id),
        "updated_at": fmt_ts(v.updated_at, v.id),
        "taxable": t["taxable"], "barcode": v.barcode,
        "fulfillment_service": t["fulfillment_service"], "grams": t["grams"],
        "inventory_management": t["inventory_management"],
        "requires_shipping": t["requires_shipping"], "sku": v.sku,
        "weight": t["weight"], "weight_unit": t["weight_unit"],
        "inventory_item_id": v.inventory_item_id,
        "inventory_quantity": v.inventory_quantity,
        "old_inventory_quantity": v.old_inventory_quantity,
        "presentment_prices": [{"price": {"amount": v.price, "currency_code": currency},
                                "compare_at_price": None if v.compare_at_price is None
                                else {"amount": v.compare_at_price,
                                      "currency_code": currency}}],
        "admin_graphql_api_id": "gid://shopify/ProductVariant/%d" % v.id,
        "image_id": v.image_id,
    }


def render_options(p):
    out = []
    for k, name in enumerate(p.option_names):
        attr = ("option1", "option2", "option3")[k]
        seen = {}
        for v in p.variants:
            val = getattr(v, attr)
            if val is not None:
                seen.setdefault(val, None)
        out.append({"id": p.option_base_id + k, "product_id": p.id, "name": name,
                    "position": k + 1, "values": list(seen)})
    return out


def render_images(p, shop):
    out = []
    for k in range(p.n_images):
        iid = p.image_base_id + k
        ts = fmt_ts(p.created_at, iid)
        out.append({
            "id": iid, "alt": None, "position": k + 1, "product_id": p.id,
            "created_at": ts, "updated_at": ts,
            "admin_graphql_api_id": "gid://shopify/MediaImage/%d" % (iid + 7),
            "width": 800 + (iid % 5) * 100, "height": 800 + (iid % 3) * 200,
            "src": "https://cdn.shopify.com/s/files/1/%04d/%04d/products/%s-%d.jpg?v=%d"
                   % (shop.shop_id % 10000, p.id % 10000, p.handle[:40], k + 1,
                      p.created_at),
            "variant_ids": [v.id for v in p.variants if v.image_id == iid],
        })
    return out


def render_product(p, shop, fields=None):
    want = fields or PRODUCT_KEYS
    d = {"id": p.id, "title": p.title}
    if "body_html" in want:
        d["body_html"] = p.body()
    d.update({
        "vendor": p.vendor, "product_type": p.product_type,
        "created_at": fmt_ts(p.created_at, p.id), "handle": p.handle,
        "updated_at": fmt_ts(p.updated_at, p.id),
        "published_at": fmt_ts(p.published_at, p.id),
        "template_suffix": p.template_suffix, "published_scope": p.published_scope,
        "tags": p.tags, "status": p.status,
        "admin_graphql_api_id": "gid://shopify/Product/%d" % p.id})
    if "variants" in want:
        d["variants"] = [render_variant(v, i + 1, shop.currency)
                         for i, v in enumerate(p.variants[:REST_MAX_VARIANTS])]
    if "options" in want:
        d["options"] = render_options(p)
    if "images" in want or "image" in want:
        imgs = render_images(p, shop)
        d["images"] = imgs
        d["image"] = imgs[0] if imgs else None
    if fields is None:
        return d
    return {k: d[k] for k in PRODUCT_KEYS if k in fields}


def expected_rows(shop, api="rest", statuses=None):
    """Rows a correct mirror holds (one per variant), values as REST serves them.
    A generator: iterate it while holding nothing else (it takes shop.lock)."""
    with shop.lock:
        for p in shop.iter_products():
            if statuses and p.status not in statuses:
                continue
            vs = p.variants if api == "graphql" else p.variants[:REST_MAX_VARIANTS]
            pu = fmt_ts(p.updated_at, p.id)
            for i, v in enumerate(vs):
                yield {
                    "sku_id": v.id, "product_id": p.id, "sku": v.sku, "title": p.title,
                    "variant_title": v.title, "vendor": p.vendor,
                    "product_type": p.product_type, "handle": p.handle,
                    "status": p.status, "tags": p.tags, "price": v.price,
                    "compare_at_price": v.compare_at_price, "barcode": v.barcode,
                    "inventory_quantity": v.inventory_quantity,
                    "inventory_item_id": v.inventory_item_id, "position": i + 1,
                    "variant_updated_at": fmt_ts(v.updated_at, v.id),
                    "product_updated_at": pu}


# -- page_info tokens -------------------------------------------------------------
def _b64(b):
    return base64.urlsafe_b64encode(b).rstrip(b"=").decode("ascii")


def encode_page_info(shop, direction, key, flt):
    f = {k: (sorted(v) if isinstance(v, (set, frozenset)) else v)
         for k, v in flt.to_dict().items()}
    raw = json.dumps({"d": direction, "k": key, "f": f}, separators=(",", ":"),
                     sort_keys=True).encode()
    sig = hmac.new(TOKEN_SECRET, shop.domain.encode() + b"\0" + raw,
                   hashlib.sha256).digest()[:12]
    return _b64(raw + sig)


def decode_page_info(shop, token):
    bad = HttpError(400, {"page_info": ["Invalid value."]})
    try:
        blob = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4))
    except (binascii.Error, ValueError):
        raise bad
    if len(blob) < 13 or _b64(blob) != token:
        raise bad
    raw, sig = blob[:-12], blob[-12:]
    good = hmac.new(TOKEN_SECRET, shop.domain.encode() + b"\0" + raw,
                    hashlib.sha256).digest()[:12]
    if not hmac.compare_digest(sig, good):
        raise bad
    d = json.loads(raw)
    f = d["f"]
    for k in SET_KEYS:
        if f.get(k) is not None:
            f[k] = set(f[k])
    return d["d"], d["k"], Filter.from_dict(f)


# -- parameter parsing ------------------------------------------------------------
def _csv(s):
    return [x.strip() for x in s.split(",") if x.strip()]


def _int_param(req, name):
    s = req.params[name].strip()
    try:
        return int(s)
    except ValueError:
        raise HttpError(400, {name: ["expected Integer to be a id"]})


def _ts_param(req, name, shop):
    try:
        r = parse_ts(req.params[name], shop.utc_offset)
    except ValueError:
        raise HttpError(400, {name: ["must be a valid ISO 8601 date/time"]})
    if r.plus_as_space:
        req.notes.append("plus_decoded_as_space")
    return r.epoch


def parse_filter(req, shop):
    p = req.params
    for name in UNSUPPORTED:
        if name in p:
            raise HttpError(400, "%s is not implemented by the test stand-in" % name)
    f = Filter()
    if "since_id" in p:
        f.since_id = _int_param(req, "since_id")
    for name, attr in (("updated_at_min", "umin"), ("updated_at_max", "umax"),
                       ("created_at_min", "cmin"), ("created_at_max", "cmax")):
        if name in p:
            setattr(f, attr, _ts_param(req, name, shop))
    if "status" in p:
        sts = set(_csv(p["status"]))
        if not sts or not sts <= set(STATUSES):
            raise HttpError(400, {"status": ["is not included in the list"]})
        f.statuses = sts
    if "ids" in p:
        try:
            f.ids = {int(x) for x in _csv(p["ids"])}
        except ValueError:
            raise HttpError(400, {"ids": ["expected a comma-separated list of ids"]})
    if "vendor" in p:
        f.vendors = {p["vendor"]}
    if "product_type" in p:
        f.product_types = {p["product_type"]}
    if "handle" in p:
        f.handles = set(_csv(p["handle"]))
    if "published_status" in p:
        ps = p["published_status"]
        if ps not in ("published", "unpublished", "any"):
            raise HttpError(400, {"published_status": ["is not included in the list"]})
        f.published = None if ps == "any" else ps
    return f


def parse_limit(req):
    if "limit" not in req.params:
        return 50
    s = req.params["limit"].strip()
    try:
        n = int(s)
    except ValueError:
        n = 0
    if not 1 <= n <= 250:
        raise HttpError(400, {"limit": ["must be an integer between 1 and 250"]})
    return n


def parse_fields(req):
    if "fields" not in req.params:
        return None
    return set(_csv(req.params["fields"]))


# -- handlers ----------------------------------------------------------------------
def render_shop(shop):
    off = shop.utc_offset
    tz = "(GMT%s%02d:%02d) Stand-in Time" % ("+" if off >= 0 else "-",
                                             abs(off) // 60, abs(off) % 60)
    created = fmt_ts(1546300800, shop.shop_id)
    return {
        "id": shop.shop_id, "name": shop.name, "email": None,
        "domain": shop.domain, "province": "", "country": "US", "address1": "",
        "zip": "", "city": "", "source": None, "phone": "", "latitude": None,
        "longitude": None, "primary_locale": "en", "address2": "",
        "created_at": created, "updated_at": created, "country_code": "US",
        "country_name": "United States", "currency": shop.currency,
        "customer_email": None, "timezone": tz, "iana_timezone": "Etc/Standin",
        "shop_owner": "Stand-in Owner", "money_format": "{{amount}}",
        "money_with_currency_format": "{{amount}} %s" % shop.currency,
        "weight_unit": "kg", "province_code": None, "taxes_included": False,
        "tax_shipping": None, "county_taxes": True,
        "plan_display_name": shop.plan_name.replace("_", " ").title(),
        "plan_name": shop.plan_name, "has_discounts": False, "has_gift_cards": False,
        "myshopify_domain": shop.domain, "google_apps_domain": None,
        "google_apps_login_enabled": None, "password_enabled": False,
        "has_storefront": True, "multi_location_enabled": True,
        "setup_required": False, "pre_launch_enabled": False,
        "enabled_presentment_currencies": [shop.currency],
        "admin_graphql_api_id": "gid://shopify/Shop/%d" % shop.shop_id,
    }


@ROUTER.api("GET", "/admin/api/%s/shop\\.json" % VERSION_RE)
def get_shop(req):
    return Response(200, {"shop": render_shop(req.shop)})


@ROUTER.api("GET", "/admin/api/%s/products\\.json" % VERSION_RE, deprecated=DEPRECATED)
def list_products(req):
    shop = req.shop
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
            prods, more = shop.page_after(flt, key, limit)
            has_next, has_prev = more, token is not None
        else:
            prods, more = shop.page_before(flt, key, limit)
            has_next, has_prev = True, more
        body = json_array("products", (render_product(p, shop, fields) for p in prods))
        first = prods[0].id if prods else None
        last = prods[-1].id if prods else None
    links = []
    base = "<https://%s/admin/api/%s/products.json?limit=%d%s&page_info=" % (
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


@ROUTER.api("GET", "/admin/api/%s/products/count\\.json" % VERSION_RE,
            deprecated=DEPRECATED)
def count_products(req):
    shop = req.shop
    flt = parse_filter(req, shop)
    with shop.lock:
        n = shop.count(flt)
    return Response(200, {"count": n})


@ROUTER.api("GET", "/admin/api/%s/products/(?P<pid>[0-9]+)\\.json" % VERSION_RE,
            deprecated=DEPRECATED)
def get_product(req):
    shop = req.shop
    fields = parse_fields(req)
    with shop.lock:
        p = shop.get(int(req.match["pid"]))
        if p is None:
            raise HttpError(404, "Not Found")
        body = render_product(p, shop, fields)
    return Response(200, {"product": body})
