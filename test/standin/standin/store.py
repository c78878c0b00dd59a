"""The rest of the store: locations, inventory levels, collections (with the
products in them), metafields and customers -- the model, independent of any
renderer.

One ``StoreBook`` per shop (``shop.store``, made by store_gen.generate; an
empty one for shops configured without these keys).  Timestamps are epoch
seconds, ids come from the shop's id counter (``shop.alloc_id``).  All access
holds ``shop.lock``; every change calls ``book.changed()`` (cached keyset
lists) and takes its timestamp from ``shop.now_ts()`` (the shop's clock,
shared with products and orders, so the catalog's keyset caches see it too).

Inventory: one ``Level`` per (inventory item, active location); the catalog's
variant ``inventory_quantity`` is always the sum of ``available`` over the
item's levels (``set_item_sum``).  ``on_hand`` is available plus the
unavailable states (committed, reserved, damaged, safety_stock,
quality_control); ``incoming`` stands apart, as on Shopify.

Collections keep their members as a list of product ids in the collection's
own order (``sort_members``); a smart collection's members are computed from
its rules when it is made or its rules change (``smart_members``), not
re-evaluated when products change later (Shopify does that asynchronously,
without touching the collection's updatedAt).
"""
import bisect

LOCATION_GID = "gid://shopify/Location/%d"
LEVEL_GID = "gid://shopify/InventoryLevel/%d?inventory_item_id=%d"   # location, item
ITEM_GID = "gid://shopify/InventoryItem/%d"
COLLECTION_GID = "gid://shopify/Collection/%d"
METAFIELD_GID = "gid://shopify/Metafield/%d"
CUSTOMER_GID = "gid://shopify/Customer/%d"

QUANTITY_NAMES = ("available", "on_hand", "committed", "incoming", "reserved", "damaged",
                  "safety_stock", "quality_control")
UNAVAILABLE = ("committed", "reserved", "damaged", "safety_stock", "quality_control")
INT32_MAX = 2 ** 31 - 1

OWNER_TYPES = ("product", "variant", "order", "customer", "shop")
OWNER_GQL = {"product": "PRODUCT", "variant": "PRODUCTVARIANT", "order": "ORDER",
             "customer": "CUSTOMER", "shop": "SHOP"}

SORT_ORDERS = ("MANUAL", "BEST_SELLING", "ALPHA_ASC", "ALPHA_DESC", "PRICE_ASC",
               "PRICE_DESC", "CREATED", "CREATED_DESC", "MOST_RELEVANT")
RULE_COLUMNS = ("TAG", "TITLE", "TYPE", "VENDOR", "VARIANT_PRICE", "VARIANT_INVENTORY")
TEXT_RELATIONS = ("EQUALS", "NOT_EQUALS", "STARTS_WITH", "ENDS_WITH", "CONTAINS",
                  "NOT_CONTAINS")
RULE_RELATIONS = {"TAG": ("EQUALS", "NOT_EQUALS"), "TITLE": TEXT_RELATIONS,
                  "TYPE": TEXT_RELATIONS, "VENDOR": TEXT_RELATIONS,
                  "VARIANT_PRICE": ("EQUALS", "NOT_EQUALS", "GREATER_THAN", "LESS_THAN"),
                  "VARIANT_INVENTORY": ("EQUALS", "GREATER_THAN", "LESS_THAN")}
CUSTOMER_STATES = ("ENABLED", "DISABLED", "INVITED", "DECLINED")


class StoreError(ValueError):
    """A control-API request the store refuses (HTTP 400)."""


class Location:
    __slots__ = ("id", "name", "active", "legacy", "fulfills_online", "created_at",
                 "updated_at", "deactivated_at", "address1", "address2", "city", "province",
                 "province_code", "country_code", "zip", "phone", "items")
    # items: ascending inventory item ids with a level here


class Level:
    __slots__ = ("item_id", "location_id", "available", "committed", "incoming",
                 "reserved", "damaged", "safety_stock", "quality_control", "created_at",
                 "updated_at")

    @property
    def on_hand(self):
        return (self.available + self.committed + self.reserved + self.damaged
                + self.safety_stock + self.quality_control)

    def quantity(self, name):
        return self.on_hand if name == "on_hand" else getattr(self, name)


