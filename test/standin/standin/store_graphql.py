"""GraphQL for the rest of the store (store.py): root fields locations,
locationsCount, location, inventoryLevel, collections, collectionsCount,
collection, customers, customersCount, customer; node(id:) for Location,
InventoryLevel, Collection, Customer and Metafield; the nested connections
Location.inventoryLevels, Collection.products and ``metafields`` on Product,
ProductVariant, Order, Customer and Shop (with ``metafield(namespace:,
key:)``); Order.customer; and the bulk exports of locations, collections,
customers and productVariants (bulk.EXPORTERS).

Paging: signed keyset cursors that remember the query (and sort key) they
were issued for.  Sort keys: locations NAME (Shopify's default) or ID;
collections and customers ID (default) or UPDATED_AT.  Search: only
``updated_at:>=`` / ``>`` alone (graphql.parse_search), on collections,
customers and Location.inventoryLevels.  Shopify's locations search has no
updated_at field: like Shopify, the stand-in ignores such a term (every
location matches) and says so in ``extensions.search`` (warning "Invalid
search field for this query.").
"""
import bisect
import hashlib
import json

from . import bulk, graphql, orders_graphql
from .gqlexec import GqlError, limitation, node_loader, root_field
from .graphql import (FILTER_RE, connection, count_obj, decode_cursor, encode_cursor,
                      filter_match, page_size, parse_gid, parse_search, product_obj,
                      variant_keys, variant_obj)
from .orders import gql_decimal
from .store import (COLLECTION_GID, CUSTOMER_GID, ITEM_GID, LEVEL_GID, LOCATION_GID,
                    METAFIELD_GID, OWNER_GQL, QUANTITY_NAMES, book_of)
from .store_gen import COUNTRY_NAMES, JSON_TYPES
from .timefmt import fmt_utc

INVALID_FIELD = "Invalid search field for this query."


def _search(ctx, f, supported):
    """The updated_at filter of f's `query:`; a connection without such a
    search field ignores it (a warning in extensions.search, as Shopify)."""
    q = f.args.get("query")
    flt = parse_search(ctx.shop, q)
    if flt is None or supported:
        return flt
    if not ctx.bulk:
        m = FILTER_RE.match(q)
        value = next(g for g in m.groups()[1:] if g is not None)
        ctx.search.append({"path": [f.key], "query": q,
                           "parsed": {"field": "updated_at",
                                      "range_gte" if m.group(1) == ">=" else "range_gt": value},
                           "warnings": [{"field": "updated_at", "message": INVALID_FIELD}]})
    return None


def _bad_cursor(what):
    return GqlError("Invalid cursor for current pagination: the cursor was issued for "
                    "another %s" % what, "BAD_REQUEST", argument="after")


def keyset_connection(ctx, f, what, typename, keys, node_of_key, tag, q):
    """A page of `keys` (ascending tuples, the last element the id) after the
    cursor; the cursor holds the key, the query and the sort key."""
    shop = ctx.shop
    first = page_size(ctx, f, what)
    sort = f.args.get("sortKey")
    start = 0
    after = f.args.get("after")
    if after is not None:
        c = decode_cursor(shop, after, tag)
        if c.get("q") != q or c.get("s") != sort:
            raise _bad_cursor("query or sort key")
        start = bisect.bisect_right(keys, tuple(c["k"]))
    page = keys[start:] if first is None else keys[start:start + first]
    nodes = [node_of_key(k) for k in page]

    def cursor_of(i):
        return encode_cursor(shop, {"t": tag, "k": list(page[i]), "q": q, "s": sort})
    return connection(typename, nodes, start + len(page) < len(keys), cursor_of, start > 0)


def _sort(f, what, allowed):
    s = f.args.get("sortKey")
    if s not in allowed:
        raise limitation("%s(sortKey: %s) (the stand-in sorts by %s)"
                         % (what, s, " or ".join(allowed)))
    return s


