#!/usr/bin/env bash
# The whole test suite, from a fresh Debian 12 machine, as root:
#   installs what is missing (apt-get), builds with -Werror, installs the
#   extension, runs the pg_regress suites against a throw-away cluster and the
#   TAP suites (PostgreSQL::Test::Cluster), both as the unprivileged postgres
#   user, and ends with one line: "N passed, N failed".
#
# Usage: scripts/test.sh [regress|tap|meta|package|all] [pattern]
#   pattern limits the suites run (a substring of the test name).
#   meta: META.json (PGXN), the versions, scripts/as-root.sh; package: the
#   Debian package built, installed in a throw-away system and synced.
#   SOAK_SECONDS, SOAK_FAULT_RATE, SOAK_SEED, KILLS, KILL_SEED, FUZZ_SEED,
#   FUZZ_CALLS and FUZZ_SQLSMITH_QUERIES reach the suites that read them.
set -uo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
WHAT=${1:-all}
T_START=$SECONDS
T_SECTION=$SECONDS
# the time a section took, and since the start
stamp() { echo "   ($1: $((SECONDS - T_SECTION)) s; $((SECONDS - T_START)) s since the start)"; T_SECTION=$SECONDS; }
PATTERN=${2:-}

# Root is needed for apt-get and for installing the extension (the tests
# themselves run as postgres): a user with sudo is asked once, through it.
. "$ROOT/scripts/as-root.sh"
as_root "$0" "$@"

"$ROOT/scripts/install-deps.sh" || { echo "0 passed, 1 failed"; exit 1; }
stamp "installing what is missing"

PG_CONFIG=${PG_CONFIG:-pg_config}
BINDIR=$($PG_CONFIG --bindir)
PGXS_DIR=$(dirname "$($PG_CONFIG --pgxs)")/..
PG_REGRESS="$PGXS_DIR/test/regress/pg_regress"
PERL_TESTLIB="$PGXS_DIR/test/perl"

# The extension's Assert()s are on in the test build (src/assert_on.h: a
# failed one logs "TRAP:" and aborts the process, which the suites look
# for); SHOPIFY_SYNC_ASSERTS=0 builds without them.
MAKE_SAN=()
if [ "${SHOPIFY_SYNC_ASSERTS:-1}" = 1 ]; then
  MAKE_SAN+=(ASSERT_CPPFLAGS="-include $ROOT/src/assert_on.h")
fi
# SHOPIFY_SYNC_SANITIZE=1 (scripts/sanitize.sh): build with AddressSanitizer and
# UBSan, and run every server with the ASan runtime preloaded.
SAN_ENV=()
if [ "${SHOPIFY_SYNC_SANITIZE:-0}" = 1 ]; then
  MAKE_SAN+=(SANITIZE_CFLAGS="-fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=undefined -g"
            SANITIZE_LDFLAGS="-fsanitize=address,undefined")
  mkdir -p "$SANITIZE_LOG_DIR" && chown postgres: "$SANITIZE_LOG_DIR"
fi

