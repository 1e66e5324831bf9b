"""Benchmark: the whole daemon (ingest + APE scoring + GID windows + alerting + CAR + outbox).

On the embedded tansu broker (memory storage), with the enterprise simulator
(``logguard.sim.iter_process_events``, ``--hosts`` hosts, one planted attack chain):

1. train APE and GID on the first two simulated hours, calibrate them on the same window,
   and register + promote them in a fresh model registry (``process/ape``, ``process/gid``);
2. **throughput**, once per count in ``--members``: produce ``--events`` later events to a
   4-partition topic (keyed by host), then run that many ``logguard daemon`` processes in one
   consumer group (default thresholds = 5 alerts per 10k events), each with its own DuckDB
   file (a shard, the scale-out of ``DESIGN.md``), until each has been idle for 5 s. The rate
   is events stored over all shards / (last batch commit − first batch commit), from the
   ``ingested_at`` stamps of the stores, so the group join is excluded; an event stored by
   two members (a rebalance that replayed a batch on the other shard) is counted and
   reported. CPU (user + system) and peak RSS of the daemons are sampled with psutil (sums);
3. **latency**: a fresh topic and as many daemons as the last ``--members`` count, events
   produced at half the last measured rate for
   ``--latency-s`` seconds with a planted anomalous event every ``--plant-every`` events; the
   event-to-alert latency of a planted event is the CreateTime of its finding on the output
   topic minus the CreateTime of the event (both stamped by producers on this machine).

Where the time goes: the daemon's wall seconds per stage (poll, validate, model frames,
score, DuckDB transaction, Kafka commit, GID, CAR) from its last log line.
Results go to ``bench/results/daemon.json`` and ``bench/results/daemon.md``.

usage: .venv/bin/python bench/daemon.py [--events 600000] [--hosts 20] [--latency-s 30]
                                        [--members 1 2]
"""

from __future__ import annotations

import argparse
import itertools
import json
import re
import subprocess
import sys
import tempfile
import threading
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import orjson
from _machine import machine_info

REPO_ROOT = Path(__file__).resolve().parents[1]
RESULTS = REPO_ROOT / "bench" / "results"
START = datetime(2026, 11, 23, tzinfo=UTC)  # a Monday
TRAIN_HOURS = 24.0
SEED = 11
APE_ENTITIES = ["host", "user", "parent_image", "image", "action", "object_type", "object_class"]


def simulate(hosts: int, start: datetime, hours: float, attack_after_h: float | None = None):
    """Process events of ``hosts`` hosts over ``hours``; with ``attack_after_h``, an attack
    chain on an office host that many hours after ``start``."""
    from logguard.sim import AttackChain, host_names, iter_process_events

    attacks = []
    if attack_after_h is not None:
        victim = next(h for h in host_names(hosts) if h.startswith("OFFICE"))
        attacks = [AttackChain(host=victim, start=start + timedelta(hours=attack_after_h),
                               name="bench-intrusion")]
    return iter_process_events(hosts, start, timedelta(hours=hours), seed=SEED, attacks=attacks)


def train(models: Path, hosts: int, say) -> dict:
    """APE + GID on the training window, calibrated there, promoted in ``models``."""
    import pandas as pd
    import torch

    from logguard.events.frames import model_frame
    from logguard.models.ape import APE
    from logguard.models.calibration import ScoreCalibrator
    from logguard.models.gid import GID
    from logguard.models.registry import ModelRegistry

    torch.set_num_threads(2)
    frame = model_frame(pd.DataFrame(list(simulate(hosts, START, TRAIN_HOURS)))
                        .rename(columns={"time": "event_time"}))
    registry = ModelRegistry(models)
    started = time.perf_counter()
    ape = APE(entities=APE_ENTITIES, dim=16, epochs=5, random_state=SEED, progress=False,
              device="cpu")
    # identical entity tuples collapse into one weighted row (APE weights events by count)
    distinct = frame[APE_ENTITIES].fillna("-").value_counts().reset_index(name="count")
    ape.fit(distinct[APE_ENTITIES], sample_weight=distinct["count"].to_numpy(dtype="float64"))
    registry.promote("process", "ape", registry.add(
        "process", "ape", ape, ScoreCalibrator.fit(ape.score(frame))))
    ape_s = time.perf_counter() - started
    gid = GID(random_state=SEED).fit(frame)
    z = [p["z_score"] for paths in gid.top_paths_by_host(frame, 10).values() for p in paths]
    registry.promote("process", "gid", registry.add("process", "gid", gid,
                                                    ScoreCalibrator.fit(np.array(z))))
    say(f"trained APE ({ape_s:.0f} s) and GID on {len(frame):,} events")
    return {"train_events": len(frame), "ape_train_s": round(ape_s, 1)}


