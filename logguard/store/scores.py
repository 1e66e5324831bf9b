"""The ``scores`` table: one row per (event, model), keyed by the event's Kafka coordinates.

A re-run of the same model over the same events inserts nothing twice (``INSERT OR IGNORE``
on the unique key), so scoring is as replay-safe as ingest.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import pyarrow as pa

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


def write_scores(con: duckdb.DuckDBPyConnection, scores: pa.Table) -> int:
    """Insert ``scores`` (layout :data:`SCORES_SCHEMA`); rows already there are kept. Rows added."""
    con.execute(_DDL)
    before = con.execute("SELECT count(*) FROM scores").fetchone()[0]
    incoming = scores.select(SCORES_SCHEMA.names).cast(SCORES_SCHEMA)
    cursor = con.cursor()
    cursor.register("incoming_scores", incoming)
    cursor.execute(f"INSERT OR IGNORE INTO scores ({', '.join(SCORES_SCHEMA.names)}) "  # noqa: S608
                   f"SELECT * FROM incoming_scores")
    cursor.unregister("incoming_scores")
    return con.execute("SELECT count(*) FROM scores").fetchone()[0] - before
