"""Crafted answers for tests: ``POST /_control/shops/{d}/inject``.

A rule changes the answers to the next matching API requests of one shop.
The request first goes through the whole pipeline (auth, faults, the REST
bucket, the GraphQL cost bucket, the real handler), so the status line and
the headers (Link, X-Shopify-Shop-Api-Call-Limit, X-Request-Id, ...) are
those of the real answer; then its body is replaced by given bytes, or the
real body is edited (JSON edits spliced in as raw bytes, so an answer can
carry anything: invalid UTF-8, raw NUL, 1e400, duplicate keys, megabytes of
nesting).  Only 2xx answers are touched: a 401 or a bucket 429 passes
unchanged and does not use up the rule.

Rule (all keys optional except path_prefix)::

    {"path_prefix": "/admin/api/2026-07/products.json",  # request path starts with it
     "operation": "ShopifySyncProducts",                 # GraphQL operation name
     "body_contains": "text",   # only answers whose real body contains it
     "skip": 0,                 # let this many matching requests through first
     "responses": [resp, ...],  # one per matching request, in order
     "bodies": ["<base64>"],    # shorthand: responses of raw bodies
     "times": 1,                # serve the list this many times over
     "status": 200, "headers": {"Link": null}}        # defaults for each resp

resp::

    {"body_b64": "...", | "body": "text", | "body_parts": [["x", 1000], ...],
     "edits": [edit, ...],      # or: edits of the real JSON (or JSONL) answer
     "truncate": n,             # keep the first n bytes (n < 0: drop the last -n)
     "append": "text",          # then add this (or "append_b64")
     "status": 200, "headers": {"Name": "value" or null}}

edit::

    {"op": "set"|"insert"|"delete"|"add_key", "path": "products.0.variants.1.price"
     (or a list: ["products", 0, ...]; integers index arrays, negative from the end;
     {"id": 123} in a list picks the array element whose "id" is 123, "123" or
     "gid://shopify/<Type>/123"; for JSONL answers the first segment is the
     line number),
     value: "value": <JSON> | "raw": "text" | "raw_b64": ".." | "raw_parts": [[text, n], ...]
            | "string_b64": ".." | "string_parts": [[text, n], ...]   (bytes between quotes),
     "key": "price" | "key_b64": ".."}                                (add_key only)

``add_key`` appends a member to the object at path even when the key is
already there (duplicate keys).  ``GET /_control/shops/{d}/inject`` lists the
rules with ``served``/``remaining`` and the ``errors`` of edits that did not
fit an answer (such an answer goes out unchanged and the rule is not used
up).  ``{"clear": true}`` removes the shop's rules.  Served answers are
counted in stats ``notes.injected`` (failed edits in ``notes.inject_failed``).
"""
import base64
import binascii
import copy
import json
import re
import secrets
import threading
from urllib.parse import unquote

from .graphql import op_label
from .routing import ROUTER, HttpError, Response, to_json

MAX_BYTES = 128 * 1024 * 1024
SHOP = r"/_control/shops/(?P<domain>[^/]+)/inject"
INT_RE = re.compile(r"\A-?[0-9]+\Z")
EDIT_OPS = ("set", "insert", "delete", "add_key")
VALUE_KEYS = ("value", "raw", "raw_b64", "raw_parts", "string_b64", "string_parts")


class EditError(ValueError):
    pass


# -- parsing a rule (at control time: a bad rule is a 400 at once) ----------------------
def _b64(s, what):
    if not isinstance(s, str):
        raise ValueError("%s must be a base64 string" % what)
    try:
        return base64.b64decode(s, validate=True)
    except (binascii.Error, ValueError):
        raise ValueError("%s is not valid base64" % what)