def config_text(bootstrap: str, db: Path, models: Path, topic: str, output: str) -> str:
    return (f'bootstrap = "{bootstrap}"\ndb = "{db}"\nmodels = "{models}"\n'
            f'group = "bench-{topic}"\noutput_topic = "{output}"\n'
            "batch_size = 10000\nbatch_ms = 250\ngid_interval_s = 5.0\ncar_interval_s = 10.0\n"
            f'[topics]\n"{topic}" = "process"\n')


class Sampler:
    """CPU seconds and peak RSS of a process, sampled every 0.5 s."""

    def __init__(self, pid: int) -> None:
        import psutil

        self.process = psutil.Process(pid)
        self.cpu_s = 0.0
        self.peak_rss = 0
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        import psutil

        while True:
            try:
                times = self.process.cpu_times()
                self.cpu_s = times.user + times.system
                self.peak_rss = max(self.peak_rss, self.process.memory_info().rss)
            except psutil.Error:
                return
            time.sleep(0.5)


def start_daemon(workdir: Path, name: str, text: str, *extra: str):
    config = workdir / f"{name}.toml"
    config.write_text(text)
    log = (workdir / f"{name}.log").open("w")
    process = subprocess.Popen([sys.executable, "-m", "logguard", "daemon", "--config",
                                str(config), *extra], cwd=REPO_ROOT, stdout=log, stderr=log)
    return process, workdir / f"{name}.log"


def stage_seconds(log: Path) -> dict[str, float]:
    found = re.findall(r"wall seconds per stage: (\{.*\})", log.read_text())
    return orjson.loads(found[-1]) if found else {}


def throughput(bootstrap: str, workdir: Path, models: Path, events: int, hosts: int,
               members: int, say) -> dict:
    """``members`` daemons in one consumer group (each its own DuckDB shard) drain the backlog.

    The rate is all events stored / (last batch commit − first batch commit) over the shards.
    """
    import duckdb

    from logguard.broker import create_topics
    from logguard.ingest.producer import send_records

    topic, output = f"bench.process.{members}", f"bench.alerts.{members}"
    create_topics(bootstrap, {topic: 4})
    create_topics(bootstrap, {output: 3})
    # the attack 6 h in: inside the backlog (about 15 k events per simulated hour with 20
    # hosts), so GID's path alerts are part of the measured work
    stream = itertools.islice(simulate(hosts, START + timedelta(hours=TRAIN_HOURS), 240.0,
                                       attack_after_h=6.0), events)
    started = time.perf_counter()
    sent = send_records(bootstrap, topic, stream)
    say(f"produced {sent:,} events in {time.perf_counter() - started:.1f} s")
    runs = []
    for member in range(members):
        db = workdir / f"throughput-{members}-{member}.duckdb"
        process, log = start_daemon(workdir, f"throughput-{members}-{member}",
                                    config_text(bootstrap, db, models, topic, output),
                                    "--until-idle", "5")
        runs.append((db, process, log, Sampler(process.pid)))
    wall = time.perf_counter()
    for _, process, log, _ in runs:
        if process.wait(timeout=3600) != 0:
            raise SystemExit(f"daemon failed: {log.read_text()[-3000:]}")
    wall = time.perf_counter() - wall
    firsts, lasts, per_member, batches, scenarios = [], [], [], 0, 0
    alerts: dict[str, int] = {}
    coordinates: set[tuple[int, int]] = set()
    for db, *_ in runs:
        with duckdb.connect(str(db), read_only=True) as con:
            count, first, last, distinct = con.execute(
                "SELECT count(*), epoch(min(ingested_at)), epoch(max(ingested_at)), "
                "count(DISTINCT ingested_at) FROM events").fetchone()
            coordinates.update(con.execute(
                "SELECT kafka_partition, kafka_offset FROM events").fetchall())
            for kind, n in con.execute("SELECT kind, count(*) FROM alerts GROUP BY ALL"
                                       ).fetchall():
                alerts[kind] = alerts.get(kind, 0) + n
            scenarios += con.execute("SELECT count(*) FROM scenarios").fetchone()[0]
        per_member.append(count)
        batches += distinct
        if count:
            firsts.append(first)
            lasts.append(last)
    stored = sum(per_member)
    busy = max(max(lasts) - min(firsts), 1e-9)
    # the first batch's own work happened before its commit stamp: add one mean batch
    busy += busy * members / max(batches - members, 1)
    rate = stored / busy
    cpu_s = sum(sampler.cpu_s for *_, sampler in runs)
    result = {"members": members, "produced": sent, "events": stored,
              "events_per_member": per_member,
              "stored_twice_across_members": stored - len(coordinates),
              "busy_s": round(busy, 2), "events_per_s": round(rate),
              "events_per_min": round(rate * 60), "daemon_wall_s": round(wall, 1),
              "cpu_s": round(cpu_s, 1), "cpu_cores_busy": round(cpu_s / wall, 2),
              "peak_rss_mb": round(sum(s.peak_rss for *_, s in runs) / 2**20),
              "alerts": alerts, "scenarios": scenarios,
              "stage_seconds": stage_seconds(runs[0][2])}
    say(f"throughput with {members} member(s): {stored:,} events in {busy:.1f} s = "
        f"{rate * 60:,.0f} events/min; alerts {alerts}")
    return result


