"""Orders model: records, the per-shop order book, filters, keyset paging,
REST rendering, the control API's expected rows and statistics.

Amounts are kept as integer cents and rendered as strings with 2 decimals
(REST, expected rows) or as a GraphQL Decimal (``gql_decimal``).  Line items
are tuples ``(line_id, entry, quantity)``; an ``entry`` is a snapshot of the
ordered variant, shared by every line that ordered it at that price:
``(product_id, variant_id, sku, title, variant_title, price_cents, vendor)``
(variant_id is None for custom items and deleted variants).  Refunds are
tuples ``(refund_id, created_at, ((txn_id, cents, status), ...))``; only
transactions with status "success" count.

Orders are never deleted; the catalog's later changes do not alter them.
All access holds ``shop.lock`` (generation and mutations: orders_gen.py).
"""
import bisect
import decimal
import time

from .catalog import variant_traits
from .timefmt import fmt_ts

E_PID, E_VID, E_SKU, E_TITLE, E_VTITLE, E_PRICE, E_VENDOR = range(7)
FINANCIAL = ("paid", "partially_refunded", "refunded", "pending", "voided", "authorized")
FULFILLMENT = (None, "fulfilled", "partial")
REST_STATUSES = ("open", "closed", "cancelled", "any")
TAX_RATES = ((0, "0.0"), (500, "0.05"), (700, "0.07"), (825, "0.0825"),
             (1900, "0.19"), (2000, "0.2"))      # basis points x100, REST string
DISCOUNT_CODES = (("SAVE5", "percentage", 5), ("SAVE10", "percentage", 10),
                  ("WELCOME15", "percentage", 15), ("VIP20", "percentage", 20),
                  ("TENOFF", "fixed_amount", 1000))
ORDER_KEYS = (
    "id", "admin_graphql_api_id", "app_id", "browser_ip", "buyer_accepts_marketing",
    "cancel_reason", "cancelled_at", "cart_token", "checkout_id", "closed_at",
    "confirmation_number", "confirmed", "contact_email", "created_at", "currency",
    "customer_locale", "discount_codes", "email", "estimated_taxes", "financial_status",
    "fulfillment_status", "landing_site", "location_id", "name", "note",
    "note_attributes", "number", "order_number", "payment_gateway_names", "phone",
    "presentment_currency", "processed_at", "reference", "referring_site",
    "source_name", "subtotal_price", "subtotal_price_set", "tags", "tax_lines",
    "taxes_included", "test", "total_discounts", "total_discounts_set",
    "total_line_items_price", "total_line_items_price_set", "total_outstanding",
    "total_price", "total_price_set", "total_shipping_price_set", "total_tax",
    "total_tax_set", "total_tip_received", "total_weight", "updated_at", "user_id",
    "billing_address", "customer", "discount_applications", "fulfillments",
    "line_items", "payment_terms", "refunds", "shipping_address", "shipping_lines")


def money(cents):
    """Cents -> "12.34" (REST and the control API)."""
    return "%d.%02d" % divmod(cents, 100)


def gql_decimal(cents):
    """Cents -> the GraphQL Decimal form: trailing zero dropped ("12.5",
    "10.0", "12.34"), as Shopify serializes MoneyV2.amount."""
    s = "%d.%02d" % divmod(cents, 100)
    return s[:-1] if s[-1] == "0" else s


def to_cents(s):
    """A price string ("19.99", "5", "9.999") -> cents, half-up."""
    a, dot, b = s.partition(".")
    if len(b) == 2 and a.isdigit() and b.isdigit():
        return int(a) * 100 + int(b)
    d = decimal.Decimal(s).quantize(decimal.Decimal("0.01"), decimal.ROUND_HALF_UP)
    return int(d * 100)


class Order:
    __slots__ = ("id", "number", "created_at", "processed_at", "updated_at",
                 "cancelled_at", "cancel_reason", "closed_at", "financial",
                 "fulfillment", "lines", "subtotal", "discount", "tax", "tax_rate",
                 "discount_code", "refunds", "tags", "note")

    @property
    def total(self):
        return self.subtotal - self.discount + self.tax

    def refunded(self):
        return sum(t[1] for r in self.refunds for t in r[2] if t[2] == "success")

    def units(self):
        return sum(ln[2] for ln in self.lines)


