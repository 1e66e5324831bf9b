"""Flags and opening shared by the analyst commands (alerts, scenarios, scenario, explain,
feedback, suppressions)."""

from __future__ import annotations

import argparse
import os
from pathlib import Path

from logguard.analyst.backend import API_TOKEN_ENV

WHERE_HELP = f"""
where it reads:
  --db PATH      the DuckDB file, opened read-only (feedback: read-write). While a daemon
                 holds the file no other process can open it; then add
  --api URL      the daemon's web address (e.g. http://127.0.0.1:8700): used when the file is
                 locked, or alone without --db. Its token comes from ${API_TOKEN_ENV}.
"""


def add_store_arguments(parser: argparse.ArgumentParser) -> None:
    """``--db``, ``--api`` and ``--token-env``."""
    parser.add_argument("--db", type=Path, default=None, metavar="PATH",
                        help="the DuckDB store the daemon or demo wrote")
    parser.add_argument("--api", default=None, metavar="URL",
                        help="a running daemon's (or logguard ui's) address, used when --db is "
                        "locked by it or not given")
    parser.add_argument("--token-env", default=API_TOKEN_ENV, metavar="NAME",
                        help=f"environment variable holding the API token (default "
                        f"{API_TOKEN_ENV})")


def api_token(args: argparse.Namespace) -> str | None:
    """The API token from the environment variable ``--token-env`` names (None when unset)."""
    return os.environ.get(args.token_env) or None
