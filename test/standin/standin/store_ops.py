"""store_mutate's ops (store_control.py): each changes the store as Shopify
would and returns the webhooks Shopify would send ({"topic", "payload"},
REST-shaped payloads from store_rest.py).  One ``Mut`` per call: the shop, its
book and the call's timestamp (``shop.now_ts()``), stamped on everything an op
changes.  An op refuses what Shopify refuses with ``StoreError`` (HTTP 400).
"""
import json

from .orders import render_order
from .rest import render_product, render_shop
from .store import (CUSTOMER_STATES, INT32_MAX, OWNER_TYPES, QUANTITY_NAMES, SORT_ORDERS,
                    UNAVAILABLE, Collection, Customer, Location, Metafield, StoreError,
                    book_of, check_rules, smart_members, sort_members)
from .store_gen import JSON_TYPES, METAFIELD_TYPES
from .store_rest import (rest_collection, rest_customer, rest_item, rest_level,
                         rest_location)
from .timefmt import fmt_ts


def _wh(topic, payload):
    return {"topic": topic, "payload": payload}


def _product_payload(shop, p):
    d = render_product(p, shop)
    d["variant_gids"] = [{"admin_graphql_api_id": "gid://shopify/ProductVariant/%d" % v.id,
                          "updated_at": fmt_ts(v.updated_at, v.id)} for v in p.variants]
    return d