def latency(bootstrap: str, workdir: Path, models: Path, rate: float, seconds: float,
            plant_every: int, hosts: int, members: int, say) -> dict:
    from confluent_kafka import Consumer, Producer, TopicPartition

    from logguard.broker import create_topics
    from logguard.store.alerts import event_alert_id

    topic, output = "bench.latency.process", "bench.latency.alerts"
    create_topics(bootstrap, {topic: 4})
    create_topics(bootstrap, {output: 3})
    daemons = [start_daemon(workdir, f"latency-{member}",
                            config_text(bootstrap, workdir / f"latency-{member}.duckdb", models,
                                        topic, output))
               for member in range(members)]
    samplers = [Sampler(process.pid) for process, _ in daemons]
    received: dict[str, int] = {}
    stop = threading.Event()

    def read_output() -> None:
        consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": "bench-latency-reader",
                             "auto.offset.reset": "earliest", "enable.auto.commit": False})
        consumer.assign([TopicPartition(output, p) for p in range(3)])
        while not stop.is_set():
            for message in consumer.consume(500, timeout=0.2):
                if message.error() is None:
                    uid = orjson.loads(message.value())["finding_info"]["uid"]
                    received.setdefault(uid, message.timestamp()[1])
        consumer.close()

    reader = threading.Thread(target=read_output, daemon=True)
    reader.start()
    time.sleep(8.0)  # the group join (about session_timeout_ms / 2 on tansu)
    planted: dict[str, int] = {}

    def delivered(err, message) -> None:
        if err is None and message.key() == b"planted":
            planted[event_alert_id("ape", message.topic(), message.partition(),
                                   message.offset())] = message.timestamp()[1]

    producer = Producer({"bootstrap.servers": bootstrap, "linger.ms": 5})
    stream = simulate(hosts, START + timedelta(hours=300), 240.0)
    started = time.perf_counter()
    sent = 0
    while time.perf_counter() - started < seconds:
        target = int((time.perf_counter() - started) * rate)
        while sent < target:
            event = next(stream)
            key = event["host"].encode()
            if sent % plant_every == plant_every - 1:
                # a new tool each time: alert grouping (one model + pattern within an hour is
                # one alert) would otherwise publish only the first plant of each host
                event = dict(event, user="ACME\\intruder",
                             image=f"C:\\Users\\Public\\drop{sent}.exe",
                             parent_image="C:\\Program Files\\Microsoft Office\\WINWORD.EXE",
                             action="network_connect", object_type="socket",
                             object_name="203.0.113.7:4444")
                key = b"planted"
            while True:
                try:
                    producer.produce(topic, orjson.dumps(event), key=key,
                                     on_delivery=delivered)
                    break
                except BufferError:  # the local queue is full: let deliveries drain
                    producer.poll(0.05)
            sent += 1
        producer.poll(0)
        time.sleep(0.005)
    producer.flush(30)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and not set(planted) <= set(received):
        time.sleep(0.2)
    stop.set()
    reader.join(timeout=10)
    for process, _ in daemons:
        process.terminate()
    for process, _ in daemons:
        process.wait(timeout=60)
    latencies = np.array([(received[a] - t) / 1000 for a, t in planted.items() if a in received])
    result = {"target_rate_per_s": round(rate), "produced": sent,
              "achieved_rate_per_s": round(sent / seconds), "planted": len(planted),
              "planted_alerted": len(latencies),
              "p50_s": round(float(np.percentile(latencies, 50)), 3) if len(latencies) else None,
              "p95_s": round(float(np.percentile(latencies, 95)), 3) if len(latencies) else None,
              "max_s": round(float(latencies.max()), 3) if len(latencies) else None,
              "members": members,
              "cpu_cores_busy": round(sum(s.cpu_s for s in samplers) / (seconds + 8), 2),
              "peak_rss_mb": round(sum(s.peak_rss for s in samplers) / 2**20),
              "stage_seconds": stage_seconds(daemons[0][1])}
    say(f"latency at {rate:,.0f} events/s: p50 {result['p50_s']} s, p95 {result['p95_s']} s "
        f"({len(latencies)}/{len(planted)} planted events alerted)")
    return result


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--events", type=int, default=600_000)
    parser.add_argument("--hosts", type=int, default=20)
    parser.add_argument("--latency-s", type=float, default=30.0)
    parser.add_argument("--plant-every", type=int, default=2000)
    parser.add_argument("--members", type=int, nargs="+", default=[1, 2],
                        help="daemon members in the consumer group, one throughput run per "
                             "count; latency runs with the last count")
    args = parser.parse_args()

    from logguard.broker import EmbeddedBroker

    def say(line: str) -> None:
        print(line, flush=True)

    with tempfile.TemporaryDirectory(prefix="logguard-bench-daemon-") as tmp, \
            EmbeddedBroker() as broker:
        workdir = Path(tmp)
        models = workdir / "models"
        training = train(models, args.hosts, say)
        result = {"command": " ".join([Path(sys.executable).name, *sys.argv]),
                  "machine": machine_info(), "load_average": list(__import__("os").getloadavg()),
                  "training": training,
                  "throughput": [throughput(broker.bootstrap, workdir, models, args.events,
                                            args.hosts, members, say)
                                 for members in args.members]}
        half = result["throughput"][-1]["events_per_s"] / 2
        result["latency"] = latency(broker.bootstrap, workdir, models, half, args.latency_s,
                                    args.plant_every, args.hosts, args.members[-1], say)
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "daemon.json").write_text(json.dumps(result, indent=2) + "\n")
    (RESULTS / "daemon.md").write_text(_markdown(result))
    print(_markdown(result))
    return 0


