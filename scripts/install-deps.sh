#!/usr/bin/env bash
# Installs every Debian package shopify_sync needs to build, test, demo and
# benchmark itself, and to build its Debian package (dpkg-dev, debhelper,
# postgresql-server-dev-all: pg_buildext; debootstrap for its optional
# clean-system test) and check META.json
# (python3-jsonschema). Idempotent: packages already present are not
# touched, and apt-get runs only when something is missing. Needs root (or sudo).
# Ends with scripts/install-node-deps.sh (the stand-in's GraphQL oracle).
set -euo pipefail

PKGS=(
  postgresql-15 postgresql-server-dev-15 postgresql-contrib postgresql-15-cron
  libcurl4-openssl-dev libssl-dev libyajl-dev libmicrohttpd-dev
  libipc-run-perl libjson-pp-perl
  python3 make gcc ca-certificates openssl curl nginx wrk
  sqlsmith
  dpkg-dev debhelper postgresql-server-dev-all python3-jsonschema debootstrap
  ${SHOPIFY_SYNC_EXTRA_PKGS:-}
)

missing=()
for p in "${PKGS[@]}"; do
  [ -n "$p" ] || continue
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed'; then
    missing+=("$p")
  fi
done

if [ ${#missing[@]} -gt 0 ]; then
  SUDO=
  [ "$(id -u)" -eq 0 ] || SUDO=sudo
  echo "install-deps: installing ${missing[*]}" >&2
  export DEBIAN_FRONTEND=noninteractive
  # postgresql-common would otherwise create and start a "main" cluster we never use.
  if [ ! -e /etc/postgresql-common/createcluster.conf ]; then
    $SUDO mkdir -p /etc/postgresql-common
    echo 'create_main_cluster = false' | $SUDO tee /etc/postgresql-common/createcluster.conf >/dev/null
  fi
  $SUDO apt-get update -qq >/dev/null || $SUDO apt-get update
  $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

# Node.js, graphql-js and Shopify's published schemas for the stand-in's
# GraphQL oracle (test/graphql/).
"$(dirname "$0")/install-node-deps.sh"
