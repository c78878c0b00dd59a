# Sourced by the scripts a user runs (demo.sh, test.sh, bench.sh): they need
# root for apt-get and `make install`.  As root they go on; otherwise they
# run themselves again through sudo, keeping the settings a user passes in
# the environment (SHOPIFY_*, suite knobs, PG_CONFIG), or say why they cannot.
#   as_root "$0" "$@"
as_root() {
  [ "$(id -u)" -eq 0 ] && return 0
  if command -v sudo >/dev/null 2>&1; then
    local keep=() v
    for v in $(compgen -e); do
      case "$v" in
        SHOPIFY_*|PG_CONFIG|SMALL_PRODUCTS|LARGE_PRODUCTS|ORDERS|KEEP_WORKDIR|TAP_JOBS|SOAK_*|KILL*|FUZZ_*|SANITIZE_LOG_DIR|BENCH_*)
          keep+=("$v=${!v}") ;;
      esac
    done
    exec sudo env "${keep[@]}" bash "$@"
  fi
  echo "$(basename "$1"): needs root (to install packages and the extension), and sudo is not available; run it as root" >&2
  exit 2
}
