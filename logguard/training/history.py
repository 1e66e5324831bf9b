"""Read the Parquet history (``source=<s>/day=<YYYY-MM-DD>/part-*.parquet``) that jobs train on.

The history is what :func:`logguard.store.export.export_events` writes: the store layout plus
the partition column ``day`` (the UTC date of ``event_time``). Jobs read it, never the
daemon's live DuckDB file (DuckDB lets one process hold a file; see ``DESIGN.md``).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date
from pathlib import Path

import pandas as pd

from logguard.errors import InputError

_SORT = ["event_time", "kafka_topic", "kafka_partition", "kafka_offset"]


def history_days(history_dir: str | Path, source: str | None = None) -> list[date]:
    """The days (sorted) that have a partition, for ``source`` or for any source."""
    root = _root(history_dir)
    pattern = f"source={source}/day=*" if source else "source=*/day=*"
    days = set()
    for part in root.glob(pattern):
        try:
            days.add(date.fromisoformat(part.name.removeprefix("day=")))
        except ValueError:
            continue  # not a partition this layout writes
    return sorted(days)


def history_sources(history_dir: str | Path) -> list[str]:
    """The sources that have at least one partition."""
    return sorted(p.name.removeprefix("source=") for p in _root(history_dir).glob("source=*")
                  if p.is_dir() and not p.name.startswith("."))


def read_history(history_dir: str | Path, source: str, days: Sequence[date]) -> pd.DataFrame:
    """Events of ``source`` on ``days`` in the store layout, in time (then Kafka) order."""
    import pyarrow as pa
    import pyarrow.dataset as ds

    root = _root(history_dir)
    partitioning = ds.partitioning(pa.schema([("source", pa.string()), ("day", pa.string())]),
                                   flavor="hive")
    dataset = ds.dataset(root, format="parquet", partitioning=partitioning)
    wanted = [d.isoformat() for d in days]
    table = dataset.to_table(filter=(ds.field("source") == source) & ds.field("day").isin(wanted))
    frame = table.to_pandas()
    return frame.sort_values(_SORT, kind="stable").reset_index(drop=True)


def _root(history_dir: str | Path) -> Path:
    root = Path(history_dir)
    if not root.is_dir():
        raise InputError(f"history folder {root} does not exist (write it with "
                         "`logguard export --db DB --out DIR`)")
    return root
