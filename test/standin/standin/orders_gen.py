"""Order generation (per shop config key "orders") and order mutations
(POST /_control/shops/{d}/orders_mutate).

Config: {"count": N, "seed": s, "days": 120, "currency": <shop currency>,
"cancel_rate": 0.05, "refund_rate": 0.10, "lines_max": 5, "now": <epoch>,
"graphql_amounts": "trimmed"}.  Orders are spread over the `days` days
before `now` (default: the time the shop is generated); everything else is
deterministic from the seed and the catalog.  Ids come from the shop's id
counter (orders, line items, refunds and refund transactions).

Financial statuses follow refunds and cancellation: a cancelled order is
"voided" (never captured, no refunds) or "refunded" (refunds summing to the
total); "partially_refunded" orders have one or two successful refunds
summing to less than the total; "refunded" ones sum to the total.  Some
refunds carry a failed transaction, and a few paid orders have a refund whose
only transaction failed; failed transactions never count.  A cancelled order
is also closed (archived); so are most fulfilled, settled orders.
"""
import random
import time

from .orders import (DISCOUNT_CODES, TAX_RATES, E_PRICE, Order, OrderBook, to_cents)
from .timefmt import fmt_ts

DAY = 86400
CANCEL_REASONS = ("customer", "inventory", "fraud", "declined", "other")
TAGS = ("", "", "", "", "", "", "wholesale", "vip", "gift", "repeat, vip",
        "Ünïcode tag", "b2b, net-30")
CUSTOM_TITLES = ("Custom engraving", "Gift wrapping", "Rush handling", "Custom item")
FAIL_TXN_P = 0.15          # a refund's successful transaction follows a failed one
FAIL_ONLY_P = 0.02         # a paid order with a refund whose only transaction failed


HOOKS = []      # fn(shop, result, ts), run at the end of an orders_mutate call (holding shop.lock)


class MutationError(ValueError):
    pass


def _num(cfg, key, default, lo, hi, integer=False):
    v = cfg.get(key, default)
    if isinstance(v, bool) or not isinstance(v, (int, float)) or not lo <= v <= hi \
            or (integer and not isinstance(v, int)):
        raise ValueError("orders.%s must be %s in %s..%s" % (
            key, "an integer" if integer else "a number", lo, hi))
    return v


