"""CAR alert ranking on the four shared AIT-ADS networks, against the baselines.

Run:  .venv/bin/python bench/alerts.py   (from the repository root)

Labels (``event_label``) are read only here, to evaluate; every ranking is computed from the
alert attributes and times alone, with the same defaults on every network.

Per-alert metrics mislead on this data (one web scan yields 400 k attack alerts), so we measure
what an analyst works through: alerts are grouped by (signature, host); a group's score is its
best alert's score; a group is an attack group when most of its alerts have an event label
other than ``-``. Metrics per network and method:

* ``group_ap``: average precision of attack groups over the group ranking;
* ``steps_top20``: distinct attack steps (event labels) among the alerts of the top 20 groups;
* ``fp_before_all_steps``: non-attack groups read, in ranking order, before every step of the
  network has been seen (all groups read if never);
* for CAR's top scenario: the steps it covers, its alert purity (share of its alerts that are
  attack alerts) and step purity (share of its (signature, host) steps that are attack groups).

Methods: CAR (``logguard.alerts.car.CarRanker``, defaults: its queue score, the ``car_score``
that ``logguard rank`` orders by), a variant (``car_step_window``:
``step_window = depth = 4``, interleaved signatures of one burst merged into one run per
signature, see ``logguard.alerts.temporal``), three ablations (the joint fixed point t without
the scenario lift of ``logguard.alerts.scenarios.queue_scores``; CAR without the
content term, β = 0; its temporal prior alone, the prequential HPY surprisal), and the
baselines: alert-type rarity (−log frequency of the signature in that network), time order
(newest first) and APE on the alert attributes alone (``logguard.models.ape.APE`` on name,
host, ip, short; anomaly score −S(e)).
Also timed: CAR on the largest network (wall time and peak RSS) and an incremental update of
1,000 alerts.
"""

from __future__ import annotations

import json
import resource
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
from sklearn.metrics import average_precision_score

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from _machine import machine_info  # noqa: E402

from logguard.alerts.car import CarRanker  # noqa: E402
from logguard.alerts.ranking import RankingWeights  # noqa: E402
from logguard.events.readers import read_frame  # noqa: E402

DATA = ROOT.parent / "shared" / "data" / "ait-ads"
NETWORKS = ("fox", "russellmitchell", "santos", "shaw")
RESULTS = ROOT / "bench" / "results"
NO_LABEL = "-"
TOP_GROUPS = 20
UPDATE_ALERTS = 1000


def group_table(frame: pd.DataFrame, scores: np.ndarray) -> pd.DataFrame:
    """One row per (signature, host): best score, attack flag, the steps of its alerts."""
    labelled = frame.assign(score=scores, attack=frame["event_label"] != NO_LABEL)
    groups = labelled.groupby(["name", "host"], sort=False)
    table = pd.DataFrame({
        "score": groups["score"].max(),
        "attack": groups["attack"].mean() > 0.5,
        "steps": groups["event_label"].agg(lambda s: frozenset(s) - {NO_LABEL}),
    })
    return table.sort_values("score", ascending=False, kind="stable")


def group_metrics(frame: pd.DataFrame, scores: np.ndarray) -> dict:
    table = group_table(frame, scores)
    all_steps = frozenset().union(*table["steps"])
    seen: set[str] = set()
    false_positives = 0
    for attack, steps in zip(table["attack"], table["steps"], strict=True):
        if seen >= all_steps:
            break
        seen |= steps
        false_positives += int(not attack)
    top_steps = frozenset().union(*table["steps"].head(TOP_GROUPS))
    return {
        "group_ap": round(float(average_precision_score(table["attack"], table["score"])), 4),
        "steps_top20": len(top_steps),
        "steps_total": len(all_steps),
        "fp_before_all_steps": false_positives,
        "groups": len(table),
        "attack_groups": int(table["attack"].sum()),
    }


def top_scenario(frame: pd.DataFrame, ranker: CarRanker) -> dict:
    scenarios = ranker.scenarios  # built from the joint fixed point, as `logguard rank` does
    best = scenarios[0]
    labels = frame["event_label"].to_numpy()[best.alert_indices]
    attack_groups = group_table(frame, ranker.alert_scores)["attack"]
    return {
        "steps_covered": sorted(set(labels) - {NO_LABEL}),
        "alert_purity": round(float(np.mean(labels != NO_LABEL)), 4),
        "step_purity": round(float(np.mean([attack_groups[(s.signature, s.host)]
                                            for s in best.steps])), 4),
        "steps": len(best.steps),
        "alerts": best.alerts,
        "scenarios": len(scenarios),
    }


def ape_scores(frame: pd.DataFrame) -> np.ndarray:
    from logguard.models.ape import APE

    columns = ["name", "host", "ip", "short"]
    unique = frame.groupby(columns, sort=False).size().reset_index(name="count")
    model = APE(entities=columns, progress=False, device="cpu")
    model.fit(unique[columns], sample_weight=unique["count"].to_numpy(dtype=np.float64))
    per_class = unique.assign(score=model.score(unique[columns]))
    return frame[columns].merge(per_class, on=columns, how="left")["score"].to_numpy()


