"""Benchmark: Kafka -> DuckDB ingest rate next to the raw consume rate of the same client.

On the embedded tansu broker (memory storage) this produces N process-like JSON events to a
fresh topic with 4 partitions, then measures on that same topic:

(a) raw consume, as the issue defines it: one kafka-python consumer-group member polling
    (max 5000 records), parsing every message with orjson and committing after each poll; no
    validation, no store;
(a') the same with confluent-kafka (the client ``logguard ingest`` uses), 10,000 messages at
    a time: the ceiling of this client on this machine;
(b) end to end: ``logguard ingest`` as a subprocess (validation, Arrow batches, DuckDB
    transaction per micro-batch, Kafka commit), in its own consumer group.

Rates count from the first message received to the last one processed (the consumer-group
join is excluded). Peak RSS of the ingest process is its ``ru_maxrss`` (RUSAGE_CHILDREN).
Results go to ``bench/results/ingest.json`` and ``bench/results/ingest.md``.

usage: .venv/bin/python bench/ingest.py [--events 300000] [--batch-size N]
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import orjson
from _machine import machine_info

REPO_ROOT = Path(__file__).resolve().parents[1]
RESULTS = REPO_ROOT / "bench" / "results"
PARTITIONS = 4
ACTIONS = ("process_start", "network_connect", "file_create", "image_load", "registry_set")


def process_event(i: int) -> dict:
    """A Sysmon-like process event with realistic value sizes (~300 bytes of JSON)."""
    return {
        "time": 1_795_400_000 + i * 0.001, "host": f"ws-{i % 200:04d}.corp.example",
        "user": f"CORP\\user{i % 500}", "process_guid": f"{{{i % 9973:08x}-6a4b-5f3e-0000-0010}}",
        "process_id": 1000 + i % 30000, "image": f"C:\\Program Files\\App{i % 40}\\app.exe",
        "command_line": f"app.exe --task {i % 97} --profile default",
        "parent_image": "C:\\Windows\\explorer.exe", "action": ACTIONS[i % len(ACTIONS)],
        "object_type": "file", "object_name": f"C:\\Users\\u{i % 500}\\doc{i % 1000}.txt",
        "event_code": 1,
    }


def produce(bootstrap: str, topic: str, n: int) -> float:
    from logguard.ingest.producer import send_records

    started = time.perf_counter()
    send_records(bootstrap, topic, (process_event(i) for i in range(n)))
    return n / (time.perf_counter() - started)


def raw_consume_kafka_python(bootstrap: str, topic: str, n: int) -> dict:
    """kafka-python group consume with orjson parsing and a commit per poll."""
    from kafka import KafkaConsumer

    consumer = KafkaConsumer(
        bootstrap_servers=bootstrap, group_id="bench-raw-kafka-python", enable_auto_commit=False,
        auto_offset_reset="earliest", allow_auto_create_topics=False,
        session_timeout_ms=6000, heartbeat_interval_ms=1000)
    consumer.subscribe([topic])
    seen, first = 0, None
    deadline = time.monotonic() + 600
    while seen < n and time.monotonic() < deadline:
        records = consumer.poll(timeout_ms=1000, max_records=5000)
        if records and first is None:
            first = time.perf_counter()
        for messages in records.values():
            for message in messages:
                orjson.loads(message.value)
            seen += len(messages)
        if records:
            consumer.commit()
    elapsed = time.perf_counter() - (first or time.perf_counter())
    consumer.close()
    return {"messages": seen, "seconds": round(elapsed, 2), "rate": round(seen / elapsed)}


def raw_consume(bootstrap: str, topic: str, n: int) -> dict:
    """confluent-kafka group consume with orjson parsing and a commit per batch."""
    from confluent_kafka import Consumer

    consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": "bench-raw",
                         "enable.auto.commit": False, "auto.offset.reset": "earliest",
                         "session.timeout.ms": 6000, "partition.assignment.strategy": "range"})
    consumer.subscribe([topic])
    seen, first = 0, None
    deadline = time.monotonic() + 600
    while seen < n and time.monotonic() < deadline:
        messages = consumer.consume(num_messages=10_000, timeout=1.0)
        if messages and first is None:
            first = time.perf_counter()
        for message in messages:
            if message.error() is None:
                orjson.loads(message.value())
                seen += 1
        if messages:
            consumer.commit(asynchronous=False)
    elapsed = time.perf_counter() - (first or time.perf_counter())
    consumer.close()
    return {"messages": seen, "seconds": round(elapsed, 2), "rate": round(seen / elapsed)}


def end_to_end(bootstrap: str, topic: str, n: int, db: Path, batch_size: int) -> dict:
    command = [sys.executable, "-m", "logguard", "ingest", "--bootstrap", bootstrap,
               "--topic", topic, "--source", "process", "--db", str(db), "--group", "bench-e2e",
               "--until-idle", "3", "--batch-size", str(batch_size), "--status-every", "60"]
    process = subprocess.Popen(command, cwd=REPO_ROOT, stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE, text=True)
    out, err = process.communicate(timeout=900)
    if process.returncode != 0:
        raise SystemExit(f"ingest failed: {err}")
    match = re.search(r"ingest done: ([\d,]+) events, ([\d,]+) dead letters "
                      r"\(([\d,]+) messages/s\)", out)
    if match is None:
        raise SystemExit(f"unexpected ingest output: {out!r}")
    events, dead, rate = (int(g.replace(",", "")) for g in match.groups())
    if events != n or dead != 0:
        raise SystemExit(f"ingest stored {events} events and {dead} dead letters, expected {n}")
    return {"events": events, "rate": rate, "command": " ".join(command[1:])}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--events", type=int, default=300_000)
    parser.add_argument("--batch-size", type=int, default=None,
                        help="--batch-size of `logguard ingest` (default: its own default)")
    args = parser.parse_args()
    sys.path.insert(0, str(REPO_ROOT))
    from logguard.broker import EmbeddedBroker, create_topics
    from logguard.ingest.consumer import IngestConfig

    if args.batch_size is None:
        args.batch_size = IngestConfig.batch_size

    load_before = [round(x, 2) for x in os.getloadavg()]
    with EmbeddedBroker() as broker, tempfile.TemporaryDirectory() as tmp:
        topic = f"bench-process-{os.getpid()}"
        create_topics(broker.bootstrap, {topic: PARTITIONS})
        produce_rate = produce(broker.bootstrap, topic, args.events)
        raw = raw_consume_kafka_python(broker.bootstrap, topic, args.events)
        raw_confluent = raw_consume(broker.bootstrap, topic, args.events)
        e2e, peak_rss_mb = _timed_ingest(broker.bootstrap, topic, args, Path(tmp) / "bench.duckdb")
    result = {
        "benchmark": "ingest", "events": args.events, "partitions": PARTITIONS,
        "batch_size": args.batch_size, "produce_rate": round(produce_rate),
        "raw_consume": raw, "raw_consume_confluent": raw_confluent, "end_to_end": e2e,
        "end_to_end_per_minute": e2e["rate"] * 60,
        "end_to_end_vs_raw": round(e2e["rate"] / raw["rate"], 3),
        "end_to_end_vs_raw_confluent": round(e2e["rate"] / raw_confluent["rate"], 3),
        "ingest_peak_rss_mb": peak_rss_mb,
        "load_average_before": load_before,
        "target": ">= 2,000,000 events/min and >= 60 % of the raw consume rate",
        "machine": machine_info(),
        "command": " ".join([Path(sys.executable).name, *sys.argv]),
        "when": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
    }
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "ingest.json").write_text(json.dumps(result, indent=2) + "\n")
    (RESULTS / "ingest.md").write_text(_markdown(result))
    print(_markdown(result))
    return 0


def _timed_ingest(bootstrap: str, topic: str, args: argparse.Namespace,
                  db: Path) -> tuple[dict, float]:
    before = _children_maxrss_mb()
    e2e = end_to_end(bootstrap, topic, args.events, db, args.batch_size)
    return e2e, max(before, _children_maxrss_mb())


def _children_maxrss_mb() -> float:
    import resource

    return round(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024, 1)


def _markdown(r: dict) -> str:
    m = r["machine"]
    return (
        f"# Ingest benchmark ({r['events']:,} process events, {r['partitions']} partitions, "
        f"embedded tansu)\n\n"
        "| measure | value |\n|---|---|\n"
        f"| produce (confluent-kafka, linger 20 ms) | {r['produce_rate']:,} msg/s |\n"
        f"| (a) raw kafka-python group consume + orjson | {r['raw_consume']['rate']:,} msg/s |\n"
        f"| (a') raw confluent-kafka group consume + orjson "
        f"| {r['raw_consume_confluent']['rate']:,} msg/s |\n"
        f"| (b) `logguard ingest` end to end into DuckDB | {r['end_to_end']['rate']:,} events/s "
        f"({r['end_to_end_per_minute']:,} events/min) |\n"
        f"| (b) / (a) | {r['end_to_end_vs_raw']:.0%} |\n"
        f"| (b) / (a') | {r['end_to_end_vs_raw_confluent']:.0%} |\n"
        f"| ingest peak RSS | {r['ingest_peak_rss_mb']} MB |\n"
        f"| `--batch-size` of the ingest run | {r['batch_size']:,} |\n"
        f"| load average (1, 5, 15 min) before the run "
        f"| {', '.join(map(str, r['load_average_before']))} |\n\n"
        f"Target: {r['target']}. Machine: {m['cpu']}, {m['cores']} cores, Python {m['python']}, "
        f"duckdb {m['duckdb']}, confluent-kafka {m['confluent-kafka']}, "
        f"kafka-python {m['kafka-python']}. "
        f"Command: `{r['command']}` ({r['when']}).\n"
    )


if __name__ == "__main__":
    raise SystemExit(main())