class OrderGen:
    """Builds orders for one shop (hold shop.lock)."""

    def __init__(self, shop, book, rng, cfg):
        self.shop, self.book, self.rng = shop, book, rng
        self.cancel_rate = _num(cfg, "cancel_rate", 0.05, 0, 1)
        self.refund_rate = _num(cfg, "refund_rate", 0.10, 0, 1)
        if self.cancel_rate + self.refund_rate > 1:
            raise ValueError("orders.cancel_rate + refund_rate must be <= 1")
        self.lines_max = _num(cfg, "lines_max", 5, 1, 250, integer=True)
        self.pool = None       # shuffled variant snapshots (initial generation)
        self.customs = [(None, None, None, t, None, c, None)
                        for t, c in zip(CUSTOM_TITLES, (1500, 499, 1000, 2500))]

    # -- line items ---------------------------------------------------------------
    @staticmethod
    def entry(p, v):
        return (p.id, v.id, v.sku, p.title, v.title, to_cents(v.price), p.vendor)

    def build_pool(self):
        pool = [self.entry(p, v) for p in self.shop.iter_products() for v in p.variants]
        self.rng.shuffle(pool)          # popularity below is by pool position
        self.pool = pool

    def pick_entry(self, live=False):
        rng = self.rng
        r = rng.random()
        if r < 0.01 or not (self.pool if not live else self.shop.order):
            return rng.choice(self.customs)
        if live:
            p = self.shop.products[rng.choice(self.shop.order)]
            e = self.entry(p, rng.choice(p.variants))
        else:
            e = self.pool[int(len(self.pool) * rng.random() ** 2)]
        if r < 0.02:                     # a variant deleted since: no variant_id
            e = (e[0], None) + e[2:]
        return e

    def lines(self, live=False):
        rng = self.rng
        k = 1 + int(self.lines_max * rng.random() ** 2)
        out, seen = [], set()
        for _ in range(min(k, self.lines_max)):
            e = self.pick_entry(live)
            if e[1] is not None and e[1] in seen:
                continue
            seen.add(e[1])
            q = rng.choice((1, 1, 1, 1, 1, 1, 2, 2, 2, 3, 4))
            out.append((self.shop.alloc_id(), e, q))
        return tuple(out)

    # -- one order ----------------------------------------------------------------
    def new_order(self, created, processed, live=False):
        rng, book = self.rng, self.book
        o = Order()
        o.id = self.shop.alloc_id()
        o.number = book.next_number
        book.next_number += 1
        o.created_at, o.processed_at = created, processed
        o.updated_at = processed
        o.cancelled_at = o.cancel_reason = o.closed_at = None
        o.lines = self.lines(live)
        o.subtotal = sum(e[E_PRICE] * q for _, e, q in o.lines)
        o.discount_code = None
        o.discount = 0
        if o.subtotal and rng.random() < 0.2:
            o.discount_code = rng.randrange(len(DISCOUNT_CODES))
            _, kind, v = DISCOUNT_CODES[o.discount_code]
            o.discount = min(o.subtotal, v) if kind == "fixed_amount" else \
                (o.subtotal * v + 50) // 100
        o.tax_rate = rng.randrange(len(TAX_RATES))
        o.tax = ((o.subtotal - o.discount) * TAX_RATES[o.tax_rate][0] + 5000) // 10000
        o.refunds = ()
        o.fulfillment = None
        o.tags = rng.choice(TAGS)
        o.note = None if rng.random() < 0.9 else "Please leave at the door"
        o.financial = "paid"
        return o

    def refund(self, o, cents, ts, fail_only=False):
        a = self.shop.alloc_id
        rid = a()
        txns = []
        if fail_only or self.rng.random() < FAIL_TXN_P:
            txns.append((a(), cents, "failure"))
        if not fail_only:
            txns.append((a(), cents, "success"))
        o.refunds = o.refunds + ((rid, ts, tuple(txns)),)

    def settle_financial(self, o):
        """financial status from the successful refunds (paid orders)."""
        ref = o.refunded()
        if ref and ref >= o.total:
            o.financial = "refunded"
        elif ref:
            o.financial = "partially_refunded"

    def initial(self, created, anchor):
        """A complete historical order created at `created` (<= anchor)."""
        rng = self.rng
        processed = created if rng.random() < 0.7 else \
            min(anchor, created + rng.randint(1, 900))
        o = self.new_order(created, processed)

        def t(lo, hi):                      # an event after processing
            return min(anchor, processed + rng.randint(lo, hi))

        total = o.total
        last = processed
        r = rng.random()
        if r < self.cancel_rate:
            o.cancelled_at = o.closed_at = last = t(600, 3 * DAY)
            o.cancel_reason = rng.choice(CANCEL_REASONS)
            if total and rng.random() < 0.5:          # captured, then refunded
                if total >= 2 and rng.random() < 0.3:
                    part = rng.randint(1, total - 1)
                    self.refund(o, part, min(o.cancelled_at, t(300, DAY)))
                    self.refund(o, total - part, o.cancelled_at)
                else:
                    self.refund(o, total, o.cancelled_at)
                o.financial = "refunded"
            else:
                o.financial = "voided"
        elif r < self.cancel_rate + self.refund_rate and total >= 2:
            n_ref = 1 if rng.random() < 0.7 or total < 3 else 2
            if rng.random() < 0.3:                    # refunded in full
                a1 = total if n_ref == 1 else rng.randint(1, total - 1)
                amounts = [a1] if n_ref == 1 else [a1, total - a1]
            else:                                     # partially
                a1 = rng.randint(1, total - n_ref)
                amounts = [a1] if n_ref == 1 else [a1, rng.randint(1, total - a1 - 1)]
            when = sorted(t(3600, 25 * DAY) for _ in amounts)
            for amt, ts in zip(amounts, when):
                self.refund(o, amt, ts)
            self.settle_financial(o)
            last = max(when[-1], self._fulfil(o, t, anchor))
        else:
            s = rng.random()
            o.financial = "pending" if s < 0.03 else "authorized" if s < 0.06 else "paid"
            if o.financial == "paid":
                last = max(last, self._fulfil(o, t, anchor))
                if total and rng.random() < FAIL_ONLY_P:
                    ts = t(3600, 10 * DAY)
                    self.refund(o, rng.randint(1, total), ts, fail_only=True)
                    last = max(last, ts)
        o.updated_at = last if rng.random() < 0.5 else \
            min(anchor, last + rng.randint(1, 7200))
        return o

    def _fulfil(self, o, t, anchor):
        """Maybe fulfil (and close) o; returns the time of the last event or 0."""
        rng = self.rng
        f = rng.random()
        if f < 0.65:
            o.fulfillment = "fulfilled"
        elif f < 0.73 and o.units() >= 2:
            o.fulfillment = "partial"
        else:
            return 0
        when = t(3600, 5 * DAY)
        if o.fulfillment == "fulfilled" and o.financial in ("paid", "refunded") \
                and rng.random() < 0.7:
            o.closed_at = when = min(anchor, when + rng.randint(0, 3600))
        return when

    # -- mutations ---------------------------------------------------------------------
    def cancel(self, o, ts, reason=None):
        if o.cancelled_at is not None:
            raise MutationError("order %d is already cancelled" % o.id)
        o.cancelled_at = ts
        if o.closed_at is None:
            o.closed_at = ts
        o.cancel_reason = reason or self.rng.choice(CANCEL_REASONS)
        rest = o.total - o.refunded()
        if o.financial in ("paid", "partially_refunded") and rest > 0:
            self.refund(o, rest, ts)
            o.financial = "refunded"
        elif o.financial != "refunded":
            o.financial = "voided"
        o.updated_at = ts

    def add_refund(self, o, ts, cents=None, fail_only=False):
        rest = o.total - o.refunded()
        if o.cancelled_at is not None or o.financial not in ("paid", "partially_refunded") \
                or rest <= 0:
            raise MutationError("order %d cannot be refunded (%s%s)" % (
                o.id, o.financial, ", cancelled" if o.cancelled_at else ""))
        if cents is None:
            cents = rest if rest < 2 or self.rng.random() < 0.3 else \
                self.rng.randint(1, rest - 1)
        if not 0 < cents <= rest:
            raise MutationError("refund amount must be within 0.01..%d.%02d"
                                % divmod(rest, 100))
        self.refund(o, cents, ts, fail_only)
        self.settle_financial(o)
        o.updated_at = ts

    def update(self, o, ts, spec=None):
        rng = self.rng
        if spec:
            if "fulfillment_status" in spec:
                if spec["fulfillment_status"] not in (None, "fulfilled", "partial"):
                    raise MutationError("fulfillment_status: null, fulfilled or partial")
                o.fulfillment = spec["fulfillment_status"]
            if "tags" in spec:
                o.tags = str(spec["tags"])
            if "note" in spec:
                o.note = spec["note"]
            if spec.get("financial_status") == "paid":
                if o.financial not in ("pending", "authorized"):
                    raise MutationError("only pending/authorized orders can be captured")
                o.financial = "paid"
            if "closed" in spec:
                if not spec["closed"] and o.cancelled_at is not None:
                    raise MutationError("a cancelled order stays closed")
                o.closed_at = ts if spec["closed"] else None
        else:
            if o.financial in ("pending", "authorized") and rng.random() < 0.6:
                o.financial = "paid"
            elif o.fulfillment is None and o.cancelled_at is None:
                o.fulfillment = "fulfilled" if o.units() < 2 or rng.random() < 0.6 \
                    else "partial"
            elif o.fulfillment == "partial":
                o.fulfillment = "fulfilled"
            if rng.random() < 0.5:
                o.tags = rng.choice([t for t in TAGS if t != o.tags] or [""])
            if o.fulfillment == "fulfilled" and o.closed_at is None \
                    and o.financial == "paid" and rng.random() < 0.3:
                o.closed_at = ts
        o.updated_at = ts


