"""Alerts and scenarios as OCSF 1.4 Detection Findings (class 2004), the daemon's output format.

Splunk, Elastic, Sentinel and Datadog ingest Detection Finding natively; its Create / Update
activities fit the daemon: each alert is published once as **Create** (``activity_id`` 1) and
each change of a CAR scenario as an **Update** (2) of the scenario finding, so a SIEM updates one
case instead of opening a new one. ``type_uid = class_uid * 100 + activity_id``.

Severity comes from the calibrated 0-100 score ``s`` in four bands shared with the CEF sink
(CEF severity ``min(10, floor(s / 10))``; Elastic's CEF decoder reads 0-3 Low, 4-6 Medium,
7-8 High, 9-10 Very-High):

=============  ===============  ==================  ==============
score ``s``    ``severity_id``  ``risk_level_id``   CEF severity
=============  ===============  ==================  ==============
[0, 40)        2 Low            1 Low               0-3
[40, 70)       3 Medium         2 Medium            4-6
[70, 90)       4 High           3 High              7-8
[90, 100]      5 Critical       4 Critical          9-10
=============  ===============  ==================  ==============

``risk_score`` is ``round(s)``. A scenario takes the highest score of its alerts (its CAR score is
a sum over steps, not on the 0-100 scale; it is kept in ``unmapped.car_score``).

Entities become ``evidences`` (one evidence per entity value position; see
:data:`ENTITY_SLOTS` for where each entity key lands) and deduplicated ``observables`` pointing
at those attributes. Everything logguard-specific (raw and calibrated score, threshold, model
version, explanation, Kafka coordinates, CAR score, scenario id) is under ``unmapped``.

The output is a pure function of the stored row (no wall-clock time), so a replay rebuilds the
same finding byte for byte with :func:`encode_finding`. ``schemas/output/finding.schema.json``
describes every finding built here.
"""

from __future__ import annotations

import math
from datetime import datetime
from pathlib import PurePosixPath, PureWindowsPath
from typing import Any

import numpy as np
import orjson

from logguard import __version__
from logguard.daemon.attack import attacks_from_tags
from logguard.store.alerts import scenario_message_id

OCSF_VERSION = "1.4.0"
CLASS_UID = 2004
CATEGORY_UID = 2
ACTIVITY_CREATE = 1
ACTIVITY_UPDATE = 2
PRODUCT = {"name": "logguard", "vendor_name": "logguard", "version": __version__}
ANALYTIC_TYPE = (4, "Learning (ML/DL)")
SCENARIO_MODEL = "car"

# (lower bound of the calibrated score, severity_id, severity, risk_level_id, risk_level)
SEVERITY_BANDS = (
    (90.0, 5, "Critical", 4, "Critical"),
    (70.0, 4, "High", 3, "High"),
    (40.0, 3, "Medium", 2, "Medium"),
    (0.0, 2, "Low", 1, "Low"),
)

FINDING_TYPES = {
    "event": "Anomalous event",
    "path": "Anomalous process path",
    "activity": "Anomalous user activity",
    "ids": "Correlated IDS alert",
}
STATUS_IDS = {"new": (1, "New"), "suppressed": (3, "Suppressed"),
              "true-positive": (4, "Resolved"), "false-positive": (4, "Resolved"),
              "benign": (4, "Resolved")}

# entity key (a schema field name or an x-entity type) -> (path in the evidence object,
# observable type_id, observable type); a key not listed goes to the evidence's ``data``.
ENTITY_SLOTS: dict[str, tuple[str, int, str]] = {
    "host": ("device.hostname", 1, "Hostname"),
    "pc": ("device.hostname", 1, "Hostname"),
    "computer": ("src_endpoint.hostname", 1, "Hostname"),
    "src_computer": ("src_endpoint.hostname", 1, "Hostname"),
    "dst_computer": ("dst_endpoint.hostname", 1, "Hostname"),
    "ip": ("src_endpoint.ip", 2, "IP Address"),
    "src_ip": ("src_endpoint.ip", 2, "IP Address"),
    "dst_ip": ("dst_endpoint.ip", 2, "IP Address"),
    "port": ("dst_endpoint.port", 11, "Port"),
    "dst_port": ("dst_endpoint.port", 11, "Port"),
    "user": ("user.name", 4, "User Name"),
    "user_name": ("user.name", 4, "User Name"),
    "dst_user": ("user.name", 4, "User Name"),
    "src_user": ("actor.user.name", 4, "User Name"),
    "image": ("process.file.path", 7, "File Name"),
    "process_image": ("process.file.path", 7, "File Name"),
    "parent_image": ("process.parent_process.file.path", 7, "File Name"),
    "process": ("process.uid", 10, "Resource UID"),
    "process_guid": ("process.uid", 10, "Resource UID"),
    "parent_guid": ("process.parent_process.uid", 10, "Resource UID"),
    "process_name": ("process.name", 9, "Process Name"),
    "command_line": ("process.cmd_line", 13, "Command Line"),
    "file": ("file.path", 7, "File Name"),
    "file_path": ("file.path", 7, "File Name"),
    "object_name": ("file.path", 7, "File Name"),
    "target_filename": ("file.path", 7, "File Name"),
}


