"""Draft orders: a connection the extension does not know, for the resources a
user declares (shopify_define_resource).

Per shop config key "draft_orders": {"count": n, "seed": s, "lines_max": k}.
The root field draftOrders(first:, after:, query:, sortKey:, reverse:) lists
them by id (Shopify's default sortKey ID); the search query accepts only
updated_at:>= / > (graphql.parse_search), alone.  DraftOrder objects carry
the common scalar fields, totalPriceSet, and lineItems(first:, after:)
(DraftOrderLineItem: id, name, title, sku, quantity, originalUnitPriceSet).
Cursors are signed and remember the query they were issued for.

Control API (tests): GET /_control/shops/<d>/draft_orders (every live draft
order with its lines, as GraphQL ids), POST .../draft_orders with
{"add": n, "update": [ids], "delete": [ids]} (updated_at moves to now).
"""
import bisect
import random

from .gqlexec import GqlError, node_loader, root_field
from .graphql import (connection, decode_cursor, encode_cursor, page_size, parse_gid,
                      parse_search, _saved_search)
from .routing import ROUTER, HttpError, Response
from .timefmt import fmt_utc

DRAFT_GID = "gid://shopify/DraftOrder/%d"
LINE_GID = "gid://shopify/DraftOrderLineItem/%d"
STATUSES = ("OPEN", "INVOICE_SENT", "COMPLETED")


class Draft:
    __slots__ = ("id", "number", "status", "note", "created_at", "updated_at", "lines")


class DraftBook:
    def __init__(self, shop, cfg):
        cfg = cfg or {}
        self.shop = shop
        self.rng = random.Random("drafts:%s" % cfg.get("seed", 1))
        self.lines_max = int(cfg.get("lines_max", 3))
        self.drafts = {}
        self.number = 0
        self.next_line = 1
        n = int(cfg.get("count", 0))
        if not 0 <= n <= 100000:
            raise ValueError("draft_orders.count must be between 0 and 100000")
        t0 = 1767225600          # 2026-01-01
        for i in range(n):
            self.add(t0 + 3600 * i)

    def _ids(self, n):
        base = self.shop.alloc_block(n)
        return list(range(base, base + n))

    def add(self, ts):
        d = Draft()
        d.id = self._ids(1)[0]
        self.number += 1
        d.number = self.number
        d.status = self.rng.choice(STATUSES)
        d.note = self.rng.choice([None, "call first", "gift wrap"])
        d.created_at = d.updated_at = ts
        d.lines = []
        for _ in range(self.rng.randint(0, self.lines_max)):
            d.lines.append((self.next_line * 7 + 900000000, "Item %d" % self.next_line,
                            "SKU-%d" % self.next_line, self.rng.randint(1, 5),
                            self.rng.randint(100, 9999)))
            self.next_line += 1
        self.drafts[d.id] = d
        return d

    def sorted_ids(self):
        return sorted(self.drafts)


def book_of(shop):
    b = getattr(shop, "draft_orders", None)
    if b is None:
        with shop.lock:
            b = getattr(shop, "draft_orders", None)
            if b is None:
                b = shop.draft_orders = DraftBook(shop, None)
    return b


def generate(shop, cfg):
    shop.draft_orders = DraftBook(shop, cfg)


def _money(cents):
    amount = "%d.%02d" % divmod(cents, 100)
    if amount.endswith(".00"):
        amount = amount[:-3] + ".0"
    m = {"__typename": "MoneyV2", "amount": amount, "currencyCode": "USD"}
    return {"__typename": "MoneyBag", "shopMoney": m, "presentmentMoney": m}


def line_node(ln):
    lid, title, sku, qty, cents = ln
    return {"__typename": "DraftOrderLineItem", "id": LINE_GID % lid, "name": title,
            "title": title, "sku": sku, "quantity": qty, "custom": True,
            "originalUnitPriceSet": _money(cents)}


DRAFT_LAZY = {"lineItems": lambda ctx, f, d: lines_connection(ctx, d["__rec__"], f)}


def draft_obj(d):
    total = sum(ln[3] * ln[4] for ln in d.lines)
    return {"__typename": "DraftOrder", "id": DRAFT_GID % d.id,
            "legacyResourceId": str(d.id), "name": "#D%d" % d.number,
            "status": d.status, "note2": d.note, "email": None, "taxExempt": False,
            "createdAt": fmt_utc(d.created_at), "updatedAt": fmt_utc(d.updated_at),
            "totalPriceSet": _money(total), "subtotalPriceSet": _money(total),
            "__rec__": d, "__lazy__": DRAFT_LAZY}


