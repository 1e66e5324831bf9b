"""Per-event scoring of one micro-batch: each source's active models -> scores and alert rows.

For every source in the batch and every active per-event slot ``<source>/<model>`` (APE, the
baselines, LAN for insider activity; see :data:`PER_EVENT_MODELS`), the rows of that source
become the frame every model reads (:func:`~logguard.events.frames.model_frame`), then

    raw = detector.score(frame),   c = calibrator.calibrate(raw) ∈ [0, 100],

and an event alerts when ``c ≥ threshold`` (the config's per-source override, else the budget
threshold ``100 · (1 − N/10,000)`` of :func:`~logguard.models.calibration.budget_threshold`).
Only alerted rows are explained (explanations cost more than scores). An alert that repeats an
open group (same model and pattern within the grouping window, :mod:`logguard.daemon.grouping`)
is not a new alert: it adds to its head's ``occurrences`` (:attr:`ScoredBatch.group_updates`)
and is not published again. Alert ids are stable
(:func:`~logguard.store.alerts.event_alert_id` of the model and the event's Kafka
coordinates), so a replayed batch yields the same rows and ``INSERT OR IGNORE`` keeps one.

Third-party IDS alerts (source ``alert``) are not scored: each becomes an alert of model
``ids`` (kind ``ids``, its 0-10 severity as raw score, ×10 as calibrated score) that CAR ranks
with the others; it is not re-published, since it came from the SIEM's side.

A model that cannot score the batch (a column it needs is missing, say) must not stop
ingest: the failure is returned in :attr:`ScoredBatch.failures` and the batch is stored
unscored for that slot.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import orjson
import pandas as pd
import pyarrow as pa

from logguard.daemon.grouping import AlertGrouper, GroupUpdate
from logguard.events.schema import load_schema
from logguard.models.calibration import budget_threshold
from logguard.models.registry import ActiveModel
from logguard.store.alerts import ALERTS_SCHEMA, OUTBOX_SCHEMA, event_alert_id
from logguard.store.scores import SCORES_SCHEMA

PER_EVENT_MODELS = frozenset(("ape", "rarity", "pairwise", "iforest", "lan", "insider-frequency"))
IDS_SOURCE = "alert"
IDS_MODEL = "ids"
HOST_COLUMNS = ("host", "pc", "src_computer", "dst_computer")
USER_COLUMNS = ("user", "src_user", "dst_user")
SUMMARY_COLUMNS = ("image", "action", "activity", "auth_type")  # what an alert summary names
ROW_COLUMNS = ("time", "kafka_topic", "kafka_partition", "kafka_offset")
EXPLAINED_PAIRS = 3

Suppressor = Callable[[str, dict[str, Any]], str | None]


@dataclass
class SlotFailure:
    """A slot that could not score a batch, and why."""

    source: str
    model: str
    version: str
    reason: str


@dataclass
class ScoredBatch:
    """What one batch adds besides its events: scores, alerts, outbox messages, failures."""

    scores: list[pa.Table] = field(default_factory=list)
    alerts: list[dict[str, Any]] = field(default_factory=list)
    outbox: list[dict[str, Any]] = field(default_factory=list)
    suppressed: list[str] = field(default_factory=list)
    group_updates: dict[str, GroupUpdate] = field(default_factory=dict)  # head id -> update
    versions: dict[tuple[str, str], str] = field(default_factory=dict)
    failures: list[SlotFailure] = field(default_factory=list)

    def scores_table(self) -> pa.Table:
        if not self.scores:
            return SCORES_SCHEMA.empty_table()
        return pa.concat_tables(self.scores)

    def alerts_table(self) -> pa.Table:
        return pa.Table.from_pylist(self.alerts, schema=ALERTS_SCHEMA)

    def outbox_table(self) -> pa.Table:
        return pa.Table.from_pylist(self.outbox, schema=OUTBOX_SCHEMA)


def _first_present(row: dict[str, Any], columns: tuple[str, ...]) -> str | None:
    for name in columns:
        value = row.get(name)
        if isinstance(value, str) and value:
            return value
    return None


def _entities(row: dict[str, Any], columns: list[str]) -> dict[str, str]:
    return {c: row[c] for c in columns if isinstance(row.get(c), str)}


def _ape_pairs(detector: Any, frame: pd.DataFrame,
               rows: list[dict[str, Any]]) -> list[list[list[Any]]]:
    """Per row of ``frame`` (``rows``: the same rows as dicts): the entity pairs furthest
    below their training average, as ``[type_a, value_a, type_b, value_b, pair score]``
    (APE's explanation in numbers)."""
    columns = detector.entity_columns_
    ids = detector.vocabulary_.encode(frame)
    contributions = detector.pair_contributions(ids) - detector.pair_baseline_
    first, second = np.triu_indices(len(columns), 1)
    lowest = np.argsort(contributions, axis=1, kind="stable")[:, :EXPLAINED_PAIRS]
    return [[[columns[first[p]], str(row[columns[first[p]]]), columns[second[p]],
              str(row[columns[second[p]]]), round(float(contributions[r, p]), 4)]
             for p in pairs] for r, (row, pairs) in enumerate(zip(rows, lowest, strict=True))]


class EventScorer:
    """Scores micro-batches with the active per-event models and builds their alert rows."""

    def __init__(self, thresholds: dict[str, float], alert_budget_per_10k: float,
                 sinks: list[str], finding: Callable[[dict], str],
                 suppressor: Suppressor | None = None, store_scores: bool = True,
                 grouper: AlertGrouper | None = None) -> None:
        self.thresholds = dict(thresholds)
        self.grouper = grouper if grouper is not None else AlertGrouper(0.0)
        self.default_threshold = budget_threshold(alert_budget_per_10k)
        self.sinks = list(sinks)
        self.finding = finding
        self.suppressor = suppressor
        self.store_scores = store_scores

    def threshold(self, source: str) -> float:
        return self.thresholds.get(source, self.default_threshold)

    def score(self, frames: dict[str, pd.DataFrame],
              models: dict[tuple[str, str], ActiveModel]) -> ScoredBatch:
        """Scores, alerts and outbox rows of one batch, given each source's model frame."""
        out = ScoredBatch()
        if self.grouper.enabled and self.grouper.groups:
            # groups no event of this batch can join any more (its earliest event decides)
            earliest = min((f["time"].min() for f in frames.values() if len(f)), default=None)
            if earliest is not None:
                self.grouper.expire(earliest.to_pydatetime())
        for source, frame in frames.items():
            if source == IDS_SOURCE:
                self._ids_alerts(frame, out)
                continue
            for (slot_source, name), active in sorted(models.items()):
                if slot_source == source and name in PER_EVENT_MODELS:
                    self._score_slot(active, frame, out)
        return out

    # ------------------------------------------------------------------ one slot
    def _score_slot(self, active: ActiveModel, frame: pd.DataFrame, out: ScoredBatch) -> None:
        try:
            raw = np.asarray(active.detector.score(frame), dtype=np.float64)
            calibrated = active.calibrator.calibrate(raw)
        except Exception as exc:  # a model must never stop ingest; the caller logs it once
            out.failures.append(SlotFailure(active.source, active.model, active.version,
                                            f"{exc.__class__.__name__}: {exc}"))
            return
        out.versions[(active.source, active.model)] = active.version
        if self.store_scores:
            n = len(frame)
            out.scores.append(pa.table({
                "kafka_topic": frame["kafka_topic"].astype(str),
                "kafka_partition": frame["kafka_partition"].astype("int32"),
                "kafka_offset": frame["kafka_offset"].astype("int64"),
                "model": [active.model] * n, "model_version": [active.version] * n,
                "score": calibrated, "explanation": pa.nulls(n, pa.string()),
            }, schema=SCORES_SCHEMA))
        threshold = self.threshold(active.source)
        alerted = np.flatnonzero(calibrated >= threshold)
        if len(alerted) == 0:
            return
        picked = frame.iloc[alerted].reset_index(drop=True)
        entity_columns = list(getattr(active.detector, "entity_columns_", None)
                              or load_schema(active.source).entity_columns)
        # the alert rows as dicts of the columns they read (iterrows converts every column of
        # the frame; a batch with a few alerts spent ~5 ms there)
        wanted = {*entity_columns, *HOST_COLUMNS, *USER_COLUMNS, *SUMMARY_COLUMNS, *ROW_COLUMNS}
        rows = picked[[c for c in picked.columns if c in wanted]].to_dict("records")
        try:
            texts = active.detector.explain(picked)
            pairs = (_ape_pairs(active.detector, picked, rows) if active.model == "ape"
                     else [None] * len(picked))
        except Exception as exc:
            texts = [f"(no explanation: {exc.__class__.__name__}: {exc})"] * len(picked)
            pairs = [None] * len(picked)
        for i, row in enumerate(rows):
            explanation: dict[str, Any] = {"text": texts[i]}
            if pairs[i] is not None:
                explanation["pairs"] = pairs[i]
            host = _first_present(row, HOST_COLUMNS)
            user = _first_present(row, USER_COLUMNS)
            score = float(calibrated[alerted[i]])
            alert = {
                "alert_id": event_alert_id(active.model, row["kafka_topic"],
                                           row["kafka_partition"], row["kafka_offset"]),
                "source": active.source, "model": active.model,
                "model_version": active.version, "kind": "event",
                "event_time": row["time"].to_pydatetime(), "host": host, "user_name": user,
                "raw_score": float(raw[alerted[i]]), "score": score, "threshold": threshold,
                "summary": _summary(active, row, host, user, score),
                "explanation": orjson.dumps(explanation).decode(),
                "entities": orjson.dumps(_entities(row, entity_columns)).decode(),
                "attack_tags": "[]",
                "kafka_topic": row["kafka_topic"], "kafka_partition": int(row["kafka_partition"]),
                "kafka_offset": int(row["kafka_offset"]),
            }
            self._add_alert(alert, out)

    def _add_alert(self, alert: dict[str, Any], out: ScoredBatch, publish: bool = True) -> None:
        if self.suppressor is not None:
            suppression = self.suppressor(alert["model"], orjson.loads(alert["entities"]))
            if suppression is not None:
                out.alerts.append(alert)
                out.suppressed.append(alert["alert_id"])
                return
        if publish and self.grouper.assign(alert, out.group_updates) is not None:
            return  # a repeat: counted on its head
        out.alerts.append(alert)
        if publish:
            out.outbox.extend(outbox_rows(alert, self.sinks, self.finding))

    def _ids_alerts(self, frame: pd.DataFrame, out: ScoredBatch) -> None:
        for _, row in frame.iterrows():
            severity = row.get("severity")
            raw = float(severity) if severity is not None and pd.notna(severity) else 5.0
            entities = {k: str(row[k]) for k in ("host", "ip", "detector", "short")
                        if isinstance(row.get(k), str)}
            self._add_alert({
                "alert_id": event_alert_id(IDS_MODEL, row["kafka_topic"], row["kafka_partition"],
                                           row["kafka_offset"]),
                "source": IDS_SOURCE, "model": IDS_MODEL, "model_version": None, "kind": "ids",
                "event_time": row["time"].to_pydatetime(), "host": row.get("host"),
                "user_name": None, "raw_score": raw, "score": min(100.0, 10.0 * raw),
                "threshold": None, "summary": f"IDS: {row['name']} on {row.get('host')}",
                "explanation": orjson.dumps({"text": str(row["name"])}).decode(),
                "entities": orjson.dumps(entities).decode(), "attack_tags": "[]",
                "kafka_topic": row["kafka_topic"], "kafka_partition": int(row["kafka_partition"]),
                "kafka_offset": int(row["kafka_offset"]),
            }, out, publish=False)


def _summary(active: ActiveModel, row: dict[str, Any], host: str | None, user: str | None,
             score: float) -> str:
    what = _first_present(row, SUMMARY_COLUMNS) or active.source
    who = f" by {user}" if user else ""
    where = f" on {host}" if host else ""
    return f"{active.model.upper()}: unusual {active.source} event ({what}){who}{where}, " \
           f"score {score:.1f}"


def outbox_rows(alert: dict[str, Any], sinks: list[str],
                finding: Callable[[dict], str]) -> list[dict[str, Any]]:
    """One outbox message per sink for a new alert (message id = alert id)."""
    payload = finding(alert)
    return [{"message_id": alert["alert_id"], "sink": sink, "kind": "alert",
             "ref_id": alert["alert_id"], "payload": payload} for sink in sinks]