def _loads(value: Any, default: Any) -> Any:
    """JSON text -> value; non-JSON text stays text; None -> ``default``."""
    if value is None:
        return default
    if isinstance(value, str | bytes):
        try:
            return orjson.loads(value)
        except orjson.JSONDecodeError:
            return value
    return value


def epoch_ms(value: Any) -> int:
    """Milliseconds since the Unix epoch of a datetime, numpy datetime64, ISO 8601 text or
    epoch seconds (naive datetimes and text without a zone are UTC)."""
    if isinstance(value, np.datetime64):
        return int(value.astype("datetime64[ms]").astype(np.int64))
    if isinstance(value, str):
        text = value.strip()
        try:
            return round(float(text) * 1000)
        except ValueError:
            value = datetime.fromisoformat(text.replace("Z", "+00:00"))
    if isinstance(value, datetime):
        if value.tzinfo is None:
            return round((value - datetime(1970, 1, 1)).total_seconds() * 1000)
        return round(value.timestamp() * 1000)
    if isinstance(value, int | float) and math.isfinite(value):
        return round(float(value) * 1000)
    raise ValueError(f"not a time: {value!r}")


def _clipped(score: float) -> float:
    """The score clipped to [0, 100]; NaN reads as 0."""
    value = float(score)
    return min(100.0, max(0.0, value)) if not math.isnan(value) else 0.0


def severity_of(score: float) -> dict[str, Any]:
    """OCSF severity and risk fields of a calibrated 0-100 score (bands in the module doc)."""
    s = _clipped(score)
    _, severity_id, severity, risk_level_id, risk_level = next(
        band for band in SEVERITY_BANDS if s >= band[0])
    return {"severity_id": severity_id, "severity": severity, "risk_score": round(s),
            "risk_level_id": risk_level_id, "risk_level": risk_level}


