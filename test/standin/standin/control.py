"""Control API under /_control/ (no auth, JSON in/out) used by tests."""
from urllib.parse import unquote

from . import mutations
from .catalog import STATUSES
from .limits import Bucket
from .rest import expected_rows
from .routing import ROUTER, HttpError, Response, to_json

SHOP = r"/_control/shops/(?P<domain>[^/]+)"


def _shop(req):
    return req.state.shop(unquote(req.match["domain"]))


def _summary(shop):
    with shop.lock:
        return {"domain": shop.domain, "name": shop.name, "products": len(shop.order),
                "variants": shop.variant_count,
                "deleted_products": len(shop.deleted_products),
                "deleted_variants": len(shop.deleted_variants),
                "id_range": list(shop.id_range()),
                "max_product_id": shop.order[-1] if shop.order else None,
                "bucket": shop.bucket.to_dict() if shop.bucket else None,
                "graphql": shop.gql_bucket.to_dict(),
                "mutations": shop.mutations}


@ROUTER.control("GET", "/_control/health")
def health(req):
    return Response(200, {"ok": True})


@ROUTER.control("GET", "/_control/shops")
def list_shops(req):
    with req.state.lock:
        shops = list(req.state.shops.values())
    return Response(200, {"shops": [_summary(s) for s in shops]})


@ROUTER.control("POST", "/_control/shops")
def add_shop(req):
    cfg = req.json()
    try:
        shop = req.state.add_shop(cfg)
    except ValueError as e:
        raise HttpError(400, str(e))
    return Response(201, _summary(shop))


@ROUTER.control("GET", SHOP)
def shop_info(req):
    return Response(200, _summary(_shop(req)))


@ROUTER.control("GET", SHOP + "/expected")
def expected(req):
    shop = _shop(req)
    api = req.params.get("api", "rest")
    if api not in ("rest", "graphql"):
        raise HttpError(400, "api must be rest or graphql")
    sts = None
    if req.params.get("status"):
        sts = set(req.params["status"].split(","))
        if not sts <= set(STATUSES):
            raise HttpError(400, "bad status filter")
    rows = [to_json(r) for r in expected_rows(shop, api, sts)]
    head = to_json({"shop": shop.domain, "api": api, "count": len(rows)})
    return Response(200, raw=head[:-1] + b',"rows":[' + b",".join(rows) + b"]}")


@ROUTER.control("GET", SHOP + "/deleted")
def deleted(req):
    shop = _shop(req)
    with shop.lock:
        return Response(200, {"sku_ids": list(shop.deleted_variants),
                               "product_ids": list(shop.deleted_products)})


@ROUTER.control("POST", SHOP + "/mutate")
def mutate(req):
    shop = _shop(req)
    try:
        res = mutations.mutate(shop, req.json())
    except (mutations.MutationError, ValueError, TypeError) as e:
        raise HttpError(400, str(e))
    return Response(200, res)


@ROUTER.control("POST", SHOP + "/bucket")
def bucket(req):
    shop = _shop(req)
    d = req.json()
    if d.get("enabled") is False:
        shop.bucket = None
    else:
        try:
            b = Bucket(d.get("size", 40), d.get("leak", 2.0))
        except (TypeError, ValueError) as e:
            raise HttpError(400, str(e))
        if d.get("used") is not None:
            b.used = float(d["used"])
        shop.bucket = b
    return Response(200, {"bucket": shop.bucket.to_dict() if shop.bucket else None})


@ROUTER.control("POST", SHOP + "/token")
def token(req):
    shop = _shop(req)
    t = req.json().get("token")
    if not isinstance(t, str) or not t:
        raise HttpError(400, "token must be a non-empty string")
    req.state.set_token(shop, t)
    return Response(200, {"ok": True, "domain": shop.domain})


@ROUTER.control("GET", "/_control/faults")
def get_faults(req):
    return Response(200, {"faults": req.state.faults.to_dict()})


@ROUTER.control("POST", "/_control/faults")
def set_faults(req):
    try:
        f = req.state.faults.configure(req.json())
    except (TypeError, ValueError) as e:
        raise HttpError(400, str(e))
    return Response(200, {"faults": f})


@ROUTER.control("GET", "/_control/stats")
def stats(req):
    with_log = req.params.get("log", "1") not in ("0", "false")
    return Response(200, req.state.stats.snapshot(with_log, req.params.get("shop")))


@ROUTER.control("POST", "/_control/stats/reset")
def stats_reset(req):
    req.state.stats.reset()
    return Response(200, {"ok": True})
