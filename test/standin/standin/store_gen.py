"""Generation of the rest of the store (store.py), per shop config keys:

    "locations":   {"count": 10, "inactive": 1, "legacy": 0, "seed": 1}
    "inventory":   {"locations_per_item": [1, 10], "seed": 1}
    "collections": {"count": 50, "smart": 0.3, "products_max": 200, "seed": 1,
                    "awkward": true}
    "metafields":  {"per_product": [0, 4], "per_variant": [0, 2], "per_order": [0, 2],
                    "per_customer": [0, 2], "shop": 12, "seed": 1}
    "customers":   {"count": 1000, "seed": 1}

Deterministic from the seeds and the catalog (and the orders, for customers'
figures).  Inventory levels split each variant's inventory_quantity over
1..n of the active locations, so the catalog's quantities do not change.
Metafield types go round-robin through METAFIELD_TYPES, so every type
appears once there are as many metafields as types.
"""
import gc
import json
import random
import time

from . import pools
from .catalog import EPOCH_MAX, EPOCH_MIN
from .store import (INT32_MAX, OWNER_TYPES, Collection, Customer, Level, Location,
                    Metafield, StoreBook, Views, smart_members, sort_members)

DAY = 86400

# -- locations ----------------------------------------------------------------------
# (name, address1, address2, city, province, province code, country code, zip, phone)
LOCATION_POOL = [
    ("Main Warehouse", "151 O'Connor St", "Ground floor", "Ottawa", "Ontario", "ON", "CA",
     "K2P 2L8", "+1 613-555-0100"),
    ("Entrepôt Montréal", "1000 Rue de la Gauchetière O", "Bureau 2400", "Montréal",
     "Quebec", "QC", "CA", "H3B 4W5", None),
    ("東京倉庫", "渋谷区道玄坂1-2-3", None, "渋谷区", "Tokyo", "JP-13", "JP", "150-0043",
     "+81 3-5555-0100"),
    ("Lager München", "Leopoldstraße 12", None, "München", None, None, "DE", "80802",
     "+49 89 555 0100"),
    ("Depósito São Paulo", "Av. Paulista, 1578", "Conjunto 12", "São Paulo", "São Paulo",
     "SP", "BR", "01310-200", None),
    ("מחסן תל אביב", "רחוב הרצל 10", None, "תל אביב-יפו", None, None, "IL", "6578101", None),
    ("Pop-up 🚚 Brooklyn", "55 Water St", "Unit \"B\"", "Brooklyn", "New York", "NY", "US",
     "11201", "+1 718-555-0199"),
    ("Retail — Sydney CBD", "1 Martin Pl", None, "Sydney", "New South Wales", "NSW", "AU",
     "2000", None),
    ("Dropship Partner, Inc.", "400 Commerce Dr", "Dock 7 & 8", "Dallas", "Texas", "TX",
     "US", "75201", "+1 214-555-0150"),
    ("Hong Kong Hub", "8 Finance St", None, "Central", "Hong Kong Island", "HK", "HK", None,
     None),
    ("Склад Москва", "ул. Тверская, 7", None, "Москва", None, None, "RU", "125009", None),
    ("Dubai Free Zone", "Jebel Ali Free Zone", "Plot S-301", "Dubai", "Dubai", "DU", "AE",
     None, "+971 4 555 0100"),
]
COUNTRY_NAMES = {"CA": "Canada", "JP": "Japan", "DE": "Germany", "BR": "Brazil",
                 "IL": "Israel", "US": "United States", "AU": "Australia",
                 "HK": "Hong Kong SAR", "RU": "Russia", "AE": "United Arab Emirates"}


def _span(cfg, key, default):
    v = cfg.get(key, default)
    if isinstance(v, int) and not isinstance(v, bool):
        v = [v, v]
    if not (isinstance(v, list) and len(v) == 2 and all(isinstance(x, int) and
                                                         not isinstance(x, bool) and x >= 0
                                                         for x in v) and v[0] <= v[1]):
        raise ValueError("%s must be [min, max] (non-negative integers)" % key)
    return v