def lines_connection(ctx, d, f):
    first = page_size(ctx, f, "lineItems")
    start = 0
    after = f.args.get("after")
    if after is not None:
        c = decode_cursor(ctx.shop, after, "dlines")
        if c["d"] != d.id:
            raise GqlError("Invalid cursor for current pagination", "BAD_REQUEST",
                           argument="after")
        start = c["k"] + 1
    ls = d.lines[start:] if first is None else d.lines[start:start + first]

    def cursor_of(i):
        return encode_cursor(ctx.shop, {"t": "dlines", "d": d.id, "k": start + i})
    return connection("DraftOrderLineItemConnection", [line_node(ln) for ln in ls],
                      start + len(ls) < len(d.lines), cursor_of, start > 0)


@root_field("draftOrders")
def rf_draft_orders(ctx, f):
    shop = ctx.shop
    book = book_of(shop)
    a = f.args
    first = page_size(ctx, f, "draftOrders")
    _saved_search(f, "draftOrders")
    if a.get("sortKey") not in (None, "ID"):
        raise GqlError("The test stand-in implements draftOrders(...) only sorted by ID",
                       "BAD_REQUEST", argument="sortKey")
    q = a.get("query")
    flt = parse_search(shop, q)
    with shop.lock:
        ids = [i for i in book.sorted_ids()
               if flt is None or (book.drafts[i].updated_at >= flt[1] if flt[0] == ">="
                                  else book.drafts[i].updated_at > flt[1])]
        start = 0
        after = a.get("after")
        if after is not None:
            c = decode_cursor(shop, after, "drafts")
            if c.get("q") != q:
                raise GqlError("Invalid cursor for current pagination: the cursor was "
                               "issued for another query", "BAD_REQUEST", argument="after")
            start = bisect.bisect_right(ids, c["i"])
        page = ids[start:] if first is None else ids[start:start + first]
        nodes = [draft_obj(book.drafts[i]) for i in page]

    def cursor_of(i):
        return encode_cursor(shop, {"t": "drafts", "i": page[i], "q": q})
    return connection("DraftOrderConnection", nodes, start + len(page) < len(ids), cursor_of,
                      start > 0)


@node_loader("DraftOrder")
def load_draft(ctx, did):
    d = book_of(ctx.shop).drafts.get(did)
    return draft_obj(d) if d is not None else None


@root_field("draftOrder")
def rf_draft_order(ctx, f):
    did = parse_gid(f.args.get("id"), "DraftOrder")
    return load_draft(ctx, did) if did is not None else None


# -- control ---------------------------------------------------------------------------
SHOP = r"/_control/shops/(?P<domain>[^/]+)/draft_orders"


def _shop(req):
    from urllib.parse import unquote
    return req.state.shop(unquote(req.match["domain"]))


@ROUTER.control("GET", SHOP)
def list_drafts(req):
    shop = _shop(req)
    book = book_of(shop)
    with shop.lock:
        out = [{"id": DRAFT_GID % d.id, "name": "#D%d" % d.number, "status": d.status,
                "updatedAt": fmt_utc(d.updated_at),
                "lines": [{"id": LINE_GID % ln[0], "quantity": ln[3], "title": ln[1]}
                          for ln in d.lines]}
               for d in (book.drafts[i] for i in book.sorted_ids())]
    return Response(200, {"draft_orders": out})


@ROUTER.control("POST", SHOP)
def change_drafts(req):
    shop = _shop(req)
    book = book_of(shop)
    body = req.json() or {}
    res = {"added": [], "updated": [], "deleted": []}
    with shop.lock:
        for _ in range(int(body.get("add", 0))):
            res["added"].append(DRAFT_GID % book.add(shop.now_ts()).id)
        for gid in body.get("update", []):
            did = parse_gid(gid, "DraftOrder")
            d = book.drafts.get(did)
            if d is None:
                raise HttpError(400, "no draft order %s" % gid)
            d.status = "COMPLETED" if d.status != "COMPLETED" else "OPEN"
            d.updated_at = shop.now_ts()
            if d.lines:
                lid, title, sku, qty, cents = d.lines[0]
                d.lines[0] = (lid, title, sku, qty + 1, cents)
            res["updated"].append(gid)
        for gid in body.get("delete", []):
            did = parse_gid(gid, "DraftOrder")
            if book.drafts.pop(did, None) is None:
                raise HttpError(400, "no draft order %s" % gid)
            res["deleted"].append(gid)
    return Response(200, res)
