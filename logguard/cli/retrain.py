"""Retrain every model slot on the Parquet history and promote the candidates that are not worse.

Reads the history that `logguard export` writes (DIR/source=S/day=YYYY-MM-DD/*.parquet), never
the daemon's live DuckDB file. The latest day on or before --now is the evaluation day; the
--days - 1 days before it are the training window. Per slot (process/ape, process/gid,
auth/ape, network/ape, insider/insider-frequency) it trains a candidate, calibrates it on the
window's held-out hours (every 5th), then scores the evaluation day with the candidate and the
active model and compares: alert volume at the same calibrated threshold (the alert
budget's, or the one analyst verdicts suggest with --feedback-db), calibration drift (KS
against uniform), the two models' score drift (two-sample KS), and ROC-AUC / average
precision where the day holds labelled events (a labelled replay: `extra` has --labels).

Promotion rule: promote when there is no active model; otherwise the candidate's alerts
per 10k must stay within max(3 x budget, the active model's) and, where labels exist, its AP
may be at most 0.02 below the active model's. Candidates are registered even when refused
(promote one by hand with `logguard models promote`); the previous version stays for
`logguard models rollback`. The daemon picks up a promotion by itself (hot reload).

Exit status: 0 when the job ran (promoted or not; read the report), 2 for bad arguments or
an empty history, 5 when no slot could be trained.

examples:
  logguard retrain --history /var/lib/logguard/history --models /var/lib/logguard/models \\
      --days 7 --report /var/lib/logguard/reports/retrain.json
  logguard retrain --history hist --models models --source process --dry-run \\
      --set process/ape.epochs=5
"""

from __future__ import annotations

import argparse
import json
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

from logguard.errors import InputError


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--history", required=True, type=Path, metavar="DIR",
                        help="Parquet history written by `logguard export`")
    parser.add_argument("--models", required=True, type=Path, metavar="DIR",
                        help="model registry (the daemon's --models)")
    parser.add_argument("--days", type=int, default=7,
                        help="days of history including the evaluation day (default 7: six to "
                        "train on, the latest to evaluate on)")
    parser.add_argument("--source", action="append", default=None, metavar="S",
                        help="only the slots of this source (repeatable; default: every slot)")
    parser.add_argument("--report", type=Path, default=None, metavar="FILE",
                        help="write the JSON report here (it is also summarised on stdout)")
    parser.add_argument("--dry-run", action="store_true",
                        help="train and evaluate, but register and promote nothing")
    parser.add_argument("--now", default=None, metavar="YYYY-MM-DD",
                        help="treat this day as today (default: today, UTC)")
    parser.add_argument("--budget", type=float, default=5.0, metavar="N",
                        help="alert budget in alerts per 10k events (default 5, the daemon's)")
    parser.add_argument("--labels", default="attack_step", metavar="KEY",
                        help="key in an event's `extra` that marks it malicious in a labelled "
                        "replay (default attack_step, the simulator's); 'none' to ignore")
    parser.add_argument("--set", action="append", default=[], metavar="SLOT.PARAM=VALUE",
                        dest="overrides",
                        help="override a slot's hyper-parameter, e.g. process/ape.epochs=5 "
                        "(repeatable; VALUE is JSON, else text)")
    parser.add_argument("--feedback-db", type=Path, default=None, metavar="PATH",
                        help="a DuckDB snapshot of the daemon's store with analyst verdicts: "
                        "its suggested threshold replaces the budget's (never the live file)")


def run(args: argparse.Namespace) -> int:
    from logguard.models.registry import ModelRegistry
    from logguard.training.retrain import require_slots_trained, retrain

    if args.now is not None:
        try:
            now = date.fromisoformat(args.now)
        except ValueError:
            raise InputError(f"--now: not a date (YYYY-MM-DD): {args.now!r}") from None
    else:
        now = datetime.now(UTC)
    if args.feedback_db is not None and not args.feedback_db.is_file():
        raise InputError(f"--feedback-db {args.feedback_db}: no such file")
    report = retrain(args.history, ModelRegistry(args.models), days=args.days, now=now,
                     sources=args.source,
                     labels=None if args.labels.lower() == "none" else args.labels,
                     alert_budget_per_10k=args.budget, dry_run=args.dry_run,
                     report_path=args.report, feedback_db=args.feedback_db,
                     slot_options=_overrides(args.overrides))
    print(f"evaluation day {report['evaluation_day']}, trained on "
          f"{', '.join(report['training_days'])}")
    for slot in report["slots"]:
        candidate = slot.get("candidate") or {}
        ap = candidate.get("average_precision")
        print(f"  {slot['slot']:<28} {slot['decision']:<18} "
              f"{candidate.get('version', '-'):<16} alerts/10k "
              f"{candidate.get('alerts_per_10k', float('nan')):7.1f}  "
              f"AP {'-' if ap is None else f'{ap:.3f}'}  {slot['reason']}")
    if args.report is not None:
        print(f"report: {args.report}")
    require_slots_trained(report)
    return 0


def _overrides(items: list[str]) -> dict[str, dict[str, Any]]:
    """``["process/ape.epochs=5"]`` -> ``{"process/ape": {"epochs": 5}}``."""
    options: dict[str, dict[str, Any]] = {}
    for item in items:
        key, sep, text = item.partition("=")
        slot, dot, param = key.rpartition(".")
        if not sep or not dot or "/" not in slot or not param:
            raise InputError(f"--set {item!r}: expected SLOT.PARAM=VALUE, e.g. "
                             "process/ape.epochs=5")
        try:
            value = json.loads(text)
        except json.JSONDecodeError:
            value = text
        options.setdefault(slot, {})[param] = value
    return options
