"""Catalog model: shops, products, variants -- independent of any renderer.

Records are compact (__slots__); bulky or static attributes (body_html,
images, weights, policies...) are derived on demand from the ids by
``traits``/``pools`` so a 100k-variant shop stays small.  REST (rest.py) and
future GraphQL / bulk / webhook renderers read the same records.

All access to a shop's catalog must hold ``shop.lock``.
"""
import bisect
import threading
import time

from . import pools

EPOCH_MIN = 1546300800   # 2019-01-01T00:00:00Z
EPOCH_MAX = 1782777600   # 2026-06-30T00:00:00Z -- initial catalog is older
STATUSES = ("active", "draft", "archived")


class IdSpaceError(Exception):
    pass


class Variant:
    __slots__ = ("id", "product_id", "option1", "option2", "option3", "price",
                 "compare_at_price", "sku", "barcode", "inventory_quantity",
                 "old_inventory_quantity", "inventory_item_id", "created_at",
                 "updated_at", "image_id")

    @property
    def title(self):
        o1, o2, o3 = self.option1, self.option2, self.option3
        if o2 is None and o3 is None:
            return "Default Title" if o1 is None else o1
        return " / ".join(o for o in (o1, o2, o3) if o is not None)


class Product:
    __slots__ = ("id", "title", "body_html", "body_seed", "vendor", "product_type",
                 "handle", "tags", "status", "created_at", "updated_at",
                 "published_at", "template_suffix", "published_scope",
                 "option_names", "option_base_id", "image_base_id", "n_images",
                 "variants")

    def body(self):
        if self.body_html is not None:
            return self.body_html
        return pools.body_html(self.body_seed)


def variant_traits(vid):
    """Static per-variant attributes derived from the id (not stored)."""
    h = (vid * 0x9E3779B1) & 0xFFFFFFFF
    grams = (h >> 3) % 5000
    unit = ("kg", "g", "lb", "oz")[(h >> 15) % 4]
    if unit == "kg":
        weight = round(grams / 1000.0, 3)
    elif unit == "g":
        weight = float(grams)
    elif unit == "lb":
        weight = round(grams / 453.59237, 2)
    else:
        weight = round(grams / 28.3495, 1)
    return {
        "inventory_policy": "deny" if h % 3 else "continue",
        "taxable": bool(h & 0x100) or not (h & 0x200),
        "fulfillment_service": "manual",
        "grams": grams,
        "inventory_management": "shopify" if (h >> 10) % 7 else None,
        "requires_shipping": (h >> 20) % 9 != 0,
        "weight": weight,
        "weight_unit": unit,
    }


class Filter:
    """Listing filters (REST query params; reusable for GraphQL search)."""
    __slots__ = ("since_id", "umin", "umax", "cmin", "cmax", "statuses", "ids",
                 "vendors", "product_types", "handles", "published")

    def __init__(self, **kw):
        for k in self.__slots__:
            setattr(self, k, kw.get(k))

    def to_dict(self):
        return {k: getattr(self, k) for k in self.__slots__ if getattr(self, k) is not None}

    @classmethod
    def from_dict(cls, d):
        return cls(**d)

    def match(self, p):
        if self.since_id is not None and p.id <= self.since_id:
            return False
        if self.umin is not None and p.updated_at < self.umin:
            return False
        if self.umax is not None and p.updated_at > self.umax:
            return False
        if self.cmin is not None and p.created_at < self.cmin:
            return False
        if self.cmax is not None and p.created_at > self.cmax:
            return False
        if self.statuses is not None and p.status not in self.statuses:
            return False
        if self.ids is not None and p.id not in self.ids:
            return False
        if self.vendors is not None and p.vendor not in self.vendors:
            return False
        if self.product_types is not None and p.product_type not in self.product_types:
            return False
        if self.handles is not None and p.handle not in self.handles:
            return False
        if self.published == "published" and p.published_at is None:
            return False
        if self.published == "unpublished" and p.published_at is not None:
            return False
        return True


