"""The GraphQL oracle: a long-running Node.js helper (test/graphql/oracle.mjs)
that parses, validates and prices GraphQL requests against Shopify's published
Admin schemas with graphql-js, and returns the normalised selection tree that
gqlexec.py executes.

One process per stand-in, JSON lines over its stdin/stdout, one request at a
time (under a lock).  Answers are cached per (version, query, variables,
operation name, bulk).  The stand-in refuses to start without it
(``OracleError`` with what to install): GraphQL is never answered without
the schema.
"""
import json
import os
import select
import shutil
import subprocess
import sys
import threading
import time
from collections import OrderedDict

CACHE_MAX = 4096
START_TIMEOUT = 30.0
HINT = "run scripts/install-node-deps.sh (as root) first"


class OracleError(RuntimeError):
    pass


def _log(msg):
    sys.stderr.write("standin: %s\n" % msg)
    sys.stderr.flush()


class Selection:
    """The fields selected on one object, with what gqlexec.project's fast
    path needs: `scalars` ((key, name) pairs) when the selection is plain (no
    type conditions, no __typename) and its scalars all come first."""
    __slots__ = ("fields", "scalars", "others", "fast")

    def __init__(self, fields):
        self.fields = fields
        n = 0
        while n < len(fields) and fields[n].kind == "scalar":
            n += 1
        self.scalars = tuple((f.key, f.name) for f in fields[:n])
        self.others = fields[n:]
        self.fast = all(f.on is None and f.kind not in ("scalar", "typename")
                        for f in self.others) and all(f.on is None for f in fields[:n])


class Field:
    """One field of a normalised selection tree (see test/graphql/tree.mjs)."""
    __slots__ = ("name", "alias", "key", "args", "type", "list", "kind", "on",
                 "possible", "cost", "selections", "sel", "node_selections", "node_sel")

    def __init__(self, d):
        self.name = d["name"]
        self.alias = d.get("alias")
        self.key = self.alias or self.name
        self.args = d.get("args") or {}
        self.type = d.get("type")
        self.list = bool(d.get("list"))
        self.kind = d.get("kind")
        self.on = d.get("on")
        p = d.get("possible")
        self.possible = frozenset(p) if p else None
        self.cost = d.get("cost", 0)
        self.selections = [Field(s) for s in d.get("selections") or ()]
        self.sel = Selection(self.selections)
        self.node_selections = self.node_sel = None
        if self.kind == "connection":
            self.node_selections = _node_selections(self.selections)
            self.node_sel = Selection(self.node_selections)

    def matches(self, typename):
        """Does this field apply to an object of that type?"""
        return self.on is None or self.on == typename or \
            (self.possible is not None and typename in self.possible)

    def __repr__(self):
        return "Field(%s:%s %s)" % (self.key, self.type, self.kind)


def _node_selections(conn_fields):
    """What a connection selects of its nodes: `nodes { }` and
    `edges { node { } }` merged (bulk exports read nodes this way)."""
    out, seen = [], set()
    for c in conn_fields:
        subs = []
        if c.name == "nodes":
            subs = c.selections
        elif c.name == "edges":
            for e in c.selections:
                if e.name == "node":
                    subs = subs + e.selections
        for s in subs:
            k = (s.key, s.on)
            if k not in seen:
                seen.add(k)
                out.append(s)
    return out


class Answer:
    """The oracle's verdict on one request."""
    __slots__ = ("errors", "cost", "operation", "name", "root", "fields", "deprecated",
                 "api_version")

    def __init__(self, d):
        self.errors = d.get("errors") or []
        self.cost = d.get("cost") or 0
        self.operation = d.get("operation")
        self.name = d.get("name")
        self.deprecated = d.get("deprecated") or []
        self.api_version = d.get("api_version")
        tree = d.get("tree")
        self.root = tree["root"] if tree else None
        self.fields = [Field(f) for f in tree["fields"]] if tree else []