class Collection:
    __slots__ = ("id", "title", "handle", "smart", "sort_order", "disjunctive", "rules",
                 "members", "body_html", "published_at", "published_scope",
                 "template_suffix", "created_at", "updated_at")
    # rules: [(column, relation, condition)] (GraphQL enums); members: product ids


class Metafield:
    __slots__ = ("id", "owner_type", "owner_id", "namespace", "key", "type", "value",
                 "created_at", "updated_at")


class Customer:
    __slots__ = ("id", "first_name", "last_name", "email", "phone", "state", "tags",
                 "note", "verified_email", "tax_exempt", "created_at", "updated_at",
                 "orders_count", "spent", "last_order_id")
    # tags: list of strings; spent: cents (paid orders net of refunds)


class StoreBook:
    """One shop's locations, levels, collections, metafields and customers."""

    def __init__(self, shop):
        self.shop = shop
        self.version = 0
        self.locations = {}          # id -> Location (inactive ones too)
        self.levels = {}             # inventory item id -> {location id: Level}
        self.item_owner = {}         # inventory item id -> (product id, variant id)
        self.item_meta = {}          # inventory item id -> {"updated_at", "cost", "tracked"}
        self.collections = {}        # id -> Collection
        self.metafields = {}         # id -> Metafield
        self.mf_owner = {t: {} for t in OWNER_TYPES}   # type -> owner id -> [Metafield]
        self.customers = {}          # id -> Customer
        self.order_customer = {}     # order id -> customer id
        self.customer_orders = {}    # customer id -> [order ids]
        self.collects = {}           # (collection id, product id) -> collect id (REST)
        self.has_inventory = False   # levels are kept (config key "inventory")
        self.currency = shop.currency
        self.gen_seconds = 0.0
        self._cache = {}

    def changed(self):
        self.version += 1

    def cached(self, key, build, stamp=None):
        """build() cached until the book (or `stamp`) changes."""
        st = (self.version, stamp)
        hit = self._cache.get(key)
        if hit is not None and hit[0] == st:
            return hit[1]
        v = build()
        if len(self._cache) > 64:
            self._cache.clear()
        self._cache[key] = (st, v)
        return v

    # -- catalog lookups --------------------------------------------------------
    def variant_of_item(self, item):
        """(product, variant) of a live inventory item, or None."""
        own = self.item_owner.get(item)
        if own is None:
            return None
        p = self.shop.products.get(own[0])
        if p is None:
            return None
        for v in p.variants:
            if v.id == own[1]:
                return p, v
        return None

    def index_catalog(self):
        self.item_owner = {v.inventory_item_id: (p.id, v.id)
                           for p in self.shop.products.values() for v in p.variants}

    # -- inventory ----------------------------------------------------------------
    def active_locations(self):
        return [loc for loc in self.sorted_locations() if loc.active]

    def sorted_locations(self):
        return [self.locations[i] for i in sorted(self.locations)]

    def level(self, item, loc_id):
        return self.levels.get(item, {}).get(loc_id)

    def add_level(self, lv):
        self.levels.setdefault(lv.item_id, {})[lv.location_id] = lv
        items = self.locations[lv.location_id].items
        k = bisect.bisect_left(items, lv.item_id)
        if k == len(items) or items[k] != lv.item_id:
            items.insert(k, lv.item_id)

    def remove_level(self, item, loc_id):
        lvs = self.levels.get(item)
        lv = lvs.pop(loc_id, None) if lvs else None
        if lv is None:
            return None
        if not lvs:
            del self.levels[item]
        items = self.locations[loc_id].items
        k = bisect.bisect_left(items, item)
        if k < len(items) and items[k] == item:
            del items[k]
        return lv

    def item_sum(self, item):
        return sum(lv.available for lv in self.levels.get(item, {}).values())

    def set_item_sum(self, item, ts=None):
        """Keep the invariant: the variant's inventory_quantity = sum of available.
        Returns (product, variant) when the variant's quantity changed."""
        pv = self.variant_of_item(item)
        if pv is None:
            return None
        v = pv[1]
        total = self.item_sum(item)
        if v.inventory_quantity == total:
            return None
        v.old_inventory_quantity = v.inventory_quantity
        v.inventory_quantity = total
        if ts is not None:
            v.updated_at = ts
        return pv

    def new_level(self, item, loc_id, ts, available=0):
        lv = Level()
        lv.item_id, lv.location_id = item, loc_id
        lv.available = available
        lv.committed = lv.incoming = lv.reserved = lv.damaged = 0
        lv.safety_stock = lv.quality_control = 0
        lv.created_at = lv.updated_at = ts
        self.add_level(lv)
        return lv

    # -- collections ------------------------------------------------------------------
    def live_members(self, c):
        prods = self.shop.products
        return [pid for pid in c.members if pid in prods]

    def collect_id(self, cid, pid):
        """The REST collect id of a membership (allocated when first asked for)."""
        k = (cid, pid)
        i = self.collects.get(k)
        if i is None:
            i = self.collects[k] = self.shop.alloc_id()
        return i

    # -- metafields ----------------------------------------------------------------
    def owner_metafields(self, otype, oid):
        return self.mf_owner[otype].get(oid, ())

    def add_metafield(self, m):
        self.metafields[m.id] = m
        lst = self.mf_owner[m.owner_type].setdefault(m.owner_id, [])
        if not lst or m.id > lst[-1].id:
            lst.append(m)
        else:
            lst.insert(bisect.bisect_left([x.id for x in lst], m.id), m)

    def remove_metafield(self, m):
        self.metafields.pop(m.id, None)
        lst = self.mf_owner[m.owner_type].get(m.owner_id)
        if lst is not None:
            lst[:] = [x for x in lst if x.id != m.id]
            if not lst:
                del self.mf_owner[m.owner_type][m.owner_id]

    def drop_owner_metafields(self, otype, oid):
        for m in list(self.mf_owner[otype].get(oid, ())):
            self.remove_metafield(m)

    def owner_exists(self, otype, oid):
        shop = self.shop
        if otype == "product":
            return oid in shop.products
        if otype == "variant":
            return self.variant_by_id(oid) is not None
        if otype == "order":
            orders = getattr(shop, "orders", None)
            return orders is not None and oid in orders.orders
        if otype == "customer":
            return oid in self.customers
        return oid == shop.shop_id

    def variant_by_id(self, vid):
        from .graphql import _variant_by_id
        return _variant_by_id(self.shop, vid)

    # -- customers ------------------------------------------------------------------
    def customer_stats(self, cid):
        """(number of orders, cents spent, last order id) from the orders."""
        book = getattr(self.shop, "orders", None)
        oids = [o for o in self.customer_orders.get(cid, ()) if book and o in book.orders]
        spent = 0
        for oid in oids:
            o = book.orders[oid]
            if o.financial in ("paid", "partially_refunded", "refunded"):
                spent += o.total - o.refunded()
        return len(oids), spent, (max(oids) if oids else None)


