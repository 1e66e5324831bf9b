"""The end-to-end demo: simulated enterprise -> embedded Kafka -> the daemon -> ranked alerts.

1. Start the embedded broker (tansu on a free loopback port) and create the daemon's topics.
2. Simulate an enterprise's Windows hosts (:mod:`logguard.sim`): process events, the
   authentications they imply and third-party IDS alerts, for a clean training window (one
   day by default) and the next day, with one attack chain (phishing macro -> download
   -> persistence -> credential access -> lateral movement -> exfiltration) planted on an
   office host in the morning; and its staff's CERT-style activity (logons, thumb drives,
   files, email, web: :mod:`logguard.sim.cert`) for the three weeks before the split and the
   test day, with an insider who starts logging on late that evening, copies files to a thumb
   drive and uploads to a leak site (CERT r4.2 scenario 1). The simulator's ``attack_step``
   label travels in each event's ``extra`` JSON and is read for the printout only, never by a
   model.
3. Produce the clean window and run the streaming daemon on it until idle: with no model
   yet it stores the events (validation, dead letters, exactly-once) and the IDS alerts.
4. Train every slot on the clean window from the store
   (:func:`~logguard.training.slots.train_slot`: process/ape, process/gid, auth/ape,
   insider/lan),
   register and promote each in the registry beside the DuckDB file.
5. Produce the next day and run the daemon again until idle: it scores every batch with the
   active models (LAN from each user's recent activities, which the daemon keeps), searches
   GID paths on per-host windows, ranks alerts and grows scenarios with CAR, and publishes
   OCSF findings to ``logguard.alerts``.
6. Read the ranked queue and the top scenarios from the store, the way ``logguard alerts``
   and ``logguard scenarios`` do.

The DuckDB file and the registry stay for the analyst commands (``logguard alerts --db ...``).
"""

from __future__ import annotations

import logging
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)

SIMULATION_START = datetime(2026, 11, 23, tzinfo=UTC)  # a Monday: the training day is a workday
TOPICS = {"logguard.process": "process", "logguard.auth": "auth", "logguard.ids": "alert",
          "logguard.insider": "insider"}
OUTPUT_TOPIC = "logguard.alerts"
DEMO_SLOTS = (("process", "ape"), ("process", "gid"), ("auth", "ape"), ("insider", "lan"))
INSIDER_HISTORY_DAYS = 21  # staff activity simulated before the split: LAN's training weeks
INSIDER_STEP = "insider:after_hours_leak"


@dataclass
class DemoConfig:
    """What the demo simulates and how it trains."""

    db: Path
    hosts: int = 8
    users: int = 20  # staff whose CERT-style activity is simulated (one is the insider)
    train_hours: float = 24.0  # 48 h: fewer false alerts, the intrusion ranks higher; slower
    test_hours: float = 24.0  # the insider acts in the evening of the test day
    attack_after_hours: float = 10.5
    seed: int = 7
    top: int = 15
    partitions: int = 3
    epochs: int = 10
    gid_window_s: float = 3600.0

    @property
    def models(self) -> Path:
        """The model registry, beside the DuckDB file."""
        return self.db.with_name(f"{self.db.stem}-models")


@dataclass
class DemoReport:
    """What the demo did, for the printout and for tests."""

    produced: int = 0
    stored: int = 0
    dead_letters: int = 0
    train_events: int = 0
    test_events: int = 0
    attack_events: int = 0
    trained: dict[str, str] = field(default_factory=dict)  # slot -> version
    alerts: int = 0
    queue: list[dict[str, Any]] = field(default_factory=list)
    scenarios: list[dict[str, Any]] = field(default_factory=list)
    attack_ranks: list[int] = field(default_factory=list)
    insider_events: int = 0
    insider_ranks: list[int] = field(default_factory=list)
    published_ids: set[str] = field(default_factory=set)
    timings: dict[str, float] = field(default_factory=dict)


