"""The end-to-end demo: simulated enterprise -> embedded Kafka -> DuckDB -> APE and GID -> alerts.

1. Start the embedded broker (tansu on a free loopback port) and create the topic.
2. Simulate an enterprise's Windows hosts for a clean training day and the next morning, with
   one attack chain (phishing macro -> download -> persistence -> credential access ->
   lateral movement -> exfiltration) planted on an office host in the morning.
3. Produce every event to Kafka, then ingest the topic into the DuckDB file with the same
   consumer-group path as ``logguard ingest`` (validation, dead letters, exactly-once).
4. Train APE on the training day's events from the store (GID too, on its process graph),
   score the morning, store the scores in ``scores``, and print the ranked queue with
   explanations and which rows are the planted attack (the simulator's ``attack_step``,
   kept in the event's ``extra`` JSON, is used for the printout only, never by a model).

The DuckDB file stays for the analyst: ``duckdb logguard-demo.duckdb``, then e.g.
``SELECT * FROM scores ORDER BY score DESC LIMIT 20``.
"""

from __future__ import annotations

import logging
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa

log = logging.getLogger(__name__)

TOPIC = "logguard.process"
SIMULATION_START = datetime(2026, 11, 23, tzinfo=UTC)  # a Monday: the training day is a workday
APE_ENTITIES = ["host", "user", "parent_image", "image", "action", "object_type", "object_class"]


@dataclass
class DemoConfig:
    """What the demo simulates and how it trains."""

    db: Path
    hosts: int = 8
    train_hours: float = 24.0
    test_hours: float = 12.0
    attack_after_hours: float = 10.5
    seed: int = 7
    top: int = 10
    partitions: int = 3
    epochs: int = 15


@dataclass
class DemoReport:
    """What the demo did, for the printout and for tests."""

    produced: int = 0
    stored: int = 0
    dead_letters: int = 0
    train_events: int = 0
    test_events: int = 0
    attack_events: int = 0
    queue: pd.DataFrame = field(default_factory=pd.DataFrame)
    paths: list[dict] = field(default_factory=list)
    attack_ranks: list[int] = field(default_factory=list)
    timings: dict[str, float] = field(default_factory=dict)


def run_demo(config: DemoConfig, say: Callable[[str], None] = print) -> DemoReport:
    """Run every step; ``say`` receives one progress line per step."""
    from tqdm import tqdm

    from logguard.broker import EmbeddedBroker, create_topics
    from logguard.ingest.consumer import IngestConfig, Ingestor
    from logguard.ingest.producer import send_records
    from logguard.sim import AttackChain, host_names, iter_process_events
    from logguard.store.duckdb_store import EventStore

    report = DemoReport()
    clock = time.monotonic()

    def step(name: str) -> None:
        nonlocal clock
        now = time.monotonic()
        report.timings[name] = now - clock
        clock = now

    split = SIMULATION_START + timedelta(hours=config.train_hours)
    victim = next(h for h in host_names(config.hosts) if h.startswith("OFFICE"))
    chain = AttackChain(host=victim, start=split + timedelta(hours=config.attack_after_hours),
                        name="demo-intrusion")
    duration = timedelta(hours=config.train_hours + config.test_hours)
    say(f"[1/4] starting the embedded broker; simulating {config.hosts} hosts for "
        f"{duration.total_seconds() / 3600:.0f} h with an intrusion on {victim} at {chain.start}")
    with EmbeddedBroker() as broker:
        create_topics(broker.bootstrap, {TOPIC: config.partitions})
        events = iter_process_events(config.hosts, SIMULATION_START, duration, seed=config.seed,
                                     attacks=[chain])
        with tqdm(unit=" events", desc="produce", file=sys.stderr, disable=None) as bar:
            report.produced = send_records(broker.bootstrap, TOPIC, events,
                                           on_sent=lambda n: bar.update(1))
        step("simulate+produce")
        say(f"[2/4] produced {report.produced:,} events to {TOPIC} at {broker.bootstrap}; "
            f"ingesting into {config.db}")
        with EventStore(config.db) as store:
            ingest = IngestConfig(bootstrap=broker.bootstrap, topic=TOPIC, source="process",
                                  group="logguard-demo", until_idle_s=3.0)
            stats = Ingestor(ingest, store).run(on_status=lambda s: say(f"      {s.line()}"))
            report.stored, report.dead_letters = stats.events, stats.dead_letters
            step("ingest")
            frame = _load_process_events(store.con)
            train = frame[frame["time"] < pd.Timestamp(split)].reset_index(drop=True)
            test = frame[frame["time"] >= pd.Timestamp(split)].reset_index(drop=True)
            report.train_events, report.test_events = len(train), len(test)
            report.attack_events = int(test["attack_step"].notna().sum())
            say(f"[3/4] stored {report.stored:,} events ({report.dead_letters} dead letters); "
                f"training APE and GID on {len(train):,} events of the first "
                f"{config.train_hours:.0f} h")
            _score(config, train, test, store.con, report, say)
            step("train+score")
    return report


def _load_process_events(con) -> pd.DataFrame:
    """Process events from the store in time order, with the derived APE/GID columns."""
    from logguard.events.frames import model_frame

    return model_frame(con.execute(
        "SELECT *, json_extract_string(extra, '$.attack_step') AS attack_step "
        "FROM events WHERE source = 'process' "
        "ORDER BY event_time, kafka_partition, kafka_offset").df())


def _score(config: DemoConfig, train: pd.DataFrame, test: pd.DataFrame, con,
           report: DemoReport, say: Callable[[str], None]) -> None:
    from logguard.models.ape import APE
    from logguard.models.gid import GID
    from logguard.store.scores import write_scores

    entities = APE_ENTITIES
    ape = APE(entities=entities, epochs=config.epochs, random_state=config.seed, progress=False)
    # identical entity tuples collapse into one weighted row (APE weights events by count)
    distinct = train[entities].fillna("-").value_counts().reset_index(name="count")
    ape.fit(distinct[entities], sample_weight=distinct["count"].to_numpy(dtype="float64"))
    scores = ape.score(test[entities].fillna("-"))
    gid = GID(random_state=config.seed).fit(train)
    report.paths = gid.top_paths(test, k=3)
    order = np.argsort(-scores, kind="stable")
    top = test.iloc[order[: config.top]].copy()
    top["score"] = scores[order[: config.top]]
    top["explanation"] = ape.explain(top[entities].fillna("-"))
    top.insert(0, "rank", range(1, len(top) + 1))
    report.queue = top
    ranks = np.empty(len(test), dtype=int)
    ranks[order] = np.arange(1, len(test) + 1)
    report.attack_ranks = sorted(ranks[test["attack_step"].notna().to_numpy()].tolist())
    version = ape.save(config.db.parent / "logguard-demo-models" / "ape")
    written = write_scores(con, pa.table({
        "kafka_topic": test["kafka_topic"], "kafka_partition": test["kafka_partition"],
        "kafka_offset": test["kafka_offset"], "model": ["ape"] * len(test),
        "model_version": [version] * len(test), "score": scores,
        "explanation": [None] * len(test)}))
    say(f"[4/4] scored {len(test):,} events of the next {config.test_hours:.0f} h "
        f"(APE version {version}); {written:,} rows in table scores")