class Mut:
    """One store_mutate call: the shop, its book, the timestamp."""

    def __init__(self, shop):
        self.shop = shop
        self.book = book_of(shop)
        self.ts = shop.now_ts()
        self.orders_changed = False

    # -- argument helpers --------------------------------------------------------
    @staticmethod
    def int_arg(op, k, required=True):
        v = op.get(k)
        if v is None and not required:
            return None
        if isinstance(v, bool) or not isinstance(v, int):
            raise StoreError("%s: %s must be an integer id" % (op.get("op"), k))
        return v

    @staticmethod
    def qty(op, k):
        v = op[k]
        if isinstance(v, bool) or not isinstance(v, int) or not -INT32_MAX - 1 <= v <= INT32_MAX:
            raise StoreError("%s must be a 32-bit integer" % k)
        return v

    def location(self, op, k="location"):
        loc = self.book.locations.get(self.int_arg(op, k))
        if loc is None:
            raise StoreError("no location %s" % op.get(k))
        return loc

    def item(self, op):
        item = self.int_arg(op, "item")
        pv = self.book.variant_of_item(item)
        if pv is None:
            raise StoreError("no inventory item %s (of a live variant)" % item)
        return item, pv

    def collection(self, op, k="collection"):
        c = self.book.collections.get(self.int_arg(op, k))
        if c is None:
            raise StoreError("no collection %s" % op.get(k))
        return c

    def customer(self, op, k="id"):
        c = self.book.customers.get(self.int_arg(op, k))
        if c is None:
            raise StoreError("no customer %s" % op.get(k))
        return c

    # -- inventory -------------------------------------------------------------------
    def _touch_item(self, p, v, hooks):
        v.updated_at = p.updated_at = self.ts
        hooks.append(_wh("products/update", _product_payload(self.shop, p)))

    def op_set_level(self, op):
        book, ts = self.book, self.ts
        item, (p, v) = self.item(op)
        loc = self.location(op)
        if not loc.active:
            raise StoreError("location %d is not active" % loc.id)
        given = [n for n in QUANTITY_NAMES if n in op]
        if not given:
            raise StoreError("set_level needs one of %s" % ", ".join(QUANTITY_NAMES))
        vals = {n: self.qty(op, n) for n in given}
        out = []
        lv = book.level(item, loc.id)
        if lv is None:
            lv = book.new_level(item, loc.id, ts)
            out.append(_wh("inventory_levels/connect", None))
        for n in UNAVAILABLE + ("incoming",):
            if n in vals:
                setattr(lv, n, vals[n])
        if "available" in vals:
            lv.available = vals["available"]
        if "on_hand" in vals:
            if "available" in vals and lv.on_hand != vals["on_hand"]:
                raise StoreError("on_hand must be available + committed + reserved + damaged"
                                 " + safety_stock + quality_control")
            lv.available = vals["on_hand"] - (lv.on_hand - lv.available)
        lv.updated_at = ts
        if out:
            out[0]["payload"] = rest_level(lv)
        book.set_item_sum(item)
        out.append(_wh("inventory_levels/update", rest_level(lv)))
        self._touch_item(p, v, out)
        return {"webhooks": out, "inventory_quantity": v.inventory_quantity}

    def op_delete_level(self, op):
        book = self.book
        item, (p, v) = self.item(op)
        loc = self.location(op)
        if book.remove_level(item, loc.id) is None:
            raise StoreError("item %d has no level at location %d" % (item, loc.id))
        book.set_item_sum(item)
        out = [_wh("inventory_levels/disconnect",
                   {"inventory_item_id": item, "location_id": loc.id})]
        self._touch_item(p, v, out)
        return {"webhooks": out, "inventory_quantity": v.inventory_quantity}

    def op_update_inventory_item(self, op):
        item, _ = self.item(op)
        meta = self.book.item_meta.setdefault(item, {})
        if "cost" in op:
            meta["cost"] = op["cost"]
        if "tracked" in op:
            meta["tracked"] = bool(op["tracked"])
        meta["updated_at"] = self.ts
        return {"webhooks": [_wh("inventory_items/update", rest_item(self.book, item))]}

    def op_delete_inventory_item(self, op):
        """The item goes with its variant (the product, if it was the last one)."""
        shop, book = self.shop, self.book
        item, (p, v) = self.item(op)
        out = [_wh("inventory_items/delete", {"id": item})]
        if len(p.variants) > 1:
            drop_variant(book, v)
            shop.delete_variant(p, v.id, self.ts)
            out.append(_wh("products/update", _product_payload(shop, p)))
        else:
            shop.delete_product(p.id)
            drop_product(book, p)
            out.append(_wh("products/delete", {"id": p.id}))
        shop.mutations += 1
        return {"webhooks": out, "variant_id": v.id, "product_id": p.id}

    # -- locations -------------------------------------------------------------------
    LOCATION_FIELDS = ("name", "address1", "address2", "city", "province", "province_code",
                       "country_code", "zip", "phone")

    def _set_location(self, loc, op):
        for k in self.LOCATION_FIELDS:
            if k in op:
                if op[k] is not None and not isinstance(op[k], str):
                    raise StoreError("%s must be a string or null" % k)
                setattr(loc, k, op[k])
        if "fulfills_online_orders" in op:
            loc.fulfills_online = bool(op["fulfills_online_orders"])

    def op_add_location(self, op):
        loc = Location()
        loc.id = self.shop.alloc_id()
        loc.name = "New location %d" % (loc.id % 10000)
        loc.address1 = loc.address2 = loc.city = loc.province = loc.province_code = None
        loc.zip = loc.phone = None
        loc.country_code = "CA"
        loc.active, loc.legacy = True, bool(op.get("legacy", False))
        loc.fulfills_online = True
        loc.created_at = loc.updated_at = self.ts
        loc.deactivated_at = None
        loc.items = []
        self._set_location(loc, op)
        if op.get("active") is False:
            loc.active, loc.deactivated_at = False, self.ts
        self.book.locations[loc.id] = loc
        return {"id": loc.id, "webhooks": [_wh("locations/create", rest_location(loc))]}

    def op_update_location(self, op):
        book, ts = self.book, self.ts
        loc = self.location(op, "id")
        self._set_location(loc, op)
        out = []
        if op.get("active") is False and loc.active:
            dest = self.location(op, "move_to") if op.get("move_to") is not None else None
            if dest is not None and (not dest.active or dest is loc):
                raise StoreError("move_to must be another active location")
            touched = {}
            for item in list(loc.items):
                lv = book.remove_level(item, loc.id)
                out.append(_wh("inventory_levels/disconnect",
                               {"inventory_item_id": item, "location_id": loc.id}))
                if dest is not None:
                    d = book.level(item, dest.id)
                    if d is None:
                        d = book.new_level(item, dest.id, ts)
                        out.append(_wh("inventory_levels/connect", rest_level(d)))
                    d.available += lv.available
                    d.updated_at = ts
                    out.append(_wh("inventory_levels/update", rest_level(d)))
                book.set_item_sum(item)
                pv = book.variant_of_item(item)
                if pv is not None:
                    pv[1].updated_at = pv[0].updated_at = ts
                    touched[pv[0].id] = pv[0]
            for p in touched.values():
                out.append(_wh("products/update", _product_payload(self.shop, p)))
            loc.active, loc.deactivated_at, loc.fulfills_online = False, ts, False
        elif op.get("active") is True and not loc.active:
            loc.active, loc.deactivated_at = True, None
        loc.updated_at = ts
        return {"webhooks": [_wh("locations/update", rest_location(loc))] + out}

    def op_delete_location(self, op):
        loc = self.location(op, "id")
        if loc.active:
            raise StoreError("location %d is active: Shopify deletes only deactivated "
                             "locations (update_location active: false first)" % loc.id)
        for item in list(loc.items):
            self.book.remove_level(item, loc.id)
        del self.book.locations[loc.id]
        return {"webhooks": [_wh("locations/delete", {"id": loc.id})]}

    # -- collections ------------------------------------------------------------------
    def _products(self, ids):
        if not isinstance(ids, list):
            raise StoreError("products must be a list of product ids")
        out = []
        for pid in ids:
            if pid not in self.shop.products:
                raise StoreError("no live product %s" % pid)
            if pid not in out:
                out.append(pid)
        return out

    def _sort_order(self, op, default):
        s = op.get("sort_order", default)
        s = s.upper().replace("-", "_") if isinstance(s, str) else s
        if s not in SORT_ORDERS:
            raise StoreError("sort_order must be one of %s" % ", ".join(SORT_ORDERS))
        return s

    def _bump(self, c):
        c.updated_at = self.ts
        return [_wh("collections/update", rest_collection(c))]

    def op_add_collection(self, op):
        shop = self.shop
        c = Collection()
        c.id = shop.alloc_id()
        c.smart = bool(op.get("smart"))
        c.title = op.get("title") or "New collection %d" % (c.id % 10000)
        taken = {x.handle for x in self.book.collections.values()}
        from .pools import slugify
        h = op.get("handle") or slugify(c.title)
        hh, n = h, 1
        while hh in taken:
            n += 1
            hh = "%s-%d" % (h, n)
        c.handle = hh
        c.sort_order = self._sort_order(op, "BEST_SELLING" if c.smart else "MANUAL")
        c.body_html = op.get("body_html")
        c.published_at = c.created_at = c.updated_at = self.ts
        c.published_scope, c.template_suffix = "web", None
        c.disjunctive = bool(op.get("disjunctive", False))
        if c.smart:
            c.rules = check_rules(op.get("rules"))
            c.members = smart_members(shop, c)
        else:
            if op.get("rules"):
                raise StoreError("a custom collection has no rules")
            c.rules = []
            c.members = sort_members(shop, c.sort_order, self._products(op.get("products", [])))
        self.book.collections[c.id] = c
        return {"id": c.id, "webhooks": [_wh("collections/create", rest_collection(c))]}

    def op_update_collection(self, op):
        c = self.collection(op, "id")
        for k in ("title", "handle", "body_html", "template_suffix"):
            if k in op:
                setattr(c, k, op[k])
        resort = False
        if "sort_order" in op:
            c.sort_order = self._sort_order(op, c.sort_order)
            resort = True
        if "rules" in op or "disjunctive" in op:
            if not c.smart:
                raise StoreError("collection %d is a custom collection: no rules" % c.id)
            if "rules" in op:
                c.rules = check_rules(op["rules"])
            c.disjunctive = bool(op.get("disjunctive", c.disjunctive))
            c.members = smart_members(self.shop, c)
        elif resort:
            c.members = sort_members(self.shop, c.sort_order, c.members)
        return {"webhooks": self._bump(c), "products": self.book.live_members(c)}

    def op_delete_collection(self, op):
        c = self.collection(op, "id")
        del self.book.collections[c.id]
        return {"webhooks": [_wh("collections/delete", {"id": c.id})]}

    def _custom(self, op):
        c = self.collection(op)
        if c.smart:
            raise StoreError("collection %d is a smart collection: its products follow its "
                             "rules" % c.id)
        return c

    def op_add_to_collection(self, op):
        c = self._custom(op)
        pid = self.int_arg(op, "product")
        if pid not in self.shop.products:
            raise StoreError("no live product %s" % pid)
        members = self.book.live_members(c)
        if pid in members:
            raise StoreError("product %d is already in collection %d" % (pid, c.id))
        pos = op.get("position")
        if pos is None:
            members.append(pid)
        else:
            members.insert(max(0, int(pos) - 1), pid)
        c.members = sort_members(self.shop, c.sort_order, members)
        return {"webhooks": self._bump(c)}

    def op_remove_from_collection(self, op):
        c = self._custom(op)
        pid = self.int_arg(op, "product")
        if pid not in c.members:
            raise StoreError("product %s is not in collection %d" % (pid, c.id))
        c.members = [x for x in c.members if x != pid]
        return {"webhooks": self._bump(c)}

    def op_reorder_collection(self, op):
        c = self.collection(op)
        if c.sort_order != "MANUAL":
            raise StoreError("collection %d is sorted %s: Shopify reorders only MANUAL "
                             "collections" % (c.id, c.sort_order))
        members = self.book.live_members(c)
        if "products" in op:
            new = self._products(op["products"])
            if sorted(new) != sorted(members):
                raise StoreError("products must list the collection's products exactly")
        else:
            pid, pos = self.int_arg(op, "product"), self.int_arg(op, "position")
            if pid not in members:
                raise StoreError("product %s is not in collection %d" % (pid, c.id))
            new = [x for x in members if x != pid]
            new.insert(max(0, pos - 1), pid)
        c.members = new
        return {"webhooks": self._bump(c)}

    # -- metafields ----------------------------------------------------------------------
    def _owner_touched(self, otype, oid):
        """Bump the owner (Shopify: its updatedAt moves) -> its webhook."""
        shop, ts = self.shop, self.ts
        if otype == "product":
            p = shop.products[oid]
            p.updated_at = ts
            return _wh("products/update", _product_payload(shop, p))
        if otype == "variant":
            p, v, _ = self.book.variant_by_id(oid)
            v.updated_at = p.updated_at = ts
            return _wh("products/update", _product_payload(shop, p))
        if otype == "order":
            book = shop.orders
            o = book.orders[oid]
            o.updated_at = ts
            book.changed()
            return _wh("orders/updated", render_order(o, shop, book))
        if otype == "customer":
            c = self.book.customers[oid]
            c.updated_at = ts
            return _wh("customers/update", rest_customer(self.book, c))
        return _wh("shop/update", render_shop(shop))

    def _owner(self, op):
        otype = op.get("owner_type")
        if otype not in OWNER_TYPES:
            raise StoreError("owner_type must be one of %s" % ", ".join(OWNER_TYPES))
        oid = self.shop.shop_id if otype == "shop" and op.get("owner_id") is None \
            else self.int_arg(op, "owner_id")
        if not self.book.owner_exists(otype, oid):
            raise StoreError("no %s %s" % (otype, oid))
        return otype, oid

    def op_set_metafield(self, op):
        book = self.book
        otype, oid = self._owner(op)
        ns, key, typ, value = (op.get(k) for k in ("namespace", "key", "type", "value"))
        if not (isinstance(ns, str) and 3 <= len(ns) <= 255 and isinstance(key, str)
                and 2 <= len(key) <= 64):
            raise StoreError("namespace (3-255 characters) and key (2-64) are required")
        if not isinstance(value, str) or value == "":
            raise StoreError("value must be a non-empty string (as Shopify stores it)")
        m = next((x for x in book.owner_metafields(otype, oid)
                  if x.namespace == ns and x.key == key), None)
        if typ is None and m is not None:
            typ = m.type
        if typ not in METAFIELD_TYPES:
            raise StoreError("type must be a metafield type (%s, ...)" % ", ".join(
                METAFIELD_TYPES[:5]))
        if m is not None and m.type != typ:
            raise StoreError("metafield %s.%s has type %s: Shopify does not change a "
                             "metafield's type" % (ns, key, m.type))
        if typ.startswith("list.") or typ in JSON_TYPES:
            try:
                json.loads(value)
            except ValueError:
                raise StoreError("value of a %s metafield must be JSON" % typ)
        created = m is None
        if created:
            m = Metafield()
            m.id = self.shop.alloc_id()
            m.owner_type, m.owner_id, m.namespace, m.key, m.type = otype, oid, ns, key, typ
            m.created_at = self.ts
            book.add_metafield(m)
        m.value = value
        m.updated_at = self.ts
        return {"id": m.id, "created": created, "webhooks": [self._owner_touched(otype, oid)]}

    def op_delete_metafield(self, op):
        m = self.book.metafields.get(self.int_arg(op, "id"))
        if m is None:
            raise StoreError("no metafield %s" % op.get("id"))
        self.book.remove_metafield(m)
        return {"webhooks": [self._owner_touched(m.owner_type, m.owner_id)]}

    # -- customers ---------------------------------------------------------------------------
    CUSTOMER_FIELDS = ("first_name", "last_name", "email", "phone", "note")

    def _set_customer(self, c, op):
        for k in self.CUSTOMER_FIELDS:
            if k in op:
                if op[k] is not None and not isinstance(op[k], str):
                    raise StoreError("%s must be a string or null" % k)
                setattr(c, k, op[k])
        if "tags" in op:
            t = op["tags"]
            if isinstance(t, str):
                t = [x.strip() for x in t.split(",") if x.strip()]
            if not isinstance(t, list) or not all(isinstance(x, str) for x in t):
                raise StoreError("tags must be a list of strings or a comma-separated string")
            c.tags = sorted(set(t))
        if "state" in op:
            s = str(op["state"]).upper()
            if s not in CUSTOMER_STATES:
                raise StoreError("state must be one of %s" % ", ".join(CUSTOMER_STATES))
            c.state = s
        if "verified_email" in op:
            c.verified_email = bool(op["verified_email"])

    def op_add_customer(self, op):
        c = Customer()
        c.id = self.shop.alloc_id()
        c.first_name = c.last_name = c.email = c.phone = c.note = None
        c.state, c.tags, c.verified_email, c.tax_exempt = "DISABLED", [], False, False
        c.created_at = c.updated_at = self.ts
        c.orders_count, c.spent, c.last_order_id = 0, 0, None
        self._set_customer(c, op)
        self.book.customers[c.id] = c
        return {"id": c.id, "webhooks": [_wh("customers/create", rest_customer(self.book, c))]}

    def op_update_customer(self, op):
        c = self.customer(op)
        self._set_customer(c, op)
        c.updated_at = self.ts
        return {"webhooks": [_wh("customers/update", rest_customer(self.book, c))]}

    def op_delete_customer(self, op):
        c = self.customer(op)
        if self.book.customer_orders.get(c.id):
            raise StoreError("customer %d has orders: Shopify does not delete a customer "
                             "with orders" % c.id)
        self.book.drop_owner_metafields("customer", c.id)
        del self.book.customers[c.id]
        return {"webhooks": [_wh("customers/delete", {
            "id": c.id, "phone": None, "addresses": [], "tax_exemptions": [],
            "email_marketing_consent": None, "sms_marketing_consent": None,
            "admin_graphql_api_id": "gid://shopify/Customer/%d" % c.id})]}


OPS = sorted(n[3:] for n in dir(Mut) if n.startswith("op_"))


# -- what goes with a deleted variant or product --------------------------------------------
def drop_variant(book, v):
    item = v.inventory_item_id
    for lid in list(book.levels.get(item, {})):
        book.remove_level(item, lid)
    book.item_owner.pop(item, None)
    book.drop_owner_metafields("variant", v.id)


def drop_product(book, p):
    for v in p.variants:
        drop_variant(book, v)
    book.drop_owner_metafields("product", p.id)
    for c in book.collections.values():
        if p.id in c.members:
            c.members = [x for x in c.members if x != p.id]


