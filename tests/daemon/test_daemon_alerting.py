"""A planted anomalous event becomes an OCSF alert on the output topic within 10 s."""

from __future__ import annotations

import time
import urllib.request
from datetime import timedelta
from pathlib import Path

import duckdb
import orjson
import pytest

from logguard.broker import free_port
from logguard.store.alerts import event_alert_id

from .conftest import (
    daemon_config,
    encode,
    make_output_topic,
    planted_event,
    process_events,
    read_findings,
    running_start,
)

pytestmark = [pytest.mark.kafka]


def test_planted_event_reaches_the_output_topic_as_an_alert_within_10_s(
        broker, make_topic, send_messages, models_dir: Path, tmp_path: Path, start_daemon):
    topic = make_topic(1)
    output = make_output_topic(broker.bootstrap, f"{topic}-alerts")
    port = free_port()
    config = daemon_config(broker.bootstrap, tmp_path / "d.duckdb", models_dir, topic, output,
                           http_port=port)
    running = start_daemon(config)
    running.wait_ready()
    normal = process_events(0.5, after_hours=3)
    send_messages(broker.bootstrap, topic, encode(normal))
    running.wait_events(len(normal))
    when = timedelta(minutes=31)
    produced_at = time.monotonic()
    [(partition, offset)] = send_messages(
        broker.bootstrap, topic, encode([planted_event(1, running_start(normal) + when)]))
    expected = event_alert_id("ape", topic, partition, offset)
    findings = read_findings(broker.bootstrap, output, timeout_s=10,
                             until=lambda f: expected in {x["finding_info"]["uid"] for x in f})
    elapsed = time.monotonic() - produced_at
    health = orjson.loads(urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz",
                                                 timeout=5).read())
    metrics = urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5).read()
    stats = running.stop()
    planted = [f for f in findings if f["finding_info"]["uid"] == expected]
    assert planted, f"no finding for the planted event in 10 s ({stats.line()})"
    assert elapsed < 10
    finding = planted[0]
    assert finding["class_uid"] == 2004 and finding["activity_id"] == 1
    assert finding["finding_info"]["analytic"]["name"] == "ape"
    assert finding["unmapped"]["score"] >= 99.95 - 1e-9  # the default budget: 5 per 10k
    with duckdb.connect(str(tmp_path / "d.duckdb"), read_only=True) as con:
        stored = con.execute("SELECT count(*) FROM events").fetchone()[0]
        row = con.execute("SELECT model, kind, host, explanation FROM alerts WHERE alert_id = ?",
                          [expected]).fetchone()
        normal_alerts = con.execute("SELECT count(*) FROM alerts WHERE alert_id <> ?",
                                    [expected]).fetchone()[0]
    assert stored == len(normal) + 1
    assert health["status"] == "ok" and list(health["models"]) == ["process/ape"]
    assert f'logguard_events_total{{source="process"}} {stored}'.encode() in metrics
    assert b'logguard_alerts_total{source="process",model="ape"}' in metrics
    assert row[0] == "ape" and row[1] == "event" and row[2] == "OFFICE-001.acme.local"
    assert "dropper1.exe" in row[3]  # the explanation names the unusual entity
    # the budget holds on normal traffic: about 5 per 10k (allow 4x for a short window)
    assert normal_alerts <= max(3, 20 * len(normal) // 10_000)
