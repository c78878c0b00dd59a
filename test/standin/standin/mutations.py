"""Catalog mutations driven by the control API (random and explicit).

Every mutation call takes one timestamp from ``shop.now_ts()`` (strictly
increasing per shop) and stamps it on every product/variant it changes, so
``updated_at_min=<that ts>`` returns exactly the touched products.
"""
import random

from .catalog import STATUSES
from .timefmt import fmt_ts

PRODUCT_FIELDS = ("title", "vendor", "product_type", "tags", "status", "body_html",
                  "handle", "template_suffix")
VARIANT_FIELDS = ("price", "compare_at_price", "sku", "barcode", "inventory_quantity",
                  "option1", "option2", "option3")


HOOKS = []      # fn(shop, result, ts), run at the end of a mutate call (holding shop.lock)


class MutationError(ValueError):
    pass


def _is_price(s):
    try:
        return s is None or (isinstance(s, str) and float(s) >= 0 and "." in s)
    except ValueError:
        return False


def _set_variant(v, spec, ts):
    for k in VARIANT_FIELDS:
        if k in spec:
            val = spec[k]
            if k in ("price",) and not (isinstance(val, str) and _is_price(val)):
                raise MutationError("variant price must be a string like \"9.99\"")
            if k == "compare_at_price" and not _is_price(val):
                raise MutationError("compare_at_price must be null or a price string")
            if k == "inventory_quantity":
                v.old_inventory_quantity = v.inventory_quantity
            setattr(v, k, val)
    v.updated_at = ts


def _apply_update(shop, p, op, ts):
    for k in PRODUCT_FIELDS:
        if k in op:
            if k == "status" and op[k] not in STATUSES:
                raise MutationError("status must be one of %s" % ",".join(STATUSES))
            setattr(p, k, op[k])
    if op.get("status") == "active" and p.published_at is None:
        p.published_at = ts
    specs = list(op.get("variants") or [])
    if op.get("variant"):
        specs.append(op["variant"])
    byid = {v.id: v for v in p.variants}
    for spec in specs:
        vid = spec.get("id")
        if vid is None and "position" in spec:
            pos = int(spec["position"])
            if not 1 <= pos <= len(p.variants):
                raise MutationError("no variant at position %d" % pos)
            vid = p.variants[pos - 1].id
        if vid not in byid:
            raise MutationError("variant %s is not in product %d" % (vid, p.id))
        _set_variant(byid[vid], spec, ts)
    p.updated_at = ts


