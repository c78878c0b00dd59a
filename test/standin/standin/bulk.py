"""Bulk query operations: the GraphQL root fields, the JSONL export, file
downloads, and the /_control/shops/{d}/bulk knobs.

``bulkOperationRunQuery(query:, groupObjects:)`` has its inner query judged by
the oracle with Shopify's bulk rules (invalid: userError INVALID) and exports
what it selects, generically from its tree: the top connection's nodes
(products or orders, with its ``query:`` filter) as lines, each nested
connection's nodes (variants, lineItems) as lines of their own with
``__parentId``, nested plain objects inline, only the selected fields.

One ``BulkState`` per shop (settings + operations); operation ids come from a
global counter.  At most 5 operations of a shop are in progress at once when
the request's API version is 2026-01 or later, 1 before (``busy_s`` occupies
``busy_ops`` places, 1 by default, as another app's operations).  An operation's status is computed from
the clock: CREATED for the first third of ``delay_s``, then RUNNING, then
(once the file is written and ``delay_s`` has passed) COMPLETED, FAILED or
EXPIRED as the settings ask; a cancel (mutation or ``cancel_after_s``) gives
CANCELING for 0.2 s, then CANCELED.  A thread per operation writes the JSONL
export into a temporary directory that is removed at exit; it takes the shop
lock for a batch of objects at a time, never for the whole export.  Files are
served by the public route ``GET /_bulk/<token>.jsonl`` (no auth, no bucket)
in chunks, with Range support.
"""
import array
import atexit
import heapq
import itertools
import os
import random
import secrets
import shutil
import sys
import tempfile
import threading
import time
import traceback
from urllib.parse import unquote

from . import oracle
from .gqlexec import Ctx, limitation, node_loader, project, root_field
from .graphql import filter_match, parse_gid, parse_search, product_obj
from .orders import book_of
from .orders_graphql import order_obj
from .routing import ROUTER, HttpError, Response, error, to_json
from .timefmt import fmt_utc

ERROR_CODES = ("INTERNAL_SERVER_ERROR", "TIMEOUT", "ACCESS_DENIED")
IN_PROGRESS = ("CREATED", "RUNNING", "CANCELING")
DEFAULTS = {"delay_s": 0.3, "fail": None, "expire": False, "cancel_after_s": None,
            "truncate_lines": 0, "download_bytes_per_s": None, "shuffle": True,
            "children_first": 0.0, "seed": None}
CONCURRENT_FROM = "2026-01"    # API versions from this one run 5 operations at once
MAX_CONCURRENT = 5
CANCEL_GRACE_S = 0.2
BATCH = 200                 # top-level objects rendered per shop-lock acquisition
HOLD_P, HOLD_MAX = 0.3, 40  # shuffle: hold back 30% of variant lines 1..40 lines
CHUNK = 256 * 1024
JSONL_CT = "application/jsonl"
BULK_GID = "gid://shopify/BulkOperation/%d"

_IDS = itertools.count(1)
_FILES = {}                 # token -> (op, "result" | "partial")
_FILES_LOCK = threading.Lock()
_TMP = []


def _log(msg):
    sys.stderr.write("standin: %s\n" % msg)
    sys.stderr.flush()


def tmpdir():
    with _FILES_LOCK:
        if not _TMP:
            d = tempfile.mkdtemp(prefix="shopify-standin-bulk-")
            atexit.register(shutil.rmtree, d, True)
            _TMP.append(d)
        return _TMP[0]


def _num(d, k, lo=0.0, allow_none=False, integer=False):
    v = d[k]
    if v is None and allow_none:
        return None
    if isinstance(v, bool) or not isinstance(v, (int, float)) or v < lo \
            or (integer and not isinstance(v, int)):
        raise ValueError("%s must be %s >= %s%s" % (k, "an integer" if integer else
                                                    "a number", lo,
                                                    " or null" if allow_none else ""))
    return v


class Export:
    """What an operation exports: its inner query, as the oracle normalised it."""

    def __init__(self, query, version, group_objects, top):
        self.query = query              # the inner query text
        self.version = version          # the schema version that judged it
        self.group_objects = group_objects
        self.top = top                  # the top connection field (products/orders)