def _list_args(f, what):
    if f.args.get("savedSearchId") is not None:
        raise limitation("%s(savedSearchId:)" % what)


# -- locations and inventory levels -----------------------------------------------------
def address_obj(loc):
    parts = [loc.address1, loc.address2,
             " ".join(x for x in (loc.city, loc.province_code, loc.zip) if x),
             COUNTRY_NAMES.get(loc.country_code, loc.country_code)]
    return {"__typename": "LocationAddress", "address1": loc.address1,
            "address2": loc.address2, "city": loc.city, "province": loc.province,
            "provinceCode": loc.province_code,
            "country": COUNTRY_NAMES.get(loc.country_code, loc.country_code),
            "countryCode": loc.country_code, "zip": loc.zip, "phone": loc.phone,
            "latitude": None, "longitude": None, "formatted": [p for p in parts if p]}


def _primary(ctx, f, o):
    book = book_of(ctx.shop)
    act = [loc.id for loc in book.active_locations()]
    return bool(act) and o["__rec__"].id == act[0]


LOCATION_LAZY = {
    "legacyResourceId": lambda ctx, f, o: str(o["__rec__"].id),
    "address": lambda ctx, f, o: address_obj(o["__rec__"]),
    "inventoryLevels": lambda ctx, f, o: levels_connection(ctx, o["__rec__"], f),
    "inventoryLevel": lambda ctx, f, o: _location_level(ctx, o["__rec__"], f),
    "hasActiveInventory": lambda ctx, f, o: bool(o["__rec__"].items),
    "isPrimary": _primary,
}


def location_obj(loc):
    return {"__typename": "Location", "id": LOCATION_GID % loc.id, "name": loc.name,
            "isActive": loc.active, "fulfillsOnlineOrders": loc.fulfills_online,
            "createdAt": fmt_utc(loc.created_at), "updatedAt": fmt_utc(loc.updated_at),
            "deactivatedAt": fmt_utc(loc.deactivated_at), "activatable": not loc.active,
            "deactivatable": loc.active, "deletable": not loc.active,
            "isFulfillmentService": loc.legacy, "shipsInventory": loc.active,
            "addressVerified": True, "hasUnfulfilledOrders": False,
            "__rec__": loc, "__lazy__": LOCATION_LAZY}


def _item_lazy(name):
    def fn(ctx, f, o):
        pv = book_of(ctx.shop).variant_of_item(o["__rec__"])
        if pv is None:
            return None
        p, v = pv
        if name == "sku":
            return v.sku
        if name == "variant":
            return graphql.load_variant(ctx, v.id)
        if name == "createdAt":
            return fmt_utc(v.created_at)
        meta = book_of(ctx.shop).item_meta.get(o["__rec__"], {})
        if name == "updatedAt":
            return fmt_utc(max(meta.get("updated_at", 0), v.updated_at))
        return meta.get("tracked", True)        # tracked
    return fn


ITEM_LAZY = {k: _item_lazy(k) for k in ("sku", "variant", "createdAt", "updatedAt", "tracked")}
ITEM_LAZY["requiresShipping"] = lambda ctx, f, o: True


def item_obj(item):
    return {"__typename": "InventoryItem", "id": ITEM_GID % item,
            "legacyResourceId": str(item), "__rec__": item, "__lazy__": ITEM_LAZY}


def _quantities(ctx, f, o):
    lv = o["__rec__"]
    ts = fmt_utc(lv.updated_at)
    base = "gid://shopify/InventoryQuantity/%d?inventory_item_id=%d&name=" % (
        lv.location_id, lv.item_id)
    return [{"__typename": "InventoryQuantity", "id": base + n, "name": n,
             "quantity": lv.quantity(n), "updatedAt": ts}
            for n in f.args.get("names") or () if n in QUANTITY_NAMES]


LEVEL_LAZY = {
    "item": lambda ctx, f, o: item_obj(o["__rec__"].item_id),
    "location": lambda ctx, f, o: location_obj(
        book_of(ctx.shop).locations[o["__rec__"].location_id]),
    "quantities": _quantities,
}


