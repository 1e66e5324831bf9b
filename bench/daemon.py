"""Benchmark: the whole daemon (ingest + APE scoring + GID windows + alerting + CAR + outbox).

On the embedded tansu broker (memory storage), with the enterprise simulator
(``logguard.sim.iter_process_events``, ``--hosts`` hosts, one planted attack chain):

1. train APE and GID on the first two simulated hours, calibrate them on the same window,
   and register + promote them in a fresh model registry (``process/ape``, ``process/gid``);
2. **throughput**: produce ``--events`` later events to a 4-partition topic, then run
   ``logguard daemon`` (a subprocess, default thresholds = 5 alerts per 10k events) until it
   has been idle for 5 s. The rate is events stored / (last batch commit − first batch commit),
   from the ``ingested_at`` stamps of the store, so the group join is excluded. CPU (user +
   system) and peak RSS of the daemon process are sampled with psutil;
3. **latency**: a fresh topic and daemon, events produced at half the measured rate for
   ``--latency-s`` seconds with a planted anomalous event every ``--plant-every`` events; the
   event-to-alert latency of a planted event is the CreateTime of its finding on the output
   topic minus the CreateTime of the event (both stamped by producers on this machine).

Where the time goes: the daemon's wall seconds per stage (poll, validate, model frames,
score, DuckDB transaction, Kafka commit, GID, CAR) from its last log line.
Results go to ``bench/results/daemon.json`` and ``bench/results/daemon.md``.

usage: .venv/bin/python bench/daemon.py [--events 200000] [--hosts 20] [--latency-s 30]
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


def simulate(hosts: int, start: datetime, hours: float, attack: bool = False):
    from logguard.sim import AttackChain, host_names, iter_process_events

    attacks = []
    if attack:
        victim = next(h for h in host_names(hosts) if h.startswith("OFFICE"))
        attacks = [AttackChain(host=victim, start=start + timedelta(hours=hours / 2),
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
    z = [p["z_score"] for _, rows in frame.groupby("host")
         for p in gid.top_paths(rows.reset_index(drop=True), 10)]
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
               say) -> dict:
    import duckdb

    from logguard.broker import create_topics
    from logguard.ingest.producer import send_records

    topic, output = "bench.process", "bench.alerts"
    create_topics(bootstrap, {topic: 4})
    create_topics(bootstrap, {output: 3})
    stream = itertools.islice(simulate(hosts, START + timedelta(hours=TRAIN_HOURS), 240.0,
                                       attack=True), events)
    started = time.perf_counter()
    sent = send_records(bootstrap, topic, stream)
    say(f"produced {sent:,} events in {time.perf_counter() - started:.1f} s")
    db = workdir / "throughput.duckdb"
    process, log = start_daemon(workdir, "throughput",
                                config_text(bootstrap, db, models, topic, output),
                                "--until-idle", "5")
    sampler = Sampler(process.pid)
    wall = time.perf_counter()
    code = process.wait(timeout=3600)
    wall = time.perf_counter() - wall
    if code != 0:
        raise SystemExit(f"daemon failed ({code}): {log.read_text()[-3000:]}")
    with duckdb.connect(str(db), read_only=True) as con:
        stored, first, last = con.execute(
            "SELECT count(*), epoch(min(ingested_at)), epoch(max(ingested_at)) FROM events"
        ).fetchone()
        alerts = dict(con.execute("SELECT kind, count(*) FROM alerts GROUP BY ALL").fetchall())
        scenarios = con.execute("SELECT count(*) FROM scenarios").fetchone()[0]
        batches = con.execute("SELECT count(DISTINCT ingested_at) FROM events").fetchone()[0]
    busy = max(last - first, 1e-9)
    # the first batch's own work happened before its commit stamp: add one mean batch
    busy += busy / max(batches - 1, 1)
    rate = stored / busy
    result = {"events": stored, "busy_s": round(busy, 2), "events_per_s": round(rate),
              "events_per_min": round(rate * 60), "daemon_wall_s": round(wall, 1),
              "cpu_s": round(sampler.cpu_s, 1), "cpu_cores_busy": round(sampler.cpu_s / wall, 2),
              "peak_rss_mb": round(sampler.peak_rss / 2**20), "alerts": alerts,
              "scenarios": scenarios, "stage_seconds": stage_seconds(log)}
    say(f"throughput: {stored:,} events in {busy:.1f} s = {rate * 60:,.0f} events/min; "
        f"alerts {alerts}")
    return result


def latency(bootstrap: str, workdir: Path, models: Path, rate: float, seconds: float,
            plant_every: int, hosts: int, say) -> dict:
    from confluent_kafka import Consumer, Producer, TopicPartition

    from logguard.broker import create_topics
    from logguard.store.alerts import event_alert_id

    topic, output = "bench.latency.process", "bench.latency.alerts"
    create_topics(bootstrap, {topic: 4})
    create_topics(bootstrap, {output: 3})
    db = workdir / "latency.duckdb"
    process, log = start_daemon(workdir, "latency",
                                config_text(bootstrap, db, models, topic, output))
    sampler = Sampler(process.pid)
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
    process.terminate()
    process.wait(timeout=60)
    latencies = np.array([(received[a] - t) / 1000 for a, t in planted.items() if a in received])
    result = {"target_rate_per_s": round(rate), "produced": sent,
              "achieved_rate_per_s": round(sent / seconds), "planted": len(planted),
              "planted_alerted": len(latencies),
              "p50_s": round(float(np.percentile(latencies, 50)), 3) if len(latencies) else None,
              "p95_s": round(float(np.percentile(latencies, 95)), 3) if len(latencies) else None,
              "max_s": round(float(latencies.max()), 3) if len(latencies) else None,
              "cpu_cores_busy": round(sampler.cpu_s / (seconds + 8), 2),
              "peak_rss_mb": round(sampler.peak_rss / 2**20),
              "stage_seconds": stage_seconds(log)}
    say(f"latency at {rate:,.0f} events/s: p50 {result['p50_s']} s, p95 {result['p95_s']} s "
        f"({len(latencies)}/{len(planted)} planted events alerted)")
    return result


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--events", type=int, default=200_000)
    parser.add_argument("--hosts", type=int, default=20)
    parser.add_argument("--latency-s", type=float, default=30.0)
    parser.add_argument("--plant-every", type=int, default=2000)
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
                  "throughput": throughput(broker.bootstrap, workdir, models, args.events,
                                           args.hosts, say)}
        half = result["throughput"]["events_per_s"] / 2
        result["latency"] = latency(broker.bootstrap, workdir, models, half, args.latency_s,
                                    args.plant_every, args.hosts, say)
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "daemon.json").write_text(json.dumps(result, indent=2) + "\n")
    (RESULTS / "daemon.md").write_text(_markdown(result))
    print(_markdown(result))
    return 0


def _markdown(r: dict) -> str:
    t, lat, m = r["throughput"], r["latency"], r["machine"]
    stages = sorted(t["stage_seconds"].items(), key=lambda kv: -kv[1])
    return (
        "# logguard daemon benchmark\n\n"
        f"`{r['command']}` on {m['cpu']} ({m['cores']} cores), Python {m['python']}, "
        f"torch {m.get('torch')}, confluent-kafka {m.get('confluent-kafka')}, "
        f"duckdb {m.get('duckdb')}"
        f"; load average at start {', '.join(f'{x:.1f}' for x in r['load_average'])}.\n\n"
        "| measure | value |\n|---|---|\n"
        f"| sustained throughput (ingest + APE + GID windows + alerting + CAR) | "
        f"{t['events_per_min']:,} events/min ({t['events_per_s']:,} events/s) |\n"
        f"| events / busy seconds | {t['events']:,} / {t['busy_s']} s |\n"
        f"| daemon CPU (throughput run) | {t['cpu_cores_busy']} cores busy, "
        f"{t['cpu_s']} s CPU in {t['daemon_wall_s']} s wall |\n"
        f"| daemon peak RSS | {t['peak_rss_mb']} MB (throughput), {lat['peak_rss_mb']} MB "
        "(latency) |\n"
        f"| alerts raised (throughput run) | {t['alerts']}, {t['scenarios']} scenarios |\n"
        f"| event-to-alert latency at {lat['achieved_rate_per_s']:,} events/s (half rate) | "
        f"p50 {lat['p50_s']} s, p95 {lat['p95_s']} s, max {lat['max_s']} s "
        f"({lat['planted_alerted']}/{lat['planted']} planted events alerted) |\n\n"
        "Where the time goes (daemon wall seconds per stage, throughput run):\n\n"
        "| stage | seconds |\n|---|---|\n"
        + "".join(f"| {k} | {v:.1f} |\n" for k, v in stages))


if __name__ == "__main__":
    raise SystemExit(main())
