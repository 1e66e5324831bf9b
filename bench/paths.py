"""GID on real OTRF recordings: leave-one-recording-out path ranking against baselines.

Data: every Windows recording under ``../shared/data/otrf/atomic/windows`` (duplicates, i.e.
the same file name and size in two folders, read once), mapped by the Sysmon reader. Labels:
``logguard.graph.otrf_labels.attacker_guids`` on the recording's ``_metadata`` ``adversary_view``
(the matching rule is in that module's docstring). For each labelled recording, GID is
trained on all *other* recordings (labelled or not) and ranks the paths of the held-out one.

Metric per recording and method: the rank of the first ranked item that contains an attacker
process (ties: the expected rank of the first attacker item when tied items are ordered at
random, ``r = #better + (#tied + 1) / (#tied attacker + 1)``); detection at k = 1, 3, 5, 10;
mean reciprocal rank (a miss in the top ``--depth`` counts 0).

Methods (fitted per fold on graphs built once per recording):

* ``gid``: the defaults (see ``GID``);
* ``gid_walk_scores``: the defaults with HITS-style sender/receiver random-walk node scores;
* ``gid_box_cox``: the defaults ranked by Box-Cox z (one ``lambda``, reference paths from
  random walks on the history label graph);
* ``gid_per_length_lambda``: Box-Cox z with a ``lambda_L`` per length;
* ``gid_history_reference``: Box-Cox z fitted on the cross-fitted top paths of history windows
  (the detection-time statistic) instead of random walks;
* ``gid_host_rarity``: the defaults with process starts also weighted by their child image's
  rarity across hosts;
* baselines: ``plain_rw`` (plain random-walk path probability ``prod M`` with the constant
  floor for unseen edges, ranked by the raw log score: no Box-Cox, no chain dedupe),
  ``rarest_edge`` (single edges by ``-log M``), ``image_rarity`` (process creations of the
  recording sorted by how rare their image is in that recording).

Throughput: graph building plus path scoring (top-10 per graph) over every recording at once,
events per minute, on the machine it runs on.

    .venv/bin/python bench/paths.py [--limit N] [--depth 50]
"""

from __future__ import annotations

import argparse
import copy
import json
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import yaml

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from _machine import machine_info  # noqa: E402

from logguard.events.readers.sysmon import is_recording, iter_sysmon  # noqa: E402
from logguard.graph.build import build_graph  # noqa: E402
from logguard.graph.otrf_labels import attacker_guids  # noqa: E402
from logguard.models.gid import GID, HistoryEdges  # noqa: E402

ATOMIC = ROOT.parent / "shared" / "data" / "otrf" / "atomic"
RESULTS = ROOT / "bench" / "results"
KS = (1, 3, 5, 10)
METHODS = ("gid", "gid_walk_scores", "gid_box_cox", "gid_per_length_lambda",
           "gid_history_reference", "gid_host_rarity", "plain_rw", "rarest_edge", "image_rarity")


def load_recordings() -> dict[str, pd.DataFrame]:
    """Process events per Windows recording (file name -> frame), duplicates read once."""
    seen: set[tuple[str, int]] = set()
    recordings = {}
    for path in sorted((ATOMIC / "windows").rglob("*")):
        if not path.is_file() or not is_recording(path):
            continue
        key = (path.name, path.stat().st_size)
        if key in seen:
            continue
        seen.add(key)
        frames = list(iter_sysmon(path, 1_000_000))
        if frames and len(frames[0]):
            recordings[path.name] = pd.concat(frames, ignore_index=True)
    return recordings


def load_adversary_views() -> dict[str, str]:
    views = {}
    for path in sorted((ATOMIC / "_metadata").glob("*.yaml")):
        record = yaml.safe_load(path.read_text())
        view = (record.get("simulation") or {}).get("adversary_view") or ""
        for item in record.get("files") or []:
            name = str(item.get("link", "")).rsplit("/", 1)[-1]
            if view and name:
                views[name] = view
    return views


def expected_rank(scores: np.ndarray, hits: np.ndarray) -> float | None:
    """Rank of the first hit when ties are broken at random (None if no hit)."""
    if not hits.any():
        return None
    best = scores[hits].max()
    better = int((scores > best).sum())
    tied = scores == best
    return better + (int(tied.sum()) + 1) / (int((tied & hits).sum()) + 1)


def path_rank(model: GID, events: pd.DataFrame, attackers: set[str], depth: int) -> float | None:
    graph, paths = model.graph_paths(events, depth)
    attacker_node = np.array([str(k)[2:] in attackers for k in graph.node_key])
    hits = np.array([bool(attacker_node[graph.edge_src[list(p.edges)]].any()
                          or attacker_node[graph.edge_dst[list(p.edges)]].any()) for p in paths])
    return expected_rank(np.array([p.z for p in paths]), hits)


def image_rarity_rank(events: pd.DataFrame, attackers: set[str]) -> float | None:
    starts = events[events["action"] == "process_start"]
    image = starts["object_name"].fillna("").str.lower()
    rarity = -image.map(image.value_counts()).to_numpy(dtype=float)
    hits = (starts["object_guid"].fillna("").str.lower().isin(attackers)
            | starts["process_guid"].fillna("").str.lower().isin(attackers)).to_numpy()
    return expected_rank(rarity, hits)


