"""The DuckDB store: layout, migration, dedupe on Kafka coordinates, clear errors (exit 3)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import duckdb
import orjson
import pyarrow as pa
import pytest

from logguard.errors import StoreError
from logguard.events.schema import store_columns
from logguard.events.validate import Validator
from logguard.ingest.batch import MicroBatch
from logguard.store.duckdb_store import EventStore
from logguard.store.scores import SCORES_SCHEMA, ensure_scores_table, write_scores

REPO_ROOT = Path(__file__).resolve().parents[1]


def batch_of(n: int, topic: str = "t", partition: int = 0, start: int = 0) -> MicroBatch:
    batch = MicroBatch(Validator("process"))
    for offset in range(start, start + n):
        event = {"time": 1_795_400_000 + offset, "host": f"h{offset % 3}", "image": "a.exe",
                 "action": "other", "process_id": offset}
        batch.add(topic, partition, offset, 1_795_400_000_000, orjson.dumps(event))
    batch.add(topic, partition, start + n, None, b"\x00 not json")
    return batch


def write(store: EventStore, batch: MicroBatch) -> None:
    store.write_batch(batch.events_table(), batch.dead_letters_table(), dict(batch.offsets))


def test_events_table_has_exactly_the_union_layout(tmp_path):
    with EventStore(tmp_path / "s.duckdb") as store:
        columns = store.con.execute(
            "SELECT column_name FROM information_schema.columns WHERE table_name = 'events' "
            "ORDER BY ordinal_position").fetchall()
    assert [c for (c,) in columns] == [n for n, _ in store_columns()] + ["ingested_at"]


def test_replayed_batch_inserts_nothing_twice_and_offsets_only_advance(tmp_path):
    with EventStore(tmp_path / "s.duckdb") as store:
        write(store, batch_of(100))
        write(store, batch_of(100))  # a replay after a crash
        write(store, batch_of(50, start=80))  # overlaps the tail
        assert store.count("events") == 130
        assert store.count("dead_letters") == 2  # offsets 100 and 130
        assert store.stored_offsets("t") == {0: 130}
        write(store, batch_of(5))  # an old batch does not move the offset back
        assert store.stored_offsets("t") == {0: 130}
        # where a consumer assigned these partitions resumes: only partitions the store has
        assert store.resume_offsets([("t", 0), ("t", 1), ("other", 0)]) == {("t", 0): 130}
        reason = store.con.execute("SELECT reason FROM dead_letters LIMIT 1").fetchone()[0]
    assert reason.startswith("not JSON")


def test_scores_written_with_their_events_are_stored_once_per_event_and_model(tmp_path):
    """Scores go in with their events: a replayed batch adds only the scores it lacks."""
    def with_scores(batch: MicroBatch, models: tuple[str, ...]):
        events = batch.events_table()
        n = events.num_rows
        scores = pa.concat_tables([pa.table({
            "kafka_topic": events.column("kafka_topic"),
            "kafka_partition": events.column("kafka_partition"),
            "kafka_offset": events.column("kafka_offset"), "model": [model] * n,
            "model_version": ["v1"] * n, "score": [float(i) for i in range(n)],
            "explanation": pa.nulls(n, pa.string())}, schema=SCORES_SCHEMA)
            for model in models])
        return events, batch.dead_letters_table(), dict(batch.offsets), scores

    tries: list[bool] = []
    with EventStore(tmp_path / "s.duckdb") as store:
        ensure_scores_table(store.con)

        def write_scored(batch: MicroBatch, models: tuple[str, ...]) -> None:
            events, dead, offsets, scores = with_scores(batch, models)

            def also(cursor, replay: bool) -> None:
                tries.append(replay)
                write_scores(cursor, scores, replay=replay)

            store.write_batch(events, dead, offsets, also)

        write_scored(batch_of(100), ("ape",))
        write_scored(batch_of(50, start=80), ("ape", "rarity"))  # 20 events stored already
        per_key = store.con.execute(
            "SELECT model, count(*), count(DISTINCT kafka_offset), max(kafka_offset) "
            "FROM scores GROUP BY model ORDER BY model").fetchall()
    # the overlap's plain insert fails on the events before any score is written
    assert tries == [False, True]
    # ape: offsets 0-99, then 100-129 (100 was a dead letter of the first batch); rarity is
    # new for all 50 events of the second batch, stored or not
    assert per_key == [("ape", 130, 130, 129), ("rarity", 50, 50, 129)]


def test_reopening_migrates_a_store_missing_columns(tmp_path):
    path = tmp_path / "old.duckdb"
    with duckdb.connect(str(path)) as con:
        con.execute("CREATE TABLE events (source VARCHAR, event_time TIMESTAMPTZ, "
                    "kafka_topic VARCHAR, kafka_partition INTEGER, kafka_offset BIGINT, "
                    "UNIQUE (kafka_topic, kafka_partition, kafka_offset))")
        con.execute("INSERT INTO events VALUES ('process', now(), 't', 0, 0)")
    with EventStore(path) as store:
        write(store, batch_of(10, start=1))
        assert store.count("events") == 11
        names = {r[0] for r in store.con.execute(
            "SELECT column_name FROM information_schema.columns WHERE table_name = 'events'"
        ).fetchall()}
    assert {n for n, _ in store_columns()} <= names


def test_not_a_duckdb_file_is_a_store_error(tmp_path):
    path = tmp_path / "notes.duckdb"
    path.write_text("these are my notes, not a database\n" * 200)
    with pytest.raises(StoreError, match="is not a usable DuckDB file"):
        EventStore(path)


def _cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "logguard", *args], capture_output=True,
                          text=True, timeout=60, cwd=REPO_ROOT, check=False)


def test_cli_exits_3_on_a_file_that_is_not_duckdb(tmp_path):
    path = tmp_path / "fake.duckdb"
    path.write_bytes(b"PK\x03\x04" + bytes(8000))
    result = _cli("ingest", "--bootstrap", "127.0.0.1:9", "--topic", "t", "--source", "process",
                  "--db", str(path))
    assert result.returncode == 3
    assert "is not a usable DuckDB file" in result.stderr
    assert "Traceback" not in result.stderr


def test_cli_exits_3_when_another_process_holds_the_file(tmp_path):
    path = tmp_path / "held.duckdb"
    holder = subprocess.Popen(
        [sys.executable, "-c", "import duckdb, sys; c = duckdb.connect(sys.argv[1]); "
         "print('ready', flush=True); sys.stdin.read()", str(path)],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "ready"
        for command in (["ingest", "--bootstrap", "127.0.0.1:9", "--topic", "t",
                         "--source", "process", "--db", str(path)],
                        ["export", "--db", str(path), "--out", str(tmp_path / "out")]):
            result = _cli(*command)
            assert result.returncode == 3, result.stderr
            assert f"is locked by another process (PID {holder.pid})" in result.stderr
            assert "Traceback" not in result.stderr
    finally:
        holder.communicate("", timeout=10)


def test_empty_batch_tables_have_the_store_layout():
    batch = MicroBatch(Validator("process"))
    assert batch.events_table().schema == pa.schema(list(store_columns()))
    assert batch.dead_letters_table().num_rows == 0


def _multi_day_store(path: Path) -> None:
    batch = MicroBatch(Validator("process"))
    for offset in range(300):
        day = 21 + offset % 3
        if offset % 5 == 0:
            event = {"source": "auth", "time": f"2026-11-{day}T12:00:00Z", "src_user": "u",
                     "dst_user": "v", "src_computer": "c1", "dst_computer": "c2"}
        else:
            event = {"time": f"2026-11-{day}T23:59:59.5+00:00", "host": "h", "image": "a.exe",
                     "action": "other", "zz": offset}
        batch.add("t", 0, offset, None, orjson.dumps(event))
    with EventStore(path) as store:
        write(store, batch)


def _history(con: duckdb.DuckDBPyConnection, out: Path) -> pa.Table:
    columns = ", ".join(n for n, _ in store_columns())
    return con.execute(
        f"SELECT {columns}, CAST(day AS VARCHAR) AS day "  # noqa: S608
        "FROM read_parquet(?, hive_partitioning = true) ORDER BY kafka_offset",
        [str(out / "**" / "*.parquet")]).to_arrow_table()


def test_export_writes_the_partitioned_layout_and_rereads_the_same_rows(tmp_path):
    db, out = tmp_path / "s.duckdb", tmp_path / "history"
    _multi_day_store(db)
    result = _cli("export", "--db", str(db), "--out", str(out))
    assert result.returncode == 0, result.stderr
    assert "exported 300 events into 6 partitions" in result.stdout
    layout = sorted(str(p.relative_to(out)) for p in out.rglob("*.parquet"))
    assert layout == [f"source={s}/day=2026-11-{d}/part-0.parquet"
                      for s in ("auth", "process") for d in (21, 22, 23)]
    columns = ", ".join(n for n, _ in store_columns())
    with duckdb.connect(str(db), read_only=True) as con:
        stored = con.execute(
            f"SELECT {columns}, CAST(CAST(timezone('UTC', event_time) AS DATE) AS VARCHAR) "  # noqa: S608
            "AS day FROM events ORDER BY kafka_offset").to_arrow_table()
        exported = _history(con, out)
    assert exported.num_rows == 300
    assert exported.equals(stored)

    again = _cli("export", "--db", str(db), "--out", str(out))  # idempotent
    assert again.returncode == 0, again.stderr
    with duckdb.connect(str(db), read_only=True) as con:
        assert _history(con, out).equals(exported)
    assert len(list(out.rglob("*.parquet"))) == 6


def test_export_since_until_rewrites_only_those_days(tmp_path):
    db, out = tmp_path / "s.duckdb", tmp_path / "history"
    _multi_day_store(db)
    result = _cli("export", "--db", str(db), "--out", str(out), "--since", "2026-11-22",
                  "--until", "2026-11-22")
    assert result.returncode == 0, result.stderr
    assert sorted(p.parent.name for p in out.rglob("*.parquet")) == ["day=2026-11-22"] * 2
    bad = _cli("export", "--db", str(db), "--out", str(out), "--since", "last week")
    assert bad.returncode == 2 and "not a date (YYYY-MM-DD): 'last week'" in bad.stderr