def level_obj(lv):
    return {"__typename": "InventoryLevel", "id": LEVEL_GID % (lv.location_id, lv.item_id),
            "createdAt": fmt_utc(lv.created_at), "updatedAt": fmt_utc(lv.updated_at),
            "isActive": True, "canDeactivate": True, "deactivationAlert": None,
            "__rec__": lv, "__lazy__": LEVEL_LAZY}


def levels_connection(ctx, loc, f):
    """inventoryLevels(first:, after:, query:) of a location, by inventory item
    id; the query (updated_at:>= / >) filters the levels."""
    shop = ctx.shop
    book = book_of(shop)
    first = page_size(ctx, f, "inventoryLevels")
    q = f.args.get("query")
    flt = _search(ctx, f, True)
    items = loc.items
    start = 0
    after = f.args.get("after")
    if after is not None:
        c = decode_cursor(shop, after, "levels")
        if c.get("l") != loc.id or c.get("q") != q:
            raise _bad_cursor("location or query")
        start = bisect.bisect_right(items, c["i"])
    page, more = [], False
    for k in range(start, len(items)):
        lv = book.levels[items[k]][loc.id]
        if flt is not None and not filter_match(flt, lv.updated_at):
            continue
        if first is not None and len(page) == first:
            more = True
            break
        page.append(lv)

    def cursor_of(i):
        return encode_cursor(shop, {"t": "levels", "l": loc.id, "i": page[i].item_id, "q": q})
    return connection("InventoryLevelConnection", [level_obj(lv) for lv in page], more,
                      cursor_of, start > 0)


def _location_level(ctx, loc, f):
    item = parse_gid(f.args.get("inventoryItemId"), "InventoryItem")
    lv = book_of(ctx.shop).level(item, loc.id) if item is not None else None
    return level_obj(lv) if lv is not None else None


def location_keys(book, sort, inactive, legacy):
    def build():
        locs = [loc for loc in book.locations.values()
                if (inactive or loc.active) and (legacy or not loc.legacy)]
        if sort == "ID":
            return sorted((loc.id,) for loc in locs)
        return sorted((loc.name, loc.id) for loc in locs)
    return book.cached(("locations", sort, inactive, legacy), build)


@root_field("locations")
def rf_locations(ctx, f):
    book = book_of(ctx.shop)
    sort = _sort(f, "locations", ("NAME", "ID"))
    _search(ctx, f, False)
    keys = location_keys(book, sort, bool(f.args.get("includeInactive")),
                         bool(f.args.get("includeLegacy")))
    return keyset_connection(ctx, f, "locations", "LocationConnection", keys,
                             lambda k: location_obj(book.locations[k[-1]]), "locations",
                             f.args.get("query"))


@root_field("locationsCount")
def rf_locations_count(ctx, f):
    book = book_of(ctx.shop)
    _search(ctx, f, False)
    return count_obj(len(book.locations), f)       # every location of the shop


@node_loader("Location")
def load_location(ctx, lid):
    loc = book_of(ctx.shop).locations.get(lid)
    return location_obj(loc) if loc is not None else None


@root_field("location")
def rf_location(ctx, f):
    gid = f.args.get("id")
    if gid is None:                          # Shopify: the shop's primary location
        act = book_of(ctx.shop).active_locations()
        return location_obj(act[0]) if act else None
    lid = parse_gid(gid, "Location")
    return load_location(ctx, lid) if lid is not None else None


@node_loader("InventoryLevel", raw=True)
def load_level(ctx, rest):
    """InventoryLevel/<location id>?inventory_item_id=<item id>."""
    num, _, qs = rest.partition("?")
    if not num.isdigit() or not qs.startswith("inventory_item_id=") \
            or not qs[len("inventory_item_id="):].isdigit():
        return None
    lv = book_of(ctx.shop).level(int(qs[len("inventory_item_id="):]), int(num))
    return level_obj(lv) if lv is not None else None


