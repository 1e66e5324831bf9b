"""Export stored events to Parquet partitioned by source and day, for batch jobs.

Writes OUT/source=SOURCE/day=YYYY-MM-DD/part-N.parquet (hive layout; the day is the UTC
date of event_time). Each (source, day) partition is written whole and replaces its previous
export, so re-running is idempotent; --since and --until (dates, inclusive) limit the days.
The export opens the DuckDB file, which must not be held by another process (DuckDB allows
one process per file): run it while `logguard ingest` is stopped; the streaming daemon
exports periodically from its own connection.

example:
  logguard export --db data/shard-0.duckdb --out data/history --since 2026-11-01
  duckdb -c "SELECT source, count(*) FROM read_parquet('data/history/**/*.parquet',
             hive_partitioning = true) GROUP BY source"
"""

from __future__ import annotations

import argparse
from datetime import date
from pathlib import Path

from logguard.errors import InputError


def _day(text: str) -> date:
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise InputError(f"not a date (YYYY-MM-DD): {text!r}") from None


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--db", required=True, type=Path, metavar="PATH", help="DuckDB store file")
    parser.add_argument("--out", required=True, type=Path, metavar="DIR",
                        help="folder of the Parquet history")
    parser.add_argument("--since", default=None, metavar="YYYY-MM-DD",
                        help="first day to export (UTC, inclusive)")
    parser.add_argument("--until", default=None, metavar="YYYY-MM-DD",
                        help="last day to export (UTC, inclusive)")


def run(args: argparse.Namespace) -> int:
    from logguard.store.duckdb_store import EventStore
    from logguard.store.export import export_events

    since = _day(args.since) if args.since else None
    until = _day(args.until) if args.until else None
    if not args.db.exists():
        raise InputError(f"{args.db}: no such DuckDB file")
    with EventStore(args.db) as store:
        result = export_events(store.con, args.out, since=since, until=until)
    print(f"exported {result.rows} events into {len(result.partitions)} partitions under "
          f"{args.out}", flush=True)
    return 0
