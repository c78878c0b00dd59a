# The benchmark's baseline, sourced by scripts/bench.sh after scripts/lib.sh
# (start_standin and start_cluster done): the same catalog synced by a
# user's own script around Shopify's Node client (client_sync.mjs, next to
# this file) into a plain table, client_products, of the same database.
#
#   client_sync_time API SHOP TOKEN [OPTIONS...]
#     API: rest or graphql.  Runs client_sync.mjs as the postgres user
#     against $STANDIN_URL and the cluster ($WORKDIR socket, $PGPORT_DEMO,
#     database $BENCH_DB, default bench) and prints its JSON line:
#     {"variants","products","pages","seconds","fetch_seconds","db_seconds",...}.
#     OPTIONS go to the script, e.g. --truncate (empty client_products first:
#     a first sync, all inserts), --no-prefetch, --variants-first M.
#   client_products_count: the rows of client_products.
#
# The script and its node_modules (@shopify/admin-api-client, pg, from
# test/graphql; scripts/install-node-deps.sh) are copied into $WORKDIR/client,
# which postgres can read (lib.sh's work directory is private to it).

BENCH_DB=${BENCH_DB:-bench}
CLIENT_SH_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
CLIENT_NODE=${CLIENT_NODE:-}

client_sync_prepare() {
  local repo gql
  [ -n "$CLIENT_NODE" ] || CLIENT_NODE=$(command -v node || true)
  [ -f "$WORKDIR/client/client_sync.mjs" ] && return 0
  if [ -z "$CLIENT_NODE" ]; then
    echo "client.sh: node not found (scripts/install-node-deps.sh installs it)" >&2
    return 1
  fi
  repo=$(cd "$CLIENT_SH_DIR/../.." && pwd)
  gql="$repo/test/graphql"
  if [ ! -d "$gql/node_modules/@shopify/admin-api-client" ] || [ ! -d "$gql/node_modules/pg" ]; then
    echo "client.sh: $gql/node_modules lacks @shopify/admin-api-client or pg (run scripts/install-node-deps.sh)" >&2
    return 1
  fi
  mkdir -p "$WORKDIR/client"
  cp "$CLIENT_SH_DIR/client_sync.mjs" "$WORKDIR/client/"
  # the stand-in's copy of test/graphql, when there is one, has them already
  if [ -d "$WORKDIR/graphql/node_modules/@shopify/admin-api-client" ] && [ -d "$WORKDIR/graphql/node_modules/pg" ]; then
    ln -s ../graphql/node_modules "$WORKDIR/client/node_modules"
  else
    cp -r "$gql/node_modules" "$WORKDIR/client/node_modules"
  fi
  chown -R postgres: "$WORKDIR/client"
}

client_sync_time() {
  local api=$1 shop=$2 token=$3
  shift 3
  client_sync_prepare || return 1
  # the token goes in the environment, not on a command line
  (cd "$WORKDIR/client" &&
    SHOPIFY_ACCESS_TOKEN=$token runuser -u postgres -- "$CLIENT_NODE" "$WORKDIR/client/client_sync.mjs" \
      --api "$api" --shop "$shop" --base-url "$STANDIN_URL" --api-version "${BENCH_API_VERSION:-2026-07}" \
      --pghost "$WORKDIR" --pgport "$PGPORT_DEMO" --pgdatabase "$BENCH_DB" --pguser postgres \
      --deps "$WORKDIR/client" "$@")
}

client_products_count() {
  runuser -u postgres -- "$(pg_config --bindir)/psql" -X -q -At -h "$WORKDIR" -p "$PGPORT_DEMO" \
    -d "$BENCH_DB" -c "SELECT count(*) FROM client_products"
}
