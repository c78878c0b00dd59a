#!/usr/bin/env bash
# Installs what the test stand-in's GraphQL oracle (test/graphql/) needs:
#   * node and npm (Debian's nodejs and npm packages, if either is missing);
#   * test/graphql/node_modules from the committed package-lock.json
#     (npm ci: graphql 16.x, @shopify/admin-api-client, pg, pinned exactly);
#   * Shopify's published Admin API schemas, test/graphql/schema/admin_<v>.json.gz,
#     taken from the npm package @shopify/dev-mcp (pinned below).
# Idempotent and quiet when nothing is missing.  Called at the end of
# scripts/install-deps.sh; needs root (or sudo) only to install node/npm.
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
GQL="$ROOT/test/graphql"
DEV_MCP=@shopify/dev-mcp@1.16.0
SCHEMA_VERSIONS=(2025-10 2026-01 2026-04 2026-07 2026-10 unstable)

SUDO=
[ "$(id -u)" -eq 0 ] || SUDO=sudo

if ! command -v node >/dev/null 2>&1 || ! command -v npm >/dev/null 2>&1; then
  echo "install-node-deps: installing nodejs npm" >&2
  export DEBIAN_FRONTEND=noninteractive
  $SUDO apt-get update -qq >/dev/null || $SUDO apt-get update
  $SUDO apt-get install -y -qq --no-install-recommends nodejs npm >/dev/null
fi
major=$(node -p 'process.versions.node.split(".")[0]')
if [ "$major" -lt 18 ]; then
  echo "install-node-deps: node $(node --version) is too old (18+ needed)" >&2
  exit 1
fi

# node_modules: reinstalled when missing or older than the lock file.
stamp="$GQL/node_modules/.package-lock.json"
if [ ! -f "$stamp" ] || [ "$GQL/package-lock.json" -nt "$stamp" ]; then
  echo "install-node-deps: npm ci in test/graphql" >&2
  (cd "$GQL" && npm ci --no-audit --no-fund --loglevel=error >/dev/null)
fi

missing=()
for v in "${SCHEMA_VERSIONS[@]}"; do
  [ -s "$GQL/schema/admin_$v.json.gz" ] || missing+=("$v")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "install-node-deps: fetching the Admin API schemas ${missing[*]} ($DEV_MCP)" >&2
  tmp=$(mktemp -d)
  trap 'rm -rf "$tmp"' EXIT
  (cd "$tmp" && npm pack "$DEV_MCP" --silent >/dev/null)
  members=()
  for v in "${missing[@]}"; do members+=("package/dist/data/admin_$v.json.gz"); done
  tar -xzf "$tmp"/*.tgz -C "$tmp" "${members[@]}"
  mkdir -p "$GQL/schema"
  for v in "${missing[@]}"; do
    gzip -t "$tmp/package/dist/data/admin_$v.json.gz"
    mv "$tmp/package/dist/data/admin_$v.json.gz" "$GQL/schema/admin_$v.json.gz.tmp"
    mv "$GQL/schema/admin_$v.json.gz.tmp" "$GQL/schema/admin_$v.json.gz"
  done
fi
# The stand-in runs as another user (postgres) in the test scripts.
chmod -R a+rX "$GQL/node_modules" "$GQL/schema"
