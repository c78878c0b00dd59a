#!/usr/bin/python3 -I
"""The PGXN META.json and the versions that must agree with the Makefile.

META.json is validated offline against a JSON Schema of PGXN's meta-spec
1.0.0 (test/pgxn/meta-spec-1.0.0.schema.json, written from the spec text:
pgxnclient, Debian's PGXN client, has no offline validator -- its `pgxn
check` runs a distribution's regression tests -- and PGXN itself cannot be
reached from here).  The schema is shown to refuse broken documents too, so
that a schema accepting anything cannot pass.  Then: the one version set in
the Makefile (EXTVERSION) is the distribution's, the extension's, the
install script's and debian/changelog's upstream version; the files META.json
names exist; `make dist` makes a PGXN-shaped zip (META.json at the top of
shopify_sync-X.Y.Z/).

Prints "ok - ..." / "not ok - ..." lines (scripts/test.sh counts them); exits
1 when one fails.  Run with Debian's python3 (-I: python3-jsonschema, not a
user's site-packages).
"""
import copy
import json
import os
import re
import subprocess
import sys
import tempfile
import zipfile

import jsonschema

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
failures = 0


def report(ok, what, detail=None):
    global failures
    print(("ok - " if ok else "not ok - ") + what)
    if not ok:
        failures += 1
        if detail:
            for line in str(detail).splitlines()[:20]:
                print("   " + line)
    return ok


def read(path):
    with open(os.path.join(ROOT, path), encoding="utf-8") as f:
        return f.read()


makefile = read("Makefile")
extversion = re.search(r"^EXTVERSION\s*=\s*(\S+)", makefile, re.M).group(1)
extension = re.search(r"^EXTENSION\s*=\s*(\S+)", makefile, re.M).group(1)

# ---- META.json against the meta-spec 1.0.0 schema
try:
    meta = json.loads(read("META.json"))
    report(True, "META.json is JSON")
except ValueError as e:
    report(False, "META.json is JSON", e)
    sys.exit(1)

schema = json.loads(read("test/pgxn/meta-spec-1.0.0.schema.json"))
Validator = jsonschema.Draft202012Validator
try:
    Validator.check_schema(schema)
    report(True, "the meta-spec 1.0.0 schema is a valid JSON Schema (draft 2020-12)")
except jsonschema.SchemaError as e:
    report(False, "the meta-spec 1.0.0 schema is a valid JSON Schema", e)
    sys.exit(1)
validator = Validator(schema)


def errors(doc):
    return sorted(("/".join(map(str, e.absolute_path)) or "(top)") + ": " + e.message
                  for e in validator.iter_errors(doc))


errs = errors(meta)
report(not errs, "META.json follows PGXN meta-spec %s" % meta.get("meta-spec", {}).get("version"),
       "\n".join(errs))

# the schema refuses what the spec refuses
broken = {
    "without provides": lambda m: m.pop("provides"),
    "without maintainer": lambda m: m.pop("maintainer"),
    "a version that is not SemVer (0.4)": lambda m: m.update(version="0.4"),
    "an unknown licence string (GPL)": lambda m: m.update(license="GPL"),
    "a name with a space": lambda m: m.update(name="shopify sync"),
    "an extension without its version":
        lambda m: m["provides"][extension].pop("version"),
    "a prerequisite with a bad version range":
        lambda m: m.setdefault("prereqs", {}).setdefault("runtime", {}).setdefault(
            "requires", {}).update(PostgreSQL="fifteen"),
    "meta-spec 2.0.0": lambda m: m["meta-spec"].update(version="2.0.0"),
    "an unknown top-level key": lambda m: m.update(homepage="https://example.org/"),
}
accepted = []
for what, breakit in broken.items():
    doc = copy.deepcopy(meta)
    breakit(doc)
    if not errors(doc):
        accepted.append(what)
report(not accepted, "the schema refuses %d broken variants of META.json" % len(broken),
       "accepted: " + ", ".join(accepted))

# ---- one version everywhere
report(meta.get("name") == extension and extension in meta.get("provides", {}),
       "META.json: distribution %s provides the extension %s" % (meta.get("name"), extension))
report(meta.get("version") == extversion,
       "META.json version %s is the Makefile's EXTVERSION %s" % (meta.get("version"), extversion))
ext = meta.get("provides", {}).get(extension, {})
report(ext.get("version") == extversion,
       "META.json provides %s version %s = EXTVERSION" % (extension, ext.get("version")))
for key in ("file", "docfile"):
    path = ext.get(key)
    report(bool(path) and os.path.isfile(os.path.join(ROOT, path)),
           "META.json provides.%s.%s exists: %s" % (extension, key, path))
report(ext.get("file") == "sql/%s--%s.sql" % (extension, extversion),
       "META.json provides.%s.file is the install script of %s" % (extension, extversion))
pg = (meta.get("prereqs", {}).get("runtime", {}).get("requires", {}).get("PostgreSQL"))
report(isinstance(pg, str) and ">= 15.0.0" in pg and "< 16.0.0" in pg,
       "META.json: runtime requires PostgreSQL 15 (%s), as debian/pgversions" % pg)
control_in = read("%s.control.in" % extension)
report("default_version = '@EXTVERSION@'" in control_in,
       "the control file's default_version comes from EXTVERSION (%s.control.in)" % extension)
changelog = read("debian/changelog").splitlines()[0]
m = re.match(r"^(\S+) \(((\d+):)?([^)]+?)(-[^-)]+)?\)", changelog)
report(m is not None and m.group(4) == extversion,
       "debian/changelog's upstream version %s = EXTVERSION" % (m.group(4) if m else changelog))

# ---- make dist: a PGXN-shaped zip of the committed tree
if subprocess.run(["git", "-C", ROOT, "rev-parse", "--verify", "-q", "HEAD"],
                  stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL).returncode == 0:
    with tempfile.TemporaryDirectory() as tmp:
        zpath = os.path.join(tmp, "dist.zip")
        r = subprocess.run(["make", "-s", "-C", ROOT, "dist", "DIST=" + zpath],
                           capture_output=True, text=True)
        if report(r.returncode == 0 and os.path.isfile(zpath), "make dist makes a zip", r.stderr):
            with zipfile.ZipFile(zpath) as z:
                names = set(z.namelist())
                top = {n.split("/", 1)[0] for n in names}
                prefix = "%s-%s" % (extension, extversion)
                want = ["META.json", "Makefile", "%s.control.in" % extension,
                        "sql/%s--%s.sql" % (extension, extversion), "README.md"]
                missing = [w for w in want if prefix + "/" + w not in names]
                report(top == {prefix} and not missing,
                       "the zip holds one folder %s/ with META.json, the Makefile and the install script" % prefix,
                       "top: %s; missing: %s" % (sorted(top), missing))
else:
    print("# make dist: not a git checkout, not checked")

sys.exit(1 if failures else 0)
