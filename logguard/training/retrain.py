"""The retrain job: train a candidate per slot, compare it with the active model, promote or not.

Days: with history days up to ``now``, the *evaluation day* is the latest of them and the
training window is the ``days - 1`` calendar days before it (``days`` counts the evaluation
day: ``days=7`` trains on six days and evaluates on the seventh). Per slot
(:data:`~logguard.training.slots.SLOTS`, optionally only some sources):

1. train a candidate on the training window with
   :func:`~logguard.training.slots.train_slot` (calibrated on held-out hours of the window);
2. evaluate candidate and active model on the evaluation day with
   :func:`~logguard.training.evaluate.evaluate_model`: alert volume at the same calibrated
   threshold c* (the alert budget's, or the analyst-feedback suggestion when a feedback
   database is given), calibration drift, the two models' score drift, and ROC-AUC / AP
   where the day has labels;
3. decide with :class:`PromotionRule` (documented there) and, unless ``dry_run``, register the
   candidate (a refused one too: it stays on disk for ``logguard models promote``) and move the
   ``ACTIVE`` pointer when it wins. The registry keeps every previous version, so
   ``logguard models rollback`` undoes a promotion.

The report (a JSON-able dict, also written to ``report_path``) lists every slot with its
decision, reason and both evaluations.
"""

from __future__ import annotations

import json
import logging
from dataclasses import asdict, dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

from logguard.errors import InputError, LogguardError, ModelError
from logguard.models.calibration import budget_threshold
from logguard.models.registry import ModelRegistry
from logguard.training.evaluate import ModelEvaluation, evaluate_model, event_labels, score_drift
from logguard.training.history import history_days, read_history
from logguard.training.slots import (
    GID_TOP_K,
    GID_WINDOW_S,
    SlotSpec,
    new_detector,
    slot_frame,
    slot_spec,
    slots_for,
    train_slot,
)

log = logging.getLogger(__name__)

DEFAULT_LABEL_KEY = "attack_step"


@dataclass(frozen=True)
class PromotionRule:
    """When a candidate is *not worse* than the active model (then it is promoted).

    * No active model (or it fails to load): promote.
    * Alert volume, always: the candidate's alerts per 10k scores at the shared threshold
      must be at most ``max(max_budget_factor x budget, the active model's rate)``: a new
      model may not flood the queue beyond what the budget allows, unless the active one
      already does and the candidate does no worse.
    * Quality, where the evaluation day has labels: the candidate's average precision must not
      be lower than the active model's by more than ``ap_tolerance`` (AP, not ROC-AUC: with a
      handful of attack events among thousands, AP is what moves when they drop in rank).
    """

    ap_tolerance: float = 0.02
    max_budget_factor: float = 3.0

    def decide(self, candidate: ModelEvaluation, active: ModelEvaluation | None,
               budget_per_10k: float) -> tuple[bool, str]:
        if active is None:
            return True, "no active version"
        limit = max(self.max_budget_factor * budget_per_10k, active.alerts_per_10k)
        if candidate.alerts_per_10k > limit:
            return False, (f"alert volume {candidate.alerts_per_10k:.1f} per 10k is over "
                           f"{limit:.1f} (max of {self.max_budget_factor:g} x budget and the "
                           f"active model's {active.alerts_per_10k:.1f})")
        volume = f"alert volume {candidate.alerts_per_10k:.1f} per 10k <= {limit:.1f}"
        if candidate.average_precision is None or active.average_precision is None:
            return True, f"{volume}; no labels on the evaluation day"
        floor = active.average_precision - self.ap_tolerance
        quality = (f"AP {candidate.average_precision:.3f} vs active "
                   f"{active.average_precision:.3f} (tolerance {self.ap_tolerance:g})")
        if candidate.average_precision < floor:
            return False, f"{quality}: worse"
        return True, f"{volume}; {quality}"


def retrain(history_dir: str | Path, registry: ModelRegistry, days: int = 7,
            now: datetime | date | None = None, sources: list[str] | None = None,
            labels: str | None = DEFAULT_LABEL_KEY, *, alert_budget_per_10k: float = 5.0,
            rule: PromotionRule | None = None, dry_run: bool = False,
            report_path: str | Path | None = None, feedback_db: str | Path | None = None,
            slot_options: dict[str, dict[str, Any]] | None = None,
            gid_window_s: float = GID_WINDOW_S, gid_top_k: int = GID_TOP_K) -> dict[str, Any]:
    """Run the job (see the module docstring); returns the report.

    ``labels``: the ``extra`` key that marks labelled malicious events (None: ignore labels).
    ``slot_options``: hyper-parameter overrides per slot name, e.g. ``{"process/ape":
    {"epochs": 5}}``. ``feedback_db``: a DuckDB file with analyst verdicts (a snapshot of the
    daemon's store, never the live file) for the threshold.
    """
    if days < 2:
        raise InputError(f"--days must be at least 2 (training days + the evaluation day), "
                         f"got {days}")
    rule = rule or PromotionRule()
    specs = slots_for(sources)
    for name, options in (slot_options or {}).items():
        source, _, model = name.partition("/")
        new_detector(slot_spec(source, model), **options)  # unknown slot or parameter: error now
    eval_day, train_days = _select_days(history_dir, days, now)
    default_threshold = budget_threshold(alert_budget_per_10k)
    report: dict[str, Any] = {
        "generated_at": datetime.now(UTC).isoformat(), "history": str(history_dir),
        "models": str(registry.root), "evaluation_day": eval_day.isoformat(),
        "training_days": [d.isoformat() for d in train_days], "dry_run": dry_run,
        "alert_budget_per_10k": alert_budget_per_10k, "label_key": labels,
        "rule": asdict(rule), "slots": []}
    frames: dict[str, tuple[Any, Any]] = {}
    for spec in specs:
        if spec.source not in frames:
            frames[spec.source] = (read_history(history_dir, spec.source, train_days),
                                   read_history(history_dir, spec.source, [eval_day]))
        threshold, threshold_note = _threshold(feedback_db, spec, default_threshold)
        options = dict((slot_options or {}).get(spec.name, {}))
        entry = _retrain_slot(spec, registry, *frames[spec.source], threshold=threshold,
                              labels=labels, rule=rule, budget=alert_budget_per_10k,
                              dry_run=dry_run, options=options, gid_window_s=gid_window_s,
                              gid_top_k=gid_top_k)
        entry["threshold"], entry["threshold_source"] = threshold, threshold_note
        report["slots"].append(entry)
        log.info("%s: %s (%s)", spec.name, entry["decision"], entry["reason"])
    if report_path is not None:
        path = Path(report_path)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(report, indent=2) + "\n")
    return report