class Shop:
    def __init__(self, cfg, id_base):
        self.domain = cfg["domain"]
        self.token = cfg["token"]
        self.revoked_tokens = set()
        self.name = cfg.get("name") or self.domain.split(".")[0].title()
        self.currency = cfg.get("currency", "USD")
        self.plan_name = cfg.get("plan_name", "basic")
        self.utc_offset = int(cfg.get("utc_offset_minutes", -300))
        self.cfg = cfg
        self.id_base = id_base
        self.id_limit = None           # first id owned by the next shop up
        self.next_id = id_base
        self.shop_id = id_base         # the Shop object's own id
        self.lock = threading.RLock()
        self.products = {}             # id -> Product (live)
        self.order = []                # live product ids, ascending
        self.deleted_products = {}     # id -> Product (for "restore")
        self.deleted_variants = {}     # variant id -> product id (insertion ordered)
        self.handles = set()
        self.max_ts = EPOCH_MIN
        self.variant_count = 0
        self.mutations = 0
        b = cfg.get("bucket", {"size": 40, "leak": 2.0})
        self.bucket_cfg = b            # read by server.py (limits.Bucket)
        self.next_id += 1

    # -- ids and clock -----------------------------------------------------
    def alloc_id(self):
        i = self.next_id + ((self.next_id * 2654435761) >> 9) % 7   # irregular gaps
        if self.id_limit is not None and i >= self.id_limit:
            raise IdSpaceError("shop %s ran out of ids (id_base of next shop %d)"
                               % (self.domain, self.id_limit))
        self.next_id = i + 1
        return i

    def alloc_block(self, n):
        first = self.alloc_id()
        self.next_id = first + n
        return first

    def now_ts(self):
        """Strictly increasing second-resolution 'now' for mutations."""
        ts = max(int(time.time()), self.max_ts + 1)
        self.max_ts = ts
        return ts

    def id_range(self):
        return (self.id_base, self.next_id)

    # -- queries (hold self.lock) --------------------------------------------
    def get(self, pid):
        return self.products.get(pid)

    def page_after(self, flt, after_id, limit):
        """Products matching flt with id > after_id, ascending; (list, more)."""
        order, prods, out = self.order, self.products, []
        start = 0 if after_id is None else bisect.bisect_right(order, after_id)
        if flt.since_id is not None:
            start = max(start, bisect.bisect_right(order, flt.since_id))
        if flt.ids is not None and len(flt.ids) < 1000:
            cand = sorted(i for i in flt.ids if i in prods and
                          (after_id is None or i > after_id))
            it = (prods[i] for i in cand)
        else:
            it = (prods[order[k]] for k in range(start, len(order)))
        for p in it:
            if flt.match(p):
                if len(out) == limit:
                    return out, True
                out.append(p)
        return out, False

    def page_before(self, flt, before_id, limit):
        """Products matching flt with id < before_id; last `limit`, ascending."""
        order, prods, out = self.order, self.products, []
        k = bisect.bisect_left(order, before_id) - 1
        more = False
        while k >= 0:
            p = prods[order[k]]
            if flt.match(p):
                if len(out) == limit:
                    more = True
                    break
                out.append(p)
            k -= 1
        out.reverse()
        return out, more

    def count(self, flt):
        return sum(1 for i in self.order if flt.match(self.products[i]))

    def iter_products(self):
        for i in self.order:
            yield self.products[i]

    # -- structural changes (hold self.lock) ----------------------------------
    def _insert(self, p):
        self.products[p.id] = p
        if not self.order or p.id > self.order[-1]:
            self.order.append(p.id)
        else:
            bisect.insort(self.order, p.id)
        self.variant_count += len(p.variants)
        self.max_ts = max(self.max_ts, p.updated_at)

    def delete_product(self, pid):
        p = self.products.pop(pid)
        k = bisect.bisect_left(self.order, pid)
        del self.order[k]
        self.variant_count -= len(p.variants)
        self.deleted_products[pid] = p
        for v in p.variants:
            self.deleted_variants[v.id] = pid
        return p

    def restore_product(self, pid, ts):
        p = self.deleted_products.pop(pid)
        p.updated_at = ts
        for v in p.variants:
            v.updated_at = ts
            self.deleted_variants.pop(v.id, None)
        self._insert(p)
        return p

    def delete_variant(self, p, vid, ts):
        for k, v in enumerate(p.variants):
            if v.id == vid:
                del p.variants[k]
                self.deleted_variants[vid] = p.id
                self.variant_count -= 1
                p.updated_at = ts
                return v
        raise KeyError(vid)


