"""Analyst verdicts and what the rest of logguard does with them.

* :func:`record_feedback` stores a verdict (``true-positive``, ``false-positive``, ``benign``)
  in ``feedback``, sets the alert's ``status`` to it, and for a benign or false-positive verdict
  with ``suppress_days`` creates a suppression of the alert's *pattern*: its model plus its
  entities minus the volatile ones (times, process ids and GUIDs, ephemeral ports; the rule is
  in :mod:`logguard.analyst.patterns`), expiring after that many days. Suppressions are listed
  by :func:`logguard.analyst.queries.list_suppressions` and undone by
  :func:`revoke_suppression`.
* :func:`is_suppressed` is what the daemon asks before raising an alert: the id of an active
  suppression whose pattern the new alert's entities match, else ``None``.
* :func:`verdict_weights` is the CAR re-ranking input: alert id -> weight from its latest
  verdict (true-positive ``2.0`` up, benign ``0.5`` and false-positive ``0.25`` down).
* :func:`threshold_feedback` is the retrain job's threshold calibration input (rule below).

Every write runs in one transaction on the caller's connection or cursor.
"""

from __future__ import annotations

import math
import uuid
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from logguard.analyst.patterns import matches, pattern_of, pattern_text
from logguard.analyst.queries import (
    fetch_rows,
    list_suppressions,
    resolve_alert_id,
    resolve_suppression_id,
)
from logguard.errors import InputError
from logguard.store.alerts import VERDICTS
from logguard.store.duckdb_store import transaction

if TYPE_CHECKING:
    import duckdb

SUPPRESSIBLE_VERDICTS = ("false-positive", "benign")
MAX_SUPPRESS_DAYS = 365
MAX_NOTE_CHARS = 2000
VERDICT_WEIGHTS = {"true-positive": 2.0, "benign": 0.5, "false-positive": 0.25}
DEFAULT_MAX_TP_LOSS = 0.05
THRESHOLD_STEP = 0.01  # calibrated scores are 0-100; "just above" a score is + this step


def validate_feedback(verdict: str, note: str | None, suppress_days: float | None) -> None:
    """InputError naming the bad field for a verdict, note or suppression length."""
    if verdict not in VERDICTS:
        raise InputError(f"verdict {verdict!r} is not one of: {', '.join(VERDICTS)}")
    if note is not None and len(note) > MAX_NOTE_CHARS:
        raise InputError(f"note is {len(note)} characters; at most {MAX_NOTE_CHARS}")
    if suppress_days is None:
        return
    if verdict not in SUPPRESSIBLE_VERDICTS:
        raise InputError(f"suppress_days needs a {' or '.join(SUPPRESSIBLE_VERDICTS)} verdict; "
                         f"a {verdict} alert should keep firing")
    if not (isinstance(suppress_days, int | float) and math.isfinite(suppress_days)
            and 0 < suppress_days <= MAX_SUPPRESS_DAYS):
        raise InputError(f"suppress_days must be a number of days in (0, {MAX_SUPPRESS_DAYS}], "
                         f"got {suppress_days!r}")


def record_feedback(con: duckdb.DuckDBPyConnection, given_id: str, verdict: str, *,
                    note: str | None = None, suppress_days: float | None = None,
                    analyst: str | None = None, now: datetime | None = None) -> dict[str, Any]:
    """Store a verdict on an alert (id or unique prefix); returns what was written:
    ``feedback_id``, ``alert_id``, ``verdict`` and ``suppression`` (a dict or ``None``)."""
    validate_feedback(verdict, note, suppress_days)
    now = now or datetime.now(UTC)
    alert_id = resolve_alert_id(con, given_id)
    model, entities = con.execute("SELECT model, entities FROM alerts WHERE alert_id = ?",
                                  [alert_id]).fetchall()[0]
    suppression = None
    if suppress_days is not None:
        pattern = pattern_of(entities)
        if not pattern:
            raise InputError(f"alert {alert_id} has no stable entities to suppress on "
                             "(record the verdict without suppress_days)")
        suppression = {"suppression_id": uuid.uuid4().hex[:24], "model": model,
                       "pattern": pattern, "from_alert_id": alert_id, "note": note,
                       "expires_at": now + timedelta(days=float(suppress_days))}
    feedback_id = uuid.uuid4().hex[:24]
    with transaction(con) as cursor:
        cursor.execute("INSERT INTO feedback (feedback_id, alert_id, verdict, note, analyst, "
                       "created_at) VALUES (?, ?, ?, ?, ?, ?)",
                       [feedback_id, alert_id, verdict, note, analyst, now])
        cursor.execute("UPDATE alerts SET status = ?, updated_at = ? WHERE alert_id = ?",
                       [verdict, now, alert_id])
        if suppression is not None:
            cursor.execute("INSERT INTO suppressions (suppression_id, model, pattern, "
                           "from_alert_id, note, created_at, expires_at) "
                           "VALUES (?, ?, ?, ?, ?, ?, ?)",
                           [suppression["suppression_id"], model,
                            pattern_text(suppression["pattern"]), alert_id, note, now,
                            suppression["expires_at"]])
    if suppression is not None:
        suppression["expires_at"] = suppression["expires_at"].strftime("%Y-%m-%dT%H:%M:%SZ")
    return {"feedback_id": feedback_id, "alert_id": alert_id, "verdict": verdict,
            "suppression": suppression}


