"""GraphQL order root fields (gqlexec.root_field): ordersCount, orders, order,
and node(id:) for Order gids.

Orders of every status, sorted by (updated_at, id); the signed cursor holds
the last (updated_at, id) and the query it was issued for, as for products.
The search query accepts only updated_at:>= / > (graphql.parse_search), and
orders(...) needs sortKey: UPDATED_AT.  Amounts are GraphQL Decimals
(orders.gql_decimal: "12.5", "10.0") in MoneyBags, statuses upper case,
timestamps UTC.  ``ordersCount`` is capped at its ``limit:`` (10000 by
default) with precision AT_LEAST; ``limit: null`` counts exactly.
Line items carry ``variant { id }`` and ``product { id }`` only (the ordered
variant's ids; null for custom items and lost variants).
"""
import bisect

from .gqlexec import GqlError, node_loader, root_field
from .graphql import (connection, count_obj, decode_cursor, encode_cursor, page_size,
                      parse_gid, parse_search, require_sort, search_start, tags_list,
                      _saved_search)
from .orders import E_PID, E_PRICE, E_SKU, E_TITLE, E_VENDOR, E_VID, E_VTITLE, book_of
from .timefmt import fmt_utc

ORDER_GID = "gid://shopify/Order/%d"
FULFILLMENT_GQL = {None: "UNFULFILLED", "fulfilled": "FULFILLED",
                   "partial": "PARTIALLY_FULFILLED"}


def money_bag(amount, cur):
    m = {"__typename": "MoneyV2", "amount": amount, "currencyCode": cur}
    return {"__typename": "MoneyBag", "shopMoney": m, "presentmentMoney": m}


def order_fields(o, book):
    amt = book.gql_amount
    cur = book.currency
    return {
        "__typename": "Order",
        "id": ORDER_GID % o.id, "legacyResourceId": str(o.id),
        "name": "#%d" % (1000 + o.number),
        "createdAt": fmt_utc(o.created_at), "processedAt": fmt_utc(o.processed_at),
        "updatedAt": fmt_utc(o.updated_at), "cancelledAt": fmt_utc(o.cancelled_at),
        "closedAt": fmt_utc(o.closed_at), "closed": o.closed_at is not None,
        "cancelReason": o.cancel_reason.upper() if o.cancel_reason else None,
        "displayFinancialStatus": o.financial.upper(),
        "displayFulfillmentStatus": FULFILLMENT_GQL[o.fulfillment],
        "currencyCode": cur, "presentmentCurrencyCode": cur,
        "tags": tags_list(o.tags), "note": o.note, "email": None, "test": False,
        "totalPriceSet": money_bag(amt(o.total), cur),
        "subtotalPriceSet": money_bag(amt(o.subtotal), cur),
        "totalTaxSet": money_bag(amt(o.tax), cur),
        "totalDiscountsSet": money_bag(amt(o.discount), cur),
        "totalRefundedSet": money_bag(amt(o.refunded()), cur)}


def line_node(line, book):
    lid, e, qty = line
    return {"__typename": "LineItem",
            "id": "gid://shopify/LineItem/%d" % lid, "sku": e[E_SKU],
            "title": e[E_TITLE], "variantTitle": e[E_VTITLE], "vendor": e[E_VENDOR],
            "name": e[E_TITLE] if not e[E_VTITLE] else "%s - %s" % (e[E_TITLE], e[E_VTITLE]),
            "quantity": qty,
            "variant": None if e[E_VID] is None
            else {"__typename": "ProductVariant",
                  "id": "gid://shopify/ProductVariant/%d" % e[E_VID]},
            "product": None if e[E_PID] is None
            else {"__typename": "Product", "id": "gid://shopify/Product/%d" % e[E_PID]},
            "originalUnitPriceSet": money_bag(book.gql_amount(e[E_PRICE]), book.currency)}


ORDER_LAZY = {"lineItems": lambda ctx, f, d: lines_connection(ctx, *d["__rec__"], f)}


def order_obj(shop, book, o):
    d = order_fields(o, book)
    d["__rec__"] = (book, o)
    d["__lazy__"] = ORDER_LAZY
    return d


def lines_connection(ctx, book, o, f):
    """lineItems(first:, after:) of o (all of them in a bulk export).  A line
    cursor keeps its place by line id."""
    first = page_size(ctx, f, "lineItems")
    shop = ctx.shop
    start = 0
    after = f.args.get("after")
    if after is not None:
        cur = decode_cursor(shop, after, "lines")
        if cur["o"] != o.id:
            raise GqlError("Invalid cursor for current pagination: the cursor "
                           "belongs to another order", "BAD_REQUEST", argument="after")
        idx = next((k for k, ln in enumerate(o.lines) if ln[0] == cur["l"]), None)
        start = (idx if idx is not None else cur["k"]) + 1
    ls = o.lines[start:] if first is None else o.lines[start:start + first]
    nodes = [line_node(ln, book) for ln in ls]

    def cursor_of(i):
        return encode_cursor(shop, {"t": "lines", "o": o.id, "l": ls[i][0], "k": start + i})
    return connection("LineItemConnection", nodes, start + len(ls) < len(o.lines), cursor_of,
                      start > 0)


@root_field("ordersCount")
def rf_orders_count(ctx, f):
    _saved_search(f, "ordersCount")
    flt = parse_search(ctx.shop, f.args.get("query"))
    keys = book_of(ctx.shop).sorted_keys()
    return count_obj(len(keys) - search_start(keys, flt), f)


def order_filter(ctx, f):
    """The `query:` filter of an orders(...) field (also read by bulk exports)."""
    return parse_search(ctx.shop, f.args.get("query"))


@root_field("orders")
def rf_orders(ctx, f):
    shop = ctx.shop
    book = book_of(shop)
    a = f.args
    first = page_size(ctx, f, "orders")
    _saved_search(f, "orders")
    require_sort(f, "orders")
    q = a.get("query")
    flt = parse_search(shop, q)
    keys = book.sorted_keys()
    start = search_start(keys, flt)
    after = a.get("after")
    if after is not None:
        c = decode_cursor(shop, after, "orders")
        if c.get("q") != q:
            raise GqlError("Invalid cursor for current pagination: the cursor was "
                           "issued for query %r, not %r" % (c.get("q"), q),
                           "BAD_REQUEST", argument="after")
        start = max(start, bisect.bisect_right(keys, (c["u"], c["i"])))
    page = keys[start:start + first]
    nodes = [order_obj(shop, book, book.orders[oid]) for _, oid in page]

    def cursor_of(i):
        u, oid = page[i]
        return encode_cursor(shop, {"t": "orders", "u": u, "i": oid, "q": q})
    return connection("OrderConnection", nodes, start + len(page) < len(keys), cursor_of,
                      start > 0)


@root_field("order")
def rf_order(ctx, f):
    oid = parse_gid(f.args.get("id"), "Order")
    return load_order(ctx, oid) if oid is not None else None


@node_loader("Order")
def load_order(ctx, oid):
    book = book_of(ctx.shop)
    o = book.orders.get(oid)
    return order_obj(ctx.shop, book, o) if o is not None else None