class BulkOp:
    def __init__(self, shop, state, settings, export):
        self.n = next(_IDS)
        self.gid = BULK_GID % self.n
        self.shop, self.state = shop, state
        self.settings = settings
        self.export = export
        self.roots = 0              # top-level lines written so far
        self.t0 = time.monotonic()
        self.wall0 = time.time()
        self.lines = 0              # lines written so far
        self.size = 0
        self.offsets = array.array("q")   # end offset of each line
        self.ready_at = None        # monotonic time the file was complete
        self.gen_error = None
        self.gen_seconds = None
        self.cancel_at = None
        self.abort = threading.Event()
        self.path = os.path.join(tmpdir(), "op%d.jsonl" % self.n)
        self.tokens = {}            # view -> token
        self.downloads = []
        self.lock = threading.Lock()

    def start(self):
        threading.Thread(target=self._generate, name="bulk-%d" % self.n,
                         daemon=True).start()

    # -- status ----------------------------------------------------------------
    def status(self, now=None):
        """-> (status, errorCode, completed_monotonic or None)."""
        now = time.monotonic() if now is None else now
        s = self.settings
        cas = s["cancel_after_s"]
        cancels = [t for t in (self.cancel_at, None if cas is None else self.t0 + cas)
                   if t is not None]
        cancel_at = min(cancels) if cancels else None
        done_at = None
        if self.ready_at is not None and cas is None:
            done_at = max(self.t0 + s["delay_s"], self.ready_at)
        if cancel_at is not None and now >= cancel_at and \
                (done_at is None or cancel_at < done_at):
            self.abort.set()
            if now < cancel_at + CANCEL_GRACE_S:
                return "CANCELING", None, None
            return "CANCELED", None, cancel_at + CANCEL_GRACE_S
        if done_at is not None and now >= done_at:
            if self.gen_error is not None:
                return "FAILED", "INTERNAL_SERVER_ERROR", done_at
            if s["fail"]:
                return "FAILED", s["fail"], done_at
            if s["expire"]:
                return "EXPIRED", None, done_at
            return "COMPLETED", None, done_at
        if now < self.t0 + s["delay_s"] / 3.0:
            return "CREATED", None, None
        return "RUNNING", None, None

    def in_progress(self, now=None):
        return self.status(now)[0] in IN_PROGRESS

    def cancel(self):
        """-> (accepted, status)."""
        with self.lock:
            now = time.monotonic()
            st = self.status(now)[0]
            if st in ("CREATED", "RUNNING"):
                self.cancel_at = now
                self.abort.set()
                return True, "CANCELING"
            return st == "CANCELING", st

    def view_size(self, view):
        n = self.lines
        if view == "partial":
            k = n // 2
        else:
            k = max(0, n - int(self.settings["truncate_lines"] or 0))
        return self.offsets[k - 1] if k > 0 else 0

    def _url(self, view):
        with self.lock:
            tok = self.tokens.get(view)
            if tok is None:
                tok = self.tokens[view] = secrets.token_urlsafe(18)
                with _FILES_LOCK:
                    _FILES[tok] = (self, view)
        return "%s://127.0.0.1:%d/_bulk/%s.jsonl" % (self.state.scheme,
                                                    self.state.port, tok)

    def node(self):
        st, code, done = self.status()
        count = 0 if st == "CREATED" else self.lines
        size = url = partial = None
        if st == "COMPLETED":
            size = self.size
            url = self._url("result")
        elif st == "FAILED":
            count = self.lines // 2 if self.gen_error is None else 0
            partial = self._url("partial") if count else None
        roots = 0 if st == "CREATED" else self.roots
        if st == "FAILED":
            roots = min(roots, count)
        return {"__typename": "BulkOperation", "id": self.gid, "status": st,
                "errorCode": code, "type": "QUERY",
                "objectCount": str(count), "rootObjectCount": str(roots),
                "fileSize": None if size is None else str(size), "url": url,
                "partialDataUrl": partial, "query": self.export.query,
                "createdAt": fmt_utc(int(self.wall0)),
                "completedAt": None if done is None
                else fmt_utc(int(self.wall0 + done - self.t0))}

    def info(self):
        d = self.node()
        del d["__typename"]
        d.update(n=self.n, objectCount=int(d["objectCount"]),
                 rootObjectCount=int(d["rootObjectCount"]),
                 fileSize=None if d["fileSize"] is None else int(d["fileSize"]),
                 api_version=self.export.version, groupObjects=self.export.group_objects,
                 lines_written=self.lines, bytes_written=self.size,
                 served_bytes=self.view_size("result"),
                 generation_seconds=self.gen_seconds, settings=dict(self.settings))
        with self.lock:
            d["downloads"] = len(self.downloads)
            d["download_log"] = list(self.downloads)
        return d

    # -- the export ------------------------------------------------------------
    def _generate(self):
        t = time.monotonic()
        shop, s = self.shop, self.settings
        rng = random.Random(s["seed"] if s["seed"] is not None else self.n)
        shuffle = bool(s["shuffle"])
        early_p = 0.0 if self.export.group_objects else float(s["children_first"])
        sel = self.export.top.node_sel
        offsets = self.offsets
        held, seq = [], 0
        key = self._cache_key(early_p, shuffle)
        if key is not None and self._from_cache(key, t):
            return
        try:
            ctx, ids, load = export_items(shop, self.state, self.export)
            with open(self.path, "wb", buffering=1 << 20) as f:
                pos = 0

                def put(line):
                    nonlocal pos
                    f.write(line)
                    pos += len(line)
                    offsets.append(pos)
                    while held and held[0][0] <= len(offsets):
                        line = heapq.heappop(held)[2]
                        f.write(line)
                        pos += len(line)
                        offsets.append(pos)

                for k in range(0, len(ids), BATCH):
                    if self.abort.is_set():
                        return
                    batch = []
                    with shop.lock:
                        for i in ids[k:k + BATCH]:
                            obj = load(i)
                            if obj is not None:
                                batch.append(export_lines(ctx, obj, sel))
                    for pl, cls in batch:
                        late = cls
                        if early_p > 0:       # groupObjects: false: children first
                            late = []
                            for cl in cls:
                                if rng.random() < early_p:
                                    put(cl)
                                else:
                                    late.append(cl)
                        put(pl)
                        self.roots += 1
                        floor = 0           # siblings keep their order (positions)
                        for cl in late:
                            if shuffle and rng.random() < HOLD_P:
                                floor = max(floor, len(offsets) + rng.randint(1, HOLD_MAX))
                            if floor:
                                heapq.heappush(held, (floor, seq, cl))
                                seq += 1
                            else:
                                put(cl)
                    self.lines = len(offsets)
                while held:
                    put(heapq.heappop(held)[2])
            self.size = pos
            self.lines = len(offsets)
        except Exception:
            self.gen_error = traceback.format_exc()
            _log("bulk operation %d of %s: export failed:\n%s"
                 % (self.n, shop.domain, self.gen_error))
        self.gen_seconds = round(time.monotonic() - t, 3)
        if key is not None and self.gen_error is None:
            self.state.cache_answer(key, (self.path, self.offsets.tobytes(), self.roots,
                                          self.size, self.lines), 0)
        self.ready_at = time.monotonic()
        _log("bulk operation %d of %s: %d lines, %d bytes written in %.2fs"
             % (self.n, shop.domain, self.lines, self.size, self.gen_seconds))

    # -- --cache-answers: an export of unchanged data is written once ----------
    def _cache_key(self, early_p, shuffle):
        s = self.settings
        if not self.state.cache_answers:
            return None
        # (without a seed, the order of the lines follows the operation's
        # number: a cached export repeats one such order, as valid as any)
        return ("bulk", self.shop.domain, self.export.query, self.export.version,
                self.export.group_objects, s["seed"], shuffle, early_p)

    def _from_cache(self, key, t):
        hit = self.state.answer_cache.get(key)
        if hit is None or not os.path.exists(hit[0]):
            return False
        path, offsets, roots, size, lines = hit
        shutil.copyfile(path, self.path)
        self.offsets.frombytes(offsets)
        self.roots, self.size, self.lines = roots, size, lines
        self.gen_seconds = round(time.monotonic() - t, 3)
        self.ready_at = time.monotonic()
        _log("bulk operation %d of %s: %d lines, %d bytes copied from an earlier export"
             " in %.2fs" % (self.n, self.shop.domain, self.lines, self.size, self.gen_seconds))
        return True

    def record_download(self, entry):
        with self.lock:
            self.downloads.append(entry)