def run_demo(config: DemoConfig, say: Callable[[str], None] = print) -> DemoReport:
    """Run every step; ``say`` receives one progress line per step."""
    from logguard.broker import EmbeddedBroker, create_topics
    from logguard.sim import AttackChain, host_names

    report = DemoReport()
    clock = time.monotonic()

    def step(name: str) -> None:
        nonlocal clock
        now = time.monotonic()
        report.timings[name] = round(now - clock, 1)
        clock = now

    split = SIMULATION_START + timedelta(hours=config.train_hours)
    victim = next(h for h in host_names(config.hosts) if h.startswith("OFFICE"))
    chain = AttackChain(host=victim, start=split + timedelta(hours=config.attack_after_hours),
                        name="demo-intrusion")
    say(f"[1/6] simulating {config.hosts} hosts for "
        f"{config.train_hours + config.test_hours:.0f} h (process events, logons, IDS alerts) "
        f"with an intrusion on {victim} at {chain.start:%Y-%m-%d %H:%M} UTC, and "
        f"{config.users} users' activity for {INSIDER_HISTORY_DAYS} days before and the test "
        f"day, with an insider's after-hours leak on {split:%Y-%m-%d}")
    clean, rest = _simulate(config, chain, split)
    report.train_events = sum(len(v) for v in clean.values())
    report.test_events = sum(len(v) for v in rest.values())
    report.attack_events = sum("attack_step" in e for events in rest.values() for e in events
                               if e.get("attack_step") != INSIDER_STEP)
    report.insider_events = sum(e.get("attack_step") == INSIDER_STEP
                                for e in rest["logguard.insider"])
    step("simulate")
    with EmbeddedBroker() as broker:
        create_topics(broker.bootstrap, dict.fromkeys(TOPICS, config.partitions))
        say(f"[2/6] broker at {broker.bootstrap}: producing the clean window "
            f"({report.train_events:,} events) and storing it with the daemon in {config.db}")
        report.produced = _produce(broker.bootstrap, clean)
        stats = _run_daemon(config, broker.bootstrap, say)
        step("produce+ingest clean window")
        say(f"[3/6] stored {stats.events:,} events; training "
            f"{', '.join(f'{s}/{m}' for s, m in DEMO_SLOTS)} on the clean window")
        report.trained = _train(config, split, say)
        step("train")
        say(f"[4/6] producing the next {config.test_hours:.0f} h ({report.test_events:,} "
            "events) and streaming them through the daemon (scoring, GID windows, CAR)")
        report.produced += _produce(broker.bootstrap, rest)
        more = _run_daemon(config, broker.bootstrap, say)
        step("stream+score")
        report.published_ids = _published_ids(broker.bootstrap)
        say(f"[5/6] the daemon raised {more.alerts:,} event alerts and {more.path_alerts:,} "
            f"path alerts; {len(report.published_ids):,} findings on {OUTPUT_TOPIC}")
    _read_results(config, report)
    step("report")
    say(f"[6/6] {report.alerts:,} alerts in the queue; {len(report.scenarios)} top scenarios")
    return report


def _simulate(config: DemoConfig, chain, split: datetime
              ) -> tuple[dict[str, list[dict]], dict[str, list[dict]]]:
    """Per topic, the events before ``split`` and the events from it on."""
    from logguard.sim import iter_alert_events, iter_auth_events, iter_process_events

    duration = timedelta(hours=config.train_hours + config.test_hours)
    args = (config.hosts, SIMULATION_START, duration, config.seed, [chain])
    streams = {"logguard.process": iter_process_events(*args),
               "logguard.auth": iter_auth_events(*args),
               "logguard.ids": iter_alert_events(*args),
               "logguard.insider": _insider_events(config, split)}
    cut = split.isoformat().replace("+00:00", "")
    clean: dict[str, list[dict]] = {}
    rest: dict[str, list[dict]] = {}
    for topic, events in streams.items():
        clean[topic], rest[topic] = [], []
        for event in events:
            (clean if event["time"] < cut else rest)[topic].append(event)
    return clean, rest


