"""The streaming daemon: consume, validate, score, alert, correlate and publish, crash-safely.

One :class:`Daemon` is one consumer-group member owning one DuckDB file. Each cycle:

1. poll a micro-batch from every configured topic (at most ``batch_size`` messages or
   ``batch_ms``) and validate it with the validator of the topic's source;
2. score it in memory with each source's active per-event models
   (:class:`~logguard.daemon.scoring.EventScorer`) -> scores, alert rows, outbox rows;
   insider events first get each user's context (recent activities, pcs seen: kept per user
   across batches and rebuilt from the store on start, :mod:`logguard.events.insider_context`),
   which LAN scores from;
3. write events, dead letters, scores, alerts, outbox messages and the last offset per
   partition in ONE DuckDB transaction (the store is the source of truth for offsets; on
   assignment each partition resumes at its stored offset + 1, so ``kill -9`` anywhere loses
   and duplicates nothing, and alert ids are stable, so a replay raises no second alert).
   The transaction runs on a writer thread (DuckDB releases the GIL) while the next batch is
   polled, validated and scored; it is waited for before the next one is submitted, before
   the GID/CAR stages read the store, and before partitions are revoked;
4. then commit the offsets to Kafka (a failed commit, e.g. after a broker restart, is logged
   and ignored: the store dedupes), wake the publisher thread, append the process
   events to GID's per-host windows, update the metrics.

Between batches: every ``gid_interval_s`` the GID stage searches the windows of hosts with
new events for the least regular process paths (own transaction); every ``car_interval_s`` the
CAR stage re-ranks alerts and grows scenarios; every ``reload_interval_s`` the registry's
ACTIVE pointers are compared and a changed slot is loaded completely before it replaces the
old one (the batch in flight finishes with the old version). ``request_stop`` (SIGTERM) ends
the loop after the current batch; the last GID and CAR passes run, and the publisher drains.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import orjson
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from logguard.broker import check_reachable, create_topics
from logguard.daemon.config import DaemonConfig, secret
from logguard.daemon.correlate import CarStage
from logguard.daemon.finding import alert_finding, encode_finding, scenario_finding
from logguard.daemon.grouping import AlertGrouper, apply_updates
from logguard.daemon.metrics import Metrics
from logguard.daemon.publisher import Publisher
from logguard.daemon.scoring import (
    IDS_SOURCE,
    PER_EVENT_MODELS,
    EventScorer,
    SlotFailure,
    outbox_rows,
)
from logguard.daemon.windows import PROCESS_SOURCE, HostWindows
from logguard.errors import BrokerError, LogguardError
from logguard.events.frames import model_frame
from logguard.events.insider_context import annotate, restore_state, with_features
from logguard.events.validate import Validator
from logguard.ingest.batch import MicroBatch
from logguard.ingest.source import KafkaSource, Partition, SourceConfig
from logguard.models.registry import ActiveModel, ModelRegistry
from logguard.store.alerts import (
    ALERTS_SCHEMA,
    OUTBOX_SCHEMA,
    ensure_alert_tables,
    insert_alerts,
    path_alert_id,
)
from logguard.store.duckdb_store import EventStore, transaction
from logguard.store.scores import ensure_scores_table, write_scores

log = logging.getLogger(__name__)

GID_SLOT = (PROCESS_SOURCE, "gid")
INSIDER_SOURCE = "insider"
JOIN_ALLOWANCE_S = 30.0
HEALTHY_POLL_AGE_S = 30.0
GID_MAX_SHARE = 0.25  # the most of the loop's time GID searches may take (see next_search_in)


def next_search_in(interval_s: float, search_s: float,
                   max_share: float = GID_MAX_SHARE) -> float:
    """Seconds from the end of a GID search to the next one: ``interval_s``, or longer when
    the search took so long that GID would take more than ``max_share`` of the loop's time.

    A search of ``d`` seconds reads its buckets whole, so in real time (event time = wall
    time) it grows with the events of the current window; waiting ``d (1 - s) / s``
    afterwards bounds GID to a share ``s``, so ingest and per-event scoring keep up and path
    alerts come later instead.
    """
    return max(interval_s, search_s * (1.0 - max_share) / max_share)


@dataclass
class DaemonStats:
    """Running totals of one daemon run."""

    events: int = 0
    dead_letters: int = 0
    batches: int = 0
    alerts: int = 0
    alert_repeats: int = 0  # alerts counted on an open group's first alert instead
    path_alerts: int = 0
    scenarios: int = 0
    scoring_failures: int = 0
    reloads: int = 0
    lag: int | None = None
    started: float = field(default_factory=time.monotonic)
    seconds: dict[str, float] = field(default_factory=dict)  # wall time per stage

    def timed(self, stage: str, since: float) -> float:
        """Add the time since ``since`` to ``stage``; returns now."""
        now = time.monotonic()
        self.seconds[stage] = self.seconds.get(stage, 0.0) + now - since
        return now

    def line(self) -> str:
        lag = "?" if self.lag is None else f"{self.lag:,}"
        return (f"{self.events:,} events, {self.dead_letters:,} dead letters, "
                f"{self.alerts:,} event alerts (+{self.alert_repeats:,} repeats), "
                f"{self.path_alerts:,} path alerts, "
                f"{self.scenarios:,} scenario updates, lag {lag}, {self.batches:,} batches "
                f"in {time.monotonic() - self.started:.1f} s")


def _finding_json(alert: dict) -> str:
    return encode_finding(alert_finding(alert))


def _scenario_json(scenario: dict, alerts: list[dict]) -> str:
    return encode_finding(scenario_finding(scenario, alerts))


@dataclass
class _PendingWrite:
    """A batch whose DuckDB transaction runs on the writer thread, and what follows it."""

    future: Future[None]
    offsets: dict[Partition, int]
    outbox_rows: int
    process_frame: pd.DataFrame | None


class Daemon:
    """The streaming service (see the module docstring)."""

    def __init__(self, config: DaemonConfig) -> None:
        self.config = config
        self.stats = DaemonStats()
        self.metrics = Metrics()
        self._stop = threading.Event()
        self._suppressed_models: set[str] = set()
        self.ready = threading.Event()  # set once partitions are assigned (for tests, demos)
        self._security = config.kafka.client_settings()  # a missing secret fails here
        self.sinks = self._make_sinks()
        self.registry = ModelRegistry(config.models)
        self.models: dict[tuple[str, str], ActiveModel] = {}
        self._failed_versions: set[tuple[str, str, str]] = set()
        self._reported_failures: set[tuple[str, str, str]] = set()
        self.store = EventStore(config.db)
        try:
            ensure_alert_tables(self.store.con)
            ensure_scores_table(self.store.con)
            self.validators = {topic: Validator(source)
                               for topic, source in config.topics.items()}
            # each user's recent activities, for LAN (logguard.events.insider_context)
            self.insider_state = (restore_state(self.store.con.cursor())
                                  if INSIDER_SOURCE in config.topics.values() else None)
            self.grouper = AlertGrouper(config.alert_group_window_s)
            self.grouper.restore(self.store.con.cursor())
            self.scorer = EventScorer(config.thresholds, config.alert_budget_per_10k,
                                      [s.name for s in self.sinks], _finding_json,
                                      self._suppressor(), config.store_scores, self.grouper)
            self.windows = HostWindows(config.gid_window_s)
            self.car = CarStage(config.car_hours, config.car_refit_alerts,
                                [s.name for s in self.sinks], _scenario_json,
                                self._verdict_weights())
            self._reload_models()
            self._ensure_output_topic()
            self._consumer = self._make_consumer()
        except Exception:
            self.store.close()
            raise
        self.publisher = Publisher(self.store.con, self.sinks, self.metrics)
        self._stored: dict[tuple[str, int], int] = {}
        self._writer = ThreadPoolExecutor(max_workers=1, thread_name_prefix="duckdb-writer")
        self._pending: _PendingWrite | None = None
        self._last_poll = time.monotonic()
        self._last_activity = time.monotonic() + JOIN_ALLOWANCE_S
        self._alive = False
        self._web: Any = None
        self._oldest_message: float | None = None

    # ------------------------------------------------------------------ set-up
    def _make_sinks(self) -> list[Any]:
        from logguard.daemon.sinks import KafkaTopicSink, SyslogCefSink, WebhookSink

        c = self.config
        sinks: list[Any] = [KafkaTopicSink(c.bootstrap, c.output_topic, self._security)]
        if c.sinks.syslog is not None:
            s = c.sinks.syslog
            sinks.append(SyslogCefSink(s.host, s.port, s.protocol))  # type: ignore[arg-type]
        if c.sinks.webhook is not None:
            w = c.sinks.webhook
            headers = ({"Authorization": "Bearer " + secret(w.token_env,
                                                            "sinks.webhook.token_env")}
                       if w.token_env else None)
            sinks.append(WebhookSink(w.url, headers=headers, timeout_s=w.timeout_s))
        return sinks

    def _suppressor(self) -> Callable[[str, dict], str | None] | None:
        try:
            from logguard.analyst.feedback import is_suppressed
        except ImportError:
            return None
        cursor = self.store.con.cursor()

        def check(model: str, entities: dict) -> str | None:
            # one query per batch finds the models with any active suppression; only their
            # alerts are matched pattern by pattern
            if model not in self._suppressed_models:
                return None
            return is_suppressed(cursor, model, entities)

        return check

    def _refresh_suppressed_models(self) -> None:
        self._suppressed_models = {row[0] for row in self.store.con.cursor().execute(
            "SELECT DISTINCT model FROM suppressions WHERE revoked_at IS NULL AND "
            "(expires_at IS NULL OR expires_at > now())").fetchall()}

    @staticmethod
    def _verdict_weights() -> Callable | None:
        try:
            from logguard.analyst.feedback import verdict_weights
        except ImportError:
            return None
        return verdict_weights

    def _ensure_output_topic(self) -> None:
        """Create the output topic when the cluster lacks it (never re-create one: on tansu
        with S3 storage a second CreateTopics of an existing topic made it vanish)."""
        from kafka import KafkaConsumer

        c = self.config
        check_reachable(c.bootstrap)
        probe = KafkaConsumer(bootstrap_servers=c.bootstrap, allow_auto_create_topics=False,
                              **self._security)
        try:
            exists = bool(probe.partitions_for_topic(c.output_topic))
        finally:
            probe.close()
        if exists:
            return
        if c.kafka.security_protocol != "PLAINTEXT":
            raise BrokerError(f"the output topic {c.output_topic} does not exist; create it "
                              "(the daemon creates topics only on plaintext clusters)")
        create_topics(c.bootstrap, {c.output_topic: c.output_partitions})

    def _make_consumer(self) -> KafkaSource:
        c = self.config
        return KafkaSource(
            SourceConfig(bootstrap=c.bootstrap, topics=sorted(c.topics), group=c.group,
                         client_id="logguard-daemon", session_timeout_ms=c.session_timeout_ms,
                         heartbeat_interval_ms=max(100, c.session_timeout_ms // 6),
                         max_poll_interval_ms=c.max_poll_interval_ms, security=self._security),
            start_offsets=self._store_offsets, on_assign=self._after_assign,
            on_revoke=lambda _: self._finish_pending())

    # ------------------------------------------------------------------ control
    def request_stop(self) -> None:
        """Finish the current batch, commit, flush GID/CAR, drain the outbox, exit the loop
        (safe from a signal handler)."""
        self._stop.set()

    def run(self, on_status: Callable[[DaemonStats], None] | None = None) -> DaemonStats:
        """Run until stopped (or idle for ``until_idle_s``); returns the totals."""
        c = self.config
        self.publisher.start()
        self._serve_http()
        self._alive = True
        due = dict.fromkeys(("gid", "car", "reload", "status"), time.monotonic())
        try:
            while not self._stop.is_set():
                batch = self._poll_batch()
                now = time.monotonic()
                if batch.messages:
                    self._process(batch)
                    self._last_activity = time.monotonic()  # idle counts from the batch's end
                else:
                    self._finish_pending()
                now = time.monotonic()
                if now >= due["reload"]:
                    self._reload_models()
                    due["reload"] = now + c.reload_interval_s
                if now >= due["gid"]:
                    self._finish_pending()
                    searched_from = time.monotonic()
                    self._gid_stage()
                    searched_to = self.stats.timed("GID path search", now)
                    due["gid"] = searched_to + next_search_in(c.gid_interval_s,
                                                             searched_to - searched_from)
                if now >= due["car"]:
                    self._finish_pending()
                    self._car_stage()
                    due["car"] = self.stats.timed("CAR", now) + c.car_interval_s
                if now >= due["status"]:
                    self.stats.lag = self._lag()
                    due["status"] = now + 5.0
                    if on_status is not None:
                        on_status(self.stats)
                if c.until_idle_s is not None and now - self._last_activity >= c.until_idle_s:
                    log.info("no message for %.1f s: stopping", c.until_idle_s)
                    break
            self._finish_pending()
            self._gid_stage()
            self._car_stage()
            self.stats.lag = self._lag()
        finally:
            self._alive = False
            self._writer.shutdown(wait=True)
            self.publisher.stop()
            if self._web is not None:
                self._web.shutdown()
            self._consumer.close()
            self.store.close()
        return self.stats

    # ------------------------------------------------------------------ ingest
    def _poll_batch(self) -> MicroBatch:
        c = self.config
        batch = MicroBatch(next(iter(self.validators.values())), self.validators)
        self._oldest_message = None
        deadline = time.monotonic() + c.batch_ms / 1000
        while batch.messages < c.batch_size and not self._stop.is_set():
            remaining_ms = int((deadline - time.monotonic()) * 1000)
            if remaining_ms <= 0:
                break
            polled_from = time.monotonic()
            messages = self._consumer.poll(c.batch_size - batch.messages, remaining_ms / 1000)
            self._last_poll = time.monotonic()
            polled = self.stats.timed("poll", polled_from)
            stored = self._stored
            for m in messages:
                topic, partition, offset = m.topic(), m.partition(), m.offset()
                kind, timestamp = m.timestamp()
                if kind and timestamp >= 0:
                    sent = timestamp / 1000  # epoch seconds, Kafka time
                    if self._oldest_message is None or sent < self._oldest_message:
                        self._oldest_message = sent
                if offset > stored.get((topic, partition), -1):
                    batch.add(topic, partition, offset, timestamp if kind else None, m.value())
            self.stats.timed("validate", polled)
        return batch

    def _process(self, batch: MicroBatch) -> None:
        started = time.monotonic()
        events, dead = batch.events_table(), batch.dead_letters_table()
        mark = self.stats.timed("validate", started)
        frames = self._frames(events)
        mark = self.stats.timed("model frames", mark)
        models = dict(self.models)  # the batch keeps these versions even if a reload comes
        self._refresh_suppressed_models()
        scored = self.scorer.score(frames, models)
        mark = self.stats.timed("score + alert rows", mark)
        for failure in scored.failures:
            self._report_failure(failure)
        scores = scored.scores_table()
        alerts, outbox = scored.alerts_table(), scored.outbox_table()

        def also(cursor: Any, replay: bool) -> None:
            write_scores(cursor, scores, replay=replay)
            insert_alerts(cursor, alerts, outbox)
            apply_updates(cursor, scored.group_updates)
            if scored.suppressed:
                cursor.executemany("UPDATE alerts SET status = 'suppressed' WHERE alert_id = ?",
                                   [[a] for a in scored.suppressed])

        offsets = dict(batch.offsets)
        oldest_message = self._oldest_message

        def write_and_count() -> None:
            """The transaction, then the batch's counts, on the writer thread: counted as soon
            as it is durable, before the publisher (which also polls the outbox on a timer,
            not only when woken) can send any of its findings."""
            self.store.write_batch(events, dead, offsets, also)
            self._count(events, dead, scored, started, oldest_message)

        self._finish_pending()  # the previous batch is committed before this one is submitted
        self._pending = _PendingWrite(
            future=self._writer.submit(write_and_count), offsets=offsets,
            outbox_rows=outbox.num_rows,
            process_frame=frames.get(PROCESS_SOURCE) if GID_SLOT in models else None)

    def _finish_pending(self) -> None:
        """Wait for the batch on the writer thread (which counted it once it was durable), then
        commit its offsets to Kafka, wake the publisher and feed GID's windows (the order of a
        synchronous write, kept)."""
        if self._pending is None:
            return
        pending, self._pending = self._pending, None
        mark = time.monotonic()
        pending.future.result()
        mark = self.stats.timed("DuckDB transaction (wait)", mark)
        for key, offset in pending.offsets.items():
            self._stored[key] = max(offset, self._stored.get(key, -1))
        self._commit_to_kafka(pending.offsets)
        if pending.outbox_rows:
            self.publisher.wake()
        mark = self.stats.timed("Kafka commit", mark)
        if pending.process_frame is not None:
            self.windows.append(pending.process_frame)
        self.stats.timed("GID window append", mark)

    def _frames(self, events: pa.Table) -> dict[str, pd.DataFrame]:
        """The model frame of each source the batch holds that some stage reads."""
        wanted = {s for (s, m) in self.models if m in PER_EVENT_MODELS}
        if GID_SLOT in self.models:
            wanted.add(PROCESS_SOURCE)
        wanted.add(IDS_SOURCE)
        if self.insider_state is not None:
            wanted.add(INSIDER_SOURCE)  # its per-user context advances with every event
        frames = {}
        if events.num_rows == 0:
            return frames
        sources = pc.unique(events.column("source")).to_pylist()
        for source in sources:
            if source in wanted:
                rows = (events if len(sources) == 1 else
                        events.filter(pc.equal(events.column("source"), source))).to_pandas()
                if source == INSIDER_SOURCE and self.insider_state is not None:
                    frames[source] = annotate(model_frame(with_features(rows)),
                                              self.insider_state)
                else:
                    frames[source] = model_frame(rows)
        return frames

    def _count(self, events: pa.Table, dead: pa.Table, scored: Any, started: float,
               oldest_message: float | None) -> None:
        m, s = self.metrics, self.stats
        s.events += events.num_rows
        s.dead_letters += dead.num_rows
        s.batches += 1
        s.alerts += len(scored.alerts)
        if events.num_rows:
            counts = pc.value_counts(events.column("source")).to_pylist()
            for item in counts:
                m.inc("logguard_events_total", item["counts"], source=item["values"])
        if dead.num_rows:
            for item in pc.value_counts(dead.column("source")).to_pylist():
                m.inc("logguard_dead_letters_total", item["counts"], source=item["values"])
        for alert in scored.alerts:
            m.inc("logguard_alerts_total", source=alert["source"], model=alert["model"])
        repeats = sum(u.occurrences for u in scored.group_updates.values())
        if repeats:
            s.alert_repeats += repeats
            m.inc("logguard_alert_repeats_total", repeats)
        now = time.monotonic()
        m.observe("logguard_batch_seconds", now - started)
        if scored.alerts and oldest_message is not None:
            # an upper bound: from the Kafka timestamp of the batch's oldest message
            m.observe("logguard_event_to_alert_seconds", max(0.0, time.time() - oldest_message))

    def _report_failure(self, failure: SlotFailure) -> None:
        self.stats.scoring_failures += 1
        key = (failure.source, failure.model, failure.version)
        if key not in self._reported_failures:
            self._reported_failures.add(key)
            log.error("model %s/%s version %s cannot score %s events (%s); storing them "
                      "unscored for this model", failure.source, failure.model,
                      failure.version, failure.source, failure.reason)

    def _commit_to_kafka(self, offsets: dict[Partition, int]) -> None:
        self._consumer.commit(offsets)

    def _store_offsets(self, assigned: list[Partition]) -> dict[Partition, int]:
        """On assignment: each partition resumes after the last offset the store has."""
        self._last_activity = time.monotonic()
        resume = self.store.resume_offsets(assigned)
        self._stored.update(resume)
        return resume

    def _after_assign(self, assigned: list[Partition]) -> None:
        if GID_SLOT in self.models:
            loaded = self.windows.rebuild(self.store.con.cursor())
            log.info("GID windows rebuilt from the store: %d events of %d hosts", loaded,
                     self.windows.hosts)
        self.ready.set()

    def _lag(self) -> int | None:
        lag = self._consumer.lag()
        if lag is None:
            return None
        for (topic, partition), behind in lag.items():
            self.metrics.set("logguard_consumer_lag", behind, topic=topic, partition=partition)
        return sum(lag.values())

    # ------------------------------------------------------------------ models
    def _reload_models(self) -> None:
        """Load every slot whose ACTIVE pointer changed; a failing load keeps the old model."""
        try:
            pointers = self.registry.pointers()
        except (OSError, LogguardError) as exc:
            log.warning("cannot read the model registry %s: %s", self.registry.root, exc)
            return
        for slot, version in sorted(pointers.items()):
            current = self.models.get(slot)
            if current is not None and current.version == version:
                continue
            if (*slot, version) in self._failed_versions:
                continue
            try:
                loaded = self.registry.load(*slot, version)
            except Exception as exc:  # a broken version must not take the running one down
                self._failed_versions.add((*slot, version))
                log.error("cannot load %s/%s version %s (%s); keeping %s", *slot, version, exc,
                          current.version if current else "no model")
                continue
            self.models[slot] = loaded
            self.stats.reloads += current is not None
            self.metrics.model_loaded(*slot, version)
            self.store.con.cursor().execute(
                "INSERT OR IGNORE INTO models (source, model, model_version, path) "
                "VALUES (?, ?, ?, ?)", [*slot, version, str(loaded.path)])
            log.info("model %s/%s version %s is active%s", *slot, version,
                     f" (was {current.version})" if current else "")

    # ------------------------------------------------------------------ GID
    def _gid_stage(self) -> None:
        """Search the windows of hosts with new events; alert on calibrated path z-scores."""
        active = self.models.get(GID_SLOT)
        if active is None:
            return
        threshold = self.scorer.threshold(PROCESS_SOURCE)
        alerts, outbox = [], []
        for host, paths in self._due_paths(active).items():
            calibrated = active.calibrator.calibrate(np.array([p["z_score"] for p in paths]))
            for path, score in zip(paths, calibrated, strict=True):
                if score >= threshold:
                    alert = self._path_alert(active, host, path, float(score), threshold)
                    alerts.append(alert)
                    outbox += outbox_rows(alert, self.scorer.sinks, _finding_json)
        if not alerts:
            return
        with transaction(self.store.con) as cursor:
            added = insert_alerts(cursor, pa.Table.from_pylist(alerts, schema=ALERTS_SCHEMA),
                                  pa.Table.from_pylist(outbox, schema=OUTBOX_SCHEMA))
        self.stats.path_alerts += added
        if added:
            self.metrics.inc("logguard_alerts_total", added, source=PROCESS_SOURCE, model="gid")
            self.publisher.wake()

    def _due_paths(self, active: ActiveModel) -> dict[str, list[dict[str, Any]]]:
        """The top paths of every due host's window, searched in one graph. Events reach it
        validated, so a failure here is the model's: it is reported (health, metrics, log)
        and the pass yields no paths, while ingest goes on."""
        due = self.windows.take_due(float(active.detector.window_seconds))
        if len(due) == 0:
            return {}
        try:
            return active.detector.top_paths_by_host(due, self.config.gid_top_k)
        except Exception as exc:
            self._report_failure(SlotFailure(*GID_SLOT, active.version,
                                             f"{exc.__class__.__name__}: {exc}"))
            return {}

    @staticmethod
    def _path_alert(active: ActiveModel, host: str, path: dict[str, Any], score: float,
                    threshold: float) -> dict[str, Any]:
        nodes, edges = path["nodes"], path["edges"]
        last = max(pd.Timestamp(e["time"]) for e in edges)
        images = [n.get("image") or n.get("name") for n in nodes if n.get("kind") == "process"]
        users = None
        return {
            "alert_id": path_alert_id(active.model, host, [n["id"] for n in nodes]),
            "source": PROCESS_SOURCE, "model": active.model, "model_version": active.version,
            "kind": "path", "event_time": last.to_pydatetime(), "host": host,
            "user_name": users, "raw_score": float(path["z_score"]), "score": score,
            "threshold": threshold,
            "summary": f"GID: unusual process path on {host}: {path['chain']}, "
                       f"score {score:.1f}",
            "explanation": orjson.dumps({"text": path["chain"], "z_score": path["z_score"],
                                         "path": {"nodes": nodes, "edges": edges}}).decode(),
            "entities": orjson.dumps({"host": host, "image": images}).decode(),
            "attack_tags": "[]", "kafka_topic": None, "kafka_partition": None,
            "kafka_offset": None,
        }

    # ------------------------------------------------------------------ CAR
    def _car_stage(self) -> None:
        cursor = self.store.con.cursor()
        try:
            done = self.car.run(cursor)
        except Exception:  # CAR is advisory: ranking must never stop ingest
            log.exception("the CAR stage failed; alerts stay unranked until the next pass")
            return
        finally:
            cursor.close()
        self.stats.scenarios += done.scenarios
        if done.published:
            self.publisher.wake()

    # ------------------------------------------------------------------ HTTP
    def _serve_http(self) -> None:
        c = self.config
        if not c.http_port:
            return
        from logguard.web.app import Response, WebApp

        token = secret(c.token_env, "token_env") if c.token_env else None
        app = WebApp(self.store.con, self.store.con, token=token)
        app.add_route("GET", "/healthz", lambda _r: Response.json(*self.health()), public=True)
        app.add_route("GET", "/metrics", lambda _r: Response.text(
            self.metrics.render(), content_type="text/plain; version=0.0.4; charset=utf-8"),
            public=True)
        host, port = app.serve(c.http_host, c.http_port)
        self._web = app
        log.info("serving /healthz, /metrics and the analyst API on http://%s:%d", host, port)

    def health(self) -> tuple[dict[str, Any], int]:
        """(body, status): 200 while the loop runs and polled recently, else 503."""
        age = time.monotonic() - self._last_poll
        ok = self._alive and age < max(HEALTHY_POLL_AGE_S, 3 * self.config.batch_ms / 1000)
        body = {"status": "ok" if ok else "unhealthy", "last_batch_age_s": round(age, 3),
                "lag": self.stats.lag,
                "models": {f"{s}/{m}": a.version for (s, m), a in sorted(self.models.items())}}
        return body, 200 if ok else 503
