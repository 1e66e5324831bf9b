"""LAN training time at the issue's scale: one simulated month of 1,000 users on CPU.

Simulates a CERT-layout release (``logguard.sim.cert``, ``--users`` users over ``--days`` days,
no insiders), reads it with the ``cert`` reader and fits :class:`~logguard.models.lan.LAN`
with the shipped defaults (``max_train_sequences`` bounds the rows an epoch sees) on
``--threads`` torch threads. Reports the wall and CPU seconds of the fit (simulation and
reading are timed apart) and the load average, to ``bench/results/lan_training.{json,md}``.

    .venv/bin/python bench/lan_training.py [--users 1000 --days 30 --threads 2]
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

import torch
from _machine import machine_info

from logguard.events.readers import read_frame
from logguard.models.lan import LAN
from logguard.sim.cert import simulate_cert

RESULTS = Path(__file__).resolve().parents[1] / "bench" / "results"
TARGET_S = 600.0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--users", type=int, default=1000)
    parser.add_argument("--days", type=int, default=30)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    load_before = [round(x, 2) for x in os.getloadavg()]
    with tempfile.TemporaryDirectory(prefix="logguard-lan-bench-") as folder:
        started = time.perf_counter()
        simulate_cert(folder, n_users=args.users, days=args.days, seed=args.seed, scenarios=())
        simulated = time.perf_counter()
        frame = read_frame(folder, "cert")
        read = time.perf_counter()
    print(f"simulated {len(frame):,} activities in {simulated - started:.0f} s, "
          f"read in {read - simulated:.0f} s; fitting LAN", file=sys.stderr)
    cpu = time.process_time()
    wall = time.perf_counter()
    model = LAN(random_state=args.seed).fit(frame)
    fit_wall, fit_cpu = time.perf_counter() - wall, time.process_time() - cpu
    result = {
        "users": args.users, "days": args.days, "activities": len(frame),
        "train_sequences": min(len(frame), model.max_train_sequences),
        "epochs": model.epochs, "threads": args.threads,
        "simulate_s": round(simulated - started, 1), "read_s": round(read - simulated, 1),
        "fit_wall_s": round(fit_wall, 1), "fit_cpu_s": round(fit_cpu, 1),
        "target_s": TARGET_S, "met": fit_wall < TARGET_S,
        "load_average_before": load_before,
        "machine": machine_info(),
        "command": " ".join([Path(sys.executable).name, *sys.argv]),
        "finished": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
    }
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "lan_training.json").write_text(json.dumps(result, indent=2) + "\n")
    m = result["machine"]
    (RESULTS / "lan_training.md").write_text(
        f"# LAN training time ({args.users:,} simulated users x {args.days} days)\n\n"
        f"| activities | rows per epoch | epochs | torch threads | fit wall | fit CPU | target |\n"
        f"|---|---|---|---|---|---|---|\n"
        f"| {len(frame):,} | {result['train_sequences']:,} | {model.epochs} | {args.threads} | "
        f"{fit_wall:.0f} s | {fit_cpu:.0f} s | < {TARGET_S:.0f} s: "
        f"{'met' if result['met'] else 'NOT met'} |\n\n"
        f"Simulation {result['simulate_s']} s and reading {result['read_s']} s are not in the "
        f"fit time. Machine: {m['cpu']}, {m['cores']} cores; load average before "
        f"{', '.join(map(str, load_before))}. Command: `{result['command']}` "
        f"({result['finished']}).\n")
    print(json.dumps({k: result[k] for k in ("activities", "fit_wall_s", "fit_cpu_s", "met")}))


if __name__ == "__main__":
    main()
