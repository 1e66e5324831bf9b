"""Export the store's events to a Parquet history partitioned by source and day.

Layout (hive style, readable by DuckDB ``read_parquet(..., hive_partitioning = true)``,
pyarrow datasets and Spark): ``OUT/source=process/day=2026-11-23/part-0.parquet``. The day is
the UTC date of ``event_time``. Every (source, day) partition the export touches is written
whole and then swapped in for its previous version, so exporting again gives the same files:
the export is idempotent, and ``--since``/``--until`` select whole days.

Batch jobs read this history without the DuckDB writer lock. The export itself opens the
DuckDB file, so it runs against a file no other process holds (the streaming daemon exports
periodically from its own connection).
"""

from __future__ import annotations

import shutil
import uuid
from dataclasses import dataclass
from datetime import date
from pathlib import Path

import duckdb
import pyarrow.dataset as ds

from logguard.errors import InputError, StoreError

PARTITION_COLUMNS = ("source", "day")
_BATCH_ROWS = 100_000
# the history has the store layout (store_columns) plus the partition column ``day``
_EXPORT_QUERY = """
    WITH dated AS (
        SELECT * EXCLUDE (ingested_at), CAST(timezone('UTC', event_time) AS DATE) AS utc_day
        FROM events)
    SELECT * EXCLUDE (utc_day), strftime(utc_day, '%Y-%m-%d') AS day FROM dated
    WHERE (? IS NULL OR utc_day >= ?) AND (? IS NULL OR utc_day <= ?)
    ORDER BY source, event_time, kafka_topic, kafka_partition, kafka_offset
"""


@dataclass(frozen=True)
class ExportResult:
    """What one export wrote."""

    rows: int
    partitions: list[str]


def export_events(con: duckdb.DuckDBPyConnection, out_dir: str | Path, *,
                  since: date | None = None, until: date | None = None) -> ExportResult:
    """Write events with ``since <= day <= until`` (UTC days, both optional) under ``out_dir``."""
    if since is not None and until is not None and since > until:
        raise InputError(f"--since {since} is after --until {until}")
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    staging = out / f".staging-{uuid.uuid4().hex}"
    params = [since, since, until, until]
    try:
        reader = con.sql(_EXPORT_QUERY, params=params).to_arrow_reader(_BATCH_ROWS)
    except duckdb.Error as exc:
        raise StoreError(f"cannot read events for export: {exc}") from exc
    rows = 0

    def counted(batches):
        nonlocal rows
        for batch in batches:
            rows += batch.num_rows
            yield batch

    try:
        ds.write_dataset(
            counted(reader), staging, schema=reader.schema, format="parquet",
            partitioning=list(PARTITION_COLUMNS), partitioning_flavor="hive",
            basename_template="part-{i}.parquet", existing_data_behavior="error",
            max_rows_per_group=_BATCH_ROWS,
        )
        partitions = _swap_in(staging, out)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return ExportResult(rows=rows, partitions=partitions)


def _swap_in(staging: Path, out: Path) -> list[str]:
    """Replace each exported partition folder of ``out`` by its freshly written version."""
    if not staging.exists():
        return []
    moved = []
    for part in sorted(staging.glob("source=*/day=*")):
        relative = part.relative_to(staging)
        target = out / relative
        target.parent.mkdir(parents=True, exist_ok=True)
        old = target.with_name(f".old-{target.name}-{uuid.uuid4().hex}")
        if target.exists():
            target.rename(old)
        part.rename(target)
        shutil.rmtree(old, ignore_errors=True)
        moved.append(str(relative))
    return moved
