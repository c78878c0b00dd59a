#!/usr/bin/env bash
# The Debian package end to end: scripts/test.sh's "== package" section.
#
#   1. builds postgresql-15-shopify-sync with `dpkg-buildpackage -us -uc -b`
#      in a copy of the tree (debian/rules: pg_buildext's VPATH build with
#      the Makefile's -Werror, then the pg_regress suites against the
#      package's files in a pg_virtualenv cluster with the library preloaded);
#   2. checks the .deb: its version is the Makefile's EXTVERSION, it holds
#      every file `make install` writes, it depends on what the library links;
#   3. installs it with apt-get (dpkg underneath) on a throw-away copy of this
#      system: a chroot onto an overlay of / made in a private mount
#      namespace, its writes kept in a tmpfs.  The shopify_sync files that
#      `make install` left on the machine are first removed there, so the
#      package is installed on a system without them.  Nothing reaches the
#      real system: the suites that other people run from it, or that run
#      after this one, see no package;
#      SHOPIFY_SYNC_PACKAGE_ROOT=debootstrap puts a fresh Debian 12 minbase
#      (debootstrap, kept in /var/cache/shopify_sync/) under the overlay
#      instead of /: apt-get then downloads postgresql-15 and the libraries
#      from Debian (about 2 minutes more, the network needed);
#   4. there, a cluster with the library preloaded: CREATE EXTENSION, a store
#      connected to the stand-in (scripts/lib.sh), a product sync, the rows
#      compared with the stand-in's catalog field by field; then the
#      autopkgtest (debian/tests/installcheck) against the installed package,
#      `make install` over it, and a purge that leaves no file behind.
#
# Prints one "ok - ..." or "not ok - ..." line per check (test.sh counts
# them), and the build log's last lines.  Needs root (test.sh runs it as
# root).  Usage: scripts/test-package.sh WORKDIR   (an empty directory)
set -uo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
W=${1:?usage: test-package.sh WORKDIR}
PG=15
PKG=postgresql-$PG-shopify-sync
EXTVERSION=$(sed -n -E 's/^EXTVERSION[[:space:]]*=[[:space:]]*//p' "$ROOT/Makefile")

PACKAGE_ROOT=${SHOPIFY_SYNC_PACKAGE_ROOT:-overlay}
MINBASE=${SHOPIFY_SYNC_MINBASE:-/var/cache/shopify_sync/bookworm-minbase}

ok()  { echo "ok - $*"; }
nok() { echo "not ok - $*"; }
check() {  # check DESCRIPTION COMMAND...: one line for the command's success
  local what=$1; shift
  if "$@"; then ok "$what"; else nok "$what"; return 1; fi
}
T0=$(date +%s)

mkdir -p "$W"
chown postgres: "$W"
chmod 755 "$W"

# ---------------------------------------------------------------- the tree
# The files of the checkout (tracked, and new ones not ignored), so that
# uncommitted work is what gets packaged; without git, the whole tree.
SRC=$W/shopify-sync-$EXTVERSION
mkdir -p "$SRC"
if git -C "$ROOT" rev-parse --is-inside-work-tree >/dev/null 2>&1; then
  (cd "$ROOT" && git ls-files -z --cached --others --exclude-standard \
     | xargs -0 -r sh -c 'for f; do [ -e "$f" ] && printf "%s\0" "$f"; done' sh \
     | xargs -0 -r cp --parents -t "$SRC")
else
  (cd "$ROOT" && tar --exclude=./.git --exclude='*.o' --exclude='*.so' --exclude='*.bc' \
     --exclude=./test/graphql/node_modules -cf - .) | tar -C "$SRC" -xf -
fi
# the autopkgtest runs in a clean source tree of its own
cp -a "$SRC" "$W/autopkgtest-src"

# ---------------------------------------------------------------- 1. build
echo "   building $PKG with dpkg-buildpackage -us -uc -b (pg_buildext; suites at build time)"
BUILD_START=$(date +%s)
(cd "$SRC" && DEB_BUILD_OPTIONS="parallel=$(nproc)" dpkg-buildpackage -us -uc -b) > "$W/build.log" 2>&1
BUILD_RC=$?
BUILD_SECONDS=$(( $(date +%s) - BUILD_START ))
echo "   ---- build log, last lines ($BUILD_SECONDS s):"
tail -n 12 "$W/build.log" | sed 's/^/   | /'
check "dpkg-buildpackage -us -uc -b builds $PKG" [ "$BUILD_RC" -eq 0 ] || true
if [ "$BUILD_RC" -ne 0 ]; then
  echo "   ---- build log, around the failure:"
  grep -n -E 'error|FAILED|failed|\*\*\*' "$W/build.log" | head -n 30 | sed 's/^/   | /'
  exit 1
