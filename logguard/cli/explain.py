"""Explain one alert: its entities, what made it unusual, and similar past alerts.

For an event alert (APE) it lists the entity pairs whose learned compatibility was lowest;
for a path alert (GID) the process path with each edge's reason; then the alerts most like
this one (sharing its model and stable entities) with the verdict each got, and this alert's
own verdicts. ALERT_ID is the full id or a unique prefix of 8+ characters.

example:
  logguard explain 9c1e44d0 --db logguard-demo.duckdb
"""

from __future__ import annotations

import argparse
import json

from logguard.cli._analyst import WHERE_HELP, add_store_arguments, api_token

__doc__ += WHERE_HELP


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("alert_id", metavar="ALERT_ID", help="alert id or unique prefix")
    add_store_arguments(parser)
    parser.add_argument("--format", choices=("text", "json"), default="text")


def run(args: argparse.Namespace) -> int:
    from logguard.analyst import render
    from logguard.analyst.backend import open_backend

    with open_backend(args.db, args.api, api_token(args)) as backend:
        detail = backend.alert(args.alert_id)
    print(json.dumps(detail, indent=2) if args.format == "json" else render.explanation(detail))
    return 0