# The tests run as postgres from a private copy of the tree (the checkout may
# live somewhere postgres cannot read, e.g. under /root).  The test build
# (with its Assert()s, perhaps sanitizers) is made in a copy too, so that
# the checkout's own objects stay those of a plain build: PGXS does not
# rebuild when only the flags change.
WORK=$(mktemp -d /tmp/shopify_sync_test.XXXXXX)
mkdir -p "$WORK/src" "$WORK/build"
cp -r "$ROOT/sql" "$ROOT/expected" "$ROOT/test" "$ROOT/README.md" "$WORK/src/"
cp -r "$ROOT/Makefile" "$ROOT/shopify_sync.control.in" "$ROOT/src" "$ROOT/sql" "$WORK/build/"
rm -f "$WORK"/build/src/*.o "$WORK"/build/src/*/*.o "$WORK"/build/src/*.bc "$WORK"/build/src/*/*.bc "$WORK"/build/*.so

echo "== build"
if ! { make -C "$WORK/build" -s all "${MAKE_SAN[@]}" && make -C "$WORK/build" -s install "${MAKE_SAN[@]}" >/dev/null; }; then
  echo "build failed"
  echo "0 passed, 1 failed"
  exit 1
fi
stamp build
if [ "${SHOPIFY_SYNC_SANITIZE:-0}" = 1 ]; then
  # the runtime first, then what lets it start in Debian's programs (test/asan/)
  if ! gcc -shared -fPIC -O2 -Wall -Wextra -Werror -o "$WORK/build/asan_start.so" "$ROOT/test/asan/asan_start.c"; then
    echo "build of test/asan/asan_start.c failed"; echo "0 passed, 1 failed"; exit 1
  fi
  SAN_ENV=(LD_PRELOAD="$(gcc -print-file-name=libasan.so):$WORK/build/asan_start.so"
           ASAN_OPTIONS="detect_leaks=0:log_path=$SANITIZE_LOG_DIR/asan:abort_on_error=0:allow_user_segv_handler=1:handle_segv=1:print_summary=1"
           UBSAN_OPTIONS="print_stacktrace=1:log_path=$SANITIZE_LOG_DIR/ubsan")
fi
chown -R postgres: "$WORK"
chmod 700 "$WORK"

passed=0
failed=0
failures=()

# A small file system for 073_drop's full-disk case: a tmpfs the postgres
# user can fill up for real.  Where mounting is not allowed (a container
# without CAP_SYS_ADMIN), the suite simulates the full disk instead.
TINY_FS=
if [ "$WHAT" = all ] || [ "$WHAT" = tap ]; then
  mkdir -p "$WORK/tinyfs"
  if mount -t tmpfs -o size=16m,mode=0700 shopify_sync_tinyfs "$WORK/tinyfs" 2>/dev/null; then
    chown postgres: "$WORK/tinyfs"
    TINY_FS="$WORK/tinyfs"
    trap 'umount "$WORK/tinyfs" 2>/dev/null' EXIT
  fi
fi

run_as_pg() { runuser -u postgres -- env -i PATH="$BINDIR:/usr/local/bin:/usr/bin:/bin" HOME="$WORK" LANG=C.UTF-8 "${SAN_ENV[@]}" "$@"; }

# ---------------------------------------------------------------- layers
# The source tree's rules (scripts/check_layers.py): calls point one way
# between the folders of src/, no circle inside one, no file over ~600 lines.
if [ "$WHAT" = all ]; then
  out_layers=$(python3 "$ROOT/scripts/check_layers.py" 2>&1); rc=$?
  ok=$(grep -c '^ok ' <<<"$out_layers" || true)
  nok=$(grep -c '^not ok ' <<<"$out_layers" || true)
  echo "== layers: $ok ok, $nok not ok"
  grep -A1 '^not ok ' <<<"$out_layers" | sed 's/^/   /' || true
  passed=$((passed + ok)); failed=$((failed + nok))
  if [ "$nok" -gt 0 ]; then
    failures+=("layers: the source tree breaks its rules")
  elif [ "$rc" -ne 0 ]; then
    failed=$((failed + 1)); failures+=("layers: scripts/check_layers.py failed ($rc)")
  fi
fi

# Sections made of checks that print "ok - ..." / "not ok - ..." lines:
# count_checks NAME OUTPUT STATUS adds them up; a failing status with no
# failed check counts as one failure.
count_checks() {
  local name=$1 out=$2 rc=$3 ok nok
  ok=$(grep -c '^ok ' <<<"$out" || true)
  nok=$(grep -c '^not ok ' <<<"$out" || true)
  passed=$((passed + ok)); failed=$((failed + nok))
  if [ "$nok" -gt 0 ]; then
    failures+=("$name: $nok failed")
  elif [ "$rc" -ne 0 ]; then
    failed=$((failed + 1)); failures+=("$name: exited with $rc")
  fi
}

# ---------------------------------------------------------------- meta
# PGXN's META.json against meta-spec 1.0.0, the one version (EXTVERSION) in
# META.json, the control file and debian/changelog, `make dist`
# (scripts/check_meta.py, Debian's python3 and python3-jsonschema); the
# README's commands as root, as a user with sudo and without
# (scripts/check_as_root.sh).
if [ "$WHAT" = all ] || [ "$WHAT" = meta ]; then
  out_meta=$(/usr/bin/python3 -I "$ROOT/scripts/check_meta.py" 2>&1); rc=$?
  out_root=$(bash "$ROOT/scripts/check_as_root.sh" 2>&1); rc_root=$?
  echo "== meta"
  printf '%s\n%s\n' "$out_meta" "$out_root" | sed 's/^/   /'
  count_checks meta "$out_meta" "$rc"
  count_checks as-root "$out_root" "$rc_root"
  stamp meta
fi

# ---------------------------------------------------------------- pg_regress
if [ "$WHAT" = all ] || [ "$WHAT" = regress ]; then
  tests=()
  for f in "$ROOT"/sql/*.sql; do
    name=$(basename "$f" .sql)
    case "$name" in shopify_sync--*) continue ;; esac
    if [ -n "$PATTERN" ] && [[ "$name" != *"$PATTERN"* ]]; then continue; fi
    tests+=("$name")
  done
  if [ ${#tests[@]} -gt 0 ]; then
    echo "== pg_regress: ${tests[*]}"
    out="$WORK/regress"
    mkdir -p "$out" && chown postgres: "$out"
    run_as_pg SHOPIFY_FIXTURES="$WORK/src/test/fixtures" "$PG_REGRESS" \
      --temp-instance="$WORK/regress_instance" \
      --temp-config="$WORK/src/test/regress.conf" \
      --inputdir="$WORK/src" --outputdir="$out" \
      --bindir="$BINDIR" --dbname=contrib_regression \
      "${tests[@]}" > "$out/pg_regress.out" 2>&1
    cat "$out/pg_regress.out"
    while IFS= read -r line; do
      case "$line" in
        *FAILED*|*failed*)
          failed=$((failed + 1)); failures+=("regress: $(echo "$line" | sed -E 's/^(test)? *([a-z_0-9]+).*/\2/')") ;;
        *) passed=$((passed + 1)) ;;
      esac
    done < <(grep -E '\.\.\. +(ok|FAILED|failed)' "$out/pg_regress.out")
    if [ -s "$out/regression.diffs" ]; then
      echo "---- regression.diffs (first 200 lines)"
      head -n 200 "$out/regression.diffs"
    fi
    if ! grep -qE '\.\.\. (ok|FAILED|failed)' "$out/pg_regress.out"; then
      failed=$((failed + 1)); failures+=("regress: pg_regress did not run")
    fi
    stamp pg_regress
  fi