fi
check "the regress suites passed at build time, the library preloaded (pg_buildext installcheck)" \
  grep -qE '^ *All [0-9]+ tests passed' "$W/build.log"
check "the build log has no compiler warning (-Wall -Wextra -Werror)" \
  bash -c '! grep -E "warning:" "$1" | grep -v "^dpkg-" ' _ "$W/build.log"

DEB=$(ls "$W"/"${PKG}"_*.deb 2>/dev/null | head -n 1)
check "one .deb: ${DEB##*/}" [ -n "$DEB" ] || exit 1

# ---------------------------------------------------------------- 2. the .deb
VERSION=$(dpkg-deb -f "$DEB" Version)
check "package version $VERSION is the Makefile's EXTVERSION $EXTVERSION (debian/changelog)" \
  [ "${VERSION%-*}" = "$EXTVERSION" ]
DEPENDS=$(dpkg-deb -f "$DEB" Depends)
missing_deps=
for d in "postgresql-$PG" libcurl4 libssl3 libyajl2 libmicrohttpd12 libc6; do
  grep -qE "(^|, )$d( |,|$)" <<<"$DEPENDS" || missing_deps+=" $d"
done
check "Depends names the server and every library the module links ($DEPENDS)" [ -z "$missing_deps" ] \
  || echo "   missing:$missing_deps"
dpkg-deb -c "$DEB" | awk '{print $6}' | sed 's|^\./|/|' | sort > "$W/deb-files"
missing_files=
for f in "/usr/lib/postgresql/$PG/lib/shopify_sync.so" "/usr/share/postgresql/$PG/extension/shopify_sync.control" \
         $(cd "$ROOT/sql" && ls shopify_sync--*.sql | sed "s|^|/usr/share/postgresql/$PG/extension/|"); do
  grep -qxF "$f" "$W/deb-files" || missing_files+=" $f"
done
check "the .deb holds the module, the control file and all $(ls "$ROOT"/sql/shopify_sync--*.sql | wc -l) SQL scripts" \
  [ -z "$missing_files" ] || echo "   missing:$missing_files"
CONTROL_VERSION=$(dpkg-deb --fsys-tarfile "$DEB" | tar -xOf - "./usr/share/postgresql/$PG/extension/shopify_sync.control" \
  | sed -n -E "s/^default_version = '(.*)'$/\\1/p")
check "the packaged control file says default_version '$CONTROL_VERSION'" [ "$CONTROL_VERSION" = "$EXTVERSION" ]

# ---------------------------------------------------------------- 3 + 4. install
# The stand-in (on the host; the chroot shares its network), a small store.
. "$ROOT/scripts/lib.sh"
WORKDIR=$W/standin-dir
mkdir -p "$WORKDIR" && chown postgres: "$WORKDIR"
SHOP=package-test.myshopify.com
TOKEN="shpat_$(head -c 16 /dev/urandom | od -An -tx1 | tr -d ' \n')"
start_standin "{\"shops\": [{\"domain\": \"$SHOP\", \"token\": \"$TOKEN\", \"name\": \"Package Test\",
  \"currency\": \"EUR\", \"plan_name\": \"basic\",
  \"catalog\": {\"products\": 150, \"variants_min\": 1, \"variants_max\": 6, \"big_products\": [40],
              \"seed\": 15, \"awkward\": true, \"drafts\": 0.05, \"archived\": 0.03}}]}"
trap 'kill "$STANDIN_PID" 2>/dev/null; wait "$STANDIN_PID" 2>/dev/null' EXIT
rm -f "$WORKDIR/standin.json"   # read; the token stays out of what the test leaves
curl -sf "$STANDIN_URL/_control/shops/$SHOP/expected?api=graphql" > "$W/expected.json"
chmod 644 "$W/expected.json"

