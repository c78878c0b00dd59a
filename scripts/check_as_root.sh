#!/usr/bin/env bash
# scripts/as-root.sh, the way the README's two commands start: as root they
# go on; as a user with sudo they run themselves again through sudo, keeping
# the settings a user passes in the environment (and only those), their
# arguments intact; without sudo they say why they stop.  The user is
# "nobody"; sudo is a stand-in that records how it was called (sudo itself
# is not installed on a test machine, and a real one would ask for a
# password).  Prints "ok - ..." / "not ok - ..." lines; needs root.
set -uo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
T=$(mktemp -d /tmp/shopify_sync_as_root.XXXXXX)
trap 'rm -rf "$T"' EXIT
chmod 755 "$T"
mkdir -p "$T/bin" "$T/out"
chown nobody "$T/out"
cp "$ROOT/scripts/as-root.sh" "$T/as-root.sh"
# the script a user runs: as_root first, as demo.sh and test.sh do
cat > "$T/cmd.sh" <<'EOF'
. "$(dirname "$0")/as-root.sh"
as_root "$0" "$@"
echo "went on as $(id -un)"
EOF
# sudo's stand-in: one argument a line
cat > "$T/bin/sudo" <<EOF
#!/bin/sh
for a; do printf '%s\n' "\$a"; done > "$T/out/sudo-args"
EOF
chmod 755 "$T/as-root.sh" "$T/cmd.sh" "$T/bin/sudo"

ok()  { echo "ok - $*"; }
nok() { echo "not ok - $*"; }

out=$(bash "$T/cmd.sh" 2>&1)
if [ "$out" = "went on as root" ]; then ok "as root: goes on"; else nok "as root: goes on ($out)"; fi

runuser -u nobody -- env -i PATH="$T/bin:/usr/bin:/bin" SHOPIFY_SHOP=x.myshopify.com \
  SHOPIFY_SYNC_ASSERTS=0 TAP_JOBS=3 PG_CONFIG=/opt/pg/bin/pg_config UNRELATED=1 \
  bash "$T/cmd.sh" "tap" "a pattern with spaces" > "$T/out/user.log" 2>&1
rc=$?
want="env
SHOPIFY_SHOP=x.myshopify.com
SHOPIFY_SYNC_ASSERTS=0
TAP_JOBS=3
PG_CONFIG=/opt/pg/bin/pg_config
bash
$T/cmd.sh
tap
a pattern with spaces"
got=$(cat "$T/out/sudo-args" 2>/dev/null)
# the order of the kept variables is the environment's
if [ "$rc" -eq 0 ] && [ "$(sort <<<"$got")" = "$(sort <<<"$want")" ] && ! grep -q '^went on' "$T/out/user.log"; then
  ok "as a user with sudo: runs itself again through sudo (env SHOPIFY_*, TAP_JOBS, PG_CONFIG kept, others dropped, arguments intact)"
else
  nok "as a user with sudo: runs itself again through sudo"
  echo "   rc $rc; sudo got:"; sed 's/^/   | /' <<<"$got"; sed 's/^/   | /' "$T/out/user.log"
fi

mkdir -p "$T/nosudo"
for p in basename dirname id; do ln -s "$(command -v "$p")" "$T/nosudo/$p"; done
out=$(runuser -u nobody -- env -i PATH="$T/nosudo" /bin/bash "$T/cmd.sh" 2>&1)
rc=$?
if [ "$rc" -eq 2 ] && grep -q 'needs root' <<<"$out"; then
  ok "as a user without sudo: stops with status 2 and says it needs root"
else
  nok "as a user without sudo: stops and says why (rc $rc: $out)"
fi