def generate(shop, cfg, now=None):
    """Create shop.orders from the shop's "orders" config (may be None)."""
    book = OrderBook(shop, cfg)
    shop.orders = book
    shop.order_gen = None
    if not cfg:
        return book
    t0 = time.monotonic()
    n = _num(cfg, "count", 0, 0, 10 ** 7, integer=True)
    days = _num(cfg, "days", 120, 1 / 24.0, 3650)
    anchor = int(cfg.get("now") or now or time.time())
    rng = random.Random("orders:%s" % cfg.get("seed", 1))
    gen = OrderGen(shop, book, rng, cfg)
    span = int(days * DAY)
    with shop.lock:
        gen.build_pool()
        created = sorted(anchor - span + int(span * rng.random()) for _ in range(n))
        for c in created:
            book.add(gen.initial(c, anchor))
        gen.pool = None                  # release the snapshots not used by orders
        shop.max_ts = max(shop.max_ts, anchor)
    shop.order_gen = gen
    book.gen_seconds = time.monotonic() - t0
    return book


def mutate(shop, spec):
    """Apply an orders_mutate request; returns the JSON-able summary."""
    book = shop.orders
    res = {"created": [], "updated": [], "cancelled": [], "refunded": []}
    counts = {}
    for k in ("create", "update", "cancel", "refund"):
        v = spec.get(k, 0)
        if isinstance(v, bool) or not isinstance(v, int) or v < 0:
            raise MutationError("%s must be a non-negative integer" % k)
        counts[k] = v
    with shop.lock:
        book.mutations += 1
        ts = shop.now_ts()
        seed = spec.get("seed")
        rng = random.Random("orders/%s/%s/%s" % (shop.domain, "auto" if seed is None
                                                 else seed,
                                                 book.mutations if seed is None else ""))
        gen = shop.order_gen or OrderGen(shop, book, rng, book.cfg)
        shop.order_gen = gen
        gen.rng, saved = rng, gen.rng
        touched = set()
        try:
            for op in spec.get("ops") or []:
                _explicit(gen, book, op, ts, res, touched)
            free = [i for i in book.ids if i not in touched]
            live = [i for i in free if book.orders[i].cancelled_at is None]
            if counts["cancel"] > len(live):
                raise MutationError("only %d orders can be cancelled" % len(live))
            for oid in rng.sample(live, counts["cancel"]):
                gen.cancel(book.orders[oid], ts)
                res["cancelled"].append(oid)
                touched.add(oid)
            refundable = [i for i in live if i not in touched and book.orders[i].financial
                          in ("paid", "partially_refunded")
                          and book.orders[i].total > book.orders[i].refunded()]
            if counts["refund"] > len(refundable):
                raise MutationError("only %d orders can be refunded" % len(refundable))
            for oid in rng.sample(refundable, counts["refund"]):
                gen.add_refund(book.orders[oid], ts)
                res["refunded"].append(oid)
                touched.add(oid)
            rest = [i for i in live if i not in touched]
            if counts["update"] > len(rest):
                raise MutationError("only %d orders can be updated" % len(rest))
            for oid in rng.sample(rest, counts["update"]):
                gen.update(book.orders[oid], ts)
                res["updated"].append(oid)
                touched.add(oid)
            for _ in range(counts["create"]):
                o = gen.new_order(ts, ts, live=True)
                s = rng.random()
                o.financial = "pending" if s < 0.05 else "authorized" if s < 0.1 else "paid"
                book.add(o)
                res["created"].append(o.id)
                touched.add(o.id)
        finally:
            gen.rng = saved
            book.changed()
        res["touched"] = sorted(touched)
        for hook in HOOKS:
            hook(shop, res, ts)
        res["ts"] = ts
        res["updated_at"] = fmt_ts(ts, 0)
        res["order_count"] = len(book)
    return res


