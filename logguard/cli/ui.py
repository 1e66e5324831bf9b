"""Serve the analyst web page and JSON API for a DuckDB store, without a daemon.

Pages: / (the ranked queue with filters), /alerts/ID (explanation and feedback buttons),
/scenarios and /scenarios/ID (the attack graph as SVG). API: /api/alerts, /api/alerts/ID,
POST /api/alerts/ID/feedback, /api/scenarios, /api/scenarios/ID, /api/suppressions,
DELETE /api/suppressions/ID, described at /openapi.json.

It holds the DuckDB file (read-write, for feedback; --read-only to refuse feedback), so stop
it before starting a daemon on the same file: a running daemon serves these pages itself.
Bound to 127.0.0.1 by default. Binding any other address needs a token: put it in an
environment variable and name it with --token-env (default LOGGUARD_API_TOKEN); then every
request needs "Authorization: Bearer <token>", and a browser opens /?token=<token> once
(the page sets a HttpOnly session cookie). The token is never printed or logged.

examples:
  logguard ui --db logguard-demo.duckdb            # then open http://127.0.0.1:8700/
  LOGGUARD_API_TOKEN=$(openssl rand -hex 24) logguard ui --db logguard.duckdb \\
      --host 0.0.0.0 --port 8700
"""

from __future__ import annotations

import argparse
import os
import signal
import threading
from pathlib import Path

from logguard.analyst.backend import API_TOKEN_ENV


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--db", type=Path, required=True, metavar="PATH",
                        help="the DuckDB store")
    parser.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1)")
    parser.add_argument("--port", type=int, default=8700, help="port (default 8700; 0 = any free)")
    parser.add_argument("--token-env", default=API_TOKEN_ENV, metavar="NAME",
                        help=f"environment variable holding the token (default {API_TOKEN_ENV}); "
                        "required for a non-loopback --host")
    parser.add_argument("--read-only", action="store_true",
                        help="open the store read-only and refuse feedback")


def run(args: argparse.Namespace) -> int:
    from logguard.store.alerts import ensure_alert_tables
    from logguard.store.duckdb_store import open_duckdb
    from logguard.web import WebApp

    token = os.environ.get(args.token_env) or None
    con = open_duckdb(args.db, read_only=args.read_only)
    try:
        if not args.read_only:
            ensure_alert_tables(con)
        app = WebApp(con, None if args.read_only else con, token=token)
        host, port = app.serve(args.host, args.port)
        stop = threading.Event()
        signal.signal(signal.SIGTERM, lambda *_: stop.set())
        shown = f"[{host}]" if ":" in host else host
        print(f"logguard ui: serving {args.db} at http://{shown}:{port}/"
              + (" (token required: open /?token=<token> once)" if token else ""), flush=True)
        try:
            while not stop.wait(0.5):
                pass
        except KeyboardInterrupt:
            pass
        app.shutdown()
    finally:
        con.close()
    return 0