def _insider_events(config: DemoConfig, split: datetime) -> list[dict]:
    """The staff's CERT-style activity as ``insider`` events, up to the end of the test day;
    the insider (scenario 1) acts from the evening of the split day on."""
    from logguard.events.insider_context import INSIDER_FEATURES
    from logguard.sim.cert import simulated_activity

    first_day = (split - timedelta(days=INSIDER_HISTORY_DAYS)).date()
    frame = simulated_activity(n_users=config.users, days=INSIDER_HISTORY_DAYS + 7,
                               seed=config.seed, scenarios=(1,), start=first_day.isoformat(),
                               attack_start=(split - timedelta(days=1)).date().isoformat())
    end = (split + timedelta(hours=config.test_hours)).isoformat().replace("+00:00", "")
    frame = frame[frame["time"] < end]
    events = []
    for row in frame.to_dict("records"):
        event = {name: row[name] for name in ("time", "event_id", "user", "pc", "activity",
                                              "subtype", "object")}
        event.update({name: _plain(row[name]) for name in INSIDER_FEATURES})
        if row["label"]:
            event["attack_step"] = INSIDER_STEP
        events.append(event)
    return events


def _plain(value: Any) -> Any:
    """A numpy scalar as the Python value JSON encodes."""
    return value.item() if hasattr(value, "item") else value


def _produce(bootstrap: str, events_by_topic: dict[str, list[dict]]) -> int:
    from tqdm import tqdm

    from logguard.ingest.producer import send_records

    total = sum(len(v) for v in events_by_topic.values())
    with tqdm(total=total, unit=" events", desc="produce", file=sys.stderr, disable=None) as bar:
        return sum(send_records(bootstrap, topic, events, on_sent=lambda n: bar.update(1))
                   for topic, events in events_by_topic.items())


def _run_daemon(config: DemoConfig, bootstrap: str, say: Callable[[str], None]):
    """The daemon, in process, until no message came for a few seconds."""
    from logguard.daemon.config import DaemonConfig
    from logguard.daemon.service import Daemon

    daemon_config = DaemonConfig(
        bootstrap=bootstrap, db=str(config.db), models=str(config.models), topics=dict(TOPICS),
        group="logguard-demo", output_topic=OUTPUT_TOPIC, output_partitions=1,
        gid_window_s=config.gid_window_s, gid_interval_s=2.0, car_interval_s=3.0,
        reload_interval_s=60.0, until_idle_s=3.0).check()
    return Daemon(daemon_config).run(on_status=lambda s: say(f"      {s.line()}"))


def _train(config: DemoConfig, split: datetime, say: Callable[[str], None]) -> dict[str, str]:
    """Train every demo slot on the stored clean window; register and promote it."""
    from logguard.errors import ModelError
    from logguard.models.registry import ModelRegistry
    from logguard.store.duckdb_store import open_duckdb
    from logguard.training.slots import train_slot

    registry = ModelRegistry(config.models)
    options = {("process", "ape"): {"epochs": config.epochs, "random_state": config.seed},
               # a day of logons is a few hundred events: a few epochs learn them
               ("auth", "ape"): {"epochs": min(3, config.epochs), "random_state": config.seed},
               ("process", "gid"): {"random_state": config.seed},
               ("insider", "lan"): {"random_state": config.seed}}
    con = open_duckdb(config.db, read_only=True)
    try:
        frames = {source: con.execute("SELECT * FROM events WHERE source = ? AND event_time < ? "
                                      "ORDER BY event_time, kafka_partition, kafka_offset",
                                      [source, split]).df()
                  for source in {s for s, _ in DEMO_SLOTS}}
    finally:
        con.close()
    trained = {}
    for source, model in DEMO_SLOTS:
        started = time.monotonic()
        try:
            detector, calibrator, summary = train_slot(source, model, frames[source],
                                                       gid_window_s=config.gid_window_s,
                                                       **options[(source, model)])
        except ModelError as exc:
            say(f"      {source}/{model}: not trained ({exc})")
            continue
        version = registry.add(source, model, detector, calibrator, training_summary=summary)
        registry.promote(source, model, version,
                         reason="logguard demo: trained on the clean window")
        trained[f"{source}/{model}"] = version
        say(f"      {source}/{model}: version {version}, {summary['fit_events']:,} events, "
            f"calibrated on {calibrator.reference_size:,} held-out scores "
            f"({time.monotonic() - started:.1f} s)")
    return trained


