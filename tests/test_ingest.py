"""Crash-safe ingest: a real tansu broker, `logguard ingest` subprocesses, real DuckDB files."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import threading
from collections import Counter
from pathlib import Path

import duckdb
import orjson
import pytest

pytestmark = [pytest.mark.kafka]

REPO_ROOT = Path(__file__).resolve().parents[1]
MAX_MESSAGE_BYTES = 64 * 1024
VALID_EVENTS = 20_000
MALFORMED = 500


def valid_event(i: int) -> dict:
    return {
        "time": f"2026-11-23T{(i // 3600) % 24:02d}:{(i // 60) % 60:02d}:{i % 60:02d}Z",
        "host": f"ws-{i % 17}", "user": f"CORP\\user{i % 23}", "image": f"C:\\bin\\tool{i % 5}.exe",
        "parent_image": "C:\\Windows\\explorer.exe", "action": "process_start",
        "object_type": "process", "object_name": f"C:\\bin\\child{i % 11}.exe",
        "process_id": 1000 + i, "command_line": f"tool{i % 5}.exe --run {i}", "seq": i,
    }


def _event_bytes(**changes: object) -> bytes:
    event = valid_event(7)
    event.update(changes)
    return orjson.dumps({k: v for k, v in event.items() if v is not None})


# kind -> (raw message, a phrase its dead-letter reason must contain)
MALFORMED_KINDS: dict[str, tuple[bytes, str]] = {
    "not_utf8": (b'{"host": "\xff\xfe"}', "not UTF-8"),
    "not_json": (b'{"host": "ws-1", ', "not JSON"),
    "not_object": (b'["ws-1", "cmd.exe"]', "JSON is not an object (got array)"),
    "unknown_source": (_event_bytes(source="martian"), "unknown source 'martian'"),
    "missing_field": (_event_bytes(image=None), "required field 'image' is missing"),
    "wrong_type": (_event_bytes(user=42), "field 'user': expected string, got integer"),
    "enum": (_event_bytes(action="explode"), "field 'action': 'explode' is not one of"),
    "bad_time": (_event_bytes(time="yesterday-ish"),
                 "field 'time': event time 'yesterday-ish' does not parse"),
    "oversized": (_event_bytes(padding="x" * (MAX_MESSAGE_BYTES + 100)), "size limit"),
    "control_char": (_event_bytes(command_line="cmd.exe /c \x1b[2J"),
                     "field 'command_line': control character U+001B"),
    "entity_too_long": (_event_bytes(object_name="A" * 10_000),
                        "field 'object_name': value too long (10000 characters"),
}


def mixed_messages() -> tuple[list[tuple[bytes, bytes]], list[str | None]]:
    """20,000 valid events with 500 malformed ones spread among them; kind per message."""
    kinds = list(MALFORMED_KINDS)
    messages: list[tuple[bytes, bytes]] = []
    labels: list[str | None] = []
    every = VALID_EVENTS // MALFORMED
    for i in range(VALID_EVENTS):
        event = valid_event(i)
        messages.append((event["host"].encode(), orjson.dumps(event)))
        labels.append(None)
        if i % every == every - 1:
            kind = kinds[len([x for x in labels if x]) % len(kinds)]
            messages.append((b"bad", MALFORMED_KINDS[kind][0]))
            labels.append(kind)
    assert labels.count(None) == VALID_EVENTS and len(labels) - VALID_EVENTS == MALFORMED
    return messages, labels


def ingest_command(bootstrap: str, topic: str, db: Path, group: str, *extra: str) -> list[str]:
    return [sys.executable, "-m", "logguard", "ingest", "--bootstrap", bootstrap,
            "--topic", topic, "--source", "process", "--db", str(db), "--group", group,
            "--max-message-bytes", str(MAX_MESSAGE_BYTES), "--max-poll-interval-ms", "10000",
            *extra]


class StatusWatcher:
    """Reads an ingest process's stderr; signals once a status line reports enough events."""

    def __init__(self, process: subprocess.Popen, min_events: int) -> None:
        self.process = process
        self.min_events = min_events
        self.reached = threading.Event()
        self.lines: list[str] = []
        self.thread = threading.Thread(target=self._watch, daemon=True)
        self.thread.start()

    def _watch(self) -> None:
        assert self.process.stderr is not None
        for line in self.process.stderr:
            self.lines.append(line)
            count = _count(line)
            if count is not None and count >= self.min_events:
                self.reached.set()


STATUS_LINE = re.compile(r"(?:INFO logguard\.ingest|ingest done): ([\d,]+) events\b")


def _count(line: str) -> int | None:
    """The event count of a status line ("... INFO logguard.ingest: 12,345 events (...)") or
    of the final report ("ingest done: 12,345 events ..."); None for any other line (the
    SIGTERM notice, warnings)."""
    match = STATUS_LINE.search(line)
    return int(match.group(1).replace(",", "")) if match else None


def start_ingest(command: list[str], min_events: int) -> tuple[subprocess.Popen, StatusWatcher]:
    process = subprocess.Popen(command, cwd=REPO_ROOT, stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE, text=True)
    return process, StatusWatcher(process, min_events)


def kill_after_progress(command: list[str], min_events: int, timeout_s: float = 60) -> None:
    """Start ingest, SIGKILL it once its status line reports ``min_events`` events."""
    process, watcher = start_ingest(command, min_events)
    try:
        assert watcher.reached.wait(timeout_s), "ingest made no progress: " + "".join(watcher.lines)
        assert process.poll() is None, "ingest finished before it could be killed mid-way"
    finally:
        os.kill(process.pid, signal.SIGKILL)
        process.wait(timeout=10)
        watcher.thread.join(timeout=10)


