"""GraphQL order operations (registered on graphql.OPERATIONS).

  query ShopifySyncOrdersCount($query)                 cost 1
  query ShopifySyncOrders($first, $after, $query, $linesFirst)
        requested 2 + first*(3 + 2*linesFirst); actual 2 + sum(3 + 2*lines returned)
  query ShopifySyncOrderLines($id, $first, $after)     cost 3 + 2*first

Orders of every status, sorted by (updated_at, id); the signed cursor holds
the last (updated_at, id) and the query it was issued for, as for products.
The search query accepts only updated_at:>= / > (graphql.parse_search).
Amounts are GraphQL Decimals (orders.gql_decimal: "12.5", "10.0"), statuses
upper case, timestamps UTC.  ``ordersCount`` without ``limit: null`` in the
query text is capped at 10000 with precision AT_LEAST, as on Shopify.
"""
import bisect
import re

from .graphql import (GqlError, SORT_RE, decode_cursor, encode_cursor, operation,
                      parse_gid, parse_search, search_start)
from .orders import E_PID, E_PRICE, E_SKU, E_TITLE, E_VID, book_of
from .timefmt import fmt_utc

ORDER_GID = "gid://shopify/Order/%d"
FULFILLMENT_GQL = {None: "UNFULFILLED", "fulfilled": "FULFILLED",
                   "partial": "PARTIALLY_FULFILLED"}
COUNT_LIMIT = 10000
LIMIT_NULL_RE = re.compile(r"\blimit\s*:\s*null\b")


def order_fields(o, book):
    amt = book.gql_amount
    cur = book.currency
    return {
        "id": ORDER_GID % o.id, "name": "#%d" % (1000 + o.number),
        "createdAt": fmt_utc(o.created_at), "processedAt": fmt_utc(o.processed_at),
        "updatedAt": fmt_utc(o.updated_at), "cancelledAt": fmt_utc(o.cancelled_at),
        "displayFinancialStatus": o.financial.upper(),
        "displayFulfillmentStatus": FULFILLMENT_GQL[o.fulfillment],
        "currencyCode": cur,
        "totalPriceSet": {"shopMoney": {"amount": amt(o.total), "currencyCode": cur}},
        "subtotalPriceSet": {"shopMoney": {"amount": amt(o.subtotal)}},
        "totalTaxSet": {"shopMoney": {"amount": amt(o.tax)}},
        "totalDiscountsSet": {"shopMoney": {"amount": amt(o.discount)}},
        "totalRefundedSet": {"shopMoney": {"amount": amt(o.refunded())}}}


def line_node(line, book):
    lid, e, qty = line
    return {"id": "gid://shopify/LineItem/%d" % lid, "sku": e[E_SKU],
            "title": e[E_TITLE], "quantity": qty,
            "variant": None if e[E_VID] is None
            else {"id": "gid://shopify/ProductVariant/%d" % e[E_VID]},
            "product": None if e[E_PID] is None
            else {"id": "gid://shopify/Product/%d" % e[E_PID]},
            "originalUnitPriceSet": {"shopMoney": {"amount": book.gql_amount(e[E_PRICE])}}}


def lines_connection(shop, book, o, first, start=0):
    ls = o.lines[start:start + first]
    end = None
    if ls:
        end = encode_cursor(shop, {"t": "lines", "o": o.id, "l": ls[-1][0],
                                   "k": start + len(ls) - 1})
    return {"pageInfo": {"hasNextPage": start + len(ls) < len(o.lines),
                         "endCursor": end},
            "nodes": [line_node(ln, book) for ln in ls]}, len(ls)


# -- ordersCount ------------------------------------------------------------------------
def _prepare_count(ctx):
    ctx.args["filter"] = parse_search(ctx.shop, ctx.str_var("query"))
    return 1