class OrderFilter:
    """REST listing filters (status: open/closed/cancelled, None = any)."""
    __slots__ = ("since_id", "umin", "umax", "cmin", "cmax", "status", "ids")

    def __init__(self, **kw):
        for k in self.__slots__:
            setattr(self, k, kw.get(k))

    def to_dict(self):
        d = {k: getattr(self, k) for k in self.__slots__ if getattr(self, k) is not None}
        if "ids" in d:
            d["ids"] = sorted(d["ids"])
        return d

    @classmethod
    def from_dict(cls, d):
        f = cls(**d)
        if f.ids is not None:
            f.ids = set(f.ids)
        return f

    def match(self, o):
        if self.since_id is not None and o.id <= self.since_id:
            return False
        if self.umin is not None and o.updated_at < self.umin:
            return False
        if self.umax is not None and o.updated_at > self.umax:
            return False
        if self.cmin is not None and o.created_at < self.cmin:
            return False
        if self.cmax is not None and o.created_at > self.cmax:
            return False
        st = self.status
        if st == "open" and (o.closed_at is not None or o.cancelled_at is not None):
            return False
        if st == "closed" and o.closed_at is None:
            return False
        if st == "cancelled" and o.cancelled_at is None:
            return False
        if self.ids is not None and o.id not in self.ids:
            return False
        return True


class OrderBook:
    """One shop's orders (hold shop.lock)."""

    def __init__(self, shop, cfg):
        cfg = cfg or {}
        self.shop = shop
        self.cfg = cfg
        self.currency = cfg.get("currency") or shop.currency
        self.orders = {}           # id -> Order
        self.ids = []              # ascending
        self.next_number = 1
        self.version = 0           # bumped on every change (keyset cache)
        self._keys = None
        self.mutations = 0
        self.gen_seconds = 0.0
        gd = cfg.get("graphql_amounts", "trimmed")
        if gd not in ("trimmed", "fixed"):
            raise ValueError("orders.graphql_amounts must be trimmed or fixed")
        self.gql_amount = gql_decimal if gd == "trimmed" else money

    def add(self, o):
        self.orders[o.id] = o
        if not self.ids or o.id > self.ids[-1]:
            self.ids.append(o.id)
        else:
            bisect.insort(self.ids, o.id)
        self.version += 1

    def changed(self):
        self.version += 1

    def get(self, oid):
        return self.orders.get(oid)

    def __len__(self):
        return len(self.ids)

    def iter_orders(self):
        orders = self.orders
        for i in self.ids:
            yield orders[i]

    # -- REST keyset paging by id ----------------------------------------------
    def page_after(self, flt, after_id, limit):
        ids, orders, out = self.ids, self.orders, []
        start = 0 if after_id is None else bisect.bisect_right(ids, after_id)
        if flt.since_id is not None:
            start = max(start, bisect.bisect_right(ids, flt.since_id))
        if flt.ids is not None and len(flt.ids) < 1000:
            it = (orders[i] for i in sorted(flt.ids) if i in orders
                  and (after_id is None or i > after_id))
        else:
            it = (orders[ids[k]] for k in range(start, len(ids)))
        for o in it:
            if flt.match(o):
                if len(out) == limit:
                    return out, True
                out.append(o)
        return out, False

    def page_before(self, flt, before_id, limit):
        ids, orders, out = self.ids, self.orders, []
        k = bisect.bisect_left(ids, before_id) - 1
        more = False
        while k >= 0:
            o = orders[ids[k]]
            if flt.match(o):
                if len(out) == limit:
                    more = True
                    break
                out.append(o)
            k -= 1
        out.reverse()
        return out, more

    def count(self, flt):
        return sum(1 for o in self.orders.values() if flt.match(o))

    # -- GraphQL keyset by (updated_at, id) -------------------------------------
    def sorted_keys(self):
        if self._keys is None or self._keys[0] != self.version:
            self._keys = (self.version, sorted((o.updated_at, o.id)
                                               for o in self.orders.values()))
        return self._keys[1]


def book_of(shop):
    """The shop's OrderBook (created empty for shops configured without orders)."""
    b = getattr(shop, "orders", None)
    if b is None:
        with shop.lock:
            b = getattr(shop, "orders", None)
            if b is None:
                b = shop.orders = OrderBook(shop, None)
    return b


# -- REST rendering ---------------------------------------------------------------
def _mset(cents, cur):
    m = {"amount": money(cents), "currency_code": cur}
    return {"shop_money": m, "presentment_money": m}


