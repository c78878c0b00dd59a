"""Executing a GraphQL request: root-field resolvers and the generic projector.

The oracle (oracle.py) has validated and priced the request and handed over
its normalised selection tree.  Execution goes by root field, not by
operation name: each root field the stand-in knows has a resolver
(``@root_field("products")``, ``@root_field("bulkOperationRunQuery",
"mutation")``) returning whole GraphQL-shaped objects -- dicts with a
``__typename`` whose keys are schema field names and values plain data,
nested objects, lists or ``fn(ctx, field)``; fields that are dear or rarely
asked for go into the object's ``"__lazy__"`` dict as ``fn(ctx, field, obj)``
(shared per type; ``obj["__rec__"]`` holds the record).  Scalar values are
never functions outside ``__lazy__``.  One projector walks the tree over
them: only the selected fields come back, under their aliases; ``__typename``
works; inline fragments apply by type; nested connections resolve with their
own arguments.  It also adds up the actual cost of what it returns, by the
rules of test/graphql/cost.mjs (each tree field carries its own cost there):
a returned object costs its own cost plus its selection's, null nothing, a
connection 2 + the nodes it returned x (1 + their selection).

A selected field that the stand-in's objects do not carry, and a root field
without a resolver, are GraphQL errors that say so (a limitation of the
stand-in, not something Shopify would answer).

In a bulk export (``ctx.bulk``) connections do not nest into their parent:
their nodes become lines of their own with ``__parentId`` (bulk.py).
"""
from types import FunctionType

NODE_LOADERS = {}           # "Product" -> fn(ctx, numeric id) -> object or None
RAW_NODE_LOADERS = {}       # "InventoryLevel" -> fn(ctx, text after the type) -> object or None
ROOT_FIELDS = {}            # ("query"|"mutation", name) -> fn(ctx, field)
NOT_IMPLEMENTED = "STANDIN_NOT_IMPLEMENTED"


class GqlError(Exception):
    """A GraphQL-level error (HTTP 200, {"errors":[...]})."""

    def __init__(self, message, code=None, path=None, **ext):
        super().__init__(message)
        self.message = message
        self.path = path
        self.ext = dict(ext)
        if code is not None:
            self.ext = {"code": code, **self.ext}

    def to_dict(self):
        d = {"message": self.message}
        if self.path:
            d["path"] = list(self.path)
        if self.ext:
            d["extensions"] = self.ext
        return d


def limitation(what, **ext):
    """A GraphQL error for something valid on Shopify that the stand-in lacks."""
    return GqlError("Not implemented by the test stand-in: %s (valid on Shopify; "
                    "a limitation of the stand-in)" % what, NOT_IMPLEMENTED, **ext)


def root_field(name, kind="query"):
    def deco(fn):
        ROOT_FIELDS[(kind, name)] = fn
        return fn
    return deco


def node_loader(typename, raw=False):
    """fn(ctx, numeric id); with raw=True fn(ctx, the gid's text after the type
    and its slash) -- for ids like InventoryLevel/1?inventory_item_id=2."""
    def deco(fn):
        (RAW_NODE_LOADERS if raw else NODE_LOADERS)[typename] = fn
        return fn
    return deco


class Ctx:
    """Per-request (or per bulk export) context handed to resolvers."""

    def __init__(self, req, shop, version, answer=None, state=None):
        self.req = req
        self.shop = shop
        self.state = state if state is not None else req.state
        self.version = version          # the schema version that answers
        self.answer = answer
        self.bulk = False               # a bulk export: connections unlimited, no nesting
        self.bulk_parent = None         # gid of the node whose line is being built
        self.bulk_lines = None          # list of child lines (dicts) being collected
        self.search = []                # extensions.search entries (ignored search terms)


class _Skip:
    pass


SKIP = _Skip()          # a projected value that does not go into its parent
_MISS = object()


def _missing(f, typename):
    return limitation("field '%s' on type '%s'" % (f.name, typename or f.type))


def _get(ctx, obj, f):
    """The value of field f of obj: its key, or its ``__lazy__`` function
    (``fn(ctx, field, obj)``), or a function value ``fn(ctx, field)``."""
    v = obj.get(f.name, _MISS)
    if v is _MISS:
        lazy = obj.get("__lazy__")
        fn = lazy.get(f.name) if lazy is not None else None
        if fn is None:
            raise _missing(f, obj.get("__typename"))
        return fn(ctx, f, obj)
    if type(v) is FunctionType:
        return v(ctx, f)
    return v


def project(ctx, obj, sel):
    """The Selection `sel` of obj -> (dict, actual cost).  Fast path: the
    leading scalars of a plain selection in one comprehension."""
    if sel.fast:
        try:
            out = {k: obj[n] for k, n in sel.scalars}
        except KeyError:
            return _project(ctx, obj, sel.fields)
        cost = 0
        for f in sel.others:
            v = _get(ctx, obj, f)
            if v is None:
                out[f.key] = None
                continue
            val, c = project_value(ctx, f, v)
            if val is not SKIP:
                out[f.key] = val
                cost += c
        return out, cost
    return _project(ctx, obj, sel.fields)


