"""The daemon's CAR stage: rank recent alerts and grow attack scenarios, every few seconds.

Every ``car_interval_s`` the alerts of the last ``car_hours`` of event time (the daemon's own
model alerts and the third-party IDS alerts, suppressed ones left out) go through
:class:`~logguard.alerts.car.CarRanker` (Lin et al., CIKM 2018): fitted the first time,
``update``-d with only the new alerts after that (the prefix tree and patterns grow, the
fixed point restarts from the previous scores), and refitted on the current window when the
ranker has grown past ``car_refit_alerts``. Analyst verdicts weight the CAR scores
(``verdict_weights``: true positives up, false positives and benign down).

CAR was designed for IDS alerts that carry no anomaly score; these alerts do. Each alert's
CAR score is therefore weighted by the surprisal of its calibrated score c,
``−log10(1 − c/100)`` (3.3 at the default threshold 99.95, 6.5 at c = 99.99997; IDS alerts
use their severity × 10), so a correlated pattern of ordinary novelties does not outrank an
alert far beyond everything the model has seen. On the demo (``logguard demo``, 8 hosts,
707 model alerts, 32 on planted events) CAR's scores alone ranked the first planted alert 13th
(average precision 0.495); weighted, 1st, with the top 15 all planted (AP 0.968).
:func:`~logguard.alerts.scenarios.build_scenarios` then stitches the top runs into scenarios.

Each alert gets ``car_score``, ``car_rank`` (1 = most suspicious) and ``scenario_id``. A
scenario's id is named after its earliest alert (:func:`~logguard.store.alerts.scenario_id`),
so it keeps its id as it grows; its ``version`` is bumped only when its alert set or its rank
changes, and each new version is one outbox message per sink
(:func:`~logguard.store.alerts.scenario_message_id`). Everything of one run is written in one
transaction.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

import numpy as np
import orjson
import pandas as pd
import pyarrow as pa

from logguard.alerts.car import CarRanker
from logguard.alerts.scenarios import Scenario, build_scenarios
from logguard.store.alerts import (
    OUTBOX_SCHEMA,
    insert_outbox,
    scenario_id,
    scenario_message_id,
)
from logguard.store.duckdb_store import transaction

if TYPE_CHECKING:
    import duckdb

log = logging.getLogger(__name__)

ALERT_COLUMNS = ("alert_id, source, model, model_version, kind, event_time, host, user_name, "
                 "raw_score, score, threshold, summary, explanation, entities, attack_tags, "
                 "kafka_topic, kafka_partition, kafka_offset, car_score, car_rank, scenario_id")


@dataclass
class CarRun:
    """What one CAR run changed."""

    alerts: int = 0
    scenarios: int = 0
    published: int = 0


def _signature(model: str, entities: dict[str, Any], explanation: Any) -> str:
    """The alert 'type' CAR sequences: the model and what the alert is about."""
    what = (entities.get("name") or entities.get("image") or entities.get("activity")
            or entities.get("auth_type"))
    if what is None and isinstance(explanation, dict) and isinstance(
            explanation.get("path"), dict):
        nodes = explanation["path"].get("nodes") or []
        what = " > ".join(str(n.get("label")) for n in nodes)
    return f"{model}:{what or '-'}"


def _surprisal(calibrated: np.ndarray) -> np.ndarray:
    """``−log10(1 − c/100)`` of calibrated scores (floored at 0.1 so no alert drops out)."""
    tail = np.clip(1.0 - calibrated / 100.0, 1e-12, 1.0)
    return np.maximum(-np.log10(tail), 0.1)


def _json(text: Any) -> Any:
    if not isinstance(text, str):
        return {}
    try:
        return orjson.loads(text)
    except orjson.JSONDecodeError:
        return {}


def _time_text(seconds: float) -> str:
    return datetime.fromtimestamp(seconds, UTC).isoformat()


def scenario_graph(alerts: list[dict[str, Any]]) -> dict[str, list[dict[str, Any]]]:
    """The attack graph of a scenario's alerts: hosts, users and alerts as nodes; a GID path
    alert adds its process path's nodes and edges."""
    nodes: dict[str, dict[str, Any]] = {}
    edges: list[dict[str, Any]] = []

    def node(node_id: str, kind: str, label: str) -> str:
        nodes.setdefault(node_id, {"id": node_id, "kind": kind, "label": label})
        return node_id

    for alert in alerts:
        time = pd.Timestamp(alert["event_time"]).isoformat()
        alert_node = node(f"alert:{alert['alert_id']}", "alert", str(alert["summary"]))
        if alert.get("host"):
            edges.append({"src": node(f"host:{alert['host']}", "host", str(alert["host"])),
                          "dst": alert_node, "relation": "raised", "time": time})
        if alert.get("user_name"):
            edges.append({"src": node(f"user:{alert['user_name']}", "user",
                                      str(alert["user_name"])),
                          "dst": alert_node, "relation": "acted", "time": time})
        path = _json(alert.get("explanation")).get("path")
        if isinstance(path, dict):
            for n in path.get("nodes") or []:
                node(str(n["id"]), str(n.get("kind") or "process"), str(n.get("label")))
            for e in path.get("edges") or []:
                edges.append({"src": str(e["src"]), "dst": str(e["dst"]),
                              "relation": str(e.get("relation")), "time": e.get("time")})
            if path.get("nodes"):
                edges.append({"src": alert_node, "dst": str(path["nodes"][0]["id"]),
                              "relation": "path", "time": time})
    return {"nodes": list(nodes.values()), "edges": edges}