def _parts(parts, what):
    if not isinstance(parts, list):
        raise ValueError("%s must be a list of [text, count]" % what)
    total = 0
    out = []
    for p in parts:
        if not (isinstance(p, list) and len(p) == 2 and isinstance(p[0], str)
                and isinstance(p[1], int) and not isinstance(p[1], bool) and p[1] >= 0):
            raise ValueError("%s: each part is [text, count >= 0]" % what)
        b = p[0].encode("utf-8")
        total += len(b) * p[1]
        if total > MAX_BYTES:
            raise ValueError("%s: more than %d bytes" % (what, MAX_BYTES))
        out.append((b, p[1]))
    return b"".join(b * n for b, n in out)


def _body(d):
    """Replacement body of a response spec, or None (edit/keep the real one)."""
    given = [k for k in ("body_b64", "body", "body_parts") if k in d]
    if len(given) > 1:
        raise ValueError("give one of body_b64, body, body_parts")
    if not given:
        return None
    k = given[0]
    if k == "body_b64":
        return _b64(d[k], k)
    if k == "body":
        if not isinstance(d[k], str):
            raise ValueError("body must be a string (use body_b64 for bytes)")
        return d[k].encode("utf-8")
    return _parts(d[k], k)


class IdSel:
    """Path segment {"id": X}: the array element with that id."""

    def __init__(self, v):
        self.v = str(v)

    def __str__(self):
        return "[id=%s]" % self.v

    def pick(self, arr):
        for k, el in enumerate(arr):
            i = el.get("id") if isinstance(el, dict) else None
            if i is not None and not isinstance(i, (dict, list, bool)) and \
                    (str(i) == self.v or str(i).endswith("/" + self.v)):
                return k
        return None


def _path(p):
    if isinstance(p, str):
        segs = [s for s in p.split(".")] if p != "" else []
        return [int(s) if INT_RE.match(s) else s for s in segs]
    if isinstance(p, list):
        out = []
        for s in p:
            if isinstance(s, dict) and list(s) == ["id"] and \
                    isinstance(s["id"], (str, int)) and not isinstance(s["id"], bool):
                out.append(IdSel(s["id"]))
            elif isinstance(s, bool) or not isinstance(s, (str, int)):
                raise ValueError("path segments are strings, integers or {\"id\": X}")
            else:
                out.append(s)
        return out
    raise ValueError("path must be a dotted string or a list")


def _value(d):
    given = [k for k in VALUE_KEYS if k in d]
    if len(given) != 1:
        raise ValueError("an edit needs exactly one of %s" % ", ".join(VALUE_KEYS))
    k = given[0]
    if k == "value":
        return ("json", d[k])
    if k == "raw":
        if not isinstance(d[k], str):
            raise ValueError("raw must be a string")
        return ("raw", d[k].encode("utf-8"))
    if k == "raw_b64":
        return ("raw", _b64(d[k], k))
    if k == "raw_parts":
        return ("raw", _parts(d[k], k))
    if k == "string_b64":
        return ("raw", b'"' + _b64(d[k], k) + b'"')
    return ("raw", b'"' + _parts(d[k], k) + b'"')


def _edit(d):
    if not isinstance(d, dict):
        raise ValueError("an edit is an object")
    op = d.get("op", "set")
    if op not in EDIT_OPS:
        raise ValueError("unknown edit op %r (known: %s)" % (op, ", ".join(EDIT_OPS)))
    e = {"op": op, "path": _path(d.get("path", [])), "val": None, "key": None}
    if op != "delete":
        e["val"] = _value(d)
    if op in ("insert", "delete") and not e["path"]:
        raise ValueError("%s needs a path to an element" % op)
    if op == "insert" and not isinstance(e["path"][-1], (int, IdSel)):
        raise ValueError("insert needs an array index as the last path segment")
    if op == "add_key":
        if "key_b64" in d:
            e["key"] = b'"' + _b64(d["key_b64"], "key_b64") + b'"'
        elif isinstance(d.get("key"), str):
            e["key"] = to_json(d["key"])
        else:
            raise ValueError("add_key needs key (a string) or key_b64")
    return e


def _headers(h):
    if h is None:
        return []
    if not isinstance(h, dict):
        raise ValueError("headers must be an object")
    for k, v in h.items():
        if not isinstance(k, str) or not (v is None or isinstance(v, str)):
            raise ValueError("headers: names map to strings or null")
        if "\r" in k or "\n" in k or (v and ("\r" in v or "\n" in v)):
            raise ValueError("headers: no CR/LF")
    return list(h.items())


