#!/usr/bin/env python3
"""The source tree's rules, checked (scripts/test.sh runs this as a suite).

src/ has one folder per layer; a file may include (and so call) only its own
folder's headers and those of the layers below it:

    src/shopify_sync.c   the module's entry (_PG_init): may use any layer
    sql/      the SQL-callable surface
    listener/ the webhook listener (HTTP, libmicrohttpd): calls worker/receive.c
    worker/   the background processes
    sync/     one sync job
    shopify/  the Shopify client
    http/     libcurl
    mirror/   declarations, rows, writes
    base/     settings, shared memory, crypto, log, JSON, utilities

Inside a folder, the includes between its files form no circle.  No file is
longer than MAX_LINES.  Each file opens with a comment that says what it is.
Prints TAP ("ok N - ..." / "not ok N - ...") and exits non-zero on a failure.
"""
import os
import re
import sys

LAYERS = ["base", "mirror", "http", "shopify", "sync", "worker", "listener", "sql"]
MAX_LINES = 620
ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "src")

results = []


def check(ok, what, detail=None):
    results.append((ok, what, detail))


files = []
for dirpath, _, names in os.walk(ROOT):
    for n in names:
        if n.endswith((".c", ".h")):
            files.append(os.path.relpath(os.path.join(dirpath, n), ROOT))
files.sort()

inc_re = re.compile(r'^\s*#\s*include\s+"([^"]+)"', re.M)
includes = {}
for f in files:
    with open(os.path.join(ROOT, f), encoding="utf-8") as fh:
        text = fh.read()
    includes[f] = [i for i in inc_re.findall(text) if os.path.exists(os.path.join(ROOT, i))]
    folder = f.split("/")[0] if "/" in f else None
    # layering
    bad = []
    for i in includes[f]:
        target = i.split("/")[0] if "/" in i else None
        if folder is None or target is None:
            continue            # the entry file, or a header of the root (assert_on.h)
        if LAYERS.index(target) > LAYERS.index(folder):
            bad.append(i)
    check(not bad, "%s includes only its own layer and those below" % f,
          "upward: " + ", ".join(bad) if bad else None)
    if folder is None and f.endswith(".c") and f != "shopify_sync.c":
        check(False, "%s sits in a layer's folder" % f)
    n = text.count("\n")
    check(n <= MAX_LINES, "%s is at most %d lines" % (f, MAX_LINES), "%d lines" % n if n > MAX_LINES else None)
    check(text.lstrip().startswith("/*"), "%s opens with a comment on what it is" % f)

# no circle inside a folder: among .c files, file A "uses" B when A includes
# B's header (b.h next to b.c)
for layer in LAYERS:
    cs = [f for f in files if f.startswith(layer + "/") and f.endswith(".c")]
    uses = {}
    for f in cs:
        uses[f] = set()
        for i in includes[f]:
            if i.startswith(layer + "/") and i.endswith(".h"):
                c = i[:-2] + ".c"
                if c in cs and c != f:
                    uses[f].add(c)
    # depth-first search for a cycle
    state = {}
    cycle = []

    def visit(f, stack):
        state[f] = 1
        stack.append(f)
        for g in sorted(uses[f]):
            if state.get(g) == 1:
                cycle.extend(stack[stack.index(g):] + [g])
                return True
            if g not in state and visit(g, stack):
                return True
        state[f] = 2
        stack.pop()
        return False

    for f in sorted(cs):
        if f not in state and visit(f, []):
            break
    check(not cycle, "%s/: its files call one way (no circle of includes)" % layer,
          " -> ".join(cycle) if cycle else None)

failed = 0
for k, (ok, what, detail) in enumerate(results, 1):
    print("%s %d - %s" % ("ok" if ok else "not ok", k, what))
    if not ok:
        failed += 1
        if detail:
            print("#   " + detail)
print("1..%d" % len(results))
sys.exit(1 if failed else 0)
