#!/usr/bin/env bash
# The whole suite (or a part: the same arguments as scripts/test.sh) with
# shopify_sync built with AddressSanitizer, UBSan and its Assert()s, and the
# ASan runtime preloaded into every server (pg_regress's and the TAP
# clusters'): any invalid read or write, use after free, double free, buffer
# overflow or undefined behaviour in the extension is reported with a stack
# trace.  Leak detection is off (PostgreSQL frees by process exit, by
# design); growth is measured instead by the load suite's memory samples.
# Slower than the plain suite; not part of scripts/test.sh.
# Reinstalls the normal build at the end.
#
# Usage (as root): scripts/sanitize.sh [regress|tap|all] [pattern]
set -uo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
[ "$(id -u)" -eq 0 ] || { echo "scripts/sanitize.sh: run as root" >&2; exit 2; }

export SANITIZE_LOG_DIR=${SANITIZE_LOG_DIR:-$(mktemp -d /tmp/shopify_sync_asan.XXXXXX)}
chmod 755 "$SANITIZE_LOG_DIR"
start=$(date +%s)
SHOPIFY_SYNC_SANITIZE=1 "$ROOT/scripts/test.sh" "${1:-all}" "${2:-}" | tee "$SANITIZE_LOG_DIR/test.out"
rc=${PIPESTATUS[0]}

# Reports from any process that involve the extension: a frame in its
# sources (src/*.c, symbolised) or its library.  Reports about PostgreSQL's
# or other libraries' own code alone are left out.
ours='shopify_sync\.so|(^|[ /])src/([a-z_]+/)?[a-z_]+\.[ch]:[0-9]+'
reports=0
for f in "$SANITIZE_LOG_DIR"/asan.* "$SANITIZE_LOG_DIR"/ubsan.*; do
  [ -e "$f" ] || continue
  if grep -qE "$ours" "$f"; then
    reports=$((reports + 1))
    echo "==== $f"
    head -n 60 "$f"
  fi
done
# UBSan (and anything not written to log_path) reports on the servers' stderr
if [ -s "$SANITIZE_LOG_DIR/server-logs.txt" ]; then
  n=$(grep -cE "^src/([a-z_]+/)?[a-z_]+\.[ch]:[0-9]+:[0-9]+: runtime error:" "$SANITIZE_LOG_DIR/server-logs.txt" || true)
  if [ "$n" -gt 0 ]; then
    reports=$((reports + n))
    echo "==== UBSan reports in the server logs ($n)"
    grep -E -A6 "^src/([a-z_]+/)?[a-z_]+\.[ch]:[0-9]+:[0-9]+: runtime error:" "$SANITIZE_LOG_DIR/server-logs.txt" | head -n 60
  fi
fi
echo "== sanitizer: $reports report(s) involving shopify_sync in $SANITIZE_LOG_DIR; $(( $(date +%s) - start )) s"

echo "== reinstalling the normal build"
make -C "$ROOT" -s clean >/dev/null && make -C "$ROOT" -s all && make -C "$ROOT" -s install >/dev/null
[ "$rc" -eq 0 ] && [ "$reports" -eq 0 ]