EXPORTERS = {}      # top connection name -> fn(shop, top field, ctx) -> (ids, load)


def exporter(name):
    """Register the export of a top-level connection: fn(shop, top, ctx) ->
    (ids, load(id) -> GraphQL object or None when filtered out)."""
    def deco(fn):
        EXPORTERS[name] = fn
        return fn
    return deco


def export_items(shop, state, export):
    """(ctx, ids, load(id) -> object or None) of an export's top connection."""
    top = export.top
    ctx = export_ctx(shop, state, export.version)
    flt = parse_search(shop, top.args.get("query"))
    if top.name in EXPORTERS:
        ids, load = EXPORTERS[top.name](shop, top, ctx)
    elif top.name == "products":
        with shop.lock:
            ids = list(shop.order)

        def load(pid):
            p = shop.products.get(pid)
            return product_obj(shop, p) if p is not None and \
                filter_match(flt, p.updated_at) else None
    elif top.name == "draftOrders":
        from . import draft_orders
        dbook = draft_orders.book_of(shop)
        with shop.lock:
            ids = dbook.sorted_ids()

        def load(did):
            d = dbook.drafts.get(did)
            return draft_orders.draft_obj(d) if d is not None and \
                filter_match(flt, d.updated_at) else None
    else:
        book = book_of(shop)
        with shop.lock:
            ids = list(book.ids)

        def load(oid):
            o = book.orders.get(oid)
            return order_obj(shop, book, o) if o is not None and \
                filter_match(flt, o.updated_at) else None
    return ctx, ids, load