def stored_keys(db: Path, table: str) -> list[tuple[int, int]]:
    with duckdb.connect(str(db), read_only=True) as con:
        return con.execute(f"SELECT kafka_partition, kafka_offset FROM {table}").fetchall()  # noqa: S608


@pytest.mark.timeout(240)
def test_kill_9_twice_then_restart_stores_every_message_exactly_once(
        broker, make_topic, send_messages, tmp_path):
    topic = make_topic(3)
    messages, labels = mixed_messages()
    placed = send_messages(broker.bootstrap, topic, messages, partition_of=lambda i: i % 3)
    kind_at = dict(zip(placed, labels, strict=True))
    db = tmp_path / "ingest.duckdb"
    command = ingest_command(broker.bootstrap, topic, db, "crash-group",
                             "--batch-size", "250", "--status-every", "0.1")

    progress = []
    for min_events in (2_000, 8_000):
        kill_after_progress(command, min_events)
        stored = len(stored_keys(db, "events")) + len(stored_keys(db, "dead_letters"))
        progress.append(stored)
    assert 0 < progress[0] < progress[1] < len(messages), progress

    # idle must outlast the session timeout (6 s): the killed member keeps its partitions
    # until the broker expires it, and only then are they assigned to the restarted one
    finished = subprocess.run([*command, "--until-idle", "8"], cwd=REPO_ROOT,
                              capture_output=True, text=True, timeout=120, check=False)
    assert finished.returncode == 0, finished.stderr

    events = stored_keys(db, "events")
    dead = stored_keys(db, "dead_letters")
    assert len(events) == VALID_EVENTS
    assert len(dead) == MALFORMED
    assert len(set(events) | set(dead)) == len(messages)
    assert all(kind_at[key] is None for key in events)
    with duckdb.connect(str(db), read_only=True) as con:
        rows = con.execute("SELECT kafka_partition, kafka_offset, reason, payload, source "
                           "FROM dead_letters").fetchall()
        seqs = con.execute("SELECT count(DISTINCT json_extract(extra, '$.seq')) FROM events"
                           ).fetchone()[0]
    assert seqs == VALID_EVENTS
    per_kind = Counter()
    for partition, offset, reason, payload, source in rows:
        kind = kind_at[(partition, offset)]
        raw, phrase = MALFORMED_KINDS[kind]
        assert phrase in reason, (kind, reason)
        assert bytes(payload) == raw
        assert source == "process"
        per_kind[kind] += 1
    assert set(per_kind) == set(MALFORMED_KINDS)
    assert min(per_kind.values()) >= MALFORMED // len(MALFORMED_KINDS)


@pytest.mark.timeout(120)
def test_two_members_of_one_group_split_partitions_and_store_each_event_once(
        broker, make_topic, send_messages, tmp_path):
    topic = make_topic(4)
    total = 8_000
    send_messages(broker.bootstrap, topic,
                  [(None, orjson.dumps(valid_event(i))) for i in range(total)],
                  partition_of=lambda i: i % 4)
    dbs = [tmp_path / "shard-0.duckdb", tmp_path / "shard-1.duckdb"]
    members = [subprocess.Popen(ingest_command(broker.bootstrap, topic, db, "pair-group",
                                               "--until-idle", "8", "--batch-size", "500"),
                                cwd=REPO_ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                text=True) for db in dbs]
    for member in members:
        _, err = member.communicate(timeout=100)
        assert member.returncode == 0, err
    shards = [stored_keys(db, "events") for db in dbs]
    assert all(len(keys) > 0 for keys in shards), [len(k) for k in shards]
    every = shards[0] + shards[1]
    assert len(every) == total
    assert len(set(every)) == total
    assert {p for p, _ in shards[0]}.isdisjoint({p for p, _ in shards[1]})


@pytest.mark.timeout(90)
def test_sigterm_finishes_the_batch_commits_offsets_and_exits_zero(
        broker, make_topic, send_messages, tmp_path):
    from kafka import KafkaConsumer, TopicPartition

    topic = make_topic(2)
    total = 40_000
    send_messages(broker.bootstrap, topic,
                  [(None, orjson.dumps(valid_event(i))) for i in range(total)],
                  partition_of=lambda i: i % 2)
    db = tmp_path / "term.duckdb"
    command = ingest_command(broker.bootstrap, topic, db, "term-group",
                             "--batch-size", "200", "--status-every", "0.1")
    process, watcher = start_ingest(command, 1_000)
    assert watcher.reached.wait(60), "".join(watcher.lines)
    process.send_signal(signal.SIGTERM)
    out, _ = process.communicate(timeout=30)
    watcher.thread.join(timeout=10)
    assert process.returncode == 0, "".join(watcher.lines)
    reported = _count(out)
    keys = stored_keys(db, "events")
    assert 1_000 <= len(keys) == reported < total
    reader = KafkaConsumer(bootstrap_servers=broker.bootstrap, group_id="term-group",
                           enable_auto_commit=False)
    try:
        committed = {p: reader.committed(TopicPartition(topic, p)) for p in (0, 1)}
    finally:
        reader.close()
    last_stored = {p: max((o for q, o in keys if q == p), default=-1) for p in (0, 1)}
    assert committed == {p: (o + 1 if o >= 0 else None) for p, o in last_stored.items()}