fi

# ---------------------------------------------------------------- package
# The Debian package (debian/, pg_buildext): built with dpkg-buildpackage
# (the regress suites run at build time), installed with apt-get into a
# chroot on an overlay of / in a private mount namespace (nothing reaches
# this system or the suites after it), CREATE EXTENSION and a product sync
# against the stand-in there, the autopkgtest, a purge.  scripts/test-package.sh.
if [ "$WHAT" = all ] || [ "$WHAT" = package ]; then
  echo "== package"
  out_pkg=$(bash "$ROOT/scripts/test-package.sh" "$WORK/package" 2>&1); rc=$?
  sed 's/^/   /' <<<"$out_pkg"
  count_checks package "$out_pkg" "$rc"
  stamp package
fi

# ---------------------------------------------------------------- TAP
# Suites run in TAP_JOBS parallel lanes (default 2: most of a suite's time is
# spent waiting on rate limits, restarts and timeouts, not on the CPU); the
# longest start first.  Each suite's output is printed when it ends.
TAP_JOBS=${TAP_JOBS:-2}
LONG_FIRST="051_bulk 071_kill 072_soak 040_webhooks 045_webhook_listener 070_load 060_orders 032_rate_limit 010_worker 033_crash 080_fuzz"

# Knobs of individual suites pass through (e.g. SOAK_SECONDS=600 scripts/test.sh tap 072).
KNOBS=()
for v in SOAK_SECONDS SOAK_FAULT_RATE SOAK_SEED KILLS KILL_SEED FUZZ_SEED FUZZ_CALLS FUZZ_SQLSMITH_QUERIES; do
  [ -n "${!v:-}" ] && KNOBS+=("$v=${!v}")
done

run_tap() {  # run_tap FILE: runs one suite, leaves output.tap, rc and seconds in its directory
  local t=$1 name tdir start
  name=$(basename "$t")
  tdir="$WORK/tap/${name%.pl}"
  start=$(date +%s)
  ( cd "$WORK/src" && run_as_pg \
      PERL5LIB="$PERL_TESTLIB:$WORK/src/test/perl" \
      PG_REGRESS="$PG_REGRESS" TESTDIR="$tdir" PG_TEST_NOCLEAN= \
      SHOPIFY_FIXTURES="$WORK/src/test/fixtures" ${TINY_FS:+SHOPIFY_TINY_FS="$TINY_FS"} "${KNOBS[@]}" \
      timeout -k 10 $((900 + ${SOAK_SECONDS:-0})) perl "$t" ) > "$tdir/output.tap" 2>&1
  echo $? > "$tdir/rc"
  echo $(( $(date +%s) - start )) > "$tdir/seconds"
}

