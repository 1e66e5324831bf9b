"""List, inspect, promote, roll back and register versions in the model registry.

The registry (--models DIR, the daemon's) keeps every version of every slot (source/model,
e.g. process/ape) under DIR/<source>/<model>/versions/<version>/ and one ACTIVE pointer per
slot. The daemon scores with the active version and hot-reloads when the pointer moves, so
`promote` and `rollback` take effect on the running daemon within seconds. Every move is
recorded in the slot's history.jsonl.

actions:
  list                  every slot: active version, number of versions, last change
  show SLOT             the slot's versions (* = active), their training summary, history
  promote SLOT VERSION  make VERSION active (e.g. a candidate the retrain job refused)
  rollback SLOT         re-activate the version that was active before the current one
  add SOURCE            register a model directory made by `logguard train`: calibrate it
                        on --reference (scores -> 0-100 by their empirical CDF; use data
                        the model was not trained on) and add it as a new version

examples:
  logguard models list --models /var/lib/logguard/models
  logguard models show process/ape --models models
  logguard models rollback process/ape --models models
  logguard train ape --input day1.parquet --entities host,user,image,action --out m/ape
  logguard models add process --model-dir m/ape --reference day2.parquet --models models \\
      --promote
"""

from __future__ import annotations

import argparse
from pathlib import Path

from logguard.cli._common import FORMATS, infer_format
from logguard.errors import InputError

ACTIONS = ("list", "show", "promote", "rollback", "add")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--models", required=True, type=Path, metavar="DIR",
                        help="model registry folder (the daemon's --models)")
    actions = parser.add_subparsers(dest="action", required=True, metavar="ACTION")
    actions.add_parser("list", parents=[common], help="every slot and its active version")
    show = actions.add_parser("show", parents=[common], help="one slot's versions and history")
    show.add_argument("slot", metavar="SLOT", help="source/model, e.g. process/ape")
    promote = actions.add_parser("promote", parents=[common], help="make a version active")
    promote.add_argument("slot", metavar="SLOT", help="source/model, e.g. process/ape")
    promote.add_argument("version", metavar="VERSION", help="a version `show` lists")
    promote.add_argument("--reason", default="manual promotion", help="recorded in the history")
    rollback = actions.add_parser("rollback", parents=[common],
                                  help="re-activate the previous version")
    rollback.add_argument("slot", metavar="SLOT", help="source/model, e.g. process/ape")
    add = actions.add_parser("add", parents=[common],
                             help="calibrate a `logguard train` model and register it")
    add.add_argument("source", metavar="SOURCE",
                     help="event source the model scores (process, auth, network, insider)")
    add.add_argument("--model-dir", required=True, type=Path, metavar="DIR",
                     help="model directory written by `logguard train`")
    add.add_argument("--reference", required=True, type=Path, metavar="FILE",
                     help="reference events to calibrate on (not the training data)")
    add.add_argument("--format", choices=FORMATS, default=None,
                     help="format of --reference (inferred from the extension when omitted)")
    add.add_argument("--promote", action="store_true", help="make the new version active")


def run(args: argparse.Namespace) -> int:
    from logguard.models.registry import ModelRegistry

    registry = ModelRegistry(args.models)
    if args.action == "list":
        return _list(registry)
    if args.action == "add":
        return _add(registry, args)
    source, model = _slot(args.slot)
    if args.action == "show":
        return _show(registry, source, model)
    if args.action == "promote":
        previous = registry.active_version(source, model)
        registry.promote(source, model, args.version, reason=args.reason)
        print(f"{source}/{model}: active {args.version} (was {previous or 'none'})")
        return 0
    version = registry.rollback(source, model)
    print(f"{source}/{model}: rolled back to {version}")
    return 0


def _slot(text: str) -> tuple[str, str]:
    source, sep, model = text.partition("/")
    if not sep or not source or not model:
        raise InputError(f"slot {text!r}: expected SOURCE/MODEL, e.g. process/ape")
    return source, model


def _list(registry) -> int:
    slots = registry.slots()
    if not slots:
        print(f"no models under {registry.root} (train some with `logguard retrain` or "
              "register one with `logguard models add`)")
        return 0
    print(f"{'slot':<30} {'active':<18} {'versions':>8}  last change")
    for source, model in slots:
        history = registry.history(source, model)
        last = (f"{history[-1]['at'][:19]} {history[-1].get('reason', '')}" if history
                else "-")
        print(f"{source + '/' + model:<30} {registry.active_version(source, model) or '-':<18} "
              f"{len(registry.versions(source, model)):>8}  {last}")
    return 0


def _show(registry, source: str, model: str) -> int:
    from logguard.models.base import read_model_record

    versions = registry.versions(source, model)
    if not versions:
        raise InputError(f"{source}/{model} has no versions under {registry.root}; "
                         f"slots: {', '.join(f'{s}/{m}' for s, m in registry.slots()) or 'none'}")
    active = registry.active_version(source, model)
    print(f"{source}/{model} (oldest first; * = active)")
    for version in versions:
        summary = read_model_record(registry.version_dir(source, model, version)).get(
            "training_summary", {})
        facts = [f"{key}={summary[key]}" for key in
                 ("events", "fit_events", "reference_scores", "first_event", "last_event")
                 if key in summary]
        decision = summary.get("retrain", {}).get("decision")
        print(f"{'*' if version == active else ' '} {version}  {' '.join(facts)}")
        if decision:
            print(f"    retrain: {decision}")
    print("history:")
    for record in registry.history(source, model):
        print(f"  {record['at'][:19]}  {record.get('previous') or '-'} -> {record['version']}  "
              f"{record.get('reason', '')}")
    return 0


def _add(registry, args: argparse.Namespace) -> int:
    from logguard.events.frames import model_frame
    from logguard.events.readers import read_frame
    from logguard.models.base import load_detector, read_model_record
    from logguard.models.calibration import ScoreCalibrator
    from logguard.training.slots import SLOTS, SlotSpec, slot_scores

    record = read_model_record(args.model_dir)
    detector = load_detector(args.model_dir)
    kind = record["kind"]
    fmt = infer_format(args.reference, args.format)
    frame = model_frame(read_frame(args.reference, fmt))
    if frame.empty:
        raise InputError(f"{args.reference}: no events to calibrate on")
    spec = SLOTS.get((args.source, kind)) or SlotSpec(args.source, kind, per_event=kind != "gid")
    calibrator = ScoreCalibrator.fit(slot_scores(spec, detector, frame))
    summary = {**record.get("training_summary", {}), "trained_with": record.get("schema"),
               "calibrated_on": str(args.reference), "reference_scores":
               calibrator.reference_size}
    version = registry.add(args.source, kind, detector, calibrator, training_summary=summary)
    print(f"registered {args.source}/{kind} version {version} (calibrated on "
          f"{calibrator.reference_size:,} reference scores from {args.reference})")
    if args.promote:
        registry.promote(args.source, kind, version, reason=f"models add {args.model_dir}")
        print(f"{args.source}/{kind}: active {version}")
    return 0
