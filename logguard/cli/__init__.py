"""The ``logguard`` command line.

Every module in this package whose name does not start with ``_`` is one subcommand
(``logguard/cli/ingest.py`` is ``logguard ingest``). A command module defines:

* its docstring: the ``--help`` description (first line: the one-line summary);
* ``add_arguments(parser)``: its flags;
* ``run(args) -> int``: the work, returning the exit code.

Command modules import heavy libraries (torch, pandas, duckdb) inside ``run`` so that
``logguard --help`` and every ``--help`` start fast.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import pkgutil
import sys
from collections.abc import Sequence

from logguard import __version__
from logguard.errors import LogguardError

EXIT_CODES = """exit codes:
  0  success
  1  unexpected error (a bug: please report it with the traceback)
  2  bad input, argument or configuration
  3  the DuckDB store cannot be used (not a DuckDB file, or locked by another process)
  4  the Kafka broker cannot be started or reached
  5  a model directory is missing, corrupt or not fitted
  130 interrupted
"""


def _command_modules() -> list[str]:
    return sorted(m.name for m in pkgutil.iter_modules(__path__) if not m.name.startswith("_"))


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="logguard",
        description="Streaming security-log anomaly detection: Kafka -> DuckDB -> "
        "APE / GID / CAR models -> ranked, explained alerts.",
        epilog=EXIT_CODES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"logguard {__version__}")
    parser.add_argument("-v", "--verbose", action="store_true", help="log debug messages")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for name in _command_modules():
        module = importlib.import_module(f"{__name__}.{name}")
        doc = (module.__doc__ or "").strip()
        sub = commands.add_parser(
            name.replace("_", "-"),
            help=doc.splitlines()[0] if doc else None,
            description=doc,
            epilog=EXIT_CODES,
            formatter_class=argparse.RawDescriptionHelpFormatter,
        )
        module.add_arguments(sub)
        sub.set_defaults(_run=module.run)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )
    logging.getLogger("kafka").setLevel(logging.WARNING if args.verbose else logging.CRITICAL)
    try:
        return int(args._run(args) or 0)
    except LogguardError as exc:
        print(f"logguard {args.command}: error: {exc}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        print(f"logguard {args.command}: interrupted", file=sys.stderr)
        return 130
