"""The alert side of the store: ``alerts``, ``scenarios``, ``outbox``, ``feedback``,
``suppressions`` and ``models`` tables, and the stable ids that make alerting replay-safe.

Every id is a content hash of what the alert is *about*, never of when it was raised:

* an event alert: ``sha256("event", model, kafka_topic, kafka_partition, kafka_offset)``;
* a path alert (GID): ``sha256("path", model, host, the path's node keys in order)``;
* an alert's pattern (what repeats share, :mod:`logguard.daemon.grouping`):
  ``sha256("pattern", model, the pattern's canonical text)``;
* a scenario: ``sha256("scenario", the id of its earliest alert)``; each change of a scenario
  bumps its ``version`` and is published as message ``<scenario_id>:<version>``.

So a replay after a crash (or a second scoring of the same window) computes the same id, the
``INSERT OR IGNORE`` on the primary key keeps the first row, and no second alert is published.

``outbox`` holds one row per (message, sink) until the sink acknowledges it: the publisher
retries with back-off and marks ``acked_at``; a sink that is down never blocks ingest and
never loses a message (at-least-once delivery with a stable id, so consumers can dedupe).

Table contract (extend, don't rename; DESIGN.md "Contracts"):

``alerts``: alert_id PK, source, model, model_version, kind (event|path|activity|ids),
event_time, host, user_name, raw_score, score (calibrated 0-100), threshold (calibrated),
summary, explanation (JSON text), entities (JSON object type -> value), attack_tags (JSON list),
kafka_topic/kafka_partition/kafka_offset (the event; for a path alert its last event),
car_score, car_rank, scenario_id, status (new|true-positive|false-positive|benign|suppressed),
created_at, updated_at, pattern_key (hash of the model and the alert's pattern: what repeats are
grouped by), occurrences (events grouped into this alert, its own included) and last_event_time
(the latest of them); see :mod:`logguard.daemon.grouping`.
"""

from __future__ import annotations

import hashlib
from typing import TYPE_CHECKING

import pyarrow as pa

from logguard.store.duckdb_store import insert_or_ignore

if TYPE_CHECKING:
    import duckdb

ALERT_KINDS = ("event", "path", "activity", "ids")
VERDICTS = ("true-positive", "false-positive", "benign")
SINKS_TABLE_KEY = ("message_id", "sink")

ALERTS_SCHEMA = pa.schema([
    ("alert_id", pa.string()),
    ("source", pa.string()),
    ("model", pa.string()),
    ("model_version", pa.string()),
    ("kind", pa.string()),
    ("event_time", pa.timestamp("us", tz="UTC")),
    ("host", pa.string()),
    ("user_name", pa.string()),
    ("raw_score", pa.float64()),
    ("score", pa.float64()),
    ("threshold", pa.float64()),
    ("summary", pa.string()),
    ("explanation", pa.string()),
    ("entities", pa.string()),
    ("attack_tags", pa.string()),
    ("kafka_topic", pa.string()),
    ("kafka_partition", pa.int32()),
    ("kafka_offset", pa.int64()),
    ("pattern_key", pa.string()),
])

OUTBOX_SCHEMA = pa.schema([
    ("message_id", pa.string()),
    ("sink", pa.string()),
    ("kind", pa.string()),  # alert | scenario
    ("ref_id", pa.string()),  # alert_id or scenario_id
    ("payload", pa.string()),  # the OCSF Detection Finding JSON
])