def variants(graphs: list) -> dict[str, GID]:
    """GID with the defaults, its variants and the path baselines, fitted on ``graphs``."""
    history = HistoryEdges.of(graphs)
    default = GID().fit_graphs(graphs, 0)
    box_cox = copy.copy(default)
    box_cox.normalize = True
    per_length = copy.copy(box_cox)
    per_length.shared_lambda = False
    per_length.normalizer_ = per_length._fit_normalizer(history)
    history_reference = copy.copy(box_cox)
    history_reference.reference = "history"
    history_reference.normalizer_ = history_reference._fit_normalizer(history)
    plain_rw = GID(normalize=False, dedupe=False)
    plain_rw.transitions_ = plain_rw._fit_transitions(history)
    plain_rw.fitted_ = True
    rarest = copy.copy(plain_rw)
    rarest.max_length = 1
    return {"gid": default, "gid_walk_scores": GID(node_scores="walk").fit_graphs(graphs, 0),
            "gid_box_cox": box_cox, "gid_per_length_lambda": per_length,
            "gid_history_reference": history_reference,
            "gid_host_rarity": GID(host_rarity=True).fit_graphs(graphs, 0),
            "plain_rw": plain_rw, "rarest_edge": rarest}


def summarise(ranks: list[float | None]) -> dict[str, float]:
    out = {f"detect@{k}": float(np.mean([r is not None and r <= k for r in ranks])) for k in KS}
    out["mrr"] = float(np.mean([1.0 / r if r else 0.0 for r in ranks]))
    return out


def throughput(recordings: dict[str, pd.DataFrame]) -> dict[str, float]:
    everything = pd.concat(list(recordings.values()), ignore_index=True)
    model = GID().fit(everything)
    start = time.perf_counter()
    model.graph_paths(everything, 10)
    seconds = time.perf_counter() - start
    return {"events": len(everything), "seconds": seconds,
            "events_per_minute": len(everything) / seconds * 60}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--limit", type=int, default=None, help="evaluate the first N recordings")
    parser.add_argument("--depth", type=int, default=50, help="paths ranked per recording")
    parser.add_argument("--name", default="paths", help="results file stem")
    args = parser.parse_args()
    import torch

    torch.set_num_threads(1)  # the machine is shared; torch only draws the Box-Cox walks
    recordings = load_recordings()
    views = load_adversary_views()
    labelled = {name: attacker_guids(frame, views[name])
                for name, frame in recordings.items() if name in views}
    labelled = {name: guids for name, guids in labelled.items() if guids}
    names = sorted(labelled)[: args.limit]
    window = GID().window_seconds
    graphs = {name: build_graph(frame, window) for name, frame in recordings.items()}
    rows = []
    for number, name in enumerate(names, start=1):
        test = recordings[name]
        row: dict[str, object] = {"recording": name, "events": len(test),
                                  "process_starts": int((test["action"] == "process_start").sum()),
                                  "attacker_processes": len(labelled[name])}
        for method, variant in variants([g for n, g in graphs.items() if n != name]).items():
            row[method] = path_rank(variant, test, labelled[name], args.depth)
        row["image_rarity"] = image_rarity_rank(test, labelled[name])
        rows.append(row)
        print(f"[{number}/{len(names)}] {name}: " + ", ".join(
            f"{m}={row[m]}" for m in METHODS), flush=True)
    overall = {m: summarise([r[m] for r in rows]) for m in METHODS}
    result = {
        "recordings_windows": len(recordings), "recordings_with_metadata":
            sum(n in views for n in recordings), "recordings_labelled": len(labelled),
        "evaluated": len(rows), "depth": args.depth, "defaults": GID().get_params(),
        "overall": overall, "per_recording": rows, "throughput": throughput(recordings),
        "machine": machine_info(command=" ".join(["bench/paths.py", *sys.argv[1:]]),
                                torch_threads=torch.get_num_threads()),
    }
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / f"{args.name}.json").write_text(json.dumps(result, indent=2) + "\n")
    lines = [f"GID leave-one-recording-out on {len(rows)} labelled OTRF Windows recordings "
             f"(of {len(recordings)}; ranks over the top {args.depth})", "",
             "| method | detect@1 | detect@3 | detect@5 | detect@10 | MRR |",
             "|---|---|---|---|---|---|"]
    for method in METHODS:
        o = overall[method]
        lines.append(f"| {method} | " + " | ".join(f"{o[f'detect@{k}']:.2f}" for k in KS)
                     + f" | {o['mrr']:.3f} |")
    t = result["throughput"]
    lines += ["", f"Graph build + path scoring: {t['events']:,} events in {t['seconds']:.2f} s = "
              f"{t['events_per_minute']:,.0f} events/min ({result['machine']['cpu']}, "
              f"{result['machine']['cores']} cores)."]
    (RESULTS / f"{args.name}.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    sys.exit(main())
