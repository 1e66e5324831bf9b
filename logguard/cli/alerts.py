"""Show the ranked alert queue: the alerts to read first, most suspicious at the top.

Order: the calibrated score (0-100), then CAR's rank; `--order car` puts CAR's rank first.
Columns: rank, score, time, host, user, summary, scenario (first 8 characters of its id),
then the alert id to pass to `logguard explain` / `logguard feedback` (any unique prefix
of 8+ characters works) and its status. By default every alert but suppressed ones is listed.

examples:
  logguard alerts --db logguard-demo.duckdb --top 20
  logguard alerts --db logguard-demo.duckdb --since 24h --host WS-FIN-07 --min-score 80
  logguard alerts --api http://127.0.0.1:8700 --status new --format json
  logguard alerts --db logguard-demo.duckdb --status all --format csv > queue.csv
"""

from __future__ import annotations

import argparse

from logguard.cli._analyst import WHERE_HELP, add_store_arguments, api_token

__doc__ += WHERE_HELP


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_store_arguments(parser)
    parser.add_argument("--top", type=int, default=50, metavar="N",
                        help="show the first N alerts (default 50)")
    parser.add_argument("--since", default=None, metavar="T",
                        help="only alerts at or after T: 30m, 24h, 7d, 2w, or an ISO 8601 time")
    parser.add_argument("--host", default=None, metavar="H", help="only this host (exact)")
    parser.add_argument("--user", default=None, metavar="U", help="only this user (exact)")
    parser.add_argument("--min-score", type=float, default=None, metavar="S",
                        help="only calibrated scores >= S (0-100)")
    parser.add_argument("--status", default=None, metavar="S[,S]",
                        help="statuses to list: new, true-positive, false-positive, benign, "
                        "suppressed, or all (default: all but suppressed)")
    parser.add_argument("--order", choices=("score", "car"), default="score",
                        help="score: calibrated score, then CAR rank (default); car: CAR rank "
                        "first (correlated alerts together)")
    parser.add_argument("--format", choices=("table", "json", "csv"), default="table",
                        help="output format (default table)")


def run(args: argparse.Namespace) -> int:
    from logguard.analyst import render
    from logguard.analyst.backend import open_backend

    params = {"top": args.top, "since": args.since, "host": args.host, "user": args.user,
              "min_score": args.min_score, "status": args.status, "order": args.order}
    with open_backend(args.db, args.api, api_token(args)) as backend:
        alerts = backend.alerts(params)
    print(render.queue(alerts, args.format))
    return 0
