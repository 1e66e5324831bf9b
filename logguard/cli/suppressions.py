"""List the active suppressions, or undo one with --revoke ID.

A suppression (made by `logguard feedback ... benign|false-positive --suppress DAYS`) keeps
the daemon from raising alerts of one model whose stable entities match its pattern, until
it expires or is revoked. --all also lists expired and revoked ones.

examples:
  logguard suppressions --db logguard-demo.duckdb
  logguard suppressions --db logguard-demo.duckdb --revoke 7d0c55e1
"""

from __future__ import annotations

import argparse
import json

from logguard.cli._analyst import WHERE_HELP, add_store_arguments, api_token

__doc__ += WHERE_HELP


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_store_arguments(parser)
    parser.add_argument("--revoke", default=None, metavar="ID",
                        help="revoke (undo) this suppression (id or unique prefix)")
    parser.add_argument("--all", action="store_true",
                        help="also list expired and revoked suppressions")
    parser.add_argument("--format", choices=("table", "json"), default="table")


def run(args: argparse.Namespace) -> int:
    from logguard.analyst import render
    from logguard.analyst.backend import open_backend

    write = args.revoke is not None
    with open_backend(args.db, args.api, api_token(args), write=write) as backend:
        if write:
            revoked = backend.revoke(args.revoke)
            print(json.dumps(revoked, indent=2) if args.format == "json" else
                  f"revoked suppression {revoked['suppression_id']} at {revoked['revoked_at']}")
            return 0
        rows = backend.suppressions(args.all)
    print(json.dumps(rows, indent=2) if args.format == "json" else render.suppressions(rows))
    return 0