# The system under the overlay: this one, or a Debian 12 minbase made once.
LOWER=/
if [ "$PACKAGE_ROOT" = debootstrap ]; then
  if [ ! -x "$MINBASE/usr/bin/apt-get" ]; then
    echo "   making a Debian 12 minbase in $MINBASE (debootstrap, once)"
    S=$(date +%s)
    rm -rf "$MINBASE.new" && mkdir -p "$(dirname "$MINBASE")"
    if ! debootstrap --variant=minbase bookworm "$MINBASE.new" http://deb.debian.org/debian > "$W/debootstrap.log" 2>&1; then
      nok "debootstrap of a Debian 12 minbase"; tail -n 20 "$W/debootstrap.log" | sed 's/^/   | /'; exit 1
    fi
    printf '%s\n' 'deb http://deb.debian.org/debian-security bookworm-security main' \
      'deb http://deb.debian.org/debian bookworm-updates main' >> "$MINBASE.new/etc/apt/sources.list"
    printf '#!/bin/sh\nexit 101\n' > "$MINBASE.new/usr/sbin/policy-rc.d"   # no services started
    chmod 755 "$MINBASE.new/usr/sbin/policy-rc.d"
    mkdir -p "$MINBASE.new/etc/postgresql-common"
    echo 'create_main_cluster = false' > "$MINBASE.new/etc/postgresql-common/createcluster.conf"
    mv "$MINBASE.new" "$MINBASE"
    echo "   (debootstrap: $(( $(date +%s) - S )) s)"
  fi
  LOWER=$MINBASE
fi

# What runs in the namespace: everything from here on, as root, with the
# overlay mounted; it prints its own ok/not ok lines.
cat > "$W/in-namespace.sh" <<'NS'
set -uo pipefail
ok()  { echo "ok - $*"; }
nok() { echo "not ok - $*"; }
check() { local what=$1; shift; if "$@"; then ok "$what"; else nok "$what"; return 1; fi; }
MNT=$W/root
mkdir -p "$W/layers" "$MNT"
mount -t tmpfs -o size=4g,mode=0755 shopify_sync_pkgtest "$W/layers" || { nok "a tmpfs for the overlay"; exit 1; }
mkdir -p "$W/layers/upper" "$W/layers/work"
if ! mount -t overlay shopify_sync_pkgtest -o "lowerdir=$LOWER,upperdir=$W/layers/upper,workdir=$W/layers/work" "$MNT"; then
  nok "an overlay of / to install into"; exit 1
fi
# never touch the real system: stop unless the chroot is the overlay
[ "$(findmnt -n -o FSTYPE --mountpoint "$MNT")" = overlay ] || { nok "the chroot is an overlay"; exit 1; }
mount -t proc proc "$MNT/proc"
mount --rbind /dev "$MNT/dev"
mount -t tmpfs -o mode=0755 run "$MNT/run"
IN() { chroot "$MNT" "$@"; }
if [ "$LOWER" = / ]; then
  ok "a throw-away system: chroot on an overlay of / (writes in a tmpfs, private mount namespace)"
else
  # this test's files, at the same path; apt reaches Debian
  mkdir -p "$MNT$W" && mount --bind "$W" "$MNT$W"
  cp /etc/resolv.conf "$MNT/etc/resolv.conf"
  ok "a throw-away system: chroot on an overlay of a Debian 12 minbase (debootstrap; writes in a tmpfs, private mount namespace)"
fi
mkdir -p "$MNT/run/postgresql"
IN chown postgres:postgres /run/postgresql 2>/dev/null; chmod 2775 "$MNT/run/postgresql"

# a system without shopify_sync: a package left installed is purged, the
# files `make install` wrote (no package owns them) are removed
if IN dpkg-query -W -f='${Status}' "$PKG" 2>/dev/null | grep -q 'install ok installed'; then
  IN dpkg -P "$PKG" >/dev/null