def export_ctx(shop, state, version):
    ctx = Ctx(None, shop, version, state=state)
    ctx.bulk = True
    return ctx


def export_lines(ctx, obj, sel):
    """One top-level object -> (its JSONL line, [its children's lines]) (hold
    shop.lock).  Nested connections become child lines with __parentId."""
    ctx.bulk_lines = []
    ctx.bulk_parent = obj.get("id")
    d, _ = project(ctx, obj, sel)
    children = [to_json(c) + b"\n" for c in ctx.bulk_lines]
    ctx.bulk_lines = None
    return to_json(d) + b"\n", children


class BulkState:
    """Per-shop settings and operations."""

    def __init__(self):
        self.lock = threading.Lock()
        self.settings = dict(DEFAULTS)
        self.ops = []
        self.busy_until = 0.0
        self.busy_ids = []

    def configure(self, d):
        with self.lock:
            new = dict(DEFAULTS) if d.get("reset") else dict(self.settings)
            if d.get("reset"):
                self.busy_until, self.busy_ids = 0.0, []
            for k in d:
                if k not in DEFAULTS and k not in ("busy_s", "busy_ops", "reset"):
                    raise ValueError("unknown bulk setting %r (known: %s, busy_s, busy_ops, "
                                     "reset)"
                                     % (k, ", ".join(DEFAULTS)))
            if "delay_s" in d:
                new["delay_s"] = float(_num(d, "delay_s"))
            if "fail" in d:
                if d["fail"] not in ERROR_CODES + (None,):
                    raise ValueError("fail must be null or one of %s" % ", ".join(ERROR_CODES))
                new["fail"] = d["fail"]
            for k in ("expire", "shuffle"):
                if k in d:
                    if not isinstance(d[k], bool):
                        raise ValueError("%s must be true or false" % k)
                    new[k] = d[k]
            if "cancel_after_s" in d:
                new["cancel_after_s"] = _num(d, "cancel_after_s", allow_none=True)
            if "truncate_lines" in d:
                new["truncate_lines"] = _num(d, "truncate_lines", integer=True)
            if "download_bytes_per_s" in d:
                new["download_bytes_per_s"] = _num(d, "download_bytes_per_s", 1,
                                                   allow_none=True)
            if "children_first" in d:
                cf = _num(d, "children_first")
                if cf > 1:
                    raise ValueError("children_first must be a probability (0..1)")
                new["children_first"] = float(cf)
            if "seed" in d:
                new["seed"] = d["seed"]
            if "busy_ops" in d and "busy_s" not in d:
                raise ValueError("busy_ops goes with busy_s")
            if "busy_s" in d:
                busy = _num(d, "busy_s")
                n = _num(d, "busy_ops", 1, integer=True) if "busy_ops" in d else 1
                self.busy_until = time.monotonic() + busy
                self.busy_ids = [next(_IDS) for _ in range(n)] if busy > 0 else []
            self.settings = new
            return self._summary()

    def _summary(self):
        return {"settings": dict(self.settings),
                "busy_s_left": round(max(0.0, self.busy_until - time.monotonic()), 3),
                "busy_ops": len(self.busy_ids)}

    def start(self, shop, state, export):
        """-> (op, None) or (None, gid of an operation in the way).  At most 5
        in progress from API version 2026-01 on, 1 before; busy_s stands for
        busy_ops of them (another app's operations)."""
        limit = MAX_CONCURRENT if export.version >= CONCURRENT_FROM else 1
        with self.lock:
            now = time.monotonic()
            busy = [BULK_GID % i for i in self.busy_ids] if now < self.busy_until else []
            running = busy + [op.gid for op in self.ops if op.in_progress(now)]
            if len(running) >= limit:
                return None, running[0]
            op = BulkOp(shop, state, dict(self.settings), export)
            self.ops.append(op)
        op.start()
        return op, None

    def find(self, n):
        with self.lock:
            return next((op for op in self.ops if op.n == n), None)

    def latest(self):
        with self.lock:
            return self.ops[-1] if self.ops else None

    def info(self):
        with self.lock:
            ops = list(self.ops)
            d = self._summary()
        d["operations"] = [op.info() for op in ops]
        return d