def _int(cfg, key, default, lo=0, hi=10 ** 7):
    v = cfg.get(key, default)
    if isinstance(v, bool) or not isinstance(v, int) or not lo <= v <= hi:
        raise ValueError("%s must be an integer in %d..%d" % (key, lo, hi))
    return v


def gen_locations(shop, book, cfg):
    rng = random.Random("locations:%s" % cfg.get("seed", 1))
    n = _int(cfg, "count", 0, 0, 1000)
    inactive = _int(cfg, "inactive", 0, 0, n)
    legacy = _int(cfg, "legacy", 0, 0, n - inactive)
    # the inactive ones and the legacy ones at the end of the list (ids ascending)
    for k in range(n):
        base = LOCATION_POOL[k % len(LOCATION_POOL)]
        loc = Location()
        loc.id = shop.alloc_id()
        loc.name = base[0] if k < len(LOCATION_POOL) else "%s %d" % (base[0], k // len(LOCATION_POOL) + 1)
        (loc.address1, loc.address2, loc.city, loc.province, loc.province_code,
         loc.country_code, loc.zip, loc.phone) = base[1:]
        loc.created_at = EPOCH_MIN + rng.randint(0, 200 * DAY)
        loc.updated_at = rng.randint(loc.created_at, EPOCH_MAX)
        loc.active = k < n - inactive
        loc.legacy = n - inactive - legacy <= k < n - inactive
        loc.fulfills_online = loc.active and rng.random() < 0.8
        loc.deactivated_at = None if loc.active else loc.updated_at
        loc.items = []
        book.locations[loc.id] = loc


def gen_inventory(shop, book, cfg):
    """One level per (variant's item, chosen active location); the variant's
    quantity split over its levels (a negative one stays negative: oversold)."""
    rng = random.Random("inventory:%s" % cfg.get("seed", 1))
    lo, hi = _span(cfg, "locations_per_item", [1, 1])
    active = [loc for loc in book.active_locations() if not loc.legacy]
    if not active:
        if hi > 0:
            raise ValueError("inventory needs at least one active location "
                             "(config key \"locations\")")
        return
    book.has_inventory = True
    nloc = len(active)
    ring = active + active
    rand = rng.random
    levels = book.levels
    lo = min(lo, nloc)
    span = min(hi, nloc) - lo + 1
    for p in shop.iter_products():
        for v in p.variants:
            k = lo + int(rand() * span)
            item = v.inventory_item_id
            if k == 0:
                v.inventory_quantity = v.old_inventory_quantity = 0
                continue
            s0 = int(rand() * nloc)
            locs = ring[s0:s0 + k]              # k distinct locations, from a random one
            rem = v.inventory_quantity
            quiet = abs(rem) > 1000000
            per = {}
            vc, vu = v.created_at, v.updated_at
            for j, loc in enumerate(locs):
                if j == k - 1:
                    x = rem
                elif rem > 0:
                    x = int(rand() * (rem + 1))
                else:
                    x = int(rand() * 6)
                rem -= x
                lv = Level()
                lv.item_id = item
                lv.location_id = loc.id
                lv.available = x
                r = rand()
                if quiet or x > INT32_MAX - 100 or r > 0.3 and r < 0.9:
                    lv.committed = lv.reserved = lv.damaged = 0
                    lv.safety_stock = lv.quality_control = lv.incoming = 0
                else:
                    lv.committed = 1 + int(r * 16) if r < 0.3 else 0
                    lv.reserved = 1 + int(r * 30) if r < 0.08 else 0
                    lv.incoming = int(r * 500) % 50 if r < 0.2 else 0
                    lv.damaged = 1 if r > 0.96 else 0
                    lv.safety_stock = 2 if 0.9 < r < 0.93 else 0
                    lv.quality_control = 1 if 0.93 < r < 0.95 else 0
                c = lv.created_at = vc if vc > loc.created_at else loc.created_at
                lv.updated_at = c + int(rand() * (vu - c + 1)) if vu > c else c
                per[loc.id] = lv
                loc.items.append(item)
            levels[item] = per
    for loc in book.locations.values():
        loc.items.sort()


# -- collections ------------------------------------------------------------------------
COLLECTION_TITLES = ["Summer Sale", "New Arrivals", "Nouveautés d'été", "新着商品",
                     "Best of 🦄", "Under $50", "<b>Bold</b> & Co", "Gifts for Him",
                     "Ausverkauf – Größen", "Staff Picks", "الأكثر مبيعا", "Back to School",
                     "Clearance", "Eco Friendly", "Limited Edition", "Home & Kitchen"]
CUSTOM_ORDERS = ("MANUAL", "MANUAL", "MANUAL", "BEST_SELLING", "ALPHA_ASC", "ALPHA_DESC",
                 "PRICE_ASC", "PRICE_DESC", "CREATED", "CREATED_DESC")
SMART_ORDERS = ("BEST_SELLING", "BEST_SELLING", "ALPHA_ASC", "CREATED_DESC", "PRICE_DESC",
                "MANUAL", "PRICE_ASC", "ALPHA_DESC", "CREATED")
# extra rules of conjunctive smart collections, round robin: every condition type
EXTRA_RULES = (("TITLE", "CONTAINS", None), ("VARIANT_PRICE", "GREATER_THAN", "20.00"),
               ("VARIANT_INVENTORY", "GREATER_THAN", "0"), ("TYPE", "NOT_EQUALS", None),
               ("VENDOR", "STARTS_WITH", None), ("TAG", "NOT_EQUALS", None),
               ("VARIANT_PRICE", "LESS_THAN", "400"), ("TITLE", "NOT_CONTAINS", "zzz"),
               ("VARIANT_INVENTORY", "LESS_THAN", "1000"), ("TITLE", "STARTS_WITH", None),
               ("VENDOR", "NOT_CONTAINS", "q"), ("TITLE", "ENDS_WITH", None))


def _indexes(shop):
    """casefolded tag / vendor / type / title -> [product ids] (ascending)."""
    tags, vendors, types, titles = {}, {}, {}, {}
    for p in shop.iter_products():
        for t in (p.tags.split(", ") if p.tags else ()):
            tags.setdefault(t.casefold(), []).append(p.id)
        vendors.setdefault((p.vendor or "").casefold(), []).append(p.id)
        types.setdefault((p.product_type or "").casefold(), []).append(p.id)
        titles.setdefault(p.title.casefold(), []).append(p.id)
    return {"TAG": tags, "VENDOR": vendors, "TYPE": types, "TITLE": titles}


def _index_value(rng, shop, index, column):
    """A value of that column that some products have, with its original case."""
    keys = sorted(k for k in index[column] if k)
    if not keys:
        return None
    key = rng.choice(keys)
    p = shop.products[index[column][key][0]]
    if column == "TAG":
        return next(t for t in p.tags.split(", ") if t.casefold() == key)
    return {"VENDOR": p.vendor, "TYPE": p.product_type, "TITLE": p.title}[column]


def _extra_rule(rng, shop, spec):
    col, rel, cond = spec
    if cond is None:
        p = shop.products[rng.choice(shop.order)]
        if col == "TITLE":
            words = p.title.split()
            cond = (words[-1] if rel == "ENDS_WITH" else words[0]) if words else "a"
            if rel == "CONTAINS":
                cond = rng.choice(pools.MATERIAL + pools.ADJ)
        elif col == "TYPE":
            cond = rng.choice(pools.TYPES)
        elif col == "VENDOR":
            cond = rng.choice(pools.VENDORS)[:3]
        else:
            cond = rng.choice(pools.TAGS)
    return (col, rel, cond)


def gen_collections(shop, book, cfg):
    rng = random.Random("collections:%s" % cfg.get("seed", 1))
    n = _int(cfg, "count", 0, 0, 100000)
    p_smart = float(cfg.get("smart", 0.3))
    pmax = _int(cfg, "products_max", 200, 0, 10 ** 6)
    awkward = bool(cfg.get("awkward", True))
    if not 0 <= p_smart <= 1:
        raise ValueError("collections.smart must be a probability")
    live = list(shop.order)
    index = _indexes(shop) if live else None
    hot = live[len(live) // 2] if live else None          # a product in many collections
    views = Views(shop)
    handles = set()
    extra_k = 0
    for k in range(n):
        c = Collection()
        c.id = shop.alloc_id()
        base = COLLECTION_TITLES[k % len(COLLECTION_TITLES)]
        c.title = base if k < len(COLLECTION_TITLES) else "%s %d" % (base, k // len(COLLECTION_TITLES) + 1)
        h = pools.slugify(c.title) if pools.slugify(c.title) != "product" else "collection"
        hh, m = h, 1
        while hh in handles:
            m += 1
            hh = "%s-%d" % (h, m)
        handles.add(hh)
        c.handle = hh
        r = rng.random()
        if awkward and k < 5 and p_smart > 0:   # 0: empty, 2: big custom; 1, 3, 4 smart
            c.smart = bool(live) and k in (1, 3, 4)
        else:
            c.smart = bool(live) and (k == 1 and p_smart > 0 or k != 0 and r < p_smart)
        c.created_at = rng.randint(EPOCH_MIN, EPOCH_MAX - 60 * DAY)
        c.updated_at = rng.randint(c.created_at, EPOCH_MAX)
        c.published_at = None if rng.random() < 0.1 else c.created_at
        c.published_scope = "web" if rng.random() < 0.8 else "global"
        c.template_suffix = None if rng.random() < 0.9 else ""
        c.body_html = None if rng.random() < 0.3 else "<p>%s</p>" % c.title
        if c.smart:
            c.sort_order = rng.choice(SMART_ORDERS)
            c.disjunctive = rng.random() < 0.25
            # rules whose first two are indexed EQUALS rules (small candidate sets);
            # disjunctive ones name product titles; one big one (a single tag)
            if awkward and k == 3:
                rules = [("TITLE", "EQUALS", "No such product ✗")]     # matches nothing
                c.disjunctive = False
            elif awkward and k == 4:
                rules = [("TAG", "EQUALS", _index_value(rng, shop, index, "TAG") or "none")]
                c.disjunctive = False
            elif c.disjunctive:
                rules = [("TITLE", "EQUALS", _index_value(rng, shop, index, "TITLE"))
                         for _ in range(rng.randint(1, 3))]
            else:
                c1 = rng.choice(("TAG", "VENDOR", "TYPE"))
                v1 = _index_value(rng, shop, index, c1) or "none"
                rules = [(c1, "EQUALS", v1)]
                some = index[c1].get(v1.casefold())
                if some:                        # a second value that product has too
                    p = shop.products[rng.choice(some)]
                    vals = {"TAG": p.tags.split(", ") if p.tags else [], "VENDOR": [p.vendor],
                            "TYPE": [p.product_type]}
                    c2 = rng.choice([c for c in ("TAG", "VENDOR", "TYPE")
                                     if c != c1 and any(vals[c])] or [c1])
                    rules.append((c2, "EQUALS", rng.choice([x for x in vals[c2] if x])))
                # one extra rule each until every kind has come (then 0 or 1)
                n_extra = rng.randint(0, 1)
                for _ in range(1 if extra_k < len(EXTRA_RULES) else n_extra):
                    rules.append(_extra_rule(rng, shop, EXTRA_RULES[extra_k % len(EXTRA_RULES)]))
                    extra_k += 1
            c.rules = list(dict.fromkeys(rules))
            cand = None
            indexed = [r for r in c.rules if r[1] == "EQUALS" and r[0] in index]
            sets = [index[r[0]].get(r[2].casefold(), ()) for r in indexed]
            if c.disjunctive and len(indexed) == len(c.rules):
                cand = sorted(set().union(*sets))
            elif not c.disjunctive and indexed:
                cand = sorted(set(sets[0]).intersection(*sets[1:]))
            c.members = smart_members(shop, c, cand, views)
        else:
            c.sort_order = rng.choice(CUSTOM_ORDERS)
            c.disjunctive = False
            c.rules = []
            size = rng.randint(0, min(pmax, len(live)))
            if awkward and k == 0:
                size = 0                                             # an empty collection
            elif awkward and k == 2:
                size = min(len(live), max(pmax, 300))                # more than a page
            pids = rng.sample(live, size) if size else []
            if hot is not None and size and hot not in pids and rng.random() < 0.7:
                pids[rng.randrange(len(pids))] = hot
            c.members = sort_members(shop, c.sort_order, pids, views)
        book.collections[c.id] = c


# -- customers ---------------------------------------------------------------------------
FIRST_NAMES = ["José", "Zoë", "François", "Łukasz", "Søren", "Ngọc Anh", "美咲", "太郎",
               "Анна", "محمد", "דוד", "🦄 Uni", "Siobhán", "Björk", "Ana-María", "John",
               "Mary", "Wei", "Fatima", "O'Neil", None]
LAST_NAMES = ["García", "Müller", "Nguyễn", "山田", "Иванов", "الحسن", "כהן", "O'Connor",
              "van der Berg", "Smith-Jones", "😀", "Ødegård", "Schröder", "Kowalski",
              "Smith", "Lee", "Dupont", "Rossi", None]
CUSTOMER_TAGS = ["vip", "wholesale", "newsletter", "Ünïcode tag", "b2b", "returning",
                 "tag with spaces", "日本"]
NOTES = [None, None, None, "Prefers email", "Allergic to wool 🧶", "Call before delivery"]


def _email(first, last, cid, rng):
    if rng.random() < 0.05:
        return None
    local = "customer%d" % (cid % 1000000)
    if first and first.isascii() and first.isalpha():
        local = "%s.%d" % (first.lower(), cid % 100000)
    if rng.random() < 0.1:
        local += "+tag"
    return "%s@%s" % (local, rng.choice(("example.com", "example.org", "exämple.de")))


def gen_customers(shop, book, cfg):
    rng = random.Random("customers:%s" % cfg.get("seed", 1))
    n = _int(cfg, "count", 0, 0, 10 ** 6)
    cur = getattr(getattr(shop, "orders", None), "currency", None) or shop.currency
    book.currency = cur
    for k in range(n):
        c = Customer()
        c.id = shop.alloc_id()
        c.first_name = FIRST_NAMES[k] if k < len(FIRST_NAMES) else rng.choice(FIRST_NAMES)
        c.last_name = LAST_NAMES[k] if k < len(LAST_NAMES) else rng.choice(LAST_NAMES)
        c.email = _email(c.first_name, c.last_name, c.id, rng)
        c.phone = None if rng.random() < 0.7 else "+1613555%04d" % (k % 10000)
        r = rng.random()
        c.state = "ENABLED" if r < 0.6 else "DISABLED" if r < 0.9 else \
            "INVITED" if r < 0.97 else "DECLINED"
        c.tags = sorted(set(rng.sample(CUSTOMER_TAGS, rng.choice((0, 0, 1, 1, 2, 3)))))
        c.note = rng.choice(NOTES)
        c.verified_email = c.email is not None and rng.random() < 0.9
        c.tax_exempt = rng.random() < 0.05
        c.created_at = rng.randint(EPOCH_MIN, EPOCH_MAX - 30 * DAY)
        c.updated_at = rng.randint(c.created_at, EPOCH_MAX)
        c.orders_count, c.spent, c.last_order_id = 0, 0, None
        book.customers[c.id] = c
    # orders point at customers (some orders have none: guest checkouts)
    orders = getattr(shop, "orders", None)
    if orders is not None and len(orders) and book.customers:
        cids = sorted(book.customers)
        weights = [1.0 / (1 + (i % 50)) for i in range(len(cids))]
        picks = rng.choices(cids, weights, k=len(orders.ids))
        for oid, cid in zip(orders.ids, picks):
            if rng.random() < 0.15:
                continue
            book.order_customer[oid] = cid
            book.customer_orders.setdefault(cid, []).append(oid)
        for cid, oids in book.customer_orders.items():
            c = book.customers[cid]
            first = orders.orders[oids[0]]
            c.created_at = min(c.created_at, first.created_at)
            c.orders_count, c.spent, c.last_order_id = book.customer_stats(cid)
            c.updated_at = max(c.updated_at, max(orders.orders[o].updated_at for o in oids))


# -- metafields --------------------------------------------------------------------------
MEASUREMENT_UNITS = {
    "weight": ("KILOGRAMS", "GRAMS", "POUNDS", "OUNCES"),
    "volume": ("MILLILITERS", "LITERS", "FLUID_OUNCES", "US_GALLONS"),
    "dimension": ("CENTIMETERS", "MILLIMETERS", "METERS", "INCHES", "FEET"),
    "antenna_gain": ("DBI",), "area": ("SQUARE_METERS", "SQUARE_FEET"),
    "battery_charge_capacity": ("MILLIAMP_HOURS",), "battery_energy_capacity": ("WATT_HOURS",),
    "capacitance": ("MICROFARADS",), "concentration": ("MILLIGRAMS_PER_LITER",),
    "data_storage_capacity": ("GIGABYTES", "TERABYTES"),
    "data_transfer_rate": ("MEGABITS_PER_SECOND",), "distance": ("KILOMETERS", "MILES"),
    "display_density": ("PIXELS_PER_INCH",), "electric_current": ("AMPERES",),
    "energy": ("KILOWATT_HOURS",), "frequency": ("HERTZ", "GIGAHERTZ"),
    "illuminance": ("LUX",), "inductance": ("MILLIHENRIES",), "luminous_flux": ("LUMENS",),
    "mass_flow_rate": ("KILOGRAMS_PER_SECOND",), "power": ("WATTS",),
    "pressure": ("PASCALS", "BARS"), "resistance": ("OHMS",), "sound_level": ("DECIBELS",),
    "speed": ("KILOMETERS_PER_HOUR",), "temperature": ("CELSIUS", "FAHRENHEIT"),
    "thermal_power": ("BTUS_PER_HOUR",), "voltage": ("VOLTS",),
    "volumetric_flow_rate": ("LITERS_PER_MINUTE",),
}
REFERENCE_TYPES = ("product_reference", "variant_reference", "collection_reference",
                   "file_reference", "page_reference", "metaobject_reference",
                   "mixed_reference", "customer_reference", "company_reference",
                   "product_taxonomy_value_reference", "article_reference")
BASIC_TYPES = ("single_line_text_field", "multi_line_text_field", "rich_text_field",
               "number_integer", "number_decimal", "boolean", "date", "date_time", "color",
               "url", "json", "money", "weight", "volume", "dimension", "rating", "link",
               "id")
LIST_CAPABLE = ("single_line_text_field", "number_integer", "number_decimal", "date",
                "date_time", "color", "url", "weight", "volume", "dimension", "rating",
                "link") + REFERENCE_TYPES
MEASUREMENTS = tuple(k for k in MEASUREMENT_UNITS if k not in ("weight", "volume", "dimension"))
METAFIELD_TYPES = BASIC_TYPES + REFERENCE_TYPES + tuple("list." + t for t in LIST_CAPABLE) \
    + MEASUREMENTS
# value_json is the parsed value for these (and every list.* type)
JSON_TYPES = frozenset(("json", "money", "weight", "volume", "dimension", "rating", "link",
                        "rich_text_field") + MEASUREMENTS)
KEYS_OF = {t: t.replace(".", "_") for t in METAFIELD_TYPES}
NAMESPACES = ("custom", "custom", "custom", "global", "my_fields", "app--4242--reviews",
              "détails")

TEXTS = ["Hello", "Ünïcödé ✓", "日本語のテキスト", "שלום עולם", "emoji 🦄🚀", "quote \" and \\ back",
         "  padded  ", "<b>not html</b> & more", "x" * 300, "السلام عليكم"]
GID_PREFIX = {"file_reference": "MediaImage", "page_reference": "Page",
              "metaobject_reference": "Metaobject", "mixed_reference": "Metaobject",
              "company_reference": "Company", "article_reference": "Article",
              "product_taxonomy_value_reference": "TaxonomyValue"}


_dumps = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False).encode


class MetafieldValues:
    """Values of each type, encoded as Shopify encodes them (strings)."""

    def __init__(self, shop, book, rng):
        self.rng = rng
        rand = rng.random
        self.ri = lambda a, b: a + int(rand() * (b - a + 1))
        self.pick = lambda seq: seq[int(rand() * len(seq))]
        self.shop = shop
        self.pids = list(shop.order) or [1]
        self.vids = [v.id for p in list(shop.products.values())[:2000] for v in p.variants] or [1]
        self.cids = sorted(book.collections) or [shop.shop_id + 7]
        self.custs = sorted(book.customers)[:2000] or [shop.shop_id + 11]
        self.currency = shop.currency

    def _gid(self, t):
        if t == "product_reference":
            return "gid://shopify/Product/%d" % self.pick(self.pids)
        if t == "variant_reference":
            return "gid://shopify/ProductVariant/%d" % self.pick(self.vids)
        if t == "collection_reference":
            return "gid://shopify/Collection/%d" % self.pick(self.cids)
        if t == "customer_reference":
            return "gid://shopify/Customer/%d" % self.pick(self.custs)
        return "gid://shopify/%s/%d" % (GID_PREFIX[t], self.ri(1000, 10 ** 10))

    def _measure(self, t):
        r = self.rng
        return {"value": round(r.uniform(0, 500), self.pick((0, 1, 2))),
                "unit": self.pick(MEASUREMENT_UNITS[t])}

    def _one(self, t):
        """The JSON-able value of one (non-list) type."""
        if t == "single_line_text_field":
            return self.pick(TEXTS[:8])
        if t == "number_integer":
            return self.pick((0, -1, 42, 9007199254740991, self.ri(-1000, 100000)))
        if t == "number_decimal":
            return self.pick(("0.5", "-12.25", "3.14159", "100.0", "%d.%d" % (self.ri(0, 999),
                                                                                self.ri(0, 99))))
        if t == "date":
            return time.strftime("%Y-%m-%d", time.gmtime(self.ri(EPOCH_MIN, EPOCH_MAX)))
        if t == "date_time":
            return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(self.ri(EPOCH_MIN, EPOCH_MAX)))
        if t == "color":
            return "#%06x" % self.ri(0, 0xFFFFFF)
        if t == "url":
            return self.pick(("https://www.shopify.com", "https://example.com/a?b=1&c=%C3%A9",
                             "http://exämple.de/pfad", "mailto:someone@example.com"))
        if t in ("weight", "volume", "dimension") or t in MEASUREMENT_UNITS:
            return self._measure(t)
        if t == "rating":
            return {"value": "%.1f" % self.pick((1, 2.5, 3.5, 4, 5)), "scale_min": "1.0",
                    "scale_max": "5.0"}
        if t == "link":
            return {"text": self.pick(("Learn more", "Mehr erfahren", "詳細")),
                    "url": "https://example.com/p/%d" % self.ri(1, 999)}
        return self._gid(t)

    def value(self, t):
        if t.startswith("list."):
            return _dumps([self._one(t[5:]) for _ in range(self.ri(1, 4))])
        if t == "multi_line_text_field":
            return self.pick(("line one\nline two", "Größe: 42\r\nFarbe: blau\n\ttabbed",
                             "\n".join(TEXTS[:6]), "x\n" * 2000))
        if t == "rich_text_field":
            return _dumps({"type": "root", "children": [
                {"type": "heading", "level": 2, "children": [{"type": "text", "value": "Title ✓"}]},
                {"type": "paragraph", "children": [
                    {"type": "text", "value": self.pick(TEXTS[:6]), "bold": True},
                    {"type": "link", "url": "https://example.com", "title": None,
                     "children": [{"type": "text", "value": "link"}]}]}]})
        if t == "boolean":
            return self.pick(("true", "false"))
        if t == "json":
            return _dumps(self.pick((
                {"ingredient": "flour", "amount": 0.3, "unicode": "日本 🦄"},
                [1, "two", None, {"nested": [True, False]}],
                {"deep": {"deeper": {"deepest": [1, 2, {"x": "y"}]}}},
                "just a string", 42, {})))
        if t == "money":
            return _dumps({"amount": "%d.%02d" % (self.ri(0, 5000), self.ri(0, 99)),
                           "currency_code": self.currency})
        if t == "id":
            return "ID-%08d" % self.ri(0, 10 ** 8)
        v = self._one(t)
        if isinstance(v, (dict, list)):
            return _dumps(v)
        return str(v)


class MetafieldGen:
    def __init__(self, shop, book, cfg):
        self.shop, self.book = shop, book
        self.rng = random.Random("metafields:%s" % cfg.get("seed", 1))
        self.values = MetafieldValues(shop, book, self.rng)
        self.k = 0                              # round robin over METAFIELD_TYPES

    def add(self, otype, oid, t0, t1, n):
        if n <= 0:
            return
        rand = self.rng.random
        nt = len(METAFIELD_TYPES)
        lst = self.book.mf_owner[otype].setdefault(oid, [])
        mfs = self.book.metafields
        alloc = self.shop.alloc_id
        value = self.values.value
        t1 = max(t0, t1)
        for j in range(n):
            t = METAFIELD_TYPES[self.k % nt]
            self.k += 1
            ns = NAMESPACES[(self.k * 7) % len(NAMESPACES)]
            key = KEYS_OF[t] if j < nt else "%s_%d" % (KEYS_OF[t], j)
            m = Metafield()
            m.id = alloc()
            m.owner_type, m.owner_id = otype, oid
            m.namespace, m.key, m.type = ns, key, t
            m.value = value(t)
            c = m.created_at = t0 + int(rand() * (t1 - t0 + 1))
            m.updated_at = c + int(rand() * (t1 - c + 1))
            mfs[m.id] = m
            lst.append(m)


def gen_metafields(shop, book, cfg):
    g = MetafieldGen(shop, book, cfg)
    rng = g.rng
    spans = {t: _span(cfg, "per_" + t, [0, 0]) for t in OWNER_TYPES if t != "shop"}
    lo, hi = spans["product"]
    vlo, vhi = spans["variant"]
    rand = rng.random
    for p in shop.iter_products():
        g.add("product", p.id, p.created_at, p.updated_at, lo + int(rand() * (hi - lo + 1)))
        if vhi:
            for v in p.variants:
                g.add("variant", v.id, v.created_at, v.updated_at,
                      vlo + int(rand() * (vhi - vlo + 1)))
    orders = getattr(shop, "orders", None)
    lo, hi = spans["order"]
    if orders is not None and hi:
        for o in orders.iter_orders():
            g.add("order", o.id, o.created_at, o.updated_at, rng.randint(lo, hi))
    lo, hi = spans["customer"]
    if hi:
        for cid in sorted(book.customers):
            c = book.customers[cid]
            g.add("customer", cid, c.created_at, c.updated_at, rng.randint(lo, hi))
    g.add("shop", shop.shop_id, EPOCH_MIN, EPOCH_MAX, _int(cfg, "shop", 0, 0, 1000))


KEYS = ("locations", "inventory", "collections", "metafields", "customers")


def generate(shop, cfg):
    """Make shop.store from the shop's config (keys KEYS, each optional)."""
    t0 = time.monotonic()
    book = StoreBook(shop)
    book.currency = shop.currency
    gc_was = gc.isenabled()
    gc.disable()            # hundreds of thousands of records, no cycles among them
    try:
        _generate(shop, cfg, book)
    finally:
        if gc_was:
            gc.enable()
    shop.store = book
    book.gen_seconds = time.monotonic() - t0
    return book


def _generate(shop, cfg, book):
    with shop.lock:
        book.index_catalog()
        for key, fn in (("locations", gen_locations), ("inventory", gen_inventory),
                        ("collections", gen_collections), ("customers", gen_customers),
                        ("metafields", gen_metafields)):
            sub = cfg.get(key)
            if sub is None:
                continue
            if not isinstance(sub, dict):
                raise ValueError("%s must be an object" % key)
            try:
                fn(shop, book, sub)
            except (TypeError, KeyError) as e:
                raise ValueError("bad %s config: %s" % (key, e))
        # the shop's clock (mutations' timestamps) starts after everything generated
        latest = [x.updated_at for d in (book.locations, book.collections, book.customers,
                                         book.metafields) for x in d.values()]
        latest += [lv.updated_at for per in book.levels.values() for lv in per.values()]
        shop.max_ts = max([shop.max_ts] + latest)
