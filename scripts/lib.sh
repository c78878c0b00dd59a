# Shared by scripts/demo.sh and scripts/bench.sh: a throw-away cluster run
# by the postgres user and the local Shopify stand-in, both stopped (by
# their own pids) and removed on exit.  Source it; needs root.

BINDIR=$(${PG_CONFIG:-pg_config} --bindir)
WORKDIR=
STANDIN_PID=
PG_STARTED=

run_pg() { runuser -u postgres -- "$@"; }

free_port() {
  python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

# make_workdir PREFIX: a private directory owned by postgres, in $WORKDIR.
make_workdir() {
  WORKDIR=$(mktemp -d "/tmp/$1.XXXXXX")
  chown postgres: "$WORKDIR"
  chmod 700 "$WORKDIR"
}

cleanup_workdir() {
  set +e
  if [ -n "$PG_STARTED" ]; then
    run_pg "$BINDIR/pg_ctl" -D "$WORKDIR/data" -m fast -w stop >/dev/null 2>&1
  fi
  if [ -n "$STANDIN_PID" ]; then
    kill "$STANDIN_PID" 2>/dev/null
    wait "$STANDIN_PID" 2>/dev/null
  fi
  if [ "${KEEP_WORKDIR:-0}" = 1 ]; then
    echo "(kept $WORKDIR)"
  elif [ -n "$WORKDIR" ]; then
    rm -rf "$WORKDIR"
  fi
}

# start_standin CONFIG_JSON: starts the stand-in; sets STANDIN_URL.  Its
# GraphQL oracle (test/graphql: node_modules, schemas, *.mjs; see
# scripts/install-node-deps.sh) is copied next to it, where it looks by default.
start_standin() {
  cp -r "$ROOT/test/standin" "$WORKDIR/standin"
  cp -r "$ROOT/test/graphql" "$WORKDIR/graphql"
  printf '%s\n' "$1" > "$WORKDIR/standin.json"
  chown -R postgres: "$WORKDIR/standin" "$WORKDIR/graphql" "$WORKDIR/standin.json"
  runuser -u postgres -- /usr/bin/python3 "$WORKDIR/standin/shopify_standin.py" --port 0 \
    --port-file "$WORKDIR/standin.port" --config "$WORKDIR/standin.json" --max-lifetime 3600 \
    ${STANDIN_ARGS:-} > "$WORKDIR/standin.log" 2>&1 &
  STANDIN_PID=$!
  for _ in $(seq 1 300); do [ -s "$WORKDIR/standin.port" ] && break; sleep 0.1; done
  if [ ! -s "$WORKDIR/standin.port" ]; then
    echo "stand-in did not start:" >&2
    cat "$WORKDIR/standin.log" >&2
    exit 1
  fi
  STANDIN_URL="http://127.0.0.1:$(cat "$WORKDIR/standin.port")"
}

# start_cluster DBNAME EXTRA_CONF: initdb + start with shopify_sync
# preloaded; sets PGPORT_DEMO and PSQL (an array).
start_cluster() {
  local db=$1 extra=$2
  PGPORT_DEMO=$(free_port)
  run_pg "$BINDIR/initdb" -D "$WORKDIR/data" -A trust -U postgres >/dev/null
  cat >> "$WORKDIR/data/postgresql.conf" <<EOF
port = $PGPORT_DEMO
listen_addresses = ''
unix_socket_directories = '$WORKDIR'
shared_preload_libraries = 'shopify_sync'
shopify_sync.database_name = '$db'
$extra
EOF
  run_pg "$BINDIR/pg_ctl" -D "$WORKDIR/data" -l "$WORKDIR/server.log" -w start >/dev/null
  PG_STARTED=1
  run_pg "$BINDIR/createdb" -h "$WORKDIR" -p "$PGPORT_DEMO" "$db"
  PSQL=(runuser -u postgres -- "$BINDIR/psql" -X -q -h "$WORKDIR" -p "$PGPORT_DEMO" -d "$db" -v ON_ERROR_STOP=1)
}

# wait_worker: until the worker of the cluster is connected.
wait_worker() {
  for _ in $(seq 1 100); do
    [ "$("${PSQL[@]}" -At -c "SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'shopify_sync worker'")" = 1 ] && return 0
    sleep 0.1
  done
  echo "the shopify_sync worker did not start" >&2
  return 1
}
