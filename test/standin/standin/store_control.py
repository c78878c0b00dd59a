"""Control API of the rest of the store (store.py):

    GET  /_control/shops/{d}/store_expected?table=<t>[&owner_type=<o>]
         -> {"table": t, "count": n, "rows": [...]}, the rows a correct mirror holds
    POST /_control/shops/{d}/store_mutate  {"ops": [...]}
         -> {"ts", "updated_at", "results": [{"op", "webhooks": [...], ...}],
             "webhooks": [every op's, in order]}
    GET  /_control/shops/{d}/store  -> counts

A mutate call takes one timestamp (``shop.now_ts()``, shared with the catalog
and orders) and stamps it on everything it changes.  Each op answers with
the webhooks Shopify would send for it ({"topic", "payload"}, REST-shaped
payloads, store_rest.py).  An invalid op gets 400; earlier ops of the call
stay applied.

Also the hooks that keep the store consistent when products
(mutations.mutate) or orders (orders_gen.mutate) change: levels and
metafields of deleted products and variants go, new variants get a level,
a variant whose inventory_quantity was set directly has its first level
adjusted (the sum invariant), orders' customers get their figures again.
"""
import json
import random
from urllib.parse import unquote

from . import mutations, orders, orders_gen
from .orders import gql_decimal
from .routing import ROUTER, HttpError, Response, to_json
from .store import OWNER_TYPES, StoreError, book_of
from .store_gen import COUNTRY_NAMES, JSON_TYPES
from .store_graphql import condition_obj
from .store_ops import OPS, Mut, drop_product
from .store_rest import rest_customer
from .timefmt import fmt_ts, fmt_utc

SHOP = r"/_control/shops/(?P<domain>[^/]+)"
TABLES = ("locations", "inventory_levels", "collections", "collection_products",
          "metafields", "customers")


def _shop(req):
    return req.state.shop(unquote(req.match["domain"]))


# -- expected rows -------------------------------------------------------------------------
def _enum(s):
    return s.lower().replace("-", "_") if s is not None else None


def value_json(m):
    if m.type.startswith("list.") or m.type in JSON_TYPES:
        try:
            return json.loads(m.value)
        except ValueError:
            return None
    return None


# the extension's selection of Collection.sources (aliases included)
ALIASES = {"ProductTag": ("tagRelation", "tags"), "ProductTitle": ("titleRelation", "titles"),
           "ProductType": ("typeRelation", "types"), "ProductVendor": ("vendorRelation", "vendors"),
           "VariantPrice": ("priceRelation", "price"),
           "VariantInventory": ("inventoryRelation", "inventory")}


def sources_json(c, currency):
    if not c.smart:
        return []
    conds = []
    for k, r in enumerate(c.rules):
        o = condition_obj(c, k, r, currency)
        short = o["__typename"][len("CollectionSourceInclusionCondition"):]
        rel, val = ALIASES[short]
        v = o["values"] if "values" in o else o["value"]
        if short == "VariantPrice":
            v = {"amount": v["amount"]}
        conds.append({"__typename": o["__typename"], rel: o["relation"], val: v})
    return [{"__typename": "CollectionConditionsSource",
             "inclusion": {"matchType": "ANY" if c.disjunctive else "ALL",
                           "conditions": conds}}]


def rule_set_json(c):
    if not c.smart:
        return None
    return {"appliedDisjunctively": c.disjunctive,
            "rules": [{"column": col, "relation": rel, "condition": cond}
                      for col, rel, cond in c.rules]}


