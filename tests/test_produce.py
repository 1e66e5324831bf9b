"""`logguard produce`: replay real files into the embedded broker, read them back."""

from __future__ import annotations

import csv
import time
from pathlib import Path

import orjson
import pytest

pytestmark = [pytest.mark.kafka]
IDS2017_TEST = Path(__file__).resolve().parents[2] / "shared" / "data" / "ids2017" / "test.csv"


def read_topic(bootstrap: str, topic: str, expected: int) -> list:
    from kafka import KafkaConsumer

    consumer = KafkaConsumer(topic, bootstrap_servers=bootstrap, auto_offset_reset="earliest",
                             consumer_timeout_ms=3000, allow_auto_create_topics=False)
    try:
        messages = []
        deadline = time.monotonic() + 30
        while len(messages) < expected and time.monotonic() < deadline:
            messages.extend(consumer)
        return messages
    finally:
        consumer.close()


@pytest.mark.timeout(120)
def test_produce_real_csv_round_trips_every_row(broker, logguard_cli):
    topic = "ids2017-roundtrip"
    result = logguard_cli("produce", "--bootstrap", broker.bootstrap, "--topic", topic,
                          "--input", str(IDS2017_TEST), "--format", "csv", "--partitions", "3",
                          "--source", "network")
    assert result.returncode == 0, result.stderr
    with IDS2017_TEST.open(newline="") as handle:
        rows = list(csv.DictReader(handle))
    assert len(rows) == 734
    assert f"produced {len(rows)} events to {topic}" in result.stdout
    messages = read_topic(broker.bootstrap, topic, len(rows))
    assert len(messages) == len(rows)
    assert {m.partition for m in messages} == {0, 1, 2}
    received = sorted((orjson.loads(m.value) for m in messages), key=orjson.dumps)
    expected = sorted(({**row, "source": "network"} for row in rows), key=orjson.dumps)
    assert received == expected


@pytest.mark.timeout(120)
def test_produce_keys_by_host_and_honours_the_rate(broker, logguard_cli, tmp_path):
    events = tmp_path / "events.jsonl"
    events.write_text("".join(
        orjson.dumps({"time": 1_795_400_000 + i, "host": f"ws-{i % 4}", "image": "a.exe",
                      "action": "other"}).decode() + "\n" for i in range(60)))
    topic = "keyed-rated"
    started = time.monotonic()
    result = logguard_cli("produce", "--bootstrap", broker.bootstrap, "--topic", topic,
                          "--input", str(events), "--rate", "30")
    elapsed = time.monotonic() - started
    assert result.returncode == 0, result.stderr
    assert elapsed >= 2.0
    messages = read_topic(broker.bootstrap, topic, 60)
    assert len(messages) == 60
    partitions_by_host: dict[bytes, set[int]] = {}
    for m in messages:
        assert m.key == orjson.loads(m.value)["host"].encode()
        partitions_by_host.setdefault(m.key, set()).add(m.partition)
    assert all(len(parts) == 1 for parts in partitions_by_host.values())


def test_produce_reports_an_unreachable_broker(logguard_cli, tmp_path):
    events = tmp_path / "e.jsonl"
    events.write_text('{"host": "a"}\n')
    from logguard.broker import free_port

    result = logguard_cli("produce", "--bootstrap", f"127.0.0.1:{free_port()}", "--topic", "x",
                          "--input", str(events), timeout=120)
    assert result.returncode == 4, result.stderr
    assert "Traceback" not in result.stderr