def _published_ids(bootstrap: str, idle_ms: int = 2000) -> set[str]:
    """``finding_info.uid`` of every finding on the output topic (alerts and scenarios)."""
    import orjson
    from kafka import KafkaConsumer

    consumer = KafkaConsumer(OUTPUT_TOPIC, bootstrap_servers=bootstrap, group_id=None,
                             auto_offset_reset="earliest", consumer_timeout_ms=idle_ms,
                             enable_auto_commit=False)
    try:
        return {orjson.loads(m.value)["finding_info"]["uid"] for m in consumer}
    finally:
        consumer.close()


def _read_results(config: DemoConfig, report: DemoReport) -> None:
    """The ranked queue (with which alerts are the planted intrusion) and the top scenarios."""
    from logguard.analyst.queries import QUEUE_ORDER, list_scenarios
    from logguard.store.duckdb_store import open_duckdb

    con = open_duckdb(config.db, read_only=True)
    try:
        ranked = con.execute(  # QUEUE_ORDER is the analyst queue's constant ORDER BY clause
            "WITH queue AS (SELECT row_number() OVER (ORDER BY " + QUEUE_ORDER + ") AS rank, "  # noqa: S608
            "alert_id, score, event_time, host, user_name, summary, scenario_id, model, kind, "
            "explanation, kafka_topic, kafka_partition, kafka_offset FROM alerts) "
            "SELECT q.* EXCLUDE (kafka_topic, kafka_partition, kafka_offset), "
            "json_extract_string(e.extra, '$.attack_step') AS attack_step FROM queue q "
            "LEFT JOIN events e USING (kafka_topic, kafka_partition, kafka_offset) ORDER BY rank"
        ).df()
        planted_guids = {guid for (guid,) in con.execute(
            "SELECT DISTINCT process_guid FROM events WHERE source = 'process' AND "
            "json_extract_string(extra, '$.attack_step') IS NOT NULL").fetchall()}
        report.stored, report.dead_letters = con.execute(
            "SELECT (SELECT count(*) FROM events), (SELECT count(*) FROM dead_letters)"
        ).fetchone()
        report.scenarios = list_scenarios(con, top=3)
        for scenario in report.scenarios:
            scenario["alerts"] = con.execute(  # its first alerts, one per distinct summary
                "SELECT min(event_time) AS event_time, model, summary, count(*) AS alerts, "
                "arg_min(explanation, event_time) AS explanation FROM alerts "
                "WHERE scenario_id = ? GROUP BY model, summary ORDER BY event_time LIMIT 6",
                [scenario["scenario_id"]]).df().to_dict("records")
    finally:
        con.close()
    _mark_planted_paths(ranked, planted_guids)
    report.alerts = len(ranked)
    insider = ranked["attack_step"] == INSIDER_STEP
    report.attack_ranks = ranked.loc[ranked["attack_step"].notna() & ~insider,
                                     "rank"].astype(int).tolist()
    report.insider_ranks = ranked.loc[insider, "rank"].astype(int).tolist()
    report.queue = ranked.head(config.top).to_dict("records")


def _mark_planted_paths(ranked, planted_guids: set[str]) -> None:
    """A GID path alert is on the intrusion when a process on its path is a planted one (its
    own event, the path's last, may be an ordinary one such as the dropper's connection)."""
    import orjson

    for i in ranked.index[(ranked["kind"] == "path") & ranked["attack_step"].isna()]:
        try:
            nodes = orjson.loads(ranked.at[i, "explanation"] or "{}").get("path", {}).get(
                "nodes", [])
        except (orjson.JSONDecodeError, AttributeError):
            continue
        if any(node.get("process_guid") in planted_guids for node in nodes):
            ranked.at[i, "attack_step"] = "path"


def explanation_text(explanation: str | None, width: int = 110) -> str:
    """The readable part of an alert's explanation JSON, cut to ``width``."""
    import orjson

    if not explanation:
        return ""
    try:
        value: Any = orjson.loads(explanation)
    except orjson.JSONDecodeError:
        value = explanation
    text = value.get("text", "") if isinstance(value, dict) else str(value)
    return text if len(text) <= width else text[: width - 1] + "…"


def short(value: object, width: int = 40, *, keep_end: bool = True) -> str:
    """A value cut to ``width``: from the left (paths keep their file name), or the right."""
    text = "" if value is None or value != value else str(value)
    if len(text) <= width:
        return text
    return "…" + text[-(width - 1):] if keep_end else text[: width - 1] + "…"