def book_of(shop):
    b = getattr(shop, "store", None)
    if b is None:
        with shop.lock:
            b = getattr(shop, "store", None)
            if b is None:
                b = shop.store = StoreBook(shop)
                b.index_catalog()
    return b


# -- smart collections and the order of a collection's products -------------------------
def popularity(pid):
    """A stable stand-in for 'best selling' (no sales history is kept per product)."""
    return (pid * 2654435761) % 1000003


class Views:
    """What rules and sort orders read of products, computed once per product
    (generation evaluates hundreds of collections over the whole catalog)."""

    def __init__(self, shop):
        self.prods = shop.products
        self.d = {}

    def __call__(self, pid):
        v = self.d.get(pid)
        if v is None:
            p = self.prods[pid]
            prices = tuple(float(x.price) for x in p.variants)
            v = self.d[pid] = (
                frozenset(t.casefold() for t in (p.tags.split(", ") if p.tags else ())),
                p.title.casefold(), (p.product_type or "").casefold(),
                (p.vendor or "").casefold(), prices,
                tuple(x.inventory_quantity for x in p.variants),
                min(prices, default=0.0), p.created_at)
        return v


V_TAGS, V_TITLE, V_TYPE, V_VENDOR, V_PRICES, V_INV, V_MINPRICE, V_CREATED = range(8)
_TEXT_FIELD = {"TITLE": V_TITLE, "TYPE": V_TYPE, "VENDOR": V_VENDOR}