class CarStage:
    """Incremental CAR over the ``alerts`` table (see the module docstring)."""

    def __init__(self, hours: float, refit_alerts: int, sinks: list[str],
                 finding: Callable[[dict, list[dict]], str],
                 weights: Callable[[duckdb.DuckDBPyConnection], dict[str, float]] | None = None,
                 ) -> None:
        self.hours = hours
        self.refit_alerts = refit_alerts
        self.sinks = list(sinks)
        self.finding = finding
        self.weights = weights
        self.ranker: CarRanker | None = None
        self._ids: list[str] = []
        self._known: set[str] = set()
        self._published: dict[str, tuple[frozenset[str], int | None, int]] | None = None

    def run(self, con: duckdb.DuckDBPyConnection) -> CarRun:
        """One pass: rank, update alerts and scenarios, queue changed scenarios."""
        recent = con.execute(
            f"SELECT {ALERT_COLUMNS} FROM alerts WHERE status <> 'suppressed' AND "  # noqa: S608
            "event_time >= (SELECT max(event_time) FROM alerts) - to_seconds(?) "
            "ORDER BY event_time, alert_id", [self.hours * 3600.0]).df()
        if len(recent) == 0:
            return CarRun()
        if self._published is None:
            self._published = self._load_published(con)
        recent = recent.astype(object).where(recent.notna(), None)  # NULL -> None, not NaN
        rows = {r["alert_id"]: r for r in recent.to_dict("records")}
        new = [a for a in recent["alert_id"] if a not in self._known]
        if self.ranker is None or len(self._ids) + len(new) > self.refit_alerts:
            self._ids = list(recent["alert_id"])
            self.ranker = CarRanker().fit(self._frame([rows[a] for a in self._ids]))
        elif new:
            self.ranker.update(self._frame([rows[a] for a in new]))
            self._ids.extend(new)
        else:
            return CarRun()
        self._known = set(self._ids)
        return self._write(con, rows)

    # ------------------------------------------------------------------ steps
    @staticmethod
    def _frame(alerts: list[dict[str, Any]]) -> pd.DataFrame:
        records = []
        for a in alerts:
            entities = _json(a["entities"])
            records.append({
                "time": pd.Timestamp(a["event_time"]).timestamp(),
                "name": _signature(a["model"], entities, _json(a["explanation"])),
                "host": a["host"] or "-",
                "ip": entities.get("ip") or entities.get("src_computer") or "-",
                "short": a["model"],
                "score": float(a["score"]),
            })
        return pd.DataFrame.from_records(records)

    def _write(self, con: duckdb.DuckDBPyConnection, rows: dict[str, dict]) -> CarRun:
        assert self.ranker is not None and self._published is not None
        scores = np.asarray(self.ranker.alert_scores, dtype=np.float64).copy()
        if self.weights is not None:
            weights = self.weights(con)
            scores *= np.array([weights.get(a, 1.0) for a in self._ids])
        frame = self._frame([rows.get(a) or self._stored(con, a) for a in self._ids])
        scores *= _surprisal(frame["score"].to_numpy(dtype=np.float64))
        scenarios = build_scenarios(scores, self.ranker.run_of, self.ranker.time,
                                    frame["name"].tolist(), frame["host"].tolist(),
                                    frame["ip"].tolist())
        ranks = np.empty(len(scores), dtype=np.int64)
        ranks[np.argsort(-scores, kind="stable")] = np.arange(1, len(scores) + 1)
        scenario_of: list[str | None] = [None] * len(scores)
        records, messages = [], []
        for scenario in scenarios:
            record, alerts = self._scenario_record(scenario, frame, con, rows)
            for i in scenario.alert_indices:
                scenario_of[i] = record["scenario_id"]
            members = frozenset(a["alert_id"] for a in alerts)
            previous = self._published.get(record["scenario_id"])
            if previous is not None and previous[0] == members and previous[1] == record["rank"]:
                continue
            record["version"] = 1 if previous is None else previous[2] + 1
            self._published[record["scenario_id"]] = (members, record["rank"], record["version"])
            records.append(record)
            payload = self.finding(record, alerts)
            messages += [{"message_id": scenario_message_id(record["scenario_id"],
                                                            record["version"]),
                          "sink": sink, "kind": "scenario", "ref_id": record["scenario_id"],
                          "payload": payload} for sink in self.sinks]
        updates = pa.table({"alert_id": self._ids, "car_score": scores,
                            "car_rank": ranks.astype(np.int32),
                            "scenario_id": pa.array(scenario_of, pa.string())})
        with transaction(con) as cursor:
            cursor.register("car_updates", updates)
            cursor.execute("UPDATE alerts SET car_score = u.car_score, car_rank = u.car_rank, "
                           "scenario_id = u.scenario_id, updated_at = now() FROM car_updates u "
                           "WHERE alerts.alert_id = u.alert_id")
            cursor.unregister("car_updates")
            self._upsert(cursor, records)
            insert_outbox(cursor, pa.Table.from_pylist(messages, schema=OUTBOX_SCHEMA))
        return CarRun(alerts=len(self._ids), scenarios=len(records), published=len(messages))

    @staticmethod
    def _stored(con: duckdb.DuckDBPyConnection, alert_id: str) -> dict[str, Any]:
        """An alert that left the window but is still in the ranker (until the next refit)."""
        cursor = con.execute(f"SELECT {ALERT_COLUMNS} FROM alerts WHERE alert_id = ?",  # noqa: S608
                             [alert_id])
        names = [d[0] for d in cursor.description]
        return dict(zip(names, cursor.fetchone(), strict=True))

    def _scenario_record(self, scenario: Scenario, frame: pd.DataFrame,
                         con: duckdb.DuckDBPyConnection, rows: dict[str, dict],
                         ) -> tuple[dict[str, Any], list[dict[str, Any]]]:
        ids = [self._ids[i] for i in scenario.alert_indices]
        alerts = [rows.get(a) or self._stored(con, a) for a in ids]
        alerts.sort(key=lambda a: (pd.Timestamp(a["event_time"]), a["alert_id"]))
        sid = scenario_id(alerts[0]["alert_id"])
        steps = []
        for step in scenario.steps:
            members = [self._ids[i] for i in scenario.alert_indices
                       if frame["name"].iat[i] == step.signature
                       and frame["host"].iat[i] == step.host]
            steps.append({"signature": step.signature, "host": step.host,
                          "first_time": _time_text(step.first_time),
                          "last_time": _time_text(step.last_time), "alerts": step.alerts,
                          "score": step.score, "alert_ids": members})
        users = sorted({a["user_name"] for a in alerts if a.get("user_name")})
        summary = (f"{len(alerts)} alerts in {len(steps)} steps on "
                   f"{', '.join(scenario.hosts)}: " + " → ".join(s["signature"] for s in steps[:4]))
        for a in alerts:
            for key in ("raw_score", "score"):
                a[key] = float(a[key])
        record = {
            "scenario_id": sid, "version": 1, "score": float(scenario.score),
            "rank": int(scenario.id), "alert_count": len(alerts),
            "first_time": datetime.fromtimestamp(scenario.first_time, UTC),
            "last_time": datetime.fromtimestamp(scenario.last_time, UTC),
            "hosts": orjson.dumps(scenario.hosts).decode(), "users": orjson.dumps(users).decode(),
            "summary": summary, "steps": orjson.dumps(steps).decode(),
            "graph": orjson.dumps(scenario_graph(alerts)).decode(),
        }
        return record, alerts

    @staticmethod
    def _upsert(cursor: duckdb.DuckDBPyConnection, records: list[dict[str, Any]]) -> None:
        """Insert or update the changed scenarios in one statement (one per scenario cost
        about 1 ms each, and a rank shift changes every scenario below it)."""
        if not records:
            return
        table = pa.Table.from_pylist(records)
        names = table.column_names
        cursor.register("scenario_upserts", table)
        cursor.execute(
            f"INSERT INTO scenarios ({', '.join(names)}) "  # noqa: S608
            f"SELECT {', '.join(names)} FROM scenario_upserts "
            "ON CONFLICT (scenario_id) DO UPDATE SET "
            + ", ".join(f"{n} = excluded.{n}" for n in names if n != "scenario_id")
            + ", updated_at = now()")
        cursor.unregister("scenario_upserts")

    @staticmethod
    def _load_published(con: duckdb.DuckDBPyConnection,
                        ) -> dict[str, tuple[frozenset[str], int | None, int]]:
        """What the scenarios table already holds: alert set, rank and version per scenario."""
        out = {}
        for sid, version, rank, steps in con.execute(
                "SELECT scenario_id, version, rank, steps FROM scenarios").fetchall():
            members = frozenset(a for step in (_json(steps) or []) if isinstance(step, dict)
                                for a in step.get("alert_ids") or [])
            out[sid] = (members, rank, int(version))
        return out