class Oracle:
    def __init__(self, graphql_dir, node=None, preload=()):
        self.dir = os.path.abspath(graphql_dir)
        self.node = node or os.environ.get("SHOPIFY_STANDIN_NODE") or shutil.which("node")
        self.preload = list(preload)
        self.lock = threading.Lock()
        self.proc = None
        self.seq = 0
        self.versions = []
        self.cache = OrderedDict()
        self.cache_lock = threading.Lock()
        self.calls = 0
        self.hits = 0
        self.seconds = 0.0

    # -- process ----------------------------------------------------------------
    def check(self):
        """Raise OracleError unless node, graphql-js and the schemas are there."""
        if not self.node or not os.access(self.node, os.X_OK):
            raise OracleError("Node.js (node, 18+) not found (set --node or PATH); " + HINT)
        script = os.path.join(self.dir, "oracle.mjs")
        if not os.path.isfile(script):
            raise OracleError("GraphQL oracle %s not found (--graphql-dir)" % script)
        if not os.path.isfile(os.path.join(self.dir, "node_modules", "graphql", "package.json")):
            raise OracleError("graphql-js is not installed in %s/node_modules; %s"
                              % (self.dir, HINT))
        sdir = os.path.join(self.dir, "schema")
        try:
            names = [n for n in os.listdir(sdir) if n.startswith("admin_")
                     and n.endswith(".json.gz")]
        except OSError:
            names = []
        if not names:
            raise OracleError("no Shopify Admin schemas (admin_<version>.json.gz) in %s; %s"
                              % (sdir, HINT))

    def start(self):
        self.check()
        cmd = [self.node, os.path.join(self.dir, "oracle.mjs"),
               "--schema-dir", os.path.join(self.dir, "schema")]
        if self.preload:
            cmd += ["--preload", ",".join(self.preload)]
        try:
            self.proc = subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                         stderr=None, cwd=self.dir, close_fds=True)
        except OSError as e:
            raise OracleError("cannot start %s: %s" % (" ".join(cmd), e))
        first = self._readline(START_TIMEOUT)
        try:
            hello = json.loads(first) if first else {}
        except ValueError:
            hello = {}
        if not hello.get("ready"):
            self.stop()
            raise OracleError("the GraphQL oracle did not start: %s"
                              % (hello.get("error") or first or "no answer"))
        self.versions = hello.get("versions") or []
        _log("GraphQL oracle pid=%d: graphql-js %s, schemas %s"
             % (self.proc.pid, hello.get("graphql"), ", ".join(self.versions)))

    def _readline(self, timeout=None):
        out = self.proc.stdout
        if timeout is not None:
            r, _, _ = select.select([out], [], [], timeout)
            if not r:
                return None
        line = out.readline()
        return line.decode("utf-8") if line else None

    def stop(self):
        p, self.proc = self.proc, None
        if p is None:
            return
        try:
            p.stdin.close()
        except OSError:
            pass
        try:
            p.wait(timeout=3)
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait()

    def _call(self, msg):
        with self.lock:
            for _attempt in (1, 2):
                if self.proc is None or self.proc.poll() is not None:
                    if self.proc is not None:
                        _log("GraphQL oracle exited (status %s); restarting"
                             % self.proc.returncode)
                    self.start()
                self.seq += 1
                msg["id"] = self.seq
                try:
                    self.proc.stdin.write(json.dumps(msg, separators=(",", ":")).encode("utf-8")
                                          + b"\n")
                    self.proc.stdin.flush()
                    line = self._readline()
                except (OSError, ValueError):
                    line = None
                if line:
                    d = json.loads(line)
                    if d.get("id") != msg["id"]:
                        raise OracleError("GraphQL oracle answered %r to request %d"
                                          % (d.get("id"), msg["id"]))
                    return d
                self.proc.poll()
            raise OracleError("the GraphQL oracle does not answer")

    # -- requests ---------------------------------------------------------------
    def warm(self, version):
        self._call({"load": version})

    def ask(self, version, query, variables=None, operation_name=None, bulk=False):
        """-> Answer (cached; treat it as read-only)."""
        vkey = json.dumps(variables, sort_keys=True, separators=(",", ":")) \
            if variables else ""
        key = (version, bool(bulk), operation_name or "", query, vkey)
        with self.cache_lock:
            self.calls += 1
            a = self.cache.get(key)
            if a is not None:
                self.cache.move_to_end(key)
                self.hits += 1
                return a
        t = time.monotonic()
        d = self._call({"api_version": version, "query": query, "variables": variables or {},
                        "operationName": operation_name, "bulk": bool(bulk)})
        if d.get("internal_error"):
            raise OracleError("GraphQL oracle: %s" % d["internal_error"])
        a = Answer(d)
        with self.cache_lock:
            self.seconds += time.monotonic() - t
            self.cache[key] = a
            if len(self.cache) > CACHE_MAX:
                self.cache.popitem(last=False)
        return a

    def stats(self):
        with self.cache_lock:
            return {"calls": self.calls, "cache_hits": self.hits,
                    "oracle_seconds": round(self.seconds, 3), "cached": len(self.cache),
                    "versions": self.versions,
                    "pid": self.proc.pid if self.proc else None}


ORACLE = None       # set by shopify_standin.py (configure)


def configure(graphql_dir, node=None, preload=()):
    """Start the process-wide oracle; raises OracleError."""
    global ORACLE
    o = Oracle(graphql_dir, node, preload)
    o.start()
    ORACLE = o
    return o


def get():
    if ORACLE is None:
        raise OracleError("the GraphQL oracle was not started")
    return ORACLE