_DDL = (
    """CREATE TABLE IF NOT EXISTS alerts (
    alert_id VARCHAR PRIMARY KEY, source VARCHAR NOT NULL, model VARCHAR NOT NULL,
    model_version VARCHAR, kind VARCHAR NOT NULL, event_time TIMESTAMPTZ NOT NULL,
    host VARCHAR, user_name VARCHAR, raw_score DOUBLE NOT NULL, score DOUBLE NOT NULL,
    threshold DOUBLE, summary VARCHAR NOT NULL, explanation VARCHAR, entities VARCHAR,
    attack_tags VARCHAR, kafka_topic VARCHAR, kafka_partition INTEGER, kafka_offset BIGINT,
    car_score DOUBLE, car_rank INTEGER, scenario_id VARCHAR,
    status VARCHAR NOT NULL DEFAULT 'new',
    created_at TIMESTAMPTZ DEFAULT current_timestamp,
    updated_at TIMESTAMPTZ DEFAULT current_timestamp,
    pattern_key VARCHAR, occurrences INTEGER NOT NULL DEFAULT 1, last_event_time TIMESTAMPTZ)""",
    # stores made before alert grouping gain its columns
    "ALTER TABLE alerts ADD COLUMN IF NOT EXISTS pattern_key VARCHAR",
    "ALTER TABLE alerts ADD COLUMN IF NOT EXISTS occurrences INTEGER DEFAULT 1",
    "ALTER TABLE alerts ADD COLUMN IF NOT EXISTS last_event_time TIMESTAMPTZ",
    """CREATE TABLE IF NOT EXISTS scenarios (
    scenario_id VARCHAR PRIMARY KEY, version INTEGER NOT NULL, score DOUBLE NOT NULL,
    rank INTEGER, alert_count INTEGER NOT NULL, first_time TIMESTAMPTZ, last_time TIMESTAMPTZ,
    hosts VARCHAR, users VARCHAR, summary VARCHAR, steps VARCHAR, graph VARCHAR,
    created_at TIMESTAMPTZ DEFAULT current_timestamp,
    updated_at TIMESTAMPTZ DEFAULT current_timestamp)""",
    """CREATE TABLE IF NOT EXISTS outbox (
    message_id VARCHAR NOT NULL, sink VARCHAR NOT NULL, kind VARCHAR NOT NULL,
    ref_id VARCHAR NOT NULL, payload VARCHAR NOT NULL, attempts INTEGER NOT NULL DEFAULT 0,
    next_attempt_at TIMESTAMPTZ DEFAULT current_timestamp, last_error VARCHAR,
    acked_at TIMESTAMPTZ, created_at TIMESTAMPTZ DEFAULT current_timestamp,
    PRIMARY KEY (message_id, sink))""",
    """CREATE TABLE IF NOT EXISTS feedback (
    feedback_id VARCHAR PRIMARY KEY, alert_id VARCHAR NOT NULL, verdict VARCHAR NOT NULL,
    note VARCHAR, analyst VARCHAR, created_at TIMESTAMPTZ DEFAULT current_timestamp)""",
    """CREATE TABLE IF NOT EXISTS suppressions (
    suppression_id VARCHAR PRIMARY KEY, model VARCHAR NOT NULL, pattern VARCHAR NOT NULL,
    from_alert_id VARCHAR, note VARCHAR, created_at TIMESTAMPTZ DEFAULT current_timestamp,
    expires_at TIMESTAMPTZ, revoked_at TIMESTAMPTZ)""",
    """CREATE TABLE IF NOT EXISTS models (
    source VARCHAR NOT NULL, model VARCHAR NOT NULL, model_version VARCHAR NOT NULL,
    path VARCHAR, loaded_at TIMESTAMPTZ DEFAULT current_timestamp,
    PRIMARY KEY (source, model, model_version))""",
)


def ensure_alert_tables(con: duckdb.DuckDBPyConnection) -> None:
    """Create the alert-side tables when missing (idempotent)."""
    for statement in _DDL:
        con.execute(statement)


def _digest(*parts: object) -> str:
    joined = "\x1f".join("" if p is None else str(p) for p in parts)
    return hashlib.sha256(joined.encode("utf-8")).hexdigest()[:24]


def event_alert_id(model: str, topic: str, partition: int, offset: int) -> str:
    """Stable id of the alert one model raises on one stored event."""
    return _digest("event", model, topic, int(partition), int(offset))


def path_alert_id(model: str, host: str, node_keys: list[str]) -> str:
    """Stable id of a suspicious path: the same nodes in the same order give the same id."""
    return _digest("path", model, host, *node_keys)


def pattern_key(model: str, pattern: str) -> str:
    """Stable key of an alert's pattern (its canonical text, :mod:`logguard.analyst.patterns`):
    the alerts grouped as repeats of one another share it."""
    return _digest("pattern", model, pattern)


def scenario_id(first_alert_id: str) -> str:
    """Stable id of a scenario, named after its earliest alert."""
    return _digest("scenario", first_alert_id)


def scenario_message_id(scenario: str, version: int) -> str:
    """Id of one published scenario update (OCSF activity Update)."""
    return f"{scenario}:{int(version)}"


def insert_outbox(con: duckdb.DuckDBPyConnection, outbox: pa.Table) -> None:
    """Queue messages for the sinks; a (message_id, sink) already queued is kept as it is."""
    if outbox.num_rows:
        insert_or_ignore(con, "outbox", outbox.select(OUTBOX_SCHEMA.names).cast(OUTBOX_SCHEMA))


def insert_alerts(con: duckdb.DuckDBPyConnection, alerts: pa.Table,
                  outbox: pa.Table) -> int:
    """Insert new alerts and their outbox messages; rows whose id is present are kept as they
    are. Runs inside the caller's transaction when there is one. Returns alerts added."""
    if alerts.num_rows == 0:
        return 0
    # fetchall, not fetchone: DuckDB 2.0 refuses register() while a result is half-read
    before = con.execute("SELECT count(*) FROM alerts").fetchall()[0][0]
    insert_or_ignore(con, "alerts", alerts.select(ALERTS_SCHEMA.names).cast(ALERTS_SCHEMA))
    insert_outbox(con, outbox)
    return con.execute("SELECT count(*) FROM alerts").fetchall()[0][0] - before