def line_fulfillment(o, k, qty):
    """(fulfillment_status, fulfillable_quantity) of line k."""
    if o.fulfillment == "fulfilled":
        return "fulfilled", 0
    if o.fulfillment == "partial":
        if k == 0 and len(o.lines) == 1:
            return "partial", qty // 2
        if k < (len(o.lines) + 1) // 2:
            return "fulfilled", 0
    return None, (0 if o.cancelled_at is not None else qty)


def render_line(o, k, line, cur):
    lid, e, qty = line
    vid = e[E_VID]
    t = variant_traits(vid if vid is not None else lid)
    fst, fq = line_fulfillment(o, k, qty)
    vt = e[E_VTITLE]
    return {
        "id": lid, "admin_graphql_api_id": "gid://shopify/LineItem/%d" % lid,
        "attributed_staffs": [], "current_quantity": qty, "fulfillable_quantity": fq,
        "fulfillment_service": "manual", "fulfillment_status": fst,
        "gift_card": False, "grams": t["grams"] if vid is not None else 0,
        "name": e[E_TITLE] if not vt or vt == "Default Title"
        else "%s - %s" % (e[E_TITLE], vt),
        "price": money(e[E_PRICE]), "price_set": _mset(e[E_PRICE], cur),
        "product_exists": e[E_PID] is not None, "product_id": e[E_PID],
        "properties": [], "quantity": qty,
        "requires_shipping": t["requires_shipping"] if vid is not None else False,
        "sku": e[E_SKU], "taxable": True, "title": e[E_TITLE],
        "total_discount": "0.00", "total_discount_set": _mset(0, cur),
        "variant_id": vid,
        "variant_inventory_management": t["inventory_management"] if vid else None,
        "variant_title": vt, "vendor": e[E_VENDOR], "tax_lines": [], "duties": [],
        "discount_allocations": []}


def render_refund(o, r, cur):
    rid, created, txns = r
    ts = fmt_ts(created, rid)
    return {
        "id": rid, "admin_graphql_api_id": "gid://shopify/Refund/%d" % rid,
        "created_at": ts, "note": None, "order_id": o.id, "processed_at": ts,
        "restock": False, "total_duties_set": _mset(0, cur), "user_id": None,
        "order_adjustments": [], "refund_line_items": [], "duties": [],
        "transactions": [{
            "id": tid, "admin_graphql_api_id": "gid://shopify/OrderTransaction/%d" % tid,
            "amount": money(c), "authorization": None, "created_at": ts,
            "currency": cur, "device_id": None,
            "error_code": None if st == "success" else "card_declined",
            "gateway": "bogus", "kind": "refund", "location_id": None,
            "message": "Bogus Gateway: Forced success" if st == "success"
            else "Bogus Gateway: Forced failure",
            "order_id": o.id, "parent_id": None, "payment_id": "r%d.1" % tid,
            "processed_at": ts, "receipt": {}, "source_name": "web", "status": st,
            "test": False, "user_id": None} for tid, c, st in txns]}


CUSTOMER_HOOK = None    # fn(shop, order id) -> the order's REST customer or None (store_control)