report_tap() {  # report_tap FILE: prints a finished suite and adds up its counts
  local t=$1 name tdir log rc ok nok
  name=$(basename "$t")
  tdir="$WORK/tap/${name%.pl}"
  log="$tdir/output.tap"
  rc=$(cat "$tdir/rc")
  echo "== TAP: $name"
  ok=$(grep -cE '^ *ok [0-9]+' "$log")
  nok=$(grep -cE '^ *not ok [0-9]+' "$log")
  grep -E '^ *(ok|not ok) [0-9]+|^# |^Bail out|^1\.\.' "$log" | grep -vE '^# (Running|Checking|Taking|starting|setting|Postmaster|Restarting)' | head -n 400
  passed=$((passed + ok))
  failed=$((failed + nok))
  if [ "$nok" -gt 0 ]; then failures+=("tap: $name ($nok failed)"); fi
  if [ "$rc" -ne 0 ] && [ "$nok" -eq 0 ]; then
    failed=$((failed + 1)); failures+=("tap: $name exited with $rc")
    echo "---- $name exited with status $rc; last lines:"
    tail -n 40 "$log"
  fi
  echo "   ($ok ok, $nok not ok, $(cat "$tdir/seconds") s)"
}

if [ "$WHAT" = all ] || [ "$WHAT" = tap ]; then
  suites=()
  for t in "$WORK"/src/test/t/*.pl; do
    [ -e "$t" ] || continue
    name=$(basename "$t")
    if [ -n "$PATTERN" ] && [[ "$name" != *"$PATTERN"* ]]; then continue; fi
    mkdir -p "$WORK/tap/${name%.pl}"
    suites+=("$t")
  done
  chown -R postgres: "$WORK/tap" 2>/dev/null
  # the long ones first, then the rest in name order
  ordered=()
  for l in $LONG_FIRST; do
    for t in "${suites[@]}"; do [[ "$(basename "$t")" == "$l"* ]] && ordered+=("$t"); done
  done
  for t in "${suites[@]}"; do
    case " ${ordered[*]} " in *" $t "*) ;; *) ordered+=("$t") ;; esac
  done
  tap_start=$(date +%s)
  for t in "${ordered[@]}"; do
    while [ "$(jobs -rp | wc -l)" -ge "$TAP_JOBS" ]; do wait -n 2>/dev/null || true; done
    run_tap "$t" &
  done
  wait
  # print in name order
  for t in "${suites[@]}"; do report_tap "$t"; done
  echo "   (TAP suites: $(( $(date +%s) - tap_start )) s wall time in $TAP_JOBS lanes)"
  stamp TAP
fi

[ -n "$TINY_FS" ] && umount "$TINY_FS" 2>/dev/null

# Sanitizer builds: UBSan reports (and anything the runtimes print instead
# of writing to their log_path) go to the servers' stderr, i.e. their logs;
# keep those excerpts for scripts/sanitize.sh before the logs are removed.
if [ "${SHOPIFY_SYNC_SANITIZE:-0}" = 1 ]; then
  find "$WORK/regress" "$WORK/tap" -path '*/log/*' -type f 2>/dev/null \
    | xargs -r grep -h -A30 -E 'runtime error:|ERROR: (Address|Undefined|Leak)Sanitizer' 2>/dev/null \
    > "$SANITIZE_LOG_DIR/server-logs.txt" || true
fi

# ---------------------------------------------------------------- secrets
# No access token may appear in what the suites print or leave behind:
# their output, pg_regress results, the clusters' server logs, regress logs
# and data files (tokens are stored encrypted).  Only the inputs the suites
# write for themselves (their tmp_test_* folders: the stand-in's
# configuration, the fuzzer's calls) hold them.  (Webhook secrets have no
# fixed shape; the suites that use them check the logs themselves.)
if true; then
  # (the package test's copies of the source tree are inputs too; their
  # regress results and logs are scanned)
  leaks=$(grep -rlE 'shp(at|ca|pa|ss)_[0-9a-fA-F]{32}' "$WORK/regress" "$WORK/tap" "$WORK/package" 2>/dev/null \
          | grep -vE '/tmp_test_[^/]+/|/standin-config\.json$' \
          | grep -vE '^'"$WORK"'/package/(shopify-sync-[^/]+|autopkgtest-src)/(.*/)?[^/]+$' || true)
  leaks+=$(grep -rlE 'shp(at|ca|pa|ss)_[0-9a-fA-F]{32}' "$WORK"/package/*/build-*/results "$WORK"/package/*/build-*/log \
           "$WORK"/package/autopkgtest-src/results 2>/dev/null || true)
  if [ -n "$leaks" ]; then
    echo "== secrets: token-shaped strings in test output:"
    sed "s|^|   |" <<<"$leaks"
    failed=$((failed + 1)); failures+=("secrets: an access token in test output")
  else
    echo "== secrets: no access token in any suite's output or logs"
    passed=$((passed + 1))
  fi
fi

if [ ${#failures[@]} -gt 0 ]; then
  echo "== failures:"
  printf '   %s\n' "${failures[@]}"
  echo "   (logs kept in $WORK)"
else
  rm -rf "$WORK"
fi
echo "   (the whole run: $((SECONDS - T_START)) s)"
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
