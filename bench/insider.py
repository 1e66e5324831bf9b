"""LAN against the insider baselines on the CERT-layout simulator: quality and scoring rate.

A release is simulated (``logguard.sim.cert``: ``--users`` users over ``--days`` days, the three
r4.2 scenarios in the last quarter), read with the ``cert`` reader, and split by time: train on
the first ``--train-share`` of the timeline (no labels, as in deployment), test on the rest.
Metrics per detector, at activity level: ROC-AUC and the detection rate at a 5 % investigation
budget (DR@5%: the share of malicious activities among the 5 % highest scores), plus training
time and the scoring rate in streaming mode (the test events scored chunk by chunk, as the
``cert`` reader yields them with each user's history kept incrementally; the reader's own
rate is reported beside it).
``--cert DIR`` evaluates a real CERT release instead (its ``answers/`` give the labels).

Detectors: ``lan`` (shipped defaults), ``lstm`` (LAN without neighbours and graph, the paper's
ablation), ``insider-frequency`` and ``insider-iforest``.

Writes ``bench/results/insider.json`` and ``bench/results/insider.md``.

    .venv/bin/python bench/insider.py [--users 100 --days 56 --threads 2 --seed 0]
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from _machine import machine_info
from sklearn.metrics import roc_auc_score

from logguard.events.readers import read_frame
from logguard.models.insider_baselines import ActivityFrequencyDetector, UserDayIsolationForest
from logguard.models.lan import LAN
from logguard.sim.cert import simulate_cert

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "bench" / "results"
BUDGET = 0.05
DETECTORS = {
    "lan": lambda seed: LAN(random_state=seed),
    "lstm": lambda seed: LAN(neighbors=1, random_state=seed),
    # the training-time bound at work: half of this bench's training rows (not run by default)
    "lan-25k": lambda seed: LAN(max_train_sequences=25_000, random_state=seed),
    "insider-frequency": lambda seed: ActivityFrequencyDetector(),
    "insider-iforest": lambda seed: UserDayIsolationForest(random_state=seed),
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--users", type=int, default=100)
    parser.add_argument("--days", type=int, default=56)
    parser.add_argument("--train-share", type=float, default=0.6)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--chunk-rows", type=int, default=65_536)
    parser.add_argument("--cert", type=Path, default=None, help="a real CERT release folder")
    parser.add_argument("--models", nargs="+", choices=list(DETECTORS),
                        default=["lan", "lstm", "insider-frequency", "insider-iforest"])
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    load_before = os.getloadavg()[0]

    with tempfile.TemporaryDirectory(prefix="logguard-insider-") as scratch:
        release = args.cert or Path(scratch) / "release"
        if args.cert is None:
            simulate_cert(release, n_users=args.users, days=args.days, seed=args.seed)
        started = time.perf_counter()
        frame = read_frame(release, "cert")
        read_seconds = time.perf_counter() - started
        if "label" not in frame:
            sys.exit(f"{release}: no answers/ folder, so no labels to evaluate against")
        times = np.sort(frame["time"].to_numpy())
        cut = times[int(len(times) * args.train_share)]
        train, test = frame[frame["time"] < cut], frame[frame["time"] >= cut]
        results = []
        for name in args.models:
            results.append(evaluate(name, DETECTORS[name](args.seed), train, test,
                                    args.chunk_rows))
            print(json.dumps(results[-1]), file=sys.stderr)

    record = {
        "data": "CERT release " + str(args.cert) if args.cert else
        f"simulated CERT r4.2 layout, {args.users} users, {args.days} days, seed {args.seed}",
        "events": len(frame), "train_events": len(train), "test_events": len(test),
        "test_malicious": int(test["label"].sum()), "split_time": str(cut),
        "reader_events_per_s": round(len(frame) / read_seconds),
        "results": results, "machine": machine_info(torch_threads=args.threads),
        "load_average_1min": {"start": round(load_before, 2), "end": round(os.getloadavg()[0], 2)},
        "command": " ".join([Path(sys.executable).name, *sys.argv]),
    }
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "insider.json").write_text(json.dumps(record, indent=2) + "\n")
    (RESULTS / "insider.md").write_text(markdown(record))
    print(markdown(record))


def evaluate(name: str, model, train: pd.DataFrame, test: pd.DataFrame,
             chunk_rows: int) -> dict:
    started = time.perf_counter()
    model.fit(train)
    fit_seconds = time.perf_counter() - started
    scores = model.score(test)
    labels = test["label"].to_numpy()
    threshold = np.quantile(scores, 1 - BUDGET)
    # streaming: the test events arrive in reader-sized chunks (history already attached
    # by the reader's per-user state) and each chunk is scored as it arrives
    started, cpu_started = time.perf_counter(), time.process_time()
    for start in range(0, len(test), chunk_rows):
        model.score(test.iloc[start:start + chunk_rows])
    stream_seconds = time.perf_counter() - started
    stream_cpu_seconds = time.process_time() - cpu_started
    by_scenario = {int(s): round(float((scores[test["scenario"].to_numpy() == s]
                                        >= threshold).mean()), 4)
                   for s in sorted(set(test["scenario"])) if s}
    return {"model": name, "roc_auc": round(float(roc_auc_score(labels, scores)), 4),
            "dr_at_5pct": round(float((scores[labels == 1] >= threshold).mean()), 4),
            "dr_at_5pct_by_scenario": by_scenario, "fit_seconds": round(fit_seconds, 1),
            "stream_events_per_s": round(len(test) / stream_seconds),
            "stream_cpu_us_per_event": round(stream_cpu_seconds / len(test) * 1e6, 1)}


def markdown(record: dict) -> str:
    lines = [f"Insider-threat detection, activity level ({record['data']}; train "
             f"{record['train_events']:,} events, test {record['test_events']:,} with "
             f"{record['test_malicious']} malicious; {record['machine']['cpu']}, "
             f"{record['machine']['torch_threads']} torch threads)", "",
             "| model | ROC-AUC | DR@5% | DR@5% per scenario | fit s | streaming events/s "
             "| CPU µs/event |", "|---|---|---|---|---|---|---|"]
    for r in record["results"]:
        scenarios = ", ".join(f"{s}: {v:.2f}" for s, v in r["dr_at_5pct_by_scenario"].items())
        lines.append(f"| {r['model']} | {r['roc_auc']:.3f} | {r['dr_at_5pct']:.3f} | "
                     f"{scenarios} | {r['fit_seconds']:.1f} | {r['stream_events_per_s']:,} | "
                     f"{r['stream_cpu_us_per_event']:.1f} |")
    load = record["load_average_1min"]
    lines += ["", f"Streaming rate: model scoring of reader chunks (wall clock, and CPU time of "
              f"the scoring process per event); the reader alone runs at "
              f"{record['reader_events_per_s']:,} events/s. 1-min load average "
              f"{load['start']} at start, {load['end']} at end "
              f"({record['machine']['cores']} cores).", ""]
    return "\n".join(lines)


if __name__ == "__main__":
    main()
