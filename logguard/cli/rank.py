"""Rank alerts and reconstruct attack scenarios with CAR (collaborative alert ranking).

Reads alerts (the `alert` source: time, name, host, and optionally ip, short), learns a
temporal model of each host's alert sequences and an embedding of alert attributes, and ranks
every alert jointly with the alert patterns it belongs to (Lin et al., CIKM 2018). Label
columns (time_label, event_label, ...) are copied to the output and never read.

The output has every input alert, in input order, plus:
  car_score    higher = more likely part of a real attack (0..1): the alert's joint CAR
               score, lifted a little when it is a step of a strong scenario (less for a
               step that only co-fires with a better step of it)
  rank         1 = the first alert to read
  scenario_id  the attack scenario the alert belongs to (empty when none)

--scenarios writes one JSON object per scenario, best first: id, score, ordered steps
(signature, host, first/last time, alerts, score), hosts, entities, first/last time, alerts.

example:
  logguard rank --input fox_alerts.csv.gz --format ait --output ranked.parquet \\
      --scenarios scenarios.jsonl
"""

from __future__ import annotations

import argparse
from pathlib import Path

from logguard.cli._common import add_input_arguments, infer_format
from logguard.errors import InputError

OUTPUT_FORMATS = {".csv": "csv", ".csv.gz": "csv", ".jsonl": "jsonl", ".parquet": "parquet"}


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_input_arguments(parser, entities=False)
    parser.add_argument("--output", required=True, type=Path, metavar="FILE",
                        help="ranked alerts: .csv, .csv.gz, .jsonl or .parquet")
    parser.add_argument("--scenarios", type=Path, default=None, metavar="FILE.jsonl",
                        help="write the attack scenarios here, one JSON object per line")
    parser.add_argument("--session-gap", type=float, default=1800.0, metavar="SECONDS",
                        help="a host's alerts further apart than this start a new session "
                        "(default 1800)")
    parser.add_argument("--top-runs", type=int, default=200, metavar="N",
                        help="how many top-scoring alert runs form scenarios (default 200)")
    parser.add_argument("--horizon", type=float, default=3600.0, metavar="SECONDS",
                        help="runs sharing a host or ip within this time join one scenario "
                        "(default 3600)")


def _output_format(path: Path) -> str:
    name = path.name.lower()
    for suffix, fmt in sorted(OUTPUT_FORMATS.items(), key=lambda kv: -len(kv[0])):
        if name.endswith(suffix):
            return fmt
    raise InputError(f"cannot tell the output format of {path}: use "
                     f"{', '.join(OUTPUT_FORMATS)}")


def run(args: argparse.Namespace) -> int:
    import numpy as np
    import orjson
    import pandas as pd

    from logguard.alerts.car import CarRanker
    from logguard.events.readers import read_frame

    output_format = _output_format(args.output)
    if args.session_gap <= 0 or args.horizon < 0 or args.top_runs < 0:
        raise InputError("--session-gap must be > 0, --horizon and --top-runs >= 0")
    frame = read_frame(args.input, infer_format(args.input, args.format))
    if frame.empty:
        raise InputError(f"{args.input}: no alerts")
    ranker = CarRanker(session_gap=args.session_gap, top_runs=args.top_runs,
                       horizon=args.horizon).fit(frame)
    scores = ranker.alert_scores
    order = np.lexsort((np.arange(len(scores)), -scores))
    rank = np.empty(len(scores), dtype=np.int64)
    rank[order] = np.arange(1, len(scores) + 1)
    scenarios = ranker.scenarios
    scenario_id = pd.array([pd.NA] * len(frame), dtype="Int64")
    for scenario in scenarios:
        scenario_id[scenario.alert_indices] = scenario.id
    out = frame.copy()
    out["car_score"] = scores
    out["rank"] = rank
    out["scenario_id"] = scenario_id
    args.output.parent.mkdir(parents=True, exist_ok=True)
    if output_format == "csv":
        out.to_csv(args.output, index=False)
    elif output_format == "jsonl":
        out.to_json(args.output, orient="records", lines=True)
    else:
        out.to_parquet(args.output, index=False)
    if args.scenarios is not None:
        args.scenarios.parent.mkdir(parents=True, exist_ok=True)
        with args.scenarios.open("wb") as handle:
            for scenario in scenarios:
                handle.write(orjson.dumps(scenario.to_record()) + b"\n")
    print(f"ranked {len(out)} alerts into {args.output}; {len(scenarios)} scenarios"
          + (f" in {args.scenarios}" if args.scenarios else ""))
    return 0