def _response(d, defaults):
    if not isinstance(d, dict):
        raise ValueError("a response is an object")
    r = {"body": _body(d), "edits": None, "truncate": None, "append": b"",
         "status": d.get("status", defaults.get("status")),
         "headers": _headers(defaults.get("headers")) + _headers(d.get("headers"))}
    if "edits" in d:
        if r["body"] is not None:
            raise ValueError("give a body or edits, not both")
        if not isinstance(d["edits"], list):
            raise ValueError("edits must be a list")
        r["edits"] = [_edit(e) for e in d["edits"]]
    t = d.get("truncate")
    if t is not None:
        if isinstance(t, bool) or not isinstance(t, int):
            raise ValueError("truncate must be an integer")
        r["truncate"] = t
    if "append" in d or "append_b64" in d:
        r["append"] = (_b64(d["append_b64"], "append_b64") if "append_b64" in d
                       else str(d["append"]).encode("utf-8"))
    s = r["status"]
    if s is not None and (isinstance(s, bool) or not isinstance(s, int) or not 100 <= s <= 599):
        raise ValueError("status must be an HTTP status")
    return r


class Rule:
    def __init__(self, rid, d):
        if not isinstance(d.get("path_prefix"), str) or not d["path_prefix"].startswith("/"):
            raise ValueError("path_prefix (a path starting with /) is required")
        self.id = rid
        self.path_prefix = d["path_prefix"]
        self.operation = d.get("operation")
        if self.operation is not None and not isinstance(self.operation, str):
            raise ValueError("operation must be a string")
        bc = d.get("body_contains")
        if bc is not None and (not isinstance(bc, str) or bc == ""):
            raise ValueError("body_contains must be a non-empty string")
        self.body_contains = bc.encode("utf-8") if bc else None
        self.skip = d.get("skip", 0)
        self.times = d.get("times", 1)
        for name in ("skip", "times"):
            v = getattr(self, name)
            if isinstance(v, bool) or not isinstance(v, int) or v < 0:
                raise ValueError("%s must be an integer >= 0" % name)
        defaults = {"status": d.get("status"), "headers": d.get("headers")}
        specs = d.get("responses")
        if "bodies" in d:
            if specs is not None:
                raise ValueError("give responses or bodies, not both")
            if not isinstance(d["bodies"], list):
                raise ValueError("bodies must be a list of base64 strings")
            specs = [{"body_b64": b} for b in d["bodies"]]
        if not isinstance(specs, list) or not specs:
            raise ValueError("responses (or bodies) must be a non-empty list")
        self.responses = [_response(x, defaults) for x in specs]
        self.served = 0
        self.errors = []

    @property
    def remaining(self):
        return max(0, len(self.responses) * self.times - self.served)

    def matches(self, req, label, body):
        if not req.path.startswith(self.path_prefix):
            return False
        if self.operation is not None and self.operation != label(req):
            return False
        return self.body_contains is None or self.body_contains in body()

    def to_dict(self):
        return {"id": self.id, "path_prefix": self.path_prefix, "operation": self.operation,
                "body_contains": self.body_contains.decode("utf-8") if self.body_contains
                else None,
                "skip_left": self.skip, "responses": len(self.responses),
                "times": self.times, "served": self.served, "remaining": self.remaining,
                "errors": self.errors[-10:]}


class Injections:
    def __init__(self):
        self.lock = threading.Lock()
        self.rules = {}        # domain -> [Rule]
        self.next_id = 1

    def add(self, domain, d):
        with self.lock:
            rule = Rule(self.next_id, d)
            self.next_id += 1
            self.rules.setdefault(domain, []).append(rule)
            return rule

    def clear(self, domain):
        with self.lock:
            self.rules.pop(domain, None)

    def listing(self, domain):
        with self.lock:
            return [r.to_dict() for r in self.rules.get(domain, [])]

    def pick(self, domain, req, body):
        """-> (rule, response spec) for this request, or (None, None)."""
        cache = {}

        def label(r):
            if "op" not in cache:
                cache["op"] = op_label(r)
            return cache["op"]

        with self.lock:
            for rule in self.rules.get(domain, []):
                if rule.remaining == 0 or not rule.matches(req, label, body):
                    continue
                if rule.skip > 0:
                    rule.skip -= 1
                    return None, None
                return rule, rule.responses[rule.served % len(rule.responses)]
        return None, None