def _markdown(r: dict) -> str:
    lat, m = r["latency"], r["machine"]
    rows = "".join(
        f"| sustained throughput, {t['members']} member(s) (ingest + APE + GID windows + "
        f"alerting + CAR) | {t['events_per_min']:,} events/min ({t['events_per_s']:,} events/s);"
        f" {t['events']:,} events (per member {t['events_per_member']}, stored twice "
        f"{t['stored_twice_across_members']}) in {t['busy_s']} s; {t['cpu_cores_busy']} cores "
        f"busy; peak RSS {t['peak_rss_mb']} MB; alerts {t['alerts']}, "
        f"{t['scenarios']} scenarios |\n" for t in r["throughput"])
    stages = sorted(r["throughput"][0]["stage_seconds"].items(), key=lambda kv: -kv[1])
    return (
        "# logguard daemon benchmark\n\n"
        f"`{r['command']}` on {m['cpu']} ({m['cores']} cores), Python {m['python']}, "
        f"torch {m.get('torch')}, confluent-kafka {m.get('confluent-kafka')}, "
        f"duckdb {m.get('duckdb')}"
        f"; load average at start {', '.join(f'{x:.1f}' for x in r['load_average'])}.\n\n"
        "| measure | value |\n|---|---|\n" + rows +
        f"| event-to-alert latency at {lat['achieved_rate_per_s']:,} events/s (half rate), "
        f"{lat['members']} member(s) | p50 {lat['p50_s']} s, p95 {lat['p95_s']} s, max "
        f"{lat['max_s']} s ({lat['planted_alerted']}/{lat['planted']} planted events alerted); "
        f"peak RSS {lat['peak_rss_mb']} MB |\n\n"
        f"Where the time goes (wall seconds per stage of one member, "
        f"{r['throughput'][0]['members']}-member run):\n\n"
        "| stage | seconds |\n|---|---|\n"
        + "".join(f"| {k} | {v:.1f} |\n" for k, v in stages))


if __name__ == "__main__":
    raise SystemExit(main())