def expected_rows(shop, table, owner_type=None):
    book = book_of(shop)
    if table == "locations":
        return [{"location_id": loc.id, "name": loc.name, "active": loc.active,
                 "fulfills_online_orders": loc.fulfills_online, "address1": loc.address1,
                 "address2": loc.address2, "city": loc.city, "province": loc.province,
                 "province_code": loc.province_code,
                 "country": COUNTRY_NAMES.get(loc.country_code, loc.country_code),
                 "country_code": loc.country_code, "zip": loc.zip,
                 "created_at": fmt_utc(loc.created_at), "updated_at": fmt_utc(loc.updated_at)}
                for loc in book.sorted_locations()]
    if table == "inventory_levels":
        rows = []
        for item in sorted(book.levels):
            for lid in sorted(book.levels[item]):
                lv = book.levels[item][lid]
                rows.append({"inventory_item_id": item, "location_id": lid,
                             "available": lv.available, "on_hand": lv.on_hand,
                             "committed": lv.committed, "incoming": lv.incoming,
                             "reserved": lv.reserved, "updated_at": fmt_utc(lv.updated_at)})
        return rows
    if table == "collections":
        return [{"collection_id": c.id, "title": c.title, "handle": c.handle,
                 "kind": "smart" if c.smart else "custom", "sort_order": _enum(c.sort_order),
                 "updated_at": fmt_utc(c.updated_at), "rule_set": rule_set_json(c),
                 "sources": sources_json(c, book.currency)}
                for c in (book.collections[i] for i in sorted(book.collections))]
    if table == "collection_products":
        return [{"collection_id": cid, "product_id": pid, "position": k + 1}
                for cid in sorted(book.collections)
                for k, pid in enumerate(book.live_members(book.collections[cid]))]
    if table == "metafields":
        if owner_type is not None and owner_type not in OWNER_TYPES:
            raise HttpError(400, "owner_type must be one of %s" % ", ".join(OWNER_TYPES))
        return [{"metafield_id": m.id, "owner_type": m.owner_type, "owner_id": m.owner_id,
                 "namespace": m.namespace, "key": m.key, "type": m.type, "value": m.value,
                 "value_json": value_json(m), "updated_at": fmt_utc(m.updated_at)}
                for m in (book.metafields[i] for i in sorted(book.metafields))
                if owner_type is None or m.owner_type == owner_type]
    if table == "customers":
        return [{"customer_id": c.id, "state": _enum(c.state),
                 "created_at": fmt_utc(c.created_at), "updated_at": fmt_utc(c.updated_at),
                 "number_of_orders": c.orders_count, "amount_spent": gql_decimal(c.spent),
                 "currency": book.currency, "tags": ", ".join(c.tags), "email": c.email,
                 "first_name": c.first_name, "last_name": c.last_name}
                for c in (book.customers[i] for i in sorted(book.customers))]
    raise HttpError(400, "table must be one of %s" % ", ".join(TABLES))


@ROUTER.control("GET", SHOP + "/store_expected")
def store_expected(req):
    shop = _shop(req)
    table = req.params.get("table")
    with shop.lock:
        rows = [to_json(r) for r in expected_rows(shop, table, req.params.get("owner_type"))]
    head = to_json({"shop": shop.domain, "table": table, "count": len(rows)})
    return Response(200, raw=head[:-1] + b',"rows":[' + b",".join(rows) + b"]}")


@ROUTER.control("GET", SHOP + "/store")
def store_summary(req):
    shop = _shop(req)
    book = book_of(shop)
    with shop.lock:
        return Response(200, {
            "locations": len(book.locations),
            "active_locations": len(book.active_locations()),
            "inventory_levels": sum(len(v) for v in book.levels.values()),
            "collections": len(book.collections),
            "smart_collections": sum(1 for c in book.collections.values() if c.smart),
            "collection_products": sum(len(book.live_members(c))
                                       for c in book.collections.values()),
            "metafields": len(book.metafields),
            "metafield_types": sorted({m.type for m in book.metafields.values()}),
            "customers": len(book.customers),
            "orders_with_customer": len(book.order_customer),
            "generation_seconds": round(book.gen_seconds, 3)})