def _select_days(history_dir: str | Path, days: int,
                 now: datetime | date | None) -> tuple[date, list[date]]:
    today = (now.astimezone(UTC).date() if isinstance(now, datetime) else now) \
        or datetime.now(UTC).date()
    available = [d for d in history_days(history_dir) if d <= today]
    if not available:
        raise InputError(f"{history_dir} has no history partitions on or before {today}")
    eval_day = available[-1]
    train_days = [eval_day - timedelta(days=n) for n in range(days - 1, 0, -1)]
    return eval_day, train_days


def _threshold(feedback_db: str | Path | None, spec: SlotSpec,
               default: float) -> tuple[float, str]:
    """The calibrated threshold both models are judged at, and where it came from."""
    if feedback_db is None:
        return default, "alert budget"
    try:
        from logguard.analyst.feedback import threshold_feedback
    except ImportError:
        return default, "alert budget (logguard.analyst.feedback is not installed)"
    from logguard.store.duckdb_store import open_duckdb

    try:
        con = open_duckdb(feedback_db, read_only=True)
        try:
            summary = threshold_feedback(con, spec.model)
        finally:
            con.close()
    except LogguardError as exc:
        return default, f"alert budget (no analyst feedback in {feedback_db}: {exc})"
    suggested = summary.get("suggested_threshold")
    if suggested is None:
        return default, f"alert budget (feedback: {summary.get('reason', 'no suggestion')})"
    return float(suggested), f"analyst feedback ({summary.get('reason', '')})"


def _retrain_slot(spec: SlotSpec, registry: ModelRegistry, train_events, eval_events, *,
                  threshold: float, labels: str | None, rule: PromotionRule, budget: float,
                  dry_run: bool, options: dict[str, Any], gid_window_s: float,
                  gid_top_k: int) -> dict[str, Any]:
    entry: dict[str, Any] = {"slot": spec.name, "source": spec.source, "model": spec.model,
                             "training_events": len(train_events),
                             "evaluation_events": len(eval_events),
                             "active_version": registry.active_version(spec.source, spec.model)}
    if len(eval_events) == 0:  # too few training events: train_slot's one rule says so below
        return {**entry, "decision": "skipped",
                "reason": f"{len(train_events)} training and no evaluation events "
                          "(need at least 1 to evaluate)"}
    window = {"gid_window_s": gid_window_s, "gid_top_k": gid_top_k}
    try:
        detector, calibrator, summary = train_slot(spec.source, spec.model, train_events,
                                                   **window, **options)
    except LogguardError as exc:
        return {**entry, "decision": "skipped", "reason": f"training failed: {exc}"}
    frame = slot_frame(spec, eval_events)
    truth = event_labels(frame, labels)
    candidate, candidate_scores = evaluate_model(spec, "candidate", detector, calibrator, frame,
                                                 threshold, truth, **window)
    active_eval, note = None, None
    if entry["active_version"] is not None:
        try:
            active = registry.load(spec.source, spec.model)
            active_eval, active_scores = evaluate_model(
                spec, active.version, active.detector, active.calibrator, frame, threshold,
                truth, **window)
            entry["score_drift_ks"] = round(score_drift(candidate_scores, active_scores), 6)
        except LogguardError as exc:
            note = f"active version {entry['active_version']} failed to load or score: {exc}"
    promote, reason = rule.decide(candidate, active_eval, budget)
    if note:
        reason = f"{note}; {reason}"
    if not dry_run:
        summary["retrain"] = {"evaluation": candidate.as_dict(), "decision": reason}
        candidate.version = registry.add(spec.source, spec.model, detector, calibrator,
                                         training_summary=summary)
    decision = "promoted" if promote else "refused"
    if promote and candidate.version == entry["active_version"]:
        decision, reason = "unchanged", "the candidate is identical to the active version"
    elif promote and not dry_run:
        registry.promote(spec.source, spec.model, candidate.version, reason=f"retrain: {reason}")
    return {**entry, "decision": decision if not dry_run else f"would be {decision}",
            "reason": reason, "candidate": candidate.as_dict(), "training": summary,
            "active": active_eval.as_dict() if active_eval else None}


def require_slots_trained(report: dict[str, Any]) -> None:
    """Raise when no slot could be trained (nothing in the history for the chosen sources)."""
    if report["slots"] and all(s["decision"] == "skipped" for s in report["slots"]):
        reasons = "; ".join(f"{s['slot']}: {s['reason']}" for s in report["slots"])
        raise ModelError(f"no slot could be trained: {reasons}")