def revoke_suppression(con: duckdb.DuckDBPyConnection, given_id: str,
                       now: datetime | None = None) -> dict[str, Any]:
    """Undo a suppression (id or unique prefix): it stops matching from now on; revoking twice
    keeps the first revocation time. Returns the suppression as listed."""
    now = now or datetime.now(UTC)
    suppression_id = resolve_suppression_id(con, given_id)
    con.execute("UPDATE suppressions SET revoked_at = coalesce(revoked_at, ?) "
                "WHERE suppression_id = ?", [now, suppression_id])
    listed = list_suppressions(con, include_inactive=True, now=now)
    return next(row for row in listed if row["suppression_id"] == suppression_id)


def is_suppressed(con: duckdb.DuckDBPyConnection, model: str, entities: str | dict | None,
                  now: datetime | None = None) -> str | None:
    """The id of the newest active (not revoked, not expired) suppression of ``model`` whose
    pattern ``entities`` match entry for entry, else ``None``. The daemon calls this before
    raising an alert and stores a match with status ``suppressed``."""
    now = now or datetime.now(UTC)
    rows = fetch_rows(con, "SELECT suppression_id, pattern FROM suppressions WHERE model = ? "
                 "AND revoked_at IS NULL AND (expires_at IS NULL OR expires_at > ?) "
                 "ORDER BY created_at DESC, suppression_id", [model, now])
    for row in rows:
        pattern = pattern_of(row["pattern"])
        if pattern and matches(pattern, entities):
            return row["suppression_id"]
    return None


def latest_verdicts(con: duckdb.DuckDBPyConnection) -> dict[str, str]:
    """alert id -> its most recent verdict."""
    rows = fetch_rows(con, "SELECT alert_id, arg_max(verdict, created_at) AS verdict FROM feedback "
                 "GROUP BY alert_id", [])
    return {row["alert_id"]: row["verdict"] for row in rows}


def verdict_weights(con: duckdb.DuckDBPyConnection) -> dict[str, float]:
    """CAR re-ranking input: alert id -> multiplicative weight of its score from the latest
    verdict (:data:`VERDICT_WEIGHTS`: true-positive up, benign and false-positive down).
    Alerts without a verdict are absent (weight 1)."""
    return {alert_id: VERDICT_WEIGHTS[verdict]
            for alert_id, verdict in latest_verdicts(con).items() if verdict in VERDICT_WEIGHTS}


def threshold_feedback(con: duckdb.DuckDBPyConnection, model: str,
                       max_tp_loss: float = DEFAULT_MAX_TP_LOSS) -> dict[str, Any]:
    """Verdict summary of one model's alerts for threshold calibration in the retrain job.

    With ``t0`` the model's current calibrated threshold (from its newest alert), TP the
    calibrated scores of its alerts judged true-positive and FP those judged false-positive
    or benign (latest verdict per alert), a threshold ``t`` "removes" every score ``< t``.
    Candidates are ``t0`` and each FP score + 0.01 above ``t0``. The suggestion is the
    candidate removing the most FP while removing at most ``floor(max_tp_loss * |TP|)`` TP;
    among equals, the smallest (never raise the threshold further than needed). With no TP
    verdicts the TP loss cannot be bounded and there is no suggestion (``None``).
    """
    if not 0 <= max_tp_loss < 1:
        raise InputError(f"max_tp_loss is a fraction in [0, 1), got {max_tp_loss}")
    labelled = fetch_rows(
        con, "WITH latest AS (SELECT alert_id, arg_max(verdict, created_at) AS verdict "
        "FROM feedback GROUP BY alert_id) SELECT a.score, l.verdict FROM alerts a "
        "JOIN latest l USING (alert_id) WHERE a.model = ?", [model])
    current = fetch_rows(con, "SELECT threshold FROM alerts WHERE model = ? "
                         "AND threshold IS NOT NULL ORDER BY created_at DESC, event_time DESC "
                         "LIMIT 1", [model])
    tp = sorted(float(r["score"]) for r in labelled if r["verdict"] == "true-positive")
    fp = sorted(float(r["score"]) for r in labelled if r["verdict"] in SUPPRESSIBLE_VERDICTS)
    threshold = float(current[0]["threshold"]) if current else (min(tp + fp) if tp + fp else None)
    summary: dict[str, Any] = {
        "model": model, "threshold": threshold, "true_positives": len(tp),
        "false_positives": sum(r["verdict"] == "false-positive" for r in labelled),
        "benign": sum(r["verdict"] == "benign" for r in labelled),
        "fp_above_threshold": sum(threshold is None or s >= threshold for s in fp),
        "max_tp_loss": max_tp_loss, "suggested_threshold": None, "tp_removed": 0,
        "fp_removed": 0}
    if not tp:
        summary["reason"] = "no true-positive verdicts: the TP loss cannot be bounded"
        return summary
    budget = math.floor(max_tp_loss * len(tp))
    best = (0, threshold)
    for candidate in sorted({round(s + THRESHOLD_STEP, 6) for s in fp if s >= threshold}):
        tp_removed = sum(s < candidate for s in tp)
        if tp_removed > budget:
            break
        fp_removed = sum(threshold <= s < candidate for s in fp)
        if fp_removed > best[0]:
            best = (fp_removed, candidate)
    summary["fp_removed"], summary["suggested_threshold"] = best
    summary["tp_removed"] = sum(s < best[1] for s in tp)
    summary["reason"] = (f"removes {best[0]} of {summary['fp_above_threshold']} false-positive/"
                         f"benign alerts at the cost of {summary['tp_removed']} of {len(tp)} "
                         f"true positives (budget {budget})")
    return summary