class Generator:
    """Deterministic catalog generator (one per shop, driven by an rng)."""

    def __init__(self, shop, rng, awkward, drafts=0.0, archived=0.0):
        self.shop = shop
        self.rng = rng
        self.awkward = awkward
        self.drafts = drafts
        self.archived = archived
        self.n_products = 0
        self.n_variants = 0

    def _status(self):
        r = self.rng.random()
        if r < self.drafts:
            return "draft"
        if r < self.drafts + self.archived:
            return "archived"
        return "active"

    def _handle(self, title):
        base = pools.slugify(title)
        h, n = base, 1
        while h in self.shop.handles:
            n += 1
            h = "%s-%d" % (base, n)
        self.shop.handles.add(h)
        return h

    def product(self, n_variants, created=None, updated=None, status=None):
        shop, rng = self.shop, self.rng
        idx = self.n_products
        self.n_products += 1
        p = Product()
        p.id = shop.alloc_id()
        p.title = pools.title(rng, idx, self.awkward)
        p.body_html = None
        p.body_seed = rng.getrandbits(48)
        p.vendor = pools.vendor(rng, idx, self.awkward)
        p.product_type = pools.product_type(rng, idx, self.awkward)
        p.handle = self._handle(p.title)
        p.tags = pools.tags(rng, idx, self.awkward)
        p.status = status or self._status()
        if created is None:
            created = rng.randint(EPOCH_MIN, EPOCH_MAX - 86400 * 60)
            updated = rng.randint(created, EPOCH_MAX)
        p.created_at = created
        p.updated_at = updated if updated is not None else created
        if p.status == "active" and rng.random() < 0.97:
            p.published_at = min(created + rng.randint(0, 86400 * 3), p.updated_at)
        else:
            p.published_at = None
        p.template_suffix = None if rng.random() < 0.9 else ""
        p.published_scope = "web" if rng.random() < 0.8 else "global"
        p.option_names = pools.option_names(n_variants, idx, self.awkward)
        p.n_images = rng.choice((0, 1, 1, 2, 3))
        p.image_base_id = shop.alloc_block(p.n_images) if p.n_images else None
        p.option_base_id = shop.alloc_block(len(p.option_names))
        p.variants = []
        for pos in range(n_variants):
            p.variants.append(self.variant(p, pos, n_variants))
        return p

    def variant(self, p, pos, n_variants, ts=None):
        shop, rng = self.shop, self.rng
        vidx = self.n_variants
        self.n_variants += 1
        v = Variant()
        v.id = shop.alloc_id()
        v.product_id = p.id
        v.inventory_item_id = shop.alloc_id()
        v.option1, v.option2, v.option3 = pools.option_values(p.option_names, pos,
                                                              n_variants, self.awkward)
        v.price = pools.price(rng, vidx, self.awkward)
        v.compare_at_price = pools.compare_at(rng, v.price, vidx, self.awkward)
        v.sku = pools.sku(rng, p.id, pos, vidx, self.awkward)
        v.barcode = pools.barcode(rng, vidx, self.awkward)
        v.inventory_quantity = pools.inventory(rng, vidx, self.awkward)
        v.old_inventory_quantity = v.inventory_quantity
        if ts is not None:
            v.created_at = v.updated_at = ts
        else:
            v.created_at = p.created_at if rng.random() < 0.8 else \
                rng.randint(p.created_at, p.updated_at)
            v.updated_at = rng.randint(v.created_at, p.updated_at)
        v.image_id = p.image_base_id if (p.n_images and rng.random() < 0.3) else None
        return v

    def extra_variant(self, p, ts):
        """A variant added by a mutation: unique option1, other options copied."""
        v = self.variant(p, len(p.variants), len(p.variants) + 1, ts=ts)
        v.option1 = "Extra %d" % (v.id % 100000)
        if p.variants:
            v.option2, v.option3 = p.variants[0].option2, p.variants[0].option3
        return v


def generate(shop, catalog_cfg, rng_factory):
    """Fill `shop` from its catalog config; deterministic for a given seed."""
    c = catalog_cfg or {}
    seed = c.get("seed", 1)
    rng = rng_factory(seed)
    gen = Generator(shop, rng, bool(c.get("awkward", False)),
                    float(c.get("drafts", 0.0)), float(c.get("archived", 0.0)))
    n = int(c.get("products", 0))
    vmin = max(1, int(c.get("variants_min", 1)))
    vmax = max(vmin, int(c.get("variants_max", max(vmin, 8))))
    counts = [rng.randint(vmin, vmax) for _ in range(n)]
    big = [int(b) for b in c.get("big_products") or []]
    for k, nb in enumerate(big):      # spread the big ones through the id range
        counts.insert(((k + 1) * len(counts)) // (len(big) + 1), nb)
    with shop.lock:
        for nv in counts:
            shop._insert(gen.product(nv))
    shop.generator = gen
    return shop