def evaluate(network: str) -> dict:
    frame = read_frame(DATA / f"{network}_alerts.csv.gz", "ait")
    started = time.perf_counter()
    ranker = CarRanker().fit(frame)
    car_seconds = time.perf_counter() - started
    surprisal = np.asarray(ranker.temporal.runs.surprisal)[ranker.run_of]
    counts = frame["name"].map(frame["name"].value_counts()).to_numpy(dtype=np.float64)
    step_window = CarRanker(step_window=4).fit(frame)
    methods = {
        "car": ranker.alert_scores,
        "car_step_window": step_window.alert_scores,
        "car_without_scenario_lift": ranker.result.alert_scores,
        "car_without_content": CarRanker(weights=RankingWeights(beta=0.0)).fit(
            frame).alert_scores,
        "car_temporal_prior_only": surprisal,
        "rarity": -np.log(counts),
        "time_order": frame["time"].to_numpy(dtype=np.float64),
        "ape_attributes": ape_scores(frame),
    }
    return {
        "alerts": len(frame),
        "car_seconds": round(car_seconds, 2),
        "car_iterations": ranker.result.iterations,
        "car_contraction": round(ranker.result.contraction, 4),
        "methods": {name: group_metrics(frame, s) for name, s in methods.items()},
        "top_scenario": top_scenario(frame, ranker),
        "top_scenario_step_window": top_scenario(frame, step_window),
    }


def incremental_update_seconds(network: str) -> dict:
    frame = read_frame(DATA / f"{network}_alerts.csv.gz", "ait").sort_values("time",
                                                                              kind="stable")
    head, tail = frame.iloc[:-UPDATE_ALERTS], frame.iloc[-UPDATE_ALERTS:]
    ranker = CarRanker().fit(head)
    started = time.perf_counter()
    ranker.update(tail)
    return {"network": network, "alerts_before": len(head), "new_alerts": len(tail),
            "seconds": round(time.perf_counter() - started, 3),
            "iterations": ranker.result.iterations}


def cli_run(network: str) -> dict:
    """``logguard rank`` on one network as a separate process: wall time and peak RSS."""
    out = Path("/tmp") / f"logguard-bench-{network}.parquet"
    command = [str(ROOT / ".venv" / "bin" / "logguard"), "rank", "--input",
               str(DATA / f"{network}_alerts.csv.gz"), "--format", "ait", "--output", str(out)]
    started = time.perf_counter()
    subprocess.run(command, check=True, capture_output=True)
    seconds = time.perf_counter() - started
    peak_kib = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    out.unlink(missing_ok=True)
    return {"network": network, "seconds": round(seconds, 2),
            "peak_rss_mib": round(peak_kib / 1024, 1), "command": " ".join(command)}


def markdown(results: dict) -> str:
    lines = ["| network | method | group AP | steps in top 20 | FP groups before all steps |",
             "|---|---|---|---|---|"]
    for network, result in results["networks"].items():
        for method, m in result["methods"].items():
            lines.append(f"| {network} | {method} | {m['group_ap']:.3f} | "
                         f"{m['steps_top20']}/{m['steps_total']} | {m['fp_before_all_steps']} |")
    lines += ["", "| network | ranker | top scenario steps | covered | alert purity | "
              "step purity |", "|---|---|---|---|---|---|"]
    for network, result in results["networks"].items():
        for ranker, key in (("car", "top_scenario"), ("car_step_window",
                                                      "top_scenario_step_window")):
            s = result[key]
            lines.append(f"| {network} | {ranker} | {s['steps']} | {len(s['steps_covered'])}: "
                         f"{', '.join(s['steps_covered'])} | {s['alert_purity']:.3f} | "
                         f"{s['step_purity']:.3f} |")
    perf = results["performance"]
    lines += ["", f"`logguard rank` on fox ({results['networks']['fox']['alerts']:,} alerts): "
              f"{perf['cli']['seconds']} s, peak RSS {perf['cli']['peak_rss_mib']} MiB; "
              f"incremental update of {perf['incremental']['new_alerts']} alerts: "
              f"{perf['incremental']['seconds']} s.", ""]
    return "\n".join(lines)


def main() -> None:
    import torch

    torch.set_num_threads(1)
    results = {"machine": machine_info(),
               "networks": {network: evaluate(network) for network in NETWORKS}}
    results["performance"] = {"cli": cli_run("fox"), "incremental": incremental_update_seconds(
        "fox")}
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "alerts.json").write_text(json.dumps(results, indent=2) + "\n")
    (RESULTS / "alerts.md").write_text(markdown(results))
    print(markdown(results))


if __name__ == "__main__":
    main()