# -- GraphQL root fields ----------------------------------------------------------------
EXPORTABLE = ("products", "orders", "draftOrders")     # and EXPORTERS' names


def _user_error(message, field=None, code=None, typename="BulkOperationUserError"):
    e = {"__typename": typename, "field": field, "message": message}
    if typename == "BulkOperationUserError":
        e["code"] = code
    return e


def _run_payload(op_node, errors):
    return {"__typename": "BulkOperationRunQueryPayload", "bulkOperation": op_node,
            "userErrors": errors}


def _top_connection(inner):
    tops = [f for f in inner.fields if f.kind != "typename"]
    known = EXPORTABLE + tuple(sorted(EXPORTERS))
    if len(tops) != 1 or tops[0].kind != "connection" or tops[0].name not in known:
        raise limitation("bulk queries other than one top-level connection among %s (got %s)"
                         % (", ".join(known), ", ".join(f.name for f in tops)))
    return tops[0]


@root_field("bulkOperationRunQuery", "mutation")
def rf_bulk_run(ctx, f):
    text = f.args.get("query")
    inner = oracle.get().ask(ctx.version, text, None, None, bulk=True)
    if inner.errors:
        return _run_payload(None, [_user_error("Invalid bulk query: %s"
                                               % inner.errors[0].get("message"),
                                               ["query"], "INVALID")])
    export = Export(text, ctx.version, bool(f.args.get("groupObjects")),
                    _top_connection(inner))
    # the first object, exported now: what the stand-in cannot export fails here
    ectx, ids, load = export_items(ctx.shop, ctx.state, export)
    for i in ids:
        obj = load(i)
        if obj is not None:
            export_lines(ectx, obj, export.top.node_sel)
            break
    op, blocker = ctx.shop.bulk.start(ctx.shop, ctx.state, export)
    if op is None:
        return _run_payload(None, [_user_error(
            "A bulk query operation for this app and shop is already in progress: %s."
            % blocker, None, "OPERATION_IN_PROGRESS")])
    node = op.node()
    node.update(status="CREATED", completedAt=None, url=None, partialDataUrl=None,
                fileSize=None, errorCode=None, objectCount="0", rootObjectCount="0")
    return _run_payload(node, [])


@node_loader("BulkOperation")
def load_bulk(ctx, n):
    op = ctx.shop.bulk.find(n)
    return op.node() if op else None


@root_field("bulkOperation")
def rf_bulk_operation(ctx, f):
    n = parse_gid(f.args.get("id"), "BulkOperation")
    return load_bulk(ctx, n) if n is not None else None


@root_field("currentBulkOperation")
def rf_current_bulk(ctx, f):
    if f.args.get("type", "QUERY") != "QUERY":
        return None                  # the stand-in runs no bulk mutations
    op = ctx.shop.bulk.latest()
    return op.node() if op else None


