"""The ``scores`` table: one row per (event, model), keyed by the event's Kafka coordinates.

A re-run of the same model over the same events inserts nothing twice (``INSERT OR IGNORE``
on the unique key), so scoring is as replay-safe as ingest.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import pyarrow as pa

from logguard.store.duckdb_store import insert_or_ignore

if TYPE_CHECKING:
    import duckdb

SCORES_SCHEMA = pa.schema([
    ("kafka_topic", pa.string()),
    ("kafka_partition", pa.int32()),
    ("kafka_offset", pa.int64()),
    ("model", pa.string()),
    ("model_version", pa.string()),
    ("score", pa.float64()),
    ("explanation", pa.string()),
])

_DDL = """CREATE TABLE IF NOT EXISTS scores (
    kafka_topic VARCHAR NOT NULL, kafka_partition INTEGER NOT NULL, kafka_offset BIGINT NOT NULL,
    model VARCHAR NOT NULL, model_version VARCHAR NOT NULL, score DOUBLE NOT NULL,
    explanation VARCHAR, scored_at TIMESTAMPTZ DEFAULT current_timestamp,
    UNIQUE (kafka_topic, kafka_partition, kafka_offset, model))"""


def ensure_scores_table(con: duckdb.DuckDBPyConnection) -> None:
    """Create the ``scores`` table when missing (idempotent)."""
    con.execute(_DDL)


def write_scores(con: duckdb.DuckDBPyConnection, scores: pa.Table) -> None:
    """Insert ``scores`` (layout :data:`SCORES_SCHEMA`); rows already there are kept.

    Runs on ``con`` itself, so inside the caller's transaction when there is one (the daemon
    writes a batch's scores in the batch's transaction)."""
    if scores.num_rows:
        insert_or_ignore(con, "scores", scores.select(SCORES_SCHEMA.names).cast(SCORES_SCHEMA))