@root_field("inventoryLevel")
def rf_inventory_level(ctx, f):
    gid = f.args.get("id") or ""
    prefix = "gid://shopify/InventoryLevel/"
    return load_level(ctx, gid[len(prefix):]) if gid.startswith(prefix) else None


# -- collections -----------------------------------------------------------------------
COND_TYPES = {"TAG": "ProductTag", "TITLE": "ProductTitle", "TYPE": "ProductType",
              "VENDOR": "ProductVendor", "VARIANT_PRICE": "VariantPrice",
              "VARIANT_INVENTORY": "VariantInventory"}


def _cond_relation(column, relation):
    if column == "TAG":
        return "TAGGED_WITH" if relation == "EQUALS" else "NOT_TAGGED_WITH"
    return "DOES_NOT_CONTAIN" if relation == "NOT_CONTAINS" else relation


def price_cents(s):
    from .orders import to_cents
    return to_cents(s)


def condition_obj(c, k, rule, currency):
    column, relation, cond = rule
    d = {"__typename": "CollectionSourceInclusionCondition" + COND_TYPES[column],
         "id": "gid://shopify/CollectionSourceInclusionCondition/%d" % (c.id * 100 + k),
         "relation": _cond_relation(column, relation)}
    if column == "VARIANT_PRICE":
        d["value"] = {"__typename": "MoneyV2", "amount": gql_decimal(price_cents(cond)),
                      "currencyCode": currency}
    elif column == "VARIANT_INVENTORY":
        d["value"] = int(cond)
    else:
        d["values"] = [cond]
        d["matchType"] = "ANY"
    return d


def _empty_connection(typename):
    return connection(typename, [], False, lambda i: None)


def source_objs(c, currency):
    """Collection.sources: [] for a custom collection, one conditions source
    (its rules) for a smart one."""
    if not c.smart:
        return []
    inclusion = {"__typename": "CollectionSourceInclusion",
                 "matchType": "ANY" if c.disjunctive else "ALL",
                 "conditions": [condition_obj(c, k, r, currency) for k, r in enumerate(c.rules)],
                 "__lazy__": {"selections": lambda ctx, f, o: _empty_connection(
                     "CollectionInclusionProductSelectionConnection")}}
    return [{"__typename": "CollectionConditionsSource",
             "id": "gid://shopify/CollectionConditionsSource/%d" % c.id,
             "title": c.title, "description": None, "shareable": False,
             "targetType": "PRODUCTS", "app": None, "exclusion": None,
             "inclusion": inclusion, "__rec__": c,
             "__lazy__": {"products": lambda ctx, f, o: collection_products(ctx, o["__rec__"], f)}}]


def rule_set_obj(c):
    if not c.smart:
        return None
    return {"__typename": "CollectionRuleSet", "appliedDisjunctively": c.disjunctive,
            "rules": [{"__typename": "CollectionRule", "column": col, "relation": rel,
                       "condition": cond, "conditionObject": None}
                      for col, rel, cond in c.rules]}


def _descr(html):
    import re
    return re.sub(r"<[^>]*>", "", html or "")


COLLECTION_LAZY = {
    "legacyResourceId": lambda ctx, f, o: str(o["__rec__"].id),
    "ruleSet": lambda ctx, f, o: rule_set_obj(o["__rec__"]),
    "sources": lambda ctx, f, o: source_objs(o["__rec__"], book_of(ctx.shop).currency),
    "products": lambda ctx, f, o: collection_products(ctx, o["__rec__"], f),
    "productsCount": lambda ctx, f, o: count_obj(
        len(book_of(ctx.shop).live_members(o["__rec__"])), f),
    "hasProduct": lambda ctx, f, o: parse_gid(f.args.get("id"), "Product")
    in set(book_of(ctx.shop).live_members(o["__rec__"])),
    "descriptionHtml": lambda ctx, f, o: o["__rec__"].body_html or "",
    "description": lambda ctx, f, o: _descr(o["__rec__"].body_html),
    "metafields": lambda ctx, f, o: _empty_connection("MetafieldConnection"),
}


