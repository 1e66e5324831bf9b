"""LAN against the insider baselines on the CERT-layout simulator: quality and scoring rate.

A release is simulated (``logguard.sim.cert``: ``--users`` users over ``--days`` days, the three
r4.2 scenarios in the last quarter), read with the ``cert`` reader, and split by time: train on
the first ``--train-share`` of the timeline (no labels, as in deployment), test on the rest.
Metrics per detector, at activity level: ROC-AUC and the detection rate at a 5 % investigation
budget (DR@5%: the share of malicious activities among the 5 % highest scores), plus training
time and the scoring rate in streaming mode (the test events scored chunk by chunk, as the
``cert`` reader yields them with each user's history kept incrementally; the reader's own
rate is reported beside it), with 1 and with 2 torch threads (``--stream-threads``), the
median of ``--repeats`` passes (the machine may be shared: the load average is recorded).
``--cert DIR`` evaluates a real CERT release instead (its ``answers/`` give the labels).

Detectors: ``lan`` (shipped defaults), ``lstm`` (LAN without neighbours and graph, the paper's
ablation), ``insider-frequency`` and ``insider-iforest``.

Writes ``bench/results/insider.json`` and ``bench/results/insider.md``.

    .venv/bin/python bench/insider.py [--users 100 --days 56 --threads 2 --seed 0]
        [--stream-threads 1 2 --repeats 3]
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
    parser.add_argument("--stream-threads", type=int, nargs="+", default=[1, 2],
                        help="torch thread counts to measure streaming scoring with")
    parser.add_argument("--repeats", type=int, default=3,
                        help="streaming passes per thread count (the median is reported)")
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
            torch.set_num_threads(args.threads)
            results.append(evaluate(name, DETECTORS[name](args.seed), train, test,
                                    args.chunk_rows, args.stream_threads, args.repeats))
            print(json.dumps(results[-1]), file=sys.stderr)

    record = {
        "data": "CERT release " + str(args.cert) if args.cert else
        f"simulated CERT r4.2 layout, {args.users} users, {args.days} days, seed {args.seed}",
        "events": len(frame), "train_events": len(train), "test_events": len(test),
        "test_malicious": int(test["label"].sum()), "split_time": str(cut),
        "reader_events_per_s": round(len(frame) / read_seconds),
        "results": results, "repeats": args.repeats,
        "machine": machine_info(torch_threads=args.threads),
        "load_average_1min": {"start": round(load_before, 2), "end": round(os.getloadavg()[0], 2)},
        "command": " ".join([Path(sys.executable).name, *sys.argv]),
    }
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "insider.json").write_text(json.dumps(record, indent=2) + "\n")
    (RESULTS / "insider.md").write_text(markdown(record))
    print(markdown(record))


def evaluate(name: str, model, train: pd.DataFrame, test: pd.DataFrame, chunk_rows: int,
             stream_threads: list[int], repeats: int) -> dict:
    started = time.perf_counter()
    model.fit(train)
    fit_seconds = time.perf_counter() - started
    scores = model.score(test)
    labels = test["label"].to_numpy()
    threshold = np.quantile(scores, 1 - BUDGET)
    by_scenario = {int(s): round(float((scores[test["scenario"].to_numpy() == s]
                                        >= threshold).mean()), 4)
                   for s in sorted(set(test["scenario"])) if s}
    return {"model": name, "roc_auc": round(float(roc_auc_score(labels, scores)), 4),
            "dr_at_5pct": round(float((scores[labels == 1] >= threshold).mean()), 4),
            "dr_at_5pct_by_scenario": by_scenario, "fit_seconds": round(fit_seconds, 1),
            "stream": {str(threads): stream_rate(model, test, chunk_rows, threads, repeats)
                       for threads in stream_threads}}


def stream_rate(model, test: pd.DataFrame, chunk_rows: int, threads: int,
                repeats: int) -> dict:
    """Streaming: the test events arrive in reader-sized chunks (history already attached by
    the reader's per-user state) and each chunk is scored as it arrives; wall-clock events/s
    and CPU time of the process per event, the median of ``repeats`` passes."""
    torch.set_num_threads(threads)
    passes = []
    for _ in range(repeats):
        started, cpu_started = time.perf_counter(), time.process_time()
        for start in range(0, len(test), chunk_rows):
            model.score(test.iloc[start:start + chunk_rows])
        passes.append((time.perf_counter() - started, time.process_time() - cpu_started))
    wall, cpu = np.median(np.array(passes), axis=0)
    return {"events_per_s": round(len(test) / wall),
            "cpu_us_per_event": round(cpu / len(test) * 1e6, 1),
            "events_per_s_passes": [round(len(test) / w) for w, _ in passes]}


def markdown(record: dict) -> str:
    threads = list(record["results"][0]["stream"]) if record["results"] else []
    stream_head = "".join(f" | streaming events/s, {t} thr | CPU µs/event, {t} thr"
                          for t in threads)
    lines = [f"Insider-threat detection, activity level ({record['data']}; train "
             f"{record['train_events']:,} events, test {record['test_events']:,} with "
             f"{record['test_malicious']} malicious; {record['machine']['cpu']}, "
             f"{record['machine']['cores']} cores, fit with "
             f"{record['machine']['torch_threads']} torch threads)", "",
             f"| model | ROC-AUC | DR@5% | DR@5% per scenario | fit s{stream_head} |",
             "|---" * (5 + 2 * len(threads)) + "|"]
    for r in record["results"]:
        scenarios = ", ".join(f"{s}: {v:.2f}" for s, v in r["dr_at_5pct_by_scenario"].items())
        stream = "".join(f" | {r['stream'][t]['events_per_s']:,} | "
                         f"{r['stream'][t]['cpu_us_per_event']:.1f}" for t in threads)
        lines.append(f"| {r['model']} | {r['roc_auc']:.3f} | {r['dr_at_5pct']:.3f} | "
                     f"{scenarios} | {r['fit_seconds']:.1f}{stream} |")
    load = record["load_average_1min"]
    lines += ["", f"Streaming rate: model scoring of reader chunks (wall clock, median of "
              f"{record['repeats']} passes, and CPU time of the scoring process per event); "
              f"the reader alone runs at {record['reader_events_per_s']:,} events/s. "
              f"1-min load average {load['start']} at start, {load['end']} at end "
              f"({record['machine']['cores']} cores, shared).", ""]
    return "\n".join(lines)


if __name__ == "__main__":
    main()