_REG_LOCK = threading.Lock()


def registry(state):
    with _REG_LOCK:
        reg = getattr(state, "injections", None)
        if reg is None:
            reg = state.injections = Injections()
        return reg


# -- applying edits ----------------------------------------------------------------
class _Splice:
    """Placeholders in the document, replaced by raw bytes after encoding."""

    def __init__(self):
        self.nonce = secrets.token_hex(8)
        self.subs = []

    def _token(self, raw):
        tok = "__standin_inject_%s_%d__" % (self.nonce, len(self.subs))
        self.subs.append((to_json(tok), raw))
        return tok

    def value(self, val):
        kind, v = val
        return copy.deepcopy(v) if kind == "json" else self._token(v)

    def key(self, raw):
        return self._token(raw)

    def encode(self, doc):
        out = to_json(doc)
        for ph, raw in self.subs:
            out = out.replace(ph, raw, 1)
        return out


def _index(arr, seg, path):
    """Array index of seg (an int or an IdSel) in arr, or EditError."""
    if isinstance(seg, IdSel):
        k = seg.pick(arr)
        if k is None:
            raise EditError("path %s: no element %s" % (_fmt(path), seg))
        return k
    return seg


def _fmt(path):
    return ".".join(map(str, path))


def _step(cur, seg, path):
    try:
        if isinstance(cur, list) and isinstance(seg, IdSel):
            return cur[_index(cur, seg, path)]
        if isinstance(cur, list) and isinstance(seg, int):
            return cur[seg]
        if isinstance(cur, dict):
            return cur[str(seg)]
    except (IndexError, KeyError):
        pass
    raise EditError("path %s: no %s here" % (_fmt(path), seg))


def _apply_one(doc, e, sp):
    path = e["path"]
    op = e["op"]
    if op == "set" and not path:
        return sp.value(e["val"])
    parent = doc
    steps = path if op == "add_key" else path[:-1]
    for seg in steps:
        parent = _step(parent, seg, path)
    if op == "add_key":
        if not isinstance(parent, dict):
            raise EditError("add_key: %s is not an object" % _fmt(path))
        parent[sp.key(e["key"])] = sp.value(e["val"])
        return doc
    last = path[-1]
    if isinstance(parent, list):
        last = _index(parent, last, path)
        if not isinstance(last, int):
            raise EditError("path %s: %r indexes an array" % (_fmt(path), last))
        n = len(parent)
        idx = last + n if last < 0 else last
        if op == "insert":
            if not 0 <= idx <= n:
                raise EditError("insert: index %d outside 0..%d" % (last, n))
            parent.insert(idx, sp.value(e["val"]))
        elif op == "set" and idx == n:
            parent.append(sp.value(e["val"]))
        elif not 0 <= idx < n:
            raise EditError("path %s: index %d outside the array" % (_fmt(path), last))
        elif op == "set":
            parent[idx] = sp.value(e["val"])
        else:
            del parent[idx]
    elif isinstance(parent, dict):
        if op == "insert":
            raise EditError("insert: %s is not an array" % _fmt(path[:-1]))
        k = str(last)
        if op == "set":
            parent[k] = sp.value(e["val"])
        elif k in parent:
            del parent[k]
        else:
            raise EditError("delete: no key %r" % k)
    else:
        raise EditError("path %s: not a container" % _fmt(path))
    return doc