def sort_members(shop, sort_order, pids, views=None):
    """pids in the collection's order (MANUAL keeps the given order)."""
    prods = shop.products
    pids = [p for p in pids if p in prods]
    if sort_order in ("MANUAL", "MOST_RELEVANT"):
        return pids
    if sort_order == "BEST_SELLING":
        return sorted(pids, key=lambda i: (-popularity(i), i))
    views = views or Views(shop)
    k = V_TITLE if sort_order.startswith("ALPHA") else \
        V_MINPRICE if sort_order.startswith("PRICE") else V_CREATED
    out = sorted(pids, key=lambda i: (views(i)[k], i))
    if sort_order.endswith("_DESC"):
        out.reverse()
    return out


def _num_pred(relation, c):
    if relation == "EQUALS":
        return lambda x: x == c
    if relation == "NOT_EQUALS":
        return lambda x: x != c
    if relation == "GREATER_THAN":
        return lambda x: x > c
    return lambda x: x < c                   # LESS_THAN


def rule_pred(rule):
    """A predicate on a product's view for one smart-collection rule.  Text is
    compared without case; variant rules hold when one of the variants meets
    them."""
    column, relation, cond = rule
    if column == "TAG":
        c = cond.casefold()
        if relation == "EQUALS":
            return lambda v: c in v[V_TAGS]
        return lambda v: c not in v[V_TAGS]
    if column in _TEXT_FIELD:
        k, c = _TEXT_FIELD[column], cond.casefold()
        if relation == "EQUALS":
            return lambda v: v[k] == c
        if relation == "NOT_EQUALS":
            return lambda v: v[k] != c
        if relation == "STARTS_WITH":
            return lambda v: v[k].startswith(c)
        if relation == "ENDS_WITH":
            return lambda v: v[k].endswith(c)
        if relation == "CONTAINS":
            return lambda v: c in v[k]
        return lambda v: c not in v[k]        # NOT_CONTAINS
    if column == "VARIANT_PRICE":
        f = _num_pred(relation, float(cond))
        return lambda v: any(map(f, v[V_PRICES]))
    f = _num_pred(relation, int(cond))        # VARIANT_INVENTORY
    return lambda v: any(map(f, v[V_INV]))


def smart_members(shop, c, candidates=None, views=None):
    """The live products that meet c's rules (all of them, or any when
    disjunctive), in the collection's order; `candidates` narrows the scan."""
    prods = shop.products
    views = views or Views(shop)
    ids = candidates if candidates is not None else shop.order
    preds = [rule_pred(r) for r in c.rules]
    if c.disjunctive:
        hit = [i for i in ids if i in prods and any(p(views(i)) for p in preds)]
    elif len(preds) == 1:
        p0 = preds[0]
        hit = [i for i in ids if i in prods and p0(views(i))]
    else:
        hit = [i for i in ids if i in prods and all(p(views(i)) for p in preds)]
    return sort_members(shop, c.sort_order, hit, views)


def check_rules(rules):
    """Validate [{"column","relation","condition"}] (or triples) -> triples."""
    out = []
    if not isinstance(rules, list) or not rules:
        raise StoreError("rules must be a non-empty list")
    for r in rules:
        if isinstance(r, dict):
            r = (r.get("column"), r.get("relation"), r.get("condition"))
        if not isinstance(r, (list, tuple)) or len(r) != 3:
            raise StoreError("a rule is {column, relation, condition}")
        col, rel, cond = (str(x) if x is not None else None for x in r)
        col = (col or "").upper()
        rel = (rel or "").upper()
        if col not in RULE_RELATIONS:
            raise StoreError("rule column must be one of %s" % ", ".join(RULE_COLUMNS))
        if rel not in RULE_RELATIONS[col]:
            raise StoreError("relation of a %s rule must be one of %s"
                             % (col, ", ".join(RULE_RELATIONS[col])))
        if not cond:
            raise StoreError("a rule needs a condition")
        try:
            if col == "VARIANT_PRICE":
                float(cond)
            elif col == "VARIANT_INVENTORY":
                int(cond)
        except ValueError:
            raise StoreError("condition %r of a %s rule is not a number" % (cond, col))
        out.append((col, rel, cond))
    return out

