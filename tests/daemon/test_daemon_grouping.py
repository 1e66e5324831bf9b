"""Repeats of one anomaly within the grouping window are one alert with a count, across a
restart; a repeat after the window, or a different anomaly, is a new alert."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import duckdb
import pytest

from logguard.store.alerts import event_alert_id

from .conftest import (
    alert_ids,
    daemon_config,
    encode,
    make_output_topic,
    planted_event,
    process_events,
    read_findings,
    running_start,
)

pytestmark = [pytest.mark.kafka]


def dropper_alerts(db: Path) -> list[tuple]:
    with duckdb.connect(str(db), read_only=True) as con:
        return con.execute(
            "SELECT alert_id, occurrences, strftime(timezone('UTC', coalesce(last_event_time, "
            "event_time)), '%H:%M:%S'), json_extract_string(entities, '$.image') FROM alerts "
            "WHERE model = 'ape' AND entities LIKE '%dropper%' ORDER BY event_time").fetchall()


def test_repeats_group_into_one_alert_and_stay_grouped_after_a_restart(
        broker, make_topic, send_messages, models_dir: Path, tmp_path: Path, start_daemon):
    topic = make_topic(1)
    output = make_output_topic(broker.bootstrap, f"{topic}-alerts")
    db = tmp_path / "d.duckdb"
    config = daemon_config(broker.bootstrap, db, models_dir, topic, output,
                           alert_group_window_s=3600.0)
    normal = process_events(0.5, after_hours=3)
    t0 = running_start(normal) + timedelta(minutes=31)
    repeats = [planted_event(1, t0 + timedelta(seconds=20 * k)) for k in range(4)]
    other = planted_event(2, t0 + timedelta(seconds=30))

    running = start_daemon(config)
    running.wait_ready()
    send_messages(broker.bootstrap, topic, encode(normal))
    running.wait_events(len(normal))
    coordinates = send_messages(broker.bootstrap, topic, encode([*repeats, other]))
    running.wait_events(len(normal) + 5)
    running.stop()

    head = event_alert_id("ape", topic, *coordinates[0])
    second = event_alert_id("ape", topic, *coordinates[4])
    rows = dropper_alerts(db)
    assert [(r[0], r[1], r[3].rsplit("\\", 1)[-1]) for r in rows] == [
        (head, 4, "dropper1.exe"), (second, 1, "dropper2.exe")]
    assert rows[0][2] == (t0 + timedelta(seconds=60)).strftime("%H:%M:%S")

    # a restarted daemon reopens the group from the store: a repeat 10 min later joins it,
    # one 2 h after the last repeat opens a new alert
    running = start_daemon(config)
    running.wait_ready()
    late = [planted_event(1, t0 + timedelta(minutes=11)),
            planted_event(1, t0 + timedelta(hours=2, minutes=12))]
    more = send_messages(broker.bootstrap, topic, encode(late))
    running.wait_events(2)
    running.stop()
    reopened = event_alert_id("ape", topic, *more[1])
    rows = dropper_alerts(db)
    assert [(r[0], r[1]) for r in rows] == [(head, 5), (second, 1), (reopened, 1)]

    findings = read_findings(broker.bootstrap, output, timeout_s=10,
                             until=lambda f: reopened in alert_ids(f))
    published = alert_ids(findings)
    dropper_ids = {head, second, reopened}
    assert sorted(i for i in published if i in dropper_ids) == sorted(dropper_ids)
    assert len(published) == len(set(published))  # no repeat was published again
    # the repeats' own scores are kept in the scores table
    with duckdb.connect(str(db), read_only=True) as con:
        scored = con.execute("SELECT count(*) FROM scores s JOIN events e USING (kafka_topic, "
                             "kafka_partition, kafka_offset) WHERE s.model = 'ape' AND "
                             "e.image LIKE '%dropper1.exe' AND s.score >= 99.95").fetchone()[0]
    assert scored == 6