def collection_obj(c):
    return {"__typename": "Collection", "id": COLLECTION_GID % c.id, "title": c.title,
            "handle": c.handle, "sortOrder": c.sort_order,
            "updatedAt": fmt_utc(c.updated_at), "templateSuffix": c.template_suffix,
            "__rec__": c, "__lazy__": COLLECTION_LAZY}


def collection_products(ctx, c, f):
    """products(first:, after:, sortKey: COLLECTION_DEFAULT) in the collection's
    order; a cursor keeps its place by product id."""
    shop = ctx.shop
    first = page_size(ctx, f, "products")
    if f.args.get("sortKey", "COLLECTION_DEFAULT") != "COLLECTION_DEFAULT":
        raise limitation("Collection.products(sortKey: %s)" % f.args.get("sortKey"))
    members = book_of(shop).live_members(c)
    start = 0
    after = f.args.get("after")
    if after is not None:
        cur = decode_cursor(shop, after, "cproducts")
        if cur.get("c") != c.id:
            raise _bad_cursor("collection")
        try:
            start = members.index(cur["p"]) + 1
        except ValueError:
            start = cur["k"] + 1
    page = members[start:] if first is None else members[start:start + first]
    nodes = [product_obj(shop, shop.products[pid]) for pid in page]

    def cursor_of(i):
        return encode_cursor(shop, {"t": "cproducts", "c": c.id, "p": page[i], "k": start + i})
    return connection("ProductConnection", nodes, start + len(page) < len(members), cursor_of,
                      start > 0)


def updated_keys(book, name, records, sort, flt):
    """[(updated_at, id)] or [(id,)] of records meeting the filter (cached)."""
    def build():
        recs = [r for r in records.values() if filter_match(flt, r.updated_at)]
        if sort == "UPDATED_AT":
            return sorted((r.updated_at, r.id) for r in recs)
        return sorted((r.id,) for r in recs)
    return book.cached((name, sort, None if flt is None else tuple(flt)), build)


@root_field("collections")
def rf_collections(ctx, f):
    book = book_of(ctx.shop)
    _list_args(f, "collections")
    sort = _sort(f, "collections", ("ID", "UPDATED_AT"))
    flt = _search(ctx, f, True)
    keys = updated_keys(book, "collections", book.collections, sort, flt)
    return keyset_connection(ctx, f, "collections", "CollectionConnection", keys,
                             lambda k: collection_obj(book.collections[k[-1]]),
                             "collections", f.args.get("query"))


@root_field("collectionsCount")
def rf_collections_count(ctx, f):
    book = book_of(ctx.shop)
    _list_args(f, "collectionsCount")
    flt = _search(ctx, f, True)
    return count_obj(len(updated_keys(book, "collections", book.collections, "ID", flt)), f)


@node_loader("Collection")
def load_collection(ctx, cid):
    c = book_of(ctx.shop).collections.get(cid)
    return collection_obj(c) if c is not None else None


@root_field("collection")
def rf_collection(ctx, f):
    cid = parse_gid(f.args.get("id"), "Collection")
    return load_collection(ctx, cid) if cid is not None else None


# -- metafields -------------------------------------------------------------------------
def json_value(m):
    t = m.type
    try:
        if t.startswith("list.") or t in JSON_TYPES:
            return json.loads(m.value)
        if t == "number_integer":
            return int(m.value)
        if t == "boolean":
            return m.value == "true"
    except ValueError:
        pass
    return m.value