def store_mutate(shop, spec):
    ops = spec.get("ops")
    if not isinstance(ops, list):
        raise StoreError("ops must be a list")
    with shop.lock:
        m = Mut(shop)
        shop.mutations += 1
        res = {"ts": m.ts, "updated_at": fmt_ts(m.ts, 0), "results": [], "webhooks": []}
        try:
            for k, op in enumerate(ops):
                name = op.get("op") if isinstance(op, dict) else None
                fn = getattr(m, "op_%s" % name, None) if isinstance(name, str) else None
                if fn is None:
                    raise StoreError("op %d: unknown op %r (%s)" % (k, name, ", ".join(OPS)))
                try:
                    r = fn(op)
                except StoreError as e:
                    raise StoreError("op %d (%s): %s" % (k, name, e))
                r["op"] = name
                res["results"].append(r)
                res["webhooks"].extend(r["webhooks"])
        finally:
            m.book.changed()
    return res


@ROUTER.control("POST", SHOP + "/store_mutate")
def store_mutate_route(req):
    shop = _shop(req)
    try:
        return Response(200, store_mutate(shop, req.json()))
    except (StoreError, TypeError, ValueError, KeyError) as e:
        raise HttpError(400, str(e))


# -- consistency with the catalog and the orders ------------------------------------------------
def after_catalog_mutation(shop, res, ts):
    """Hook of mutations.mutate (holding shop.lock)."""
    book = getattr(shop, "store", None)
    if book is None:
        return
    for pid in res.get("deleted", ()):
        p = shop.deleted_products.get(pid)
        if p is not None:
            drop_product(book, p)
    gone = set(res.get("deleted_variants", ()))
    if gone:
        for item, (pid, vid) in list(book.item_owner.items()):
            if vid in gone:
                for lid in list(book.levels.get(item, {})):
                    book.remove_level(item, lid)
                del book.item_owner[item]
                book.drop_owner_metafields("variant", vid)
    first = next((loc for loc in book.active_locations() if not loc.legacy), None)
    for pid in res.get("touched", ()):
        p = shop.products.get(pid)
        if p is None:
            continue
        for v in p.variants:
            item = v.inventory_item_id
            book.item_owner[item] = (p.id, v.id)
            if not book.has_inventory:
                continue
            lvs = book.levels.get(item)
            if not lvs:
                if first is not None:
                    book.new_level(item, first.id, ts, v.inventory_quantity)
                continue
            delta = v.inventory_quantity - book.item_sum(item)
            if delta:
                lv = lvs[min(lvs)]
                lv.available += delta
                lv.updated_at = ts
    book.changed()


def after_orders_mutation(shop, res, ts):
    """Hook of orders_gen.mutate (holding shop.lock): new orders get a customer,
    customers of changed orders get their figures again (and updatedAt)."""
    book = getattr(shop, "store", None)
    if book is None or not book.customers:
        return
    cids = sorted(book.customers)
    rng = random.Random("order-customers/%s/%s" % (shop.domain, ts))
    for oid in res.get("created", ()):
        cid = rng.choice(cids)
        book.order_customer[oid] = cid
        book.customer_orders.setdefault(cid, []).append(oid)
    for cid in {book.order_customer[o] for o in res.get("touched", ())
                if o in book.order_customer}:
        c = book.customers.get(cid)
        if c is None:
            continue
        stats = book.customer_stats(cid)
        if stats != (c.orders_count, c.spent, c.last_order_id):
            c.orders_count, c.spent, c.last_order_id = stats
            c.updated_at = ts
    book.changed()


mutations.HOOKS.append(after_catalog_mutation)
orders_gen.HOOKS.append(after_orders_mutation)


def _order_customer(shop, oid):
    book = getattr(shop, "store", None)
    cid = book.order_customer.get(oid) if book is not None else None
    c = book.customers.get(cid) if cid is not None else None
    return rest_customer(book, c, stats=False) if c is not None else None


orders.CUSTOMER_HOOK = _order_customer
