"""List the attack scenarios CAR reconstructed, best first.

A scenario is a connected chain of high-scoring alerts across hosts and entities. Pass its id
(or a unique prefix of 8+ characters) to `logguard scenario show` for its steps and graph.

example:
  logguard scenarios --db logguard-demo.duckdb --top 10
"""

from __future__ import annotations

import argparse
import json

from logguard.cli._analyst import WHERE_HELP, add_store_arguments, api_token

__doc__ += WHERE_HELP


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_store_arguments(parser)
    parser.add_argument("--top", type=int, default=20, metavar="N",
                        help="show the first N scenarios (default 20)")
    parser.add_argument("--format", choices=("table", "json"), default="table")


def run(args: argparse.Namespace) -> int:
    from logguard.analyst import render
    from logguard.analyst.backend import open_backend

    with open_backend(args.db, args.api, api_token(args)) as backend:
        rows = backend.scenarios(args.top)
    print(json.dumps(rows, indent=2) if args.format == "json" else render.scenarios(rows))
    return 0