METAFIELD_LAZY = {
    "legacyResourceId": lambda ctx, f, o: str(o["__rec__"].id),
    "jsonValue": lambda ctx, f, o: json_value(o["__rec__"]),
    "compareDigest": lambda ctx, f, o: hashlib.sha256(
        o["__rec__"].value.encode("utf-8")).hexdigest(),
    "sizeInBytes": lambda ctx, f, o: len(o["__rec__"].value.encode("utf-8")),
    "createdAt": lambda ctx, f, o: fmt_utc(o["__rec__"].created_at),
}


def metafield_obj(m):
    return {"__typename": "Metafield", "id": METAFIELD_GID % m.id, "namespace": m.namespace,
            "key": m.key, "type": m.type, "value": m.value,
            "updatedAt": fmt_utc(m.updated_at), "ownerType": OWNER_GQL[m.owner_type],
            "description": None, "__rec__": m, "__lazy__": METAFIELD_LAZY}


def metafields_connection(ctx, otype, oid, f):
    """metafields(first:, after:, namespace:, keys:) of one owner, by id."""
    shop = ctx.shop
    first = page_size(ctx, f, "metafields")
    ns = f.args.get("namespace")
    keys = f.args.get("keys")
    mfs = [m for m in book_of(shop).owner_metafields(otype, oid)
           if (ns is None or m.namespace == ns)
           and (keys is None or "%s.%s" % (m.namespace, m.key) in keys)]
    start = 0
    after = f.args.get("after")
    if after is not None:
        c = decode_cursor(shop, after, "mf")
        if c.get("o") != [otype, oid] or c.get("n") != ns or c.get("ks") != keys:
            raise _bad_cursor("owner or filter")
        start = bisect.bisect_right([m.id for m in mfs], c["i"])
    page = mfs[start:] if first is None else mfs[start:start + first]

    def cursor_of(i):
        return encode_cursor(shop, {"t": "mf", "o": [otype, oid], "i": page[i].id, "n": ns,
                                    "ks": keys})
    return connection("MetafieldConnection", [metafield_obj(m) for m in page],
                      start + len(page) < len(mfs), cursor_of, start > 0)


def metafield_single(ctx, otype, oid, f):
    ns = f.args.get("namespace")
    key = f.args.get("key")
    if ns is None and "." in (key or ""):
        ns, key = key.split(".", 1)
    for m in book_of(ctx.shop).owner_metafields(otype, oid):
        if m.key == key and (ns is None or m.namespace == ns):
            return metafield_obj(m)
    return None


def _owner_lazy(otype, oid_of):
    return (lambda ctx, f, o: metafields_connection(ctx, otype, oid_of(o), f),
            lambda ctx, f, o: metafield_single(ctx, otype, oid_of(o), f))


for _lazy, _ot, _oid in ((graphql.PRODUCT_LAZY, "product", lambda o: o["__rec__"].id),
                         (graphql.VARIANT_LAZY, "variant", lambda o: o["__rec__"][1].id),
                         (orders_graphql.ORDER_LAZY, "order", lambda o: o["__rec__"][1].id),
                         (graphql.SHOP_LAZY, "shop", lambda o: o["__rec__"].shop_id)):
    _lazy["metafields"], _lazy["metafield"] = _owner_lazy(_ot, _oid)


@node_loader("Metafield")
def load_metafield(ctx, mid):
    m = book_of(ctx.shop).metafields.get(mid)
    return metafield_obj(m) if m is not None else None


# -- customers ------------------------------------------------------------------------------
def _display_name(c):
    name = " ".join(x for x in (c.first_name, c.last_name) if x)
    return name or c.email or c.phone or ""


CUSTOMER_LAZY = {
    "legacyResourceId": lambda ctx, f, o: str(o["__rec__"].id),
    "metafields": lambda ctx, f, o: metafields_connection(ctx, "customer", o["__rec__"].id, f),
    "metafield": lambda ctx, f, o: metafield_single(ctx, "customer", o["__rec__"].id, f),
    "lastOrder": lambda ctx, f, o: orders_graphql.load_order(ctx, o["__rec__"].last_order_id)
    if o["__rec__"].last_order_id else None,
    "displayName": lambda ctx, f, o: _display_name(o["__rec__"]),
}


