"""kill -9 of `logguard daemon` mid-run, then a restart: every event stored once, every alert
published with the same id, none missing (duplicates on the topic are allowed: at-least-once)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from collections import Counter
from pathlib import Path

import duckdb
import pandas as pd
import pytest

from .conftest import (
    alert_ids,
    encode,
    make_output_topic,
    planted_event,
    process_events,
    read_findings,
)

pytestmark = [pytest.mark.kafka]
REPO_ROOT = Path(__file__).resolve().parents[2]


def with_planted(events: list[dict], every: int, first: int) -> list[dict]:
    out = []
    for i, event in enumerate(events):
        out.append(event)
        if i % every == every - 1:
            out.append(planted_event(first + i, pd.Timestamp(event["time"]).to_pydatetime()))
    return out


def config_file(tmp_path: Path, bootstrap: str, topic: str, output: str, models: Path) -> Path:
    path = tmp_path / "daemon.toml"
    path.write_text(
        f'bootstrap = "{bootstrap}"\ndb = "{tmp_path / "d.duckdb"}"\nmodels = "{models}"\n'
        f'group = "crash-{topic}"\noutput_topic = "{output}"\nbatch_size = 2000\n'
        "batch_ms = 200\ncar_interval_s = 1.0\n"
        f'[topics]\n"{topic}" = "process"\n')
    return path


def test_kill_9_then_restart_stores_every_event_once_and_publishes_every_alert(
        broker, make_topic, send_messages, models_dir: Path, tmp_path: Path):
    topic = make_topic(3)
    output = make_output_topic(broker.bootstrap, f"{topic}-alerts")
    first = with_planted(process_events(3.0, after_hours=24), every=500, first=0)
    second = with_planted(process_events(1.0, after_hours=27), every=500, first=10**6)
    send_messages(broker.bootstrap, topic, encode(first))
    command = [sys.executable, "-m", "logguard", "daemon", "--config",
               str(config_file(tmp_path, broker.bootstrap, topic, output, models_dir))]
    process = subprocess.Popen(command, cwd=REPO_ROOT, stdout=subprocess.DEVNULL,
                               stderr=subprocess.PIPE, text=True)
    try:
        published = read_findings(broker.bootstrap, output, timeout_s=60,
                                  until=lambda f: len(alert_ids(f)) >= 3)
        assert process.poll() is None, process.stderr.read() if process.stderr else ""
        assert len(alert_ids(published)) >= 3, "no alert was published before the kill"
        os.kill(process.pid, signal.SIGKILL)
        process.wait(timeout=10)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    with duckdb.connect(str(tmp_path / "d.duckdb"), read_only=True) as con:
        stored_at_kill = con.execute("SELECT count(*) FROM events").fetchone()[0]
    assert 0 < stored_at_kill <= len(first)
    send_messages(broker.bootstrap, topic, encode(second))
    # idle must outlast the session timeout (6 s): the killed member keeps its partitions
    finished = subprocess.run([*command, "--until-idle", "10"], cwd=REPO_ROOT,
                              capture_output=True, text=True, timeout=150)
    assert finished.returncode == 0, finished.stderr[-3000:]
    with duckdb.connect(str(tmp_path / "d.duckdb"), read_only=True) as con:
        keys = con.execute("SELECT kafka_partition, kafka_offset FROM events").fetchall()
        table_ids = {r[0] for r in con.execute("SELECT alert_id FROM alerts").fetchall()}
        unacked = con.execute("SELECT count(*) FROM outbox WHERE acked_at IS NULL").fetchone()[0]
        planted = con.execute("SELECT count(*) FROM alerts WHERE user_name LIKE 'ACME\\intruder%'"
                              ).fetchone()[0]
        scored = con.execute("SELECT count(*), count(DISTINCT (kafka_partition, kafka_offset, "
                             "model)), count(DISTINCT model) FROM scores").fetchone()
    assert len(keys) == len(first) + len(second)
    assert max(Counter(keys).values()) == 1
    assert scored[0] == scored[1] == len(keys) * scored[2]  # each event scored once per model
    topic_ids = alert_ids(read_findings(
        broker.bootstrap, output, timeout_s=20,
        until=lambda f: set(alert_ids(f)) >= table_ids))
    assert set(topic_ids) == table_ids  # same ids, none missing, none extra
    assert unacked == 0
    assert planted == len(first) // 501 + len(second) // 501  # every planted event alerted
