"""Show one attack scenario: its steps in time order and its attack graph as text.

`logguard scenario show ID` prints the scenario's score and span, each step (signature, host,
first time, alerts), the attack graph (nodes by kind, then every edge in time order:
time  source [kind] --relation--> target [kind]) and the scenario's alerts.
ID is the full scenario id or a unique prefix of 8+ characters (see `logguard scenarios`).

example:
  logguard scenario show 3f9a2c1b --db logguard-demo.duckdb
"""

from __future__ import annotations

import argparse
import json

from logguard.cli._analyst import WHERE_HELP, add_store_arguments, api_token

__doc__ += WHERE_HELP


def add_arguments(parser: argparse.ArgumentParser) -> None:
    actions = parser.add_subparsers(dest="action", required=True, metavar="ACTION")
    show = actions.add_parser("show", help="steps, graph and alerts of one scenario",
                              description=__doc__,
                              formatter_class=argparse.RawDescriptionHelpFormatter)
    show.add_argument("scenario_id", metavar="ID", help="scenario id or unique prefix (8+ chars)")
    add_store_arguments(show)
    show.add_argument("--format", choices=("text", "json"), default="text")


def run(args: argparse.Namespace) -> int:
    from logguard.analyst import render
    from logguard.analyst.backend import open_backend

    with open_backend(args.db, args.api, api_token(args)) as backend:
        detail = backend.scenario(args.scenario_id)
    print(json.dumps(detail, indent=2) if args.format == "json" else render.scenario(detail))
    return 0