def _project(ctx, obj, fields):
    out = {}
    cost = 0
    tn = obj.get("__typename")
    for f in fields:
        if f.on is not None and not f.matches(tn):
            continue
        kind = f.kind
        if kind == "typename":
            out[f.key] = tn
            continue
        v = _get(ctx, obj, f)
        if kind == "scalar" or v is None:
            out[f.key] = v
            continue
        val, c = project_value(ctx, f, v)
        if val is SKIP:
            continue
        out[f.key] = val
        cost += c
    return out, cost


def project_value(ctx, f, v):
    """A non-scalar field's value -> (projected, actual cost)."""
    if v is None:
        return None, 0
    kind = f.kind
    if kind == "connection":
        if ctx.bulk:
            return _bulk_children(ctx, f, v), 0
        return _connection(ctx, f, v)
    if kind in ("scalar", "introspection"):
        return v, 0
    if isinstance(v, list):
        res, best = [], 0
        for item in v:
            if item is None:
                res.append(None)
                continue
            d, c = project(ctx, item, f.sel)
            res.append(d)
            if c > best:
                best = c
        return res, (f.cost + best) if res else 0
    d, c = project(ctx, v, f.sel)
    return d, f.cost + c


def _connection(ctx, f, conn):
    out = {}
    per = {}                # node index -> cost of its dearest selection
    other = 0
    for c in f.selections:
        name = c.name
        if c.kind == "typename":
            out[c.key] = conn.get("__typename")
        elif name == "nodes":
            lst = []
            sel = c.sel
            for i, n in enumerate(conn["nodes"]):
                if n is None:
                    lst.append(None)
                    continue
                d, cc = project(ctx, n, sel)
                lst.append(d)
                if cc >= per.get(i, -1):
                    per[i] = cc
            out[c.key] = lst
        elif name == "edges":
            lst = []
            for i, e in enumerate(_get(ctx, conn, c)):
                d = {}
                for x in c.selections:
                    if x.name == "node":
                        d[x.key], cc = project(ctx, e["node"], x.sel)
                        if cc >= per.get(i, -1):
                            per[i] = cc
                    elif x.kind == "typename":
                        d[x.key] = e.get("__typename")
                    else:
                        v = _get(ctx, e, x)
                        if x.kind == "scalar" or v is None:
                            d[x.key] = v
                        else:
                            d[x.key], cc = project_value(ctx, x, v)
                            other += cc
                lst.append(d)
            out[c.key] = lst
        else:
            v = _get(ctx, conn, c)
            if c.kind == "scalar" or v is None:
                out[c.key] = v
            elif name == "pageInfo":
                out[c.key], _ = project(ctx, v, c.sel)
            else:
                out[c.key], cc = project_value(ctx, c, v)
                other += cc
    return out, f.cost + other + sum(1 + x for x in per.values())


def _bulk_children(ctx, f, conn):
    """Bulk export: each node of a nested connection becomes a line of its own
    (with __parentId); nothing goes into the parent's line."""
    parent = ctx.bulk_parent
    for n in conn["nodes"]:
        if n is None:
            continue
        ctx.bulk_parent = n.get("id")
        d, _ = project(ctx, n, f.node_sel)
        ctx.bulk_parent = parent
        d["__parentId"] = parent
        ctx.bulk_lines.append(d)
    return SKIP


def execute(ctx, answer):
    """Run the root fields of a validated request -> (data, actual cost)."""
    kind = "mutation" if answer.operation == "mutation" else "query"
    data = {}
    actual = 0
    for f in answer.fields:
        if f.kind == "typename":
            data[f.key] = answer.root
            continue
        fn = ROOT_FIELDS.get((kind, f.name))
        if fn is None:
            raise limitation("%s field '%s'" % (kind, f.name), path=[f.key])
        try:
            v = fn(ctx, f)
            if f.kind == "scalar":
                data[f.key] = v
                actual += f.cost
                continue
            val, c = project_value(ctx, f, v)
        except GqlError as e:
            if e.path is None:
                e.path = [f.key]
            raise
        data[f.key] = val
        actual += c if val is not None else f.cost if kind == "mutation" else 0
    return data, actual


def node_of(ctx, gid):
    """node(id:): the object of a gid://shopify/<Type>/<n>, or None."""
    if not isinstance(gid, str) or not gid.startswith("gid://shopify/"):
        raise GqlError("Invalid global id '%s'" % gid, "argumentLiteralsIncompatible")
    rest = gid[len("gid://shopify/"):]
    typename, _, num = rest.partition("/")
    raw = RAW_NODE_LOADERS.get(typename)
    if raw is not None:
        return raw(ctx, num)
    num = num.split("?", 1)[0]
    loader = NODE_LOADERS.get(typename)
    if loader is None or not num.isdigit():
        return None
    return loader(ctx, int(num))


@root_field("node")
def _node(ctx, f):
    return node_of(ctx, f.args.get("id"))


@root_field("nodes")
def _nodes(ctx, f):
    return [node_of(ctx, g) for g in f.args.get("ids") or []]
