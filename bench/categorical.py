"""APE against the baselines on IDS2017 categorical flows: quality, training time, scoring rate.

Data: ``../shared/data/ids2017`` (CIC-IDS2017 flows as 12 categorical columns, from
github.com/cl-anssi/DeepCategoricalAD, BSD-2-Clause). Train on ``train.csv`` with its
``count`` column as sample weights (18,137 rows = 2,085,733 events, never expanded); test on
``test.csv`` (367 normal, label 1 / 367 attacks, label -1; the attacks are the positive class).
Every detector runs with its shipped defaults (only the seed changes). Scores get no jitter:
ties are left to ``roc_auc_score`` / ``average_precision_score``.

Scoring rate: the test events repeated to ``--rate-rows`` rows, scored from a DataFrame
(encoding included) and from the already encoded id matrix (the model alone), after one
warm-up call.

``--device`` (default ``auto``: CUDA when there is one) is where APE trains and scores.
Writes ``bench/results/categorical.json`` and ``.md`` (``categorical-cuda.*`` for a GPU run).

    .venv/bin/python bench/categorical.py [--seeds 0 1 ... 9] [--threads 2] [--device cpu]
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from _machine import machine_info
from sklearn.metrics import average_precision_score, roc_auc_score

from logguard.device import resolve_device
from logguard.events.readers import read_frame
from logguard.models.ape import APE
from logguard.models.baselines import (
    IsolationForestDetector,
    PairwiseFrequencyDetector,
    RarityDetector,
)

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT.parent / "shared" / "data" / "ids2017"
RESULTS = ROOT / "bench" / "results"
DETECTORS = {
    "ape": lambda seed, device: APE(random_state=seed, device=device, progress=False),
    "rarity": lambda seed, device: RarityDetector(),
    "pairwise": lambda seed, device: PairwiseFrequencyDetector(),
    "iforest": lambda seed, device: IsolationForestDetector(random_state=seed),
}
SEEDED = {"ape", "iforest"}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=list(range(10)))
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--rate-rows", type=int, default=500_000)
    parser.add_argument("--models", nargs="+", default=list(DETECTORS), choices=list(DETECTORS))
    parser.add_argument("--device", default="auto", help="APE's device: auto, cpu, cuda")
    parser.add_argument("--data", type=Path, default=DATA, help="folder with train.csv, test.csv")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    device = str(resolve_device(args.device))

    train = read_frame(args.data / "train.csv", "csv")
    test = read_frame(args.data / "test.csv", "csv")
    entities = [c for c in train.columns if c not in ("count", "label")]
    weights = train["count"].astype(np.float64).to_numpy()
    attack = test["label"].astype(int).to_numpy() == -1
    repeated = pd.concat([test] * (args.rate_rows // len(test) + 1), ignore_index=True)
    repeated = repeated.iloc[:args.rate_rows]

    results = {}
    for kind in args.models:
        runs = []
        for seed in args.seeds if kind in SEEDED else args.seeds[:1]:
            model = DETECTORS[kind](seed, device).set_params(entities=entities)
            started = time.perf_counter()
            model.fit(train, sample_weight=weights)
            train_seconds = time.perf_counter() - started
            scores = model.score(test)
            runs.append({
                "seed": seed,
                "roc_auc": roc_auc_score(attack, scores),
                "average_precision": average_precision_score(attack, scores),
                "train_seconds": train_seconds,
                **_rates(model, repeated),
                **({"epochs_run": model.training_summary_["epochs_run"],
                    "best_epoch": model.training_summary_["best_epoch"]}
                   if kind == "ape" else {}),
            })
            print(kind, {k: round(v, 4) for k, v in runs[-1].items()}, flush=True)
        results[kind] = {"runs": runs, **_summary(runs)}

    record = {"data": str(args.data), "train_rows": len(train),
              "train_events": float(weights.sum()),
              "test_rows": len(test), "test_attacks": int(attack.sum()),
              "results": results, "device": device,
              "machine": machine_info(torch_threads=args.threads),
              "command": " ".join([Path(sys.executable).name, *sys.argv])}
    RESULTS.mkdir(parents=True, exist_ok=True)
    name = "categorical" if device == "cpu" else "categorical-cuda"
    (RESULTS / f"{name}.json").write_text(json.dumps(record, indent=2) + "\n")
    (RESULTS / f"{name}.md").write_text(_markdown(record))
    print(_markdown(record))


def _rates(model, repeated: pd.DataFrame) -> dict[str, float]:
    model.score(repeated.iloc[:10_000])  # warm-up (a GPU copy of the network, allocations)
    started = time.perf_counter()
    model.score(repeated)
    frame_rate = len(repeated) / (time.perf_counter() - started)
    ids = model.vocabulary_.encode(repeated)
    started = time.perf_counter()
    model._score_ids(ids)
    return {"events_per_s": frame_rate,
            "events_per_s_encoded": len(ids) / (time.perf_counter() - started)}


def _summary(runs: list[dict]) -> dict[str, float]:
    out = {}
    for key in ("roc_auc", "average_precision", "train_seconds", "events_per_s",
                "events_per_s_encoded"):
        values = np.array([r[key] for r in runs])
        out[f"{key}_mean"] = float(values.mean())
        out[f"{key}_std"] = float(values.std())
    return out


def _markdown(record: dict) -> str:
    lines = ["| model | ROC-AUC | AP (attack) | training s | events/s (frame) | "
             "events/s (encoded) | seeds |", "|---|---|---|---|---|---|---|"]
    for kind, result in record["results"].items():
        seeds = ",".join(str(r["seed"]) for r in result["runs"])
        lines.append(
            f"| {kind} | {result['roc_auc_mean']:.3f} ± {result['roc_auc_std']:.3f} | "
            f"{result['average_precision_mean']:.3f} ± {result['average_precision_std']:.3f} | "
            f"{result['train_seconds_mean']:.1f} | {result['events_per_s_mean']:,.0f} | "
            f"{result['events_per_s_encoded_mean']:,.0f} | {seeds} |")
    machine = record["machine"]
    gpu = f", GPU {machine['gpu']} (APE on {record['device']})" if "gpu" in machine else ""
    return ("# Categorical events: IDS2017 (train weighted by `count`, test 367/367)\n\n"
            + "\n".join(lines) + f"\n\nMachine: {machine['cpu']}, {machine['cores']} cores{gpu}, "
            f"torch {machine['torch']} with {machine['torch_threads']} threads, python "
            f"{machine['python']}. Command: `{record['command']}`\n")


if __name__ == "__main__":
    main()