def render_order(o, shop, book, fields=None):
    want = fields or ORDER_KEYS
    cur = book.currency
    oid = o.id
    total = o.total
    tax_bp, tax_s = TAX_RATES[o.tax_rate]
    outstanding = total if o.financial in ("pending", "authorized") else 0
    d = {
        "id": oid, "admin_graphql_api_id": "gid://shopify/Order/%d" % oid,
        "app_id": 580111, "browser_ip": None, "buyer_accepts_marketing": False,
        "cancel_reason": o.cancel_reason, "cancelled_at": fmt_ts(o.cancelled_at, oid),
        "cart_token": None, "checkout_id": None, "closed_at": fmt_ts(o.closed_at, oid),
        "confirmation_number": "C%09X" % ((oid * 2654435761) & 0xFFFFFFFFF),
        "confirmed": True, "contact_email": None,
        "created_at": fmt_ts(o.created_at, oid), "currency": cur,
        "customer_locale": "en",
        "discount_codes": [] if o.discount_code is None else [{
            "code": DISCOUNT_CODES[o.discount_code][0], "amount": money(o.discount),
            "type": DISCOUNT_CODES[o.discount_code][1]}],
        "email": None, "estimated_taxes": False, "financial_status": o.financial,
        "fulfillment_status": o.fulfillment, "landing_site": None, "location_id": None,
        "name": "#%d" % (1000 + o.number), "note": o.note, "note_attributes": [],
        "number": o.number, "order_number": 1000 + o.number,
        "payment_gateway_names": ["bogus"], "phone": None, "presentment_currency": cur,
        "processed_at": fmt_ts(o.processed_at, oid), "reference": None,
        "referring_site": None, "source_name": "web",
        "subtotal_price": money(o.subtotal), "subtotal_price_set": _mset(o.subtotal, cur),
        "tags": o.tags,
        "tax_lines": [] if not o.tax else [{"price": money(o.tax), "rate": float(tax_s),
                                            "title": "Tax",
                                            "price_set": _mset(o.tax, cur)}],
        "taxes_included": False, "test": False,
        "total_discounts": money(o.discount), "total_discounts_set": _mset(o.discount, cur),
        "total_line_items_price": money(o.subtotal),
        "total_line_items_price_set": _mset(o.subtotal, cur),
        "total_outstanding": money(outstanding),
        "total_price": money(total), "total_price_set": _mset(total, cur),
        "total_shipping_price_set": _mset(0, cur), "total_tax": money(o.tax),
        "total_tax_set": _mset(o.tax, cur), "total_tip_received": "0.00",
        "total_weight": 0, "updated_at": fmt_ts(o.updated_at, oid), "user_id": None,
        "billing_address": None,
        "customer": CUSTOMER_HOOK(shop, oid) if CUSTOMER_HOOK is not None else None,
        "discount_applications": [],
        "fulfillments": [], "payment_terms": None, "shipping_address": None,
        "shipping_lines": []}
    if "line_items" in want:
        d["line_items"] = [render_line(o, k, ln, cur) for k, ln in enumerate(o.lines)]
    if "refunds" in want:
        d["refunds"] = [render_refund(o, r, cur) for r in o.refunds]
    if fields is None:
        return d
    return {k: d[k] for k in ORDER_KEYS if k in fields and k in d}


# -- control API: expected rows and statistics ---------------------------------------
def expected_order_row(o, book):
    return {
        "order_id": o.id, "name": "#%d" % (1000 + o.number),
        "created_at": fmt_ts(o.created_at, o.id),
        "processed_at": fmt_ts(o.processed_at, o.id),
        "updated_at": fmt_ts(o.updated_at, o.id),
        "cancelled_at": fmt_ts(o.cancelled_at, o.id),
        "financial_status": o.financial, "fulfillment_status": o.fulfillment,
        "currency": book.currency, "total_price": money(o.total),
        "subtotal_price": money(o.subtotal), "total_tax": money(o.tax),
        "total_discounts": money(o.discount), "total_refunded": money(o.refunded()),
        "line_item_count": len(o.lines)}


def expected_line_rows(o):
    for lid, e, qty in o.lines:
        yield {"order_id": o.id, "line_id": lid, "sku_id": e[E_VID],
               "product_id": e[E_PID], "quantity": qty, "price": money(e[E_PRICE])}


def _half_up_div(num, den):
    return (2 * num + den) // (2 * den)     # num, den >= 0


def stats(book, now=None):
    """Figures for tests (hold shop.lock); see README for the definitions."""
    now = time.time() if now is None else now
    since = now - 30 * 86400
    n = kept = 0
    revenue = revenue30 = refunded_all = 0
    units = {}
    for o in book.orders.values():
        n += 1
        if o.cancelled_at is not None:
            continue
        kept += 1
        ref = o.refunded()
        refunded_all += ref
        net = o.total - ref
        revenue += net
        if o.processed_at >= since:
            revenue30 += net
        for _, e, qty in o.lines:
            vid = e[E_VID]
            if vid is not None:
                units[vid] = units.get(vid, 0) + qty
    top = sorted(units.items(), key=lambda kv: (-kv[1], kv[0]))[:5]
    return {"order_count": n, "currency": book.currency,
            "total_revenue": money(revenue), "revenue_last_30_days": money(revenue30),
            "average_order_value": money(_half_up_div(revenue, kept) if kept else 0),
            "top_variants": [{"sku_id": v, "units": u} for v, u in top],
            "non_cancelled_count": kept, "cancelled_count": n - kept,
            "total_refunded_non_cancelled": money(refunded_all),
            "now": now, "last_30_days_since": fmt_ts(int(since), 0)}