def _edit_json(data, edits):
    try:
        doc = json.loads(data.decode("utf-8"))
    except (ValueError, UnicodeDecodeError) as e:
        raise EditError("the real answer is not JSON: %s" % e)
    sp = _Splice()
    for e in edits:
        doc = _apply_one(doc, e, sp)
    return sp.encode(doc)


def _edit_jsonl(data, edits):
    lines = data.split(b"\n")
    tail = lines and lines[-1] == b""
    if tail:
        lines.pop()
    by_line = {}
    for e in edits:
        if not e["path"] or not isinstance(e["path"][0], int):
            raise EditError("JSONL edits start with a line number")
        n = e["path"][0]
        idx = n + len(lines) if n < 0 else n
        if not 0 <= idx < len(lines):
            raise EditError("JSONL: no line %d (%d lines)" % (n, len(lines)))
        by_line.setdefault(idx, []).append(dict(e, path=e["path"][1:]))
    for idx, es in by_line.items():
        lines[idx] = _edit_json(lines[idx], es)
    return b"\n".join(lines) + (b"\n" if tail else b"")


class _BytesStream:
    """Replacement bytes for a streamed answer (keeps its download record)."""

    def __init__(self, data, orig):
        self.data, self.orig, self.length = data, orig, len(data)

    def chunks(self):
        for i in range(0, len(self.data), 256 * 1024):
            yield self.data[i:i + 256 * 1024]

    def finish(self, sent, complete, fault):
        if self.orig is not None:
            self.orig.finish(sent, complete, fault)


def apply(req, resp):
    """Called by the pipeline for each 2xx API answer; returns the answer to send."""
    reg = getattr(req.state, "injections", None)
    if reg is None or req.shop is None or not 200 <= resp.status < 300:
        return resp
    real = []

    def real_bytes():
        if not real:
            if resp.stream is not None:     # read once; sent from memory below
                data = b"".join(resp.stream.chunks())
                resp.stream = _BytesStream(data, resp.stream)
                real.append(data)
            else:
                real.append(resp.payload())
        return real[0]

    rule, spec = reg.pick(req.shop.domain, req, real_bytes)
    if rule is None:
        return resp
    try:
        data = spec["body"]
        if data is None:
            data = real_bytes()
            if spec["edits"]:
                jsonl = resp.stream is not None or resp.content_type.startswith("application/jsonl")
                data = (_edit_jsonl if jsonl else _edit_json)(data, spec["edits"])
    except EditError as e:
        with reg.lock:
            rule.errors.append("%s %s: %s" % (req.method, req.path, e))
        req.notes.append("inject_failed")
        return resp
    if spec["truncate"] is not None:
        data = data[:spec["truncate"]]
    data += spec["append"]
    with reg.lock:
        rule.served += 1
    req.notes.append("injected")
    if resp.stream is not None:
        orig = resp.stream.orig if isinstance(resp.stream, _BytesStream) else resp.stream
        resp.stream = _BytesStream(data, orig)
    else:
        resp.raw, resp.body = data, None
    if spec["status"] is not None:
        resp.status = spec["status"]
    for name, value in spec["headers"]:
        if name.lower() == "content-type":
            resp.content_type = value or "application/octet-stream"
            continue
        resp.headers = [(k, v) for k, v in resp.headers if k.lower() != name.lower()]
        if value is not None:
            resp.headers.append((name, value))
    return resp


# -- control ----------------------------------------------------------------------
@ROUTER.control("POST", SHOP)
def add_rule(req):
    domain = unquote(req.match["domain"])
    req.state.shop(domain)                 # 404 for an unknown shop
    d = req.json()
    reg = registry(req.state)
    if d.get("clear"):
        reg.clear(domain)
        return Response(200, {"rules": []})
    try:
        rule = reg.add(domain, d)
    except (TypeError, ValueError) as e:
        raise HttpError(400, "inject: %s" % e)
    return Response(200, {"rule": rule.to_dict(), "rules": reg.listing(domain)})


@ROUTER.control("GET", SHOP)
def list_rules(req):
    domain = unquote(req.match["domain"])
    req.state.shop(domain)
    return Response(200, {"rules": registry(req.state).listing(domain)})