def _random_update(shop, p, rng, ts):
    changed_title = rng.random() < 0.5
    if changed_title:
        base = p.title.rsplit(" (rev ", 1)[0]
        p.title = "%s (rev %d)" % (base, shop.mutations)
    k = rng.randint(0 if changed_title else 1, min(3, len(p.variants)))
    for v in rng.sample(p.variants, k):
        what = rng.random()
        if what < 0.6:
            cents = max(0, int(round(float(v.price) * 100)) + rng.randint(-500, 900))
            v.price = "%d.%02d" % (cents // 100, cents % 100)
        if what >= 0.3:
            v.old_inventory_quantity = v.inventory_quantity
            v.inventory_quantity = v.inventory_quantity + rng.randint(-20, 20)
        v.updated_at = ts
    p.updated_at = ts


def mutate(shop, spec):
    """Apply a mutate request; returns the JSON-able summary."""
    res = {"updated": [], "deleted": [], "created": [], "restored": [],
           "deleted_variants": [], "added_variants": []}
    with shop.lock:
        shop.mutations += 1
        ts = shop.now_ts()
        gen = shop.generator
        seed = spec.get("seed")
        rng = random.Random("%s/%s/%s" % (shop.domain, seed if seed is not None
                                          else "auto", shop.mutations if seed is None else ""))
        touched = set()

        for op in spec.get("ops") or []:
            _explicit(shop, gen, op, ts, res, touched)

        n_del = int(spec.get("delete", 0))
        n_upd = int(spec.get("update", 0))
        n_dv = int(spec.get("delete_variants", 0))
        n_av = int(spec.get("add_variants", 0))
        n_new = int(spec.get("create", 0))

        live = [i for i in shop.order if i not in touched]
        if n_del + n_upd > len(live):
            raise MutationError("catalog has only %d products" % len(live))
        picks = rng.sample(live, n_del + n_upd)
        for pid in picks[:n_del]:
            shop.delete_product(pid)
            res["deleted"].append(pid)
        for pid in picks[n_del:]:
            _random_update(shop, shop.products[pid], rng, ts)
            res["updated"].append(pid)
            touched.add(pid)

        multi = [i for i in shop.order if len(shop.products[i].variants) > 1]
        for pid in rng.sample(multi, min(n_dv, len(multi))):
            p = shop.products[pid]
            v = shop.delete_variant(p, rng.choice(p.variants).id, ts)
            res["deleted_variants"].append(v.id)
            touched.add(pid)

        if n_av:
            for pid in rng.sample(shop.order, min(n_av, len(shop.order))):
                p = shop.products[pid]
                v = gen.extra_variant(p, ts)
                p.variants.append(v)
                shop.variant_count += 1
                p.updated_at = ts
                res["added_variants"].append(v.id)
                touched.add(pid)

        gen.rng, saved = rng, gen.rng
        try:
            for _ in range(n_new):
                nv = rng.randint(1, 5)
                p = gen.product(nv, created=ts, updated=ts,
                                status=spec.get("create_status", "active"))
                shop._insert(p)
                res["created"].append(p.id)
                touched.add(p.id)
        finally:
            gen.rng = saved

        touched.difference_update(res["deleted"])
        touched = {t for t in touched if t in shop.products}
        res["touched"] = sorted(touched)
        for hook in HOOKS:
            hook(shop, res, ts)
        res["ts"] = ts
        res["updated_at"] = fmt_ts(ts, 0)
        res["product_count"] = len(shop.order)
        res["variant_count"] = shop.variant_count
    return res


def _explicit(shop, gen, op, ts, res, touched):
    kind = op.get("op")
    pid = op.get("product_id")
    if kind == "update":
        p = shop.products.get(pid)
        if p is None:
            raise MutationError("no live product %s" % pid)
        _apply_update(shop, p, op, ts)
        res["updated"].append(pid)
        touched.add(pid)
    elif kind == "delete":
        if pid not in shop.products:
            raise MutationError("no live product %s" % pid)
        shop.delete_product(pid)
        res["deleted"].append(pid)
    elif kind == "restore":
        if pid not in shop.deleted_products:
            raise MutationError("product %s was not deleted" % pid)
        shop.restore_product(pid, ts)
        res["restored"].append(pid)
        touched.add(pid)
    elif kind == "create":
        p = gen.product(int(op.get("variants", 1)), created=ts, updated=ts,
                        status=op.get("status", "active"))
        for k in PRODUCT_FIELDS:
            if k in op and k != "status":
                setattr(p, k, op[k])
        shop._insert(p)
        res["created"].append(p.id)
        touched.add(p.id)
    elif kind == "delete_variant":
        vid = op.get("variant_id")
        p = shop.products.get(pid) if pid else None
        if p is None:
            p = next((q for q in shop.products.values()
                      if any(v.id == vid for v in q.variants)), None)
        if p is None:
            raise MutationError("no live variant %s" % vid)
        if len(p.variants) == 1:
            raise MutationError("cannot delete the last variant of product %d "
                                "(Shopify requires one); delete the product" % p.id)
        shop.delete_variant(p, vid, ts)
        res["deleted_variants"].append(vid)
        touched.add(p.id)
    elif kind == "add_variant":
        p = shop.products.get(pid)
        if p is None:
            raise MutationError("no live product %s" % pid)
        v = gen.extra_variant(p, ts)
        _set_variant(v, op, ts)
        p.variants.append(v)
        shop.variant_count += 1
        p.updated_at = ts
        res["added_variants"].append(v.id)
        touched.add(p.id)
    elif kind == "touch":
        p = shop.products.get(pid)
        if p is None:
            raise MutationError("no live product %s" % pid)
        p.updated_at = ts
        res["updated"].append(pid)
        touched.add(pid)
    else:
        raise MutationError("unknown op %r (update, delete, restore, create, "
                            "delete_variant, add_variant, touch)" % kind)
