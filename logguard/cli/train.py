"""Train a detector on a file of events and save it as a model directory.

MODEL is a registered detector: `ape` (entity embeddings, Chen et al. IJCAI 2016), the
baselines `rarity`, `pairwise` and `iforest`, and the other registered models (e.g. `gid`).
The input is read whole (`--format` is inferred from the extension when omitted). Entity
columns default to every column but the weight and label columns (or the model's own, for
`lan`); a label column is never an entity, and only a label-aware loss (`lan`) learns from
it. Model flags (--epochs, --dim, ...) apply to the models that have them; giving one to a
model without it is an error. Progress goes to stderr, a summary line to
stdout. The model directory (model.json + state.npz) is what `logguard score` reads.
A CERT release's labels come from its `answers/` folder; `--labels DIR` names one kept
elsewhere (it adds `label` and `scenario` columns, and `lan` learns from `label`).

examples:
  logguard train ape --input ../shared/data/ids2017/train.csv --weight-column count \\
      --label-column label --out models/ape-ids2017
  logguard train lan --input r4.2/ --format cert --labels answers/ --out models/lan-r42
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path
from typing import Any

from logguard.cli._common import add_input_arguments, infer_format, split_list
from logguard.errors import InputError

# flag destination -> the detector hyper-parameter it sets
MODEL_FLAGS = {
    "epochs": "epochs",
    "dim": "dim",
    "negative_fraction": "negative_fraction",
    "negatives": "negatives",
    "batch_size": "batch_size",
    "learning_rate": "learning_rate",
    "seed": "random_state",
    "device": "device",
}


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("model", metavar="MODEL",
                        help="detector kind: ape, rarity, pairwise, iforest, gid, ...")
    add_input_arguments(parser)
    parser.add_argument("--weight-column", default=None, metavar="C",
                        help="column of non-negative event weights (e.g. a `count` of "
                        "identical events); used as weights, never expanded into rows")
    parser.add_argument("--label-column", default=None, metavar="C",
                        help="label column to leave out of training (kept for scoring output)")
    parser.add_argument("--labels", type=Path, default=None, metavar="DIR",
                        help="CERT answers/ folder outside the release (--format cert): labels "
                        "its events; implies --label-column label")
    parser.add_argument("--out", required=True, metavar="DIR", help="model directory to write")
    model = parser.add_argument_group("model flags (for the models that have them)")
    model.add_argument("--epochs", type=int,
                       help="maximum epochs; early stopping usually ends sooner (APE: 100)")
    model.add_argument("--dim", type=int, help="embedding dimension (APE: 32)")
    model.add_argument("--negative-fraction", type=float, metavar="F",
                       help="APE: share of the embedding dimensions that count negatively in "
                       "the inner product (default 0.5; 0 = the paper's plain dot product)")
    model.add_argument("--negatives", type=int,
                       help="noise events per entity slot of a real event (APE: 5)")
    model.add_argument("--batch-size", type=int, help="events per mini-batch (APE: 512)")
    model.add_argument("--learning-rate", type=float, help="Adam learning rate (APE: 0.003)")
    model.add_argument("--seed", type=int, help="random seed (default 0): same seed, same model")
    model.add_argument("--device", help="auto (default: cuda when available), cpu, cuda, cuda:N")
    model.add_argument("--threads", type=int, default=None,
                       help="torch CPU threads (default: torch's choice)")


def run(args: argparse.Namespace) -> int:
    from logguard.events.readers import FORMAT_SOURCES, read_frame
    from logguard.models.base import detector_class

    cls = detector_class(args.model)
    if args.threads is not None:
        import torch

        torch.set_num_threads(args.threads)
    fmt = infer_format(args.input, args.format)
    frame = read_frame(args.input, fmt)
    if frame.empty:
        raise InputError(f"{args.input}: no events to train on")
    if args.labels is not None:
        frame = _with_answers(frame, args.labels, fmt)
        args.label_column = args.label_column or "label"
    reserved = [c for c in (args.weight_column, args.label_column) if c is not None]
    _require(frame, reserved, args.input)
    entities = split_list(args.entities)
    if entities is not None:
        _require(frame, entities, args.input)
    else:
        entities = [c for c in frame.columns if c not in reserved]

    params = _model_params(cls, args)
    accepted = set(cls._param_names())
    if "entities" in accepted:
        if args.entities is None and getattr(cls, "default_entities", None):
            entities = list(cls.default_entities)  # a model with its own default (lan)
        params["entities"] = entities
    elif args.entities is not None:
        raise InputError(f"model {args.model!r} does not take --entities")
    if args.label_column is not None and "label_column" in accepted:
        params["label_column"] = args.label_column  # a label-aware loss (lan) learns from it
    weights = None
    if args.weight_column is not None:
        weights = _weights(frame[args.weight_column], args.weight_column)
    model = cls(**params)
    started = time.perf_counter()
    model.fit(frame, sample_weight=weights)
    seconds = time.perf_counter() - started

    summary: dict[str, Any] = {
        "input": str(args.input), "format": fmt, "rows": len(frame),
        "weighted_events": float(weights.sum()) if weights is not None else len(frame),
        "train_seconds": round(seconds, 3),
        **getattr(model, "training_summary_", {}),
    }
    schema = {"format": fmt, "source": FORMAT_SOURCES.get(fmt), "input_columns":
              [str(c) for c in frame.columns], "entity_columns": entities if "entities" in
              accepted else None, "weight_column": args.weight_column,
              "label_column": args.label_column}
    model_version = model.save(args.out, schema=schema, training_summary=summary)
    events = summary["weighted_events"]
    columns = f", {len(entities)} entity columns" if "entities" in accepted else ""
    print(f"trained {args.model} on {len(frame):,} rows ({events:,.0f} weighted events"
          f"{columns}) in {seconds:.1f} s -> {args.out} (version {model_version})")
    return 0


def _with_answers(frame, folder: Path, fmt: str):
    """``frame`` with ``label``/``scenario`` from a CERT ``answers/`` folder, by event id."""
    import sys

    from logguard.events.readers.cert import load_answers

    if fmt != "cert":
        raise InputError(f"--labels names a CERT answers/ folder; it needs --format cert, "
                         f"not {fmt}")
    answers = load_answers(folder)
    if answers is None:
        raise InputError(f"--labels {folder}: not a folder")
    scenario = frame["event_id"].map(answers).fillna(0).astype("int64")
    frame = frame.assign(label=(scenario > 0).astype("int64"), scenario=scenario)
    print(f"labels: {int(frame['label'].sum()):,} of {len(frame):,} events are malicious "
          f"per {folder} ({len(answers):,} answer rows)", file=sys.stderr)
    return frame


def _require(frame, columns: list[str], path) -> None:
    missing = [c for c in columns if c not in frame.columns]
    if missing:
        raise InputError(f"{path}: column(s) {', '.join(map(repr, missing))} not found; "
                         f"it has {', '.join(map(repr, frame.columns))}")


def _model_params(cls, args: argparse.Namespace) -> dict[str, Any]:
    accepted = set(cls._param_names())
    params = {}
    for flag, param in MODEL_FLAGS.items():
        value = getattr(args, flag)
        if value is None:
            continue
        if param not in accepted:
            raise InputError(f"--{flag.replace('_', '-')} does not apply to model {cls.kind!r}")
        params[param] = value
    return params


def _weights(column, name: str):
    """The weight column as float64; a non-numeric, negative or infinite value is an error."""
    import numpy as np
    import pandas as pd

    values = pd.to_numeric(column, errors="coerce").to_numpy(dtype=np.float64)
    bad = ~np.isfinite(values) | (values < 0)
    if bad.any():
        row = int(np.flatnonzero(bad)[0])
        raise InputError(f"weight column {name!r} must hold finite numbers >= 0; "
                         f"row {row} has {column.iloc[row]!r}")
    if values.sum() <= 0:
        raise InputError(f"weight column {name!r} sums to 0")
    return values