def _explicit(gen, book, op, ts, res, touched):
    kind = op.get("op")
    oid = op.get("order_id")
    if kind == "create":
        o = gen.new_order(ts, ts, live=True)
        for k in ("tags", "note"):
            if k in op:
                setattr(o, k, op[k])
        book.add(o)
        res["created"].append(o.id)
        touched.add(o.id)
        return
    o = book.orders.get(oid)
    if o is None:
        raise MutationError("no order %r" % (oid,))
    if kind == "update":
        gen.update(o, ts, {k: v for k, v in op.items() if k not in ("op", "order_id")}
                   or None)
        res["updated"].append(oid)
    elif kind == "cancel":
        gen.cancel(o, ts, op.get("reason"))
        res["cancelled"].append(oid)
    elif kind == "refund":
        amt = op.get("amount")
        try:
            cents = None if amt is None else to_cents(str(amt))
        except (ArithmeticError, ValueError):
            raise MutationError("refund amount must be a decimal string like \"5.00\"")
        gen.add_refund(o, ts, cents, fail_only=op.get("status") == "failure")
        res["refunded"].append(oid)
    elif kind == "touch":
        o.updated_at = ts
        res["updated"].append(oid)
    else:
        raise MutationError("unknown op %r (create, update, cancel, refund, touch)" % kind)
    touched.add(oid)