@root_field("bulkOperationCancel", "mutation")
def rf_bulk_cancel(ctx, f):
    gid = f.args.get("id")
    n = parse_gid(gid, "BulkOperation")
    op = ctx.shop.bulk.find(n) if n is not None else None
    payload = {"__typename": "BulkOperationCancelPayload"}
    if op is None:
        payload.update(bulkOperation=None, userErrors=[_user_error(
            "Bulk operation does not exist", ["id"], typename="UserError")])
        return payload
    ok, st = op.cancel()
    payload.update(bulkOperation=op.node(), userErrors=[] if ok else [_user_error(
        "A bulk operation cannot be canceled when it is %s" % st.lower(),
        typename="UserError")])
    return payload


# -- downloads --------------------------------------------------------------------------
class FileStream:
    """Bytes [start, end) of an export file; paced by download_bytes_per_s."""

    def __init__(self, op, view, start, end, status):
        self.op, self.view, self.start, self.end = op, view, start, end
        self.length = end - start
        self.status = status

    def chunks(self):
        op = self.op
        stop = op.state.stop_event
        t0 = time.monotonic()
        sent = 0
        with open(op.path, "rb") as f:
            f.seek(self.start)
            while sent < self.length:
                rate = op.shop.bulk.settings["download_bytes_per_s"]
                size = CHUNK if not rate else max(1, min(CHUNK, int(rate / 20)))
                data = f.read(min(size, self.length - sent))
                if not data:
                    raise OSError("bulk file %s shrank" % op.path)
                if rate:
                    wait = t0 + sent / float(rate) - time.monotonic()
                    if wait > 0 and stop.wait(wait):
                        return
                yield data
                sent += len(data)

    def finish(self, sent, complete, fault):
        self.op.record_download({
            "t": round(time.monotonic(), 6), "file": self.view, "status": self.status,
            "range_start": self.start, "length": self.length, "bytes": sent,
            "complete": complete, "fault": fault})


def _lookup(req):
    with _FILES_LOCK:
        return _FILES.get(req.match.get("token"))


def _shop_of(req):
    e = _lookup(req)
    return e[0].shop if e else None


def _range(header, size):
    """'bytes=a-b' -> (a, b+1); None if absent; raises ValueError if unsatisfiable."""
    if not header or not header.startswith("bytes=") or "," in header:
        return None
    a, _, b = header[6:].strip().partition("-")
    if a == "":                      # suffix range: last b bytes
        n = int(b)
        return (max(0, size - n), size) if n > 0 else None
    start = int(a)
    end = min(size, int(b) + 1) if b else size
    if start >= size or end <= start:
        raise ValueError
    return start, end


@ROUTER.add("GET", r"/_bulk/(?P<token>[A-Za-z0-9_-]+)\.jsonl", kind="public",
            bucket=None, shop_of=_shop_of, streams=True, stats_kind="bulk")
def download(req):
    e = _lookup(req)
    if e is None:
        return error(404, "Not Found")
    op, view = e
    size = op.view_size(view)
    try:
        rng = _range(req.headers.get("Range"), size)
    except ValueError:
        return error(416, "Requested range not satisfiable",
                     [("Content-Range", "bytes */%d" % size)])
    headers = [("Accept-Ranges", "bytes")]
    if rng is None:
        return Response(200, headers=headers, content_type=JSONL_CT,
                        stream=FileStream(op, view, 0, size, 200))
    headers.append(("Content-Range", "bytes %d-%d/%d" % (rng[0], rng[1] - 1, size)))
    return Response(206, headers=headers, content_type=JSONL_CT,
                    stream=FileStream(op, view, rng[0], rng[1], 206))


# -- control ---------------------------------------------------------------------------
@ROUTER.control("GET", r"/_control/shops/(?P<domain>[^/]+)/bulk")
def get_bulk(req):
    shop = req.state.shop(unquote(req.match["domain"]))
    return Response(200, shop.bulk.info())


@ROUTER.control("POST", r"/_control/shops/(?P<domain>[^/]+)/bulk")
def set_bulk(req):
    shop = req.state.shop(unquote(req.match["domain"]))
    try:
        return Response(200, shop.bulk.configure(req.json()))
    except (TypeError, ValueError) as e:
        raise HttpError(400, str(e))