fi
for f in "/usr/lib/postgresql/$PG/lib/shopify_sync.so" "/usr/lib/postgresql/$PG/lib/bitcode/shopify_sync.index.bc" \
         "/usr/lib/postgresql/$PG/lib/bitcode/shopify_sync" /usr/share/postgresql/$PG/extension/shopify_sync*; do
  f=${f#"$MNT"}
  [ -e "$MNT$f" ] || continue
  IN dpkg -S "$f" >/dev/null 2>&1 && { nok "$f belongs to a package"; exit 1; }
  rm -rf "$MNT$f"
done
check "no shopify_sync file on the system before the install" \
  bash -c '! ls "$1"/usr/lib/postgresql/*/lib/shopify_sync.so "$1"/usr/share/postgresql/*/extension/shopify_sync* 2>/dev/null | grep -q .' _ "$MNT"

# the README's command: apt installs the .deb, its dependencies already
# there (install-deps.sh); on the minbase apt fetches them, and what the
# autopkgtest and `make install` below need (postgresql-server-dev-all)
EXTRA=()
if [ "$LOWER" != / ]; then
  IN apt-get update -q > "$W/apt.log" 2>&1
  EXTRA=(postgresql-server-dev-all)
fi
if IN env DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "$DEB" "${EXTRA[@]}" >> "$W/apt.log" 2>&1; then
  ok "apt-get install ./${DEB##*/} (dpkg -i underneath)"
else
  nok "apt-get install ./${DEB##*/}"; sed 's/^/   | /' "$W/apt.log" | tail -n 20; exit 1
fi
check "dpkg: $PKG $(IN dpkg-query -W -f='${Version}' "$PKG") installed, its files as shipped (dpkg --verify)" \
  bash -c '[ "$(chroot "$1" dpkg-query -W -f="\${Status}" "$2")" = "install ok installed" ] && chroot "$1" dpkg --verify "$2"' _ "$MNT" "$PKG"
check "dpkg -S: the module belongs to $PKG" \
  bash -c 'chroot "$1" dpkg -S "/usr/lib/postgresql/$3/lib/shopify_sync.so" | grep -q "^$2:"' _ "$MNT" "$PKG" "$PG"

# a cluster with the library preloaded, as the README says
BIN=/usr/lib/postgresql/$PG/bin
D=$W/cluster
mkdir -p "$MNT$D" && IN chown postgres: "$D"
PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
IN runuser -u postgres -- "$BIN/initdb" -D "$D/data" -A trust -U postgres -E UTF8 --locale=C.UTF-8 >/dev/null
cat >> "$MNT$D/data/postgresql.conf" <<EOF
port = $PORT
listen_addresses = ''
unix_socket_directories = '$D'
shared_preload_libraries = 'shopify_sync'
shopify_sync.database_name = 'shop'
shopify_sync.api_base_url = '$STANDIN_URL'
EOF
STARTED=
stop_cluster() { [ -n "$STARTED" ] && IN runuser -u postgres -- "$BIN/pg_ctl" -D "$D/data" -m fast -w stop >/dev/null 2>&1; STARTED=; }
trap stop_cluster EXIT
if IN runuser -u postgres -- "$BIN/pg_ctl" -D "$D/data" -l "$D/server.log" -w start >/dev/null; then
  STARTED=1; ok "a PostgreSQL $PG cluster starts with shared_preload_libraries = 'shopify_sync'"
else
  nok "the cluster starts with the library preloaded"; tail -n 20 "$MNT$D/server.log" | sed 's/^/   | /'; exit 1
fi
IN runuser -u postgres -- "$BIN/createdb" -h "$D" -p "$PORT" shop
PSQL=(chroot "$MNT" runuser -u postgres -- env SHOP="$SHOP" TOKEN="$TOKEN" "$BIN/psql" -X -q -A -t -h "$D" -p "$PORT" -d shop -v ON_ERROR_STOP=1)
EXT_VERSION=$("${PSQL[@]}" -c "CREATE EXTENSION shopify_sync" -c "SELECT extversion FROM pg_extension WHERE extname = 'shopify_sync'")
check "CREATE EXTENSION shopify_sync: version $EXT_VERSION" [ "$EXT_VERSION" = "$EXTVERSION" ]
SHOP_ID=$("${PSQL[@]}" <<'SQL'
\getenv shop SHOP
\getenv token TOKEN
SELECT shopify_connect_store(:'shop', :'token', 'Package Test');
SQL
)
check "shopify_connect_store: shop $SHOP_ID" [ "$SHOP_ID" = 1 ]
JOB=$("${PSQL[@]}" -c "SELECT id FROM shopify_sync_products($SHOP_ID)")
RESULT=$("${PSQL[@]}" -F ' ' -c "SELECT status, api, variants_processed, coalesce(error, '') FROM shopify_wait_for_sync($JOB)")
check "a product sync through the worker completes ($RESULT)" [ "${RESULT%% *}" = completed ]
# the mirror against the stand-in's catalog, field by field (as the TAP suites' mirror_diff)
DIFF=$("${PSQL[@]}" -F ' ' -v file="$W/expected.json" <<SQL
WITH exp AS (SELECT * FROM jsonb_to_recordset(pg_read_file(:'file')::jsonb->'rows') AS x(
       sku_id bigint, product_id bigint, sku text, title text, variant_title text, vendor text,
       product_type text, handle text, status text, tags text, price numeric, compare_at_price numeric,
       barcode text, inventory_quantity int, inventory_item_id bigint, position int,
       variant_updated_at timestamptz, product_updated_at timestamptz)),
     act AS (SELECT * FROM shopify.products WHERE shop_id = $SHOP_ID AND is_active),
     cols AS (SELECT sku_id, product_id, sku, title, variant_title, vendor, product_type, handle, status, tags,
                     price, compare_at_price, barcode, inventory_quantity, inventory_item_id, position,
                     variant_updated_at, product_updated_at FROM exp),
     got AS (SELECT sku_id, product_id, sku, title, variant_title, vendor, product_type, handle, status, tags,
                    price, compare_at_price, barcode, inventory_quantity, inventory_item_id, position,
                    shopify_updated_at, product_updated_at FROM act)
SELECT (SELECT count(*) FROM exp), (SELECT count(*) FROM act),
       (SELECT count(*) FROM (SELECT * FROM cols EXCEPT SELECT * FROM got) m),
       (SELECT count(*) FROM (SELECT sku_id FROM act EXCEPT SELECT sku_id FROM exp) e);
SQL
)
read -r n_exp n_act n_missing n_extra <<<"$DIFF"
check "shopify.products mirrors the catalog: $n_act of $n_exp variants, $n_missing missing or different, $n_extra extra" \
  bash -c '[ "$1" -gt 0 ] && [ "$1" = "$2" ] && [ "$3" = 0 ] && [ "$4" = 0 ]' _ "$n_exp" "$n_act" "$n_missing" "$n_extra"
WPID=$("${PSQL[@]}" -c "SELECT pid FROM pg_stat_activity WHERE backend_type = 'shopify_sync worker'")
check "the worker runs the packaged module (/usr/lib/postgresql/$PG/lib/shopify_sync.so)" \
  IN grep -q " /usr/lib/postgresql/$PG/lib/shopify_sync.so$" "/proc/$WPID/maps"
stop_cluster
cp "$MNT$D/server.log" "$W/server.log" 2>/dev/null

# the autopkgtest (debian/tests/control) against the installed package
if (cd "$W/autopkgtest-src" && IN bash -c 'cd "$1" && debian/tests/installcheck' _ "$W/autopkgtest-src") > "$W/autopkgtest.log" 2>&1; then
  ok "autopkgtest debian/tests/installcheck: $(grep -oE 'All [0-9]+ tests passed' "$W/autopkgtest.log" | head -n 1) against the installed package"
else
  nok "autopkgtest debian/tests/installcheck"; tail -n 30 "$W/autopkgtest.log" | sed 's/^/   | /'
fi

# `make install` still works on a system with the package (dpkg does not
# lock its files; dpkg --verify then shows them changed)
if IN make -s -C "$SRC/build-$PG" -f "$SRC/Makefile" VPATH="$SRC" USE_PGXS=1 PG_CONFIG="$BIN/pg_config" install > "$W/make-install.log" 2>&1; then
  ok "make install over the installed package"
else
  nok "make install over the installed package"; tail -n 10 "$W/make-install.log" | sed 's/^/   | /'
fi

if IN env DEBIAN_FRONTEND=noninteractive apt-get purge -y -q "$PKG" > "$W/purge.log" 2>&1; then
  check "apt-get purge $PKG leaves no shopify_sync file behind" \
    bash -c '! ls "$1"/usr/lib/postgresql/*/lib/shopify_sync.so "$1"/usr/lib/postgresql/*/lib/bitcode/shopify_sync* "$1"/usr/share/postgresql/*/extension/shopify_sync* 2>/dev/null | grep -q .' _ "$MNT"
else
  nok "apt-get purge $PKG"; tail -n 10 "$W/purge.log" | sed 's/^/   | /'
fi
NS

INSTALL_START=$(date +%s)
W=$W LOWER=$LOWER PKG=$PKG PG=$PG DEB=$DEB SRC=$SRC EXTVERSION=$EXTVERSION STANDIN_URL=$STANDIN_URL SHOP=$SHOP TOKEN=$TOKEN \
  unshare --mount --propagation private -- bash "$W/in-namespace.sh"
rc=$?
[ "$rc" -eq 0 ] || nok "the install test in its namespace exited with $rc"
echo "   (package: build $BUILD_SECONDS s, install and sync $(( $(date +%s) - INSTALL_START )) s, $(( $(date +%s) - T0 )) s in all)"
