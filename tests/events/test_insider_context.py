"""Insider context kept by the daemon equals what the cert reader attaches, and a store-rebuilt
state continues exactly where a live one stands."""

from __future__ import annotations

from pathlib import Path

import orjson
import pandas as pd

from logguard.events.frames import model_frame
from logguard.events.insider_context import (
    INSIDER_FEATURES,
    annotate,
    restore_state,
    with_features,
)
from logguard.events.readers.cert import UserState
from logguard.events.validate import Validator
from logguard.ingest.batch import MicroBatch
from logguard.sim.cert import simulated_activity
from logguard.store.duckdb_store import EventStore

SCHEMA_FIELDS = ("time", "event_id", "user", "pc", "activity", "subtype", "object")


def insider_messages(reader_frame: pd.DataFrame) -> list[bytes]:
    """The reader's rows as the JSON events ``logguard produce --format cert`` sends, without
    the context columns (the daemon computes those itself)."""
    rows = reader_frame[[*SCHEMA_FIELDS, *INSIDER_FEATURES]].to_dict("records")
    return [orjson.dumps({k: (v.item() if hasattr(v, "item") else v) for k, v in r.items()})
            for r in rows]


def store(db: Path, messages: list[bytes], first_offset: int = 0) -> None:
    batch = MicroBatch(Validator("insider"))
    for i, message in enumerate(messages):
        batch.add("insider", 0, first_offset + i, None, message)
    events = batch.events_table()
    assert events.num_rows == len(messages), batch.dead_letters_table().to_pylist()[:1]
    EventStore(db).write_batch(events, batch.dead_letters_table(),
                               {("insider", 0): first_offset + len(messages) - 1})


def stored_frame(db: Path, first_offset: int = 0) -> pd.DataFrame:
    import duckdb

    with duckdb.connect(str(db), read_only=True) as con:
        rows = con.execute("SELECT * FROM events WHERE kafka_offset >= ? ORDER BY kafka_offset",
                           [first_offset]).df()
    return model_frame(with_features(rows))


def test_the_daemon_context_equals_the_reader_context(tmp_path: Path) -> None:
    reader = simulated_activity(n_users=6, days=6, seed=3, scenarios=(1,))
    db = tmp_path / "e.duckdb"
    store(db, insider_messages(reader))
    annotated = annotate(stored_frame(db), UserState())
    assert len(annotated) == len(reader)
    assert annotated["action"].tolist() == reader["action"].tolist()
    assert annotated["history"].tolist() == reader["history"].tolist()
    assert annotated["new_pc"].tolist() == reader["new_pc"].tolist()
    assert any(":removable" in a for a in annotated["action"])


def test_a_state_rebuilt_from_the_store_continues_like_the_live_one(tmp_path: Path) -> None:
    reader = simulated_activity(n_users=5, days=8, seed=4, scenarios=(1,))
    messages = insider_messages(reader)
    half = len(messages) // 2
    db = tmp_path / "e.duckdb"
    store(db, messages[:half])
    live = UserState()
    annotate(stored_frame(db), live)

    import duckdb

    with duckdb.connect(str(db), read_only=True) as con:
        rebuilt = restore_state(con.cursor())
    store(db, messages[half:], first_offset=half)
    rest = stored_frame(db, first_offset=half)
    from_live = annotate(rest, live)
    from_rebuilt = annotate(rest, rebuilt)
    assert from_rebuilt["history"].tolist() == from_live["history"].tolist()
    assert from_rebuilt["action"].tolist() == from_live["action"].tolist()
    assert from_rebuilt["history"].tolist() == reader["history"].iloc[half:].tolist()