def customer_obj(c, currency):
    email = None if c.email is None else {
        "__typename": "CustomerEmailAddress", "emailAddress": c.email,
        "marketingState": "NOT_SUBSCRIBED", "validFormat": True}
    return {"__typename": "Customer", "id": CUSTOMER_GID % c.id, "firstName": c.first_name,
            "lastName": c.last_name, "email": c.email, "phone": c.phone, "state": c.state,
            "createdAt": fmt_utc(c.created_at), "updatedAt": fmt_utc(c.updated_at),
            "numberOfOrders": str(c.orders_count),
            "amountSpent": {"__typename": "MoneyV2", "amount": gql_decimal(c.spent),
                            "currencyCode": currency},
            "tags": list(c.tags), "note": c.note, "verifiedEmail": c.verified_email,
            "taxExempt": c.tax_exempt, "locale": "en", "defaultEmailAddress": email,
            "canDelete": c.orders_count == 0, "__rec__": c, "__lazy__": CUSTOMER_LAZY}


@root_field("customers")
def rf_customers(ctx, f):
    book = book_of(ctx.shop)
    sort = _sort(f, "customers", ("ID", "UPDATED_AT"))
    flt = _search(ctx, f, True)
    keys = updated_keys(book, "customers", book.customers, sort, flt)
    return keyset_connection(ctx, f, "customers", "CustomerConnection", keys,
                             lambda k: customer_obj(book.customers[k[-1]], book.currency),
                             "customers", f.args.get("query"))


@root_field("customersCount")
def rf_customers_count(ctx, f):
    book = book_of(ctx.shop)
    flt = _search(ctx, f, True)
    return count_obj(len(updated_keys(book, "customers", book.customers, "ID", flt)), f)


@node_loader("Customer")
def load_customer(ctx, cid):
    book = book_of(ctx.shop)
    c = book.customers.get(cid)
    return customer_obj(c, book.currency) if c is not None else None


@root_field("customer")
def rf_customer(ctx, f):
    cid = parse_gid(f.args.get("id"), "Customer")
    return load_customer(ctx, cid) if cid is not None else None


def _order_customer(ctx, f, o):
    cid = book_of(ctx.shop).order_customer.get(o["__rec__"][1].id)
    return load_customer(ctx, cid) if cid is not None else None


orders_graphql.ORDER_LAZY["customer"] = _order_customer


# -- bulk exports --------------------------------------------------------------------------
@bulk.exporter("locations")
def export_locations(shop, top, ctx):
    book = book_of(shop)
    inactive, legacy = bool(top.args.get("includeInactive")), bool(top.args.get("includeLegacy"))
    with shop.lock:
        ids = sorted(book.locations)

    def load(lid):
        loc = book.locations.get(lid)
        if loc is None or (not inactive and not loc.active) or (not legacy and loc.legacy):
            return None
        return location_obj(loc)
    return ids, load


def _export_updated(name, make):
    def export(shop, top, ctx):
        book = book_of(shop)
        flt = parse_search(shop, top.args.get("query"))
        records = getattr(book, name)
        with shop.lock:
            ids = sorted(records)

        def load(i):
            r = records.get(i)
            return make(book, r) if r is not None and filter_match(flt, r.updated_at) else None
        return ids, load
    return export


bulk.exporter("collections")(_export_updated("collections", lambda b, c: collection_obj(c)))
bulk.exporter("customers")(_export_updated("customers",
                                           lambda b, c: customer_obj(c, b.currency)))


@bulk.exporter("productVariants")
def export_variants(shop, top, ctx):
    flt = parse_search(shop, top.args.get("query"))
    with shop.lock:
        ids = [vid for vid, _ in variant_keys(shop, flt)]

    def load(vid):
        hit = graphql._variant_by_id(shop, vid)
        return variant_obj(shop, *hit) if hit else None
    return ids, load

