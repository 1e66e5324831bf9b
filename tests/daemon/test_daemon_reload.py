"""Hot reload: a version promoted while the daemon runs scores the batches after the switch."""

from __future__ import annotations

import time
from pathlib import Path

import duckdb
import pytest

from logguard.models.registry import ModelRegistry

from .conftest import daemon_config, encode, make_output_topic, process_events

pytestmark = [pytest.mark.kafka]


def test_a_promoted_version_scores_every_batch_after_the_switch_and_none_is_missed(
        broker, make_topic, send_messages, models_dir: Path, ape_registry, tmp_path: Path,
        start_daemon):
    v1, v2 = ape_registry[1]
    topic = make_topic(2)
    output = make_output_topic(broker.bootstrap, f"{topic}-alerts")
    db = tmp_path / "d.duckdb"
    running = start_daemon(daemon_config(broker.bootstrap, db, models_dir, topic, output))
    running.wait_ready()
    before = process_events(0.5, after_hours=5)
    after = process_events(0.5, after_hours=6)
    placed_before = send_messages(broker.bootstrap, topic, encode(before))
    running.wait_events(len(before))
    assert running.daemon.models[("process", "ape")].version == v1
    ModelRegistry(models_dir).promote("process", "ape", v2, reason="hot reload test")
    deadline = time.monotonic() + 10
    while running.daemon.models[("process", "ape")].version != v2:
        assert time.monotonic() < deadline, "the daemon did not pick up the new version"
        time.sleep(0.05)
    placed_after = send_messages(broker.bootstrap, topic, encode(after))
    running.wait_events(len(before) + len(after))
    stats = running.stop()
    assert stats.reloads == 1
    with duckdb.connect(str(db), read_only=True) as con:
        rows = con.execute("SELECT kafka_partition, kafka_offset, model_version FROM scores "
                           "WHERE model = 'ape'").fetchall()
        events = con.execute("SELECT count(*) FROM events").fetchone()[0]
        loaded = {r[0] for r in con.execute("SELECT model_version FROM models").fetchall()}
    version_of = {(p, o): v for p, o, v in rows}
    assert events == len(rows) == len(before) + len(after)  # every event scored exactly once
    assert {version_of[k] for k in placed_before} == {v1}
    assert {version_of[k] for k in placed_after} == {v2}
    assert loaded == {v1, v2}


def test_a_version_that_fails_to_load_keeps_the_running_one(
        broker, make_topic, send_messages, models_dir: Path, ape_registry, tmp_path: Path,
        start_daemon):
    v1, v2 = ape_registry[1]
    (models_dir / "process" / "ape" / "versions" / v2 / "state.npz").write_bytes(b"broken")
    topic = make_topic(1)
    output = make_output_topic(broker.bootstrap, f"{topic}-alerts")
    db = tmp_path / "d.duckdb"
    running = start_daemon(daemon_config(broker.bootstrap, db, models_dir, topic, output))
    running.wait_ready()
    ModelRegistry(models_dir).promote("process", "ape", v2, reason="broken on purpose")
    events = process_events(0.25, after_hours=7)
    time.sleep(1.0)  # several reload checks (every 0.3 s) see the broken version
    send_messages(broker.bootstrap, topic, encode(events))
    running.wait_events(len(events))
    running.stop()
    with duckdb.connect(str(db), read_only=True) as con:
        versions = con.execute("SELECT model_version, count(*) FROM scores GROUP BY ALL"
                               ).fetchall()
    assert versions == [(v1, len(events))]