def cef_severity(score: float) -> int:
    """CEF severity 0-10 of a calibrated 0-100 score: ``min(10, floor(s / 10))``."""
    return min(10, int(_clipped(score) // 10))


def _basename(path: str) -> str:
    return PureWindowsPath(path).name if "\\" in path else PurePosixPath(path).name


def _put(target: dict, dotted: str, value: Any) -> None:
    *parents, leaf = dotted.split(".")
    for part in parents:
        target = target.setdefault(part, {})
    target[leaf] = value


def _slot_value(path: str, value: str) -> Any:
    if path.endswith(".port"):
        return int(value) if value.isdigit() else value
    return value


def entity_evidences(entities: dict[str, Any]) -> tuple[list[dict], list[dict]]:
    """(evidences, observables) of an entity map ``key -> value or list of values``.

    Evidence ``i`` holds the ``i``-th value of every list (a path alert's steps) and every
    scalar entity; keys without an OCSF slot go to the evidence's ``data``. File and process
    paths also give ``name`` (the base name) beside ``path``.
    """
    columns = {k: v if isinstance(v, list) else [v] for k, v in entities.items()
               if v is not None and v != []}
    rows = max((len(v) for v in columns.values()), default=0)
    evidences: list[dict] = []
    observables: list[dict] = []
    for i in range(rows):
        evidence: dict[str, Any] = {}
        for key, values in columns.items():
            if i >= len(values) and len(values) != 1:
                continue
            value = str(values[min(i, len(values) - 1)])
            slot = ENTITY_SLOTS.get(key)
            if slot is None:
                evidence.setdefault("data", {})[key] = value
                continue
            path, type_id, type_name = slot
            _put(evidence, path, _slot_value(path, value))
            if path.endswith("file.path"):
                _put(evidence, path.removesuffix("path") + "name", _basename(value))
            observable = {"name": f"evidences.{path}", "type_id": type_id, "type": type_name,
                          "value": value}
            if observable not in observables:
                observables.append(observable)
        if evidence:
            evidences.append(evidence)
    return evidences, observables


def _seen_times(alert: dict, explanation: Any) -> tuple[int, int]:
    """First and last time the alert covers: a path's edge times when its explanation lists
    them (``{"path": {"edges": [...]}}``, as the daemon writes GID alerts), else the event time."""
    event_ms = epoch_ms(alert["event_time"])
    times = []
    if isinstance(explanation, dict):
        path = explanation.get("path")
        for edge in (path.get("edges") if isinstance(path, dict) else None) or []:
            if isinstance(edge, dict) and edge.get("time") is not None:
                try:
                    times.append(epoch_ms(edge["time"]))
                except ValueError:
                    continue
    return (min([*times, event_ms]), max([*times, event_ms]))


def _description(explanation: Any) -> str | None:
    if isinstance(explanation, str):
        return explanation
    if isinstance(explanation, list) and all(isinstance(x, str) for x in explanation):
        return "; ".join(explanation)
    if isinstance(explanation, dict) and isinstance(explanation.get("text"), str):
        return explanation["text"]
    return None


def _float_or_none(value: Any) -> float | None:
    if value is None:
        return None
    number = float(value)
    return number if math.isfinite(number) else None


def alert_finding(alert: dict) -> dict:
    """The OCSF Detection Finding (activity Create) of one ``alerts`` row (a dict of its
    columns; ``explanation``, ``entities`` and ``attack_tags`` as JSON text)."""
    explanation = _loads(alert.get("explanation"), None)
    entities = _loads(alert.get("entities"), {}) or {}
    if not isinstance(entities, dict):
        entities = {"entity": entities}
    tags = _loads(alert.get("attack_tags"), []) or []
    if not isinstance(tags, list):
        tags = [tags]
    first_seen, last_seen = _seen_times(alert, explanation)
    evidences, observables = entity_evidences(entities)
    kind = str(alert.get("kind") or "event")
    model = str(alert["model"])
    finding_info: dict[str, Any] = {
        "uid": str(alert["alert_id"]),
        "title": str(alert["summary"]),
        "analytic": {"name": model, "type_id": ANALYTIC_TYPE[0], "type": ANALYTIC_TYPE[1],
                     "uid": f"{alert.get('source')}/{model}",
                     "version": str(alert.get("model_version") or "")},
        "types": [FINDING_TYPES.get(kind, kind)],
        "first_seen_time": first_seen,
        "last_seen_time": last_seen,
    }
    description = _description(explanation)
    if description:
        finding_info["desc"] = description
    metadata: dict[str, Any] = {"product": PRODUCT, "version": OCSF_VERSION,
                                "uid": str(alert["alert_id"])}
    if alert.get("scenario_id"):
        metadata["correlation_uid"] = str(alert["scenario_id"])
    finding = _envelope(ACTIVITY_CREATE, last_seen, float(alert["score"]))
    finding.update({
        "message": str(alert["summary"]),
        "finding_info": finding_info,
        "metadata": metadata,
        "attacks": attacks_from_tags(tags),
        "evidences": evidences,
        "observables": observables,
        "unmapped": {
            "source": alert.get("source"),
            "kind": kind,
            "raw_score": float(alert["raw_score"]),
            "score": float(alert["score"]),
            "threshold": _float_or_none(alert.get("threshold")),
            "model_version": alert.get("model_version"),
            "explanation": explanation,
            "entities": entities,
            "attack_tags": tags,
            "kafka": {"topic": alert.get("kafka_topic"),
                      "partition": _int_or_none(alert.get("kafka_partition")),
                      "offset": _int_or_none(alert.get("kafka_offset"))},
            "scenario_id": alert.get("scenario_id"),
            "car_score": _float_or_none(alert.get("car_score")),
            "car_rank": _int_or_none(alert.get("car_rank")),
            "pattern_key": alert.get("pattern_key"),  # repeats of it are counted, not re-sent
        },
    })
    status = STATUS_IDS.get(str(alert.get("status") or ""))
    if status:
        finding["status_id"], finding["status"] = status
    return finding


def _int_or_none(value: Any) -> int | None:
    return None if value is None else int(value)


def _envelope(activity_id: int, time_ms: int, score: float) -> dict[str, Any]:
    activity = "Create" if activity_id == ACTIVITY_CREATE else "Update"
    return {
        "class_uid": CLASS_UID, "class_name": "Detection Finding",
        "category_uid": CATEGORY_UID, "category_name": "Findings",
        "activity_id": activity_id, "activity_name": activity,
        "type_uid": CLASS_UID * 100 + activity_id, "type_name": f"Detection Finding: {activity}",
        "time": time_ms,
        "is_alert": True,
        **severity_of(score),
    }


def _step_time(step: Any) -> float:
    if isinstance(step, dict) and step.get("first_time") is not None:
        try:
            return float(epoch_ms(step["first_time"]))
        except ValueError:
            return math.inf
    return math.inf


def scenario_finding(scenario: dict, alerts: list[dict]) -> dict:
    """The OCSF Detection Finding (activity Update) of one version of a CAR scenario.

    ``scenario`` is a ``scenarios`` row (``steps``, ``hosts``, ``users``, ``graph`` as JSON
    text); ``alerts`` are its alert rows. ``finding_info.uid`` is the scenario id, so every
    version updates the same finding; ``related_events`` and ``evidences`` list the alerts in
    event-time order, and ``unmapped.steps`` the scenario's steps by first time.
    """
    ordered = sorted(alerts, key=lambda a: (epoch_ms(a["event_time"]), str(a["alert_id"])))
    findings = [alert_finding(a) for a in ordered]
    times = [f["finding_info"]["first_seen_time"] for f in findings]
    times += [f["finding_info"]["last_seen_time"] for f in findings]
    for column in ("first_time", "last_time"):
        if scenario.get(column) is not None:
            times.append(epoch_ms(scenario[column]))
    if not times:
        raise ValueError(f"scenario {scenario.get('scenario_id')!r} has no alerts and no times")
    first_seen, last_seen = min(times), max(times)
    best = max((float(a["score"]) for a in ordered), default=0.0)
    sid = str(scenario["scenario_id"])
    version = int(scenario.get("version") or 1)
    hosts = _loads(scenario.get("hosts"), [])
    summary = scenario.get("summary") or (
        f"Attack scenario: {len(ordered)} alerts on {', '.join(map(str, hosts or [])) or '-'}")
    attacks: list[dict] = []
    observables: list[dict] = []
    evidences: list[dict] = []
    related = []
    for alert, finding in zip(ordered, findings, strict=True):
        attacks += [a for a in finding["attacks"] if a not in attacks]
        observables += [o for o in finding["observables"] if o not in observables]
        evidence = dict(finding["evidences"][0]) if finding["evidences"] else {}
        evidence["data"] = {**evidence.get("data", {}), "alert_id": str(alert["alert_id"]),
                            "title": str(alert["summary"]),
                            "time": finding["finding_info"]["last_seen_time"]}
        evidences.append(evidence)
        related.append({"uid": str(alert["alert_id"]), "type_uid": finding["type_uid"],
                        "type": finding["type_name"]})
    steps = _loads(scenario.get("steps"), []) or []
    if isinstance(steps, list):
        steps = sorted(steps, key=_step_time)
    finding = _envelope(ACTIVITY_UPDATE, last_seen, best)
    finding.update({
        "message": str(summary),
        "finding_info": {
            "uid": sid, "title": str(summary),
            "analytic": {"name": SCENARIO_MODEL, "type_id": ANALYTIC_TYPE[0],
                         "type": ANALYTIC_TYPE[1], "uid": SCENARIO_MODEL, "version": __version__},
            "types": ["Attack scenario"],
            "first_seen_time": first_seen, "last_seen_time": last_seen,
            "related_events": related,
        },
        "metadata": {"product": PRODUCT, "version": OCSF_VERSION,
                     "uid": scenario_message_id(sid, version), "correlation_uid": sid},
        "attacks": attacks,
        "evidences": evidences,
        "observables": observables,
        "unmapped": {
            "scenario_id": sid, "version": version,
            "car_score": _float_or_none(scenario.get("score")),
            "rank": _int_or_none(scenario.get("rank")),
            "alert_count": int(scenario.get("alert_count") or len(ordered)),
            "alert_ids": [str(a["alert_id"]) for a in ordered],
            "hosts": hosts,
            "users": _loads(scenario.get("users"), []),
            "steps": steps,
            "graph": _loads(scenario.get("graph"), None),
            "score": best,
        },
    })
    return finding


def encode_finding(finding: dict) -> str:
    """The finding as compact JSON text with sorted keys: the same finding, the same bytes."""
    return orjson.dumps(finding, option=orjson.OPT_SORT_KEYS).decode()