@operation("ShopifySyncOrdersCount", cost=_prepare_count)
def op_orders_count(ctx):
    shop = ctx.shop
    book = book_of(shop)
    with shop.lock:
        keys = book.sorted_keys()
        n = len(keys) - search_start(keys, ctx.args["filter"])
    precision = "EXACT"
    if n > COUNT_LIMIT and not LIMIT_NULL_RE.search(ctx.text):
        n, precision = COUNT_LIMIT, "AT_LEAST"
    return {"ordersCount": {"count": n, "precision": precision}}, 1


# -- orders -------------------------------------------------------------------------------
def _prepare_orders(ctx):
    first = ctx.int_var("first")
    lfirst = ctx.int_var("linesFirst")
    requested = 2 + first * (3 + 2 * lfirst)
    ctx.args["requested"] = requested
    q = ctx.str_var("query")
    flt = parse_search(ctx.shop, q)
    after = ctx.str_var("after")
    cur = None
    if after is not None:
        c = decode_cursor(ctx.shop, after, "orders")
        if c.get("q") != q:
            raise GqlError("Invalid cursor for current pagination: the cursor was "
                           "issued for query %r, not %r" % (c.get("q"), q),
                           "BAD_REQUEST", argument="after")
        cur = (c["u"], c["i"])
    if not SORT_RE.search(ctx.text):
        raise GqlError("The test stand-in implements orders(...) only with "
                       "sortKey: UPDATED_AT", "BAD_REQUEST", argument="sortKey")
    ctx.args.update(first=first, lfirst=lfirst, q=q, filter=flt, cursor=cur)
    return requested


@operation("ShopifySyncOrders", cost=_prepare_orders)
def op_orders(ctx):
    a = ctx.args
    shop = ctx.shop
    book = book_of(shop)
    actual = 2
    nodes = []
    with shop.lock:
        keys = book.sorted_keys()
        start = search_start(keys, a["filter"])
        if a["cursor"] is not None:
            start = max(start, bisect.bisect_right(keys, tuple(a["cursor"])))
        page = keys[start:start + a["first"]]
        more = start + len(page) < len(keys)
        for _, oid in page:
            o = book.orders[oid]
            node = order_fields(o, book)
            node["lineItems"], nl = lines_connection(shop, book, o, a["lfirst"])
            nodes.append(node)
            actual += 3 + 2 * nl
    end = None
    if page:
        u, i = page[-1]
        end = encode_cursor(shop, {"t": "orders", "u": u, "i": i, "q": a["q"]})
    return {"orders": {"pageInfo": {"hasNextPage": more, "endCursor": end},
                       "nodes": nodes}}, actual


# -- one order's line items ------------------------------------------------------------------
def _prepare_lines(ctx):
    first = ctx.int_var("first")
    ctx.args["requested"] = 3 + 2 * first
    gid = ctx.str_var("id", "ID", required=True)
    oid = parse_gid(gid, "Order")
    if oid is None:
        raise GqlError("Invalid global id '%s'" % gid, "BAD_REQUEST", argument="id")
    after = ctx.str_var("after")
    cur = None
    if after is not None:
        cur = decode_cursor(ctx.shop, after, "lines")
        if cur["o"] != oid:
            raise GqlError("Invalid cursor for current pagination: the cursor "
                           "belongs to another order", "BAD_REQUEST", argument="after")
    ctx.args.update(first=first, oid=oid, cursor=cur)
    return 3 + 2 * first


@operation("ShopifySyncOrderLines", cost=_prepare_lines)
def op_order_lines(ctx):
    a = ctx.args
    shop = ctx.shop
    book = book_of(shop)
    requested = 3 + 2 * a["first"]
    with shop.lock:
        o = book.orders.get(a["oid"])
        if o is None:
            return {"order": None}, requested
        start = 0
        cur = a["cursor"]
        if cur is not None:
            idx = next((k for k, ln in enumerate(o.lines) if ln[0] == cur["l"]), None)
            start = (idx if idx is not None else cur["k"]) + 1
        node = order_fields(o, book)
        node["lineItems"], _ = lines_connection(shop, book, o, a["first"], start)
    return {"order": node}, requested
