#!/usr/bin/python3
"""Shopify Admin API stand-in for tests -- entry point.

  /usr/bin/python3 test/standin/shopify_standin.py --port 0 \
      --port-file /tmp/x/port --config /tmp/x/config.json [--max-lifetime 1800] \
      [--graphql-dir test/graphql] [--node /usr/bin/node]

Binds 127.0.0.1 only.  Writes the port to --port-file (atomically) once the
configured catalogs are generated and the socket listens.  Exits on
SIGTERM/SIGINT or after --max-lifetime seconds.  Standard library only, plus
the GraphQL oracle: a Node.js helper (--graphql-dir, default ../graphql next
to this file's folder, i.e. test/graphql) with graphql-js and Shopify's
published schemas; without it the stand-in does not start (exit 3).
"""
import argparse
import json
import os
import signal
import sys
import threading
import time

sys.dont_write_bytecode = True      # keep the source tree clean
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from standin import oracle  # noqa: E402
from standin.server import ConfigError, Server, State, log  # noqa: E402

DEFAULT_GRAPHQL_DIR = os.path.join(os.path.dirname(os.path.abspath(__file__)), os.pardir,
                                   "graphql")
PRELOAD_VERSION = "2026-07"     # the extension's default API version


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[1])
    ap.add_argument("--port", type=int, default=0)
    ap.add_argument("--port-file")
    ap.add_argument("--config", help="JSON file {\"shops\": [...]}")
    ap.add_argument("--max-lifetime", type=float, default=1800.0,
                    help="exit after this many seconds (safety net)")
    ap.add_argument("--idle-timeout", type=float, default=120.0,
                    help="close idle keep-alive connections after this many seconds")
    ap.add_argument("--verbose", action="store_true", help="log every request")
    ap.add_argument("--cache-answers", action="store_true",
                    help="serve a repeated read of unchanged data from memory (benchmarks:"
                         " measure the client, not this server's page generation)")
    ap.add_argument("--tls-cert", help="serve HTTPS with this certificate (PEM)")
    ap.add_argument("--tls-key", help="private key of --tls-cert (PEM)")
    ap.add_argument("--graphql-dir", default=os.environ.get("SHOPIFY_STANDIN_GRAPHQL_DIR")
                    or DEFAULT_GRAPHQL_DIR,
                    help="the GraphQL oracle's folder: oracle.mjs, node_modules/, schema/")
    ap.add_argument("--node", help="Node.js binary (default: node on PATH)")
    args = ap.parse_args(argv)

    t0 = time.monotonic()
    try:
        gql = oracle.configure(os.path.normpath(args.graphql_dir), args.node,
                               preload=[PRELOAD_VERSION])
    except oracle.OracleError as e:
        log("cannot start: %s" % e)
        return 3
    state = State(verbose=args.verbose)
    state.cache_answers = args.cache_answers
    cfg = {"shops": []}
    if args.config:
        with open(args.config, encoding="utf-8") as f:
            cfg = json.load(f)
    try:
        for shop_cfg in cfg.get("shops", []):
            state.add_shop(shop_cfg)
    except ConfigError as e:
        log("config error: %s" % e)
        gql.stop()
        return 2

    from standin.server import Handler
    Handler.timeout = args.idle_timeout
    server = Server(args.port, state)
    if args.tls_cert:
        import ssl
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.load_cert_chain(args.tls_cert, args.tls_key)
        server.socket = ctx.wrap_socket(server.socket, server_side=True)
        state.scheme = "https"
    port = server.server_address[1]
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.2},
                              name="serve", daemon=True)
    thread.start()
    if args.port_file:
        tmp = "%s.tmp.%d" % (args.port_file, os.getpid())
        with open(tmp, "w") as f:
            f.write("%d\n" % port)
        os.rename(tmp, args.port_file)
    log("listening on 127.0.0.1:%d pid=%d (%d shops, ready in %.2fs, max lifetime %ss)"
        % (port, os.getpid(), len(state.shops), time.monotonic() - t0,
           args.max_lifetime))

    stop = state.stop_event
    why = []

    def on_signal(signum, frame):
        why.append(signal.Signals(signum).name)
        stop.set()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    if not stop.wait(args.max_lifetime):
        why.append("max lifetime reached")
    log("stopping (%s)" % ", ".join(why))
    server.shutdown()
    server.server_close()
    gql.stop()
    if args.port_file:
        try:
            os.unlink(args.port_file)
        except OSError:
            pass
    return 0


if __name__ == "__main__":
    sys.exit(main())
