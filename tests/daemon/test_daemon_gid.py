"""GID in the daemon: per-host windows find a planted attack path, alert once per path (the
same path found again, even after a restart that rebuilds the windows from the store, keeps
its id), and CAR turns the alerts into a published scenario."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import duckdb
import numpy as np
import pandas as pd
import pytest

from logguard.events.frames import model_frame
from logguard.models.calibration import ScoreCalibrator
from logguard.models.gid import GID
from logguard.models.registry import ModelRegistry

from .conftest import (
    SEED,
    TRAIN_START,
    alert_ids,
    daemon_config,
    encode,
    make_output_topic,
    process_events,
    read_findings,
)

pytestmark = [pytest.mark.kafka]
VICTIM = "OFFICE-001.acme.local"


def add_gid(models: Path) -> None:
    """Train GID on the normal training window; calibrate on its per-host top path z-scores."""
    frame = model_frame(pd.DataFrame(process_events(2.0)).rename(columns={"time": "event_time"}))
    gid = GID(random_state=SEED).fit(frame)
    z = [p["z_score"] for paths in gid.top_paths_by_host(frame, 10).values() for p in paths]
    registry = ModelRegistry(models)
    registry.promote("process", "gid", registry.add("process", "gid", gid,
                                                    ScoreCalibrator.fit(np.array(z))))


def attack_hour() -> list[dict]:
    from logguard.sim import AttackChain, iter_process_events

    start = TRAIN_START + timedelta(hours=30)
    chain = AttackChain(host=VICTIM, start=start + timedelta(minutes=20), name="gid-test")
    return list(iter_process_events(4, start, timedelta(hours=1), seed=SEED, attacks=[chain]))


def test_gid_windows_alert_on_the_attack_path_once_and_car_publishes_its_scenario(
        broker, make_topic, send_messages, models_dir: Path, tmp_path: Path, start_daemon):
    add_gid(models_dir)
    topic = make_topic(2)
    output = make_output_topic(broker.bootstrap, f"{topic}-alerts")
    db = tmp_path / "d.duckdb"
    config = daemon_config(broker.bootstrap, db, models_dir, topic, output)
    events = attack_hour()
    running = start_daemon(config)
    running.wait_ready()
    send_messages(broker.bootstrap, topic, encode(events))
    running.wait_events(len(events))
    first = running.stop()
    assert first.path_alerts > 0
    with duckdb.connect(str(db), read_only=True) as con:
        paths = con.execute("SELECT alert_id, host, explanation, scenario_id FROM alerts "
                            "WHERE kind = 'path'").fetchall()
        scenarios = con.execute("SELECT scenario_id, version, steps, graph FROM scenarios"
                                ).fetchall()
    on_victim = [p for p in paths if p[1] == VICTIM]
    assert any("WINWORD.EXE" in p[2] and "cmd.exe" in p[2] for p in on_victim)
    assert all(p[3] is not None for p in on_victim)  # CAR put them in scenarios
    assert scenarios and all(v >= 1 for _, v, _, _ in scenarios)
    # a restart rebuilds the windows from the store and finds the same paths: no new alert
    again = start_daemon(config)
    again.wait_ready()
    second = again.stop()
    assert second.path_alerts == 0
    with duckdb.connect(str(db), read_only=True) as con:
        assert con.execute("SELECT count(*) FROM alerts WHERE kind = 'path'"
                           ).fetchone()[0] == len(paths)
        table_ids = {r[0] for r in con.execute("SELECT alert_id FROM alerts").fetchall()}
        scenario_messages = {f"{s}:{v}" for s, v in con.execute(
            "SELECT scenario_id, version FROM scenarios").fetchall()}
    findings = read_findings(broker.bootstrap, output, timeout_s=20,
                             until=lambda f: set(alert_ids(f)) >= table_ids)
    assert set(alert_ids(findings)) == table_ids
    published_scenarios = {f["metadata"]["uid"] for f in findings if f["activity_id"] == 2}
    assert scenario_messages <= published_scenarios


def test_a_backlog_of_hours_between_two_searches_is_searched_whole(
        broker, make_topic, send_messages, models_dir: Path, tmp_path: Path, start_daemon):
    """The attack hour and 3 later hours reach the daemon before its first search (no search
    until the final one at stop): the search still covers the attack, 3 h before the newest
    event, not only the last ``gid_window_s``."""
    from logguard.sim import iter_process_events

    add_gid(models_dir)
    topic = make_topic(1)
    db = tmp_path / "d.duckdb"
    config = daemon_config(broker.bootstrap, db, models_dir, topic,
                           make_output_topic(broker.bootstrap, f"{topic}-alerts"),
                           gid_interval_s=600.0, gid_window_s=3600.0)
    later = list(iter_process_events(4, TRAIN_START + timedelta(hours=31), timedelta(hours=3),
                                     seed=SEED + 1))
    events = attack_hour() + later
    running = start_daemon(config)
    running.wait_ready()
    send_messages(broker.bootstrap, topic, encode(events))
    running.wait_events(len(events))
    assert running.daemon.stats.path_alerts == 0  # no search yet
    stats = running.stop()
    assert stats.path_alerts > 0
    with duckdb.connect(str(db), read_only=True) as con:
        explanations = [e for (e,) in con.execute(
            "SELECT explanation FROM alerts WHERE kind = 'path' AND host = ?",
            [VICTIM]).fetchall()]
    assert any("WINWORD.EXE" in e and "cmd.exe" in e for e in explanations)
