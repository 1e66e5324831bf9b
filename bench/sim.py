"""Throughput of the process-trace simulator: 1,000,000 events, streamed and as a frame.

Run:  .venv/bin/python bench/sim.py [--events N]   (from the repository root)

An enterprise of 40 hosts (26 office, 10 developer, 4 servers) is
simulated from Monday 00:00 UTC with one planted attack chain, for as many hours as it takes
to produce ``--events`` events (default 1,000,000): first streamed as dicts
(``iter_process_events``, what the Kafka demo consumes), then built as a DataFrame
(``simulate_processes``). Reports events/s, wall time and peak RSS of each form, and the
event mix. Results: ``bench/results/sim.json`` and ``bench/results/sim.md``.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import sys
import time
from datetime import datetime
from itertools import islice
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from _machine import machine_info  # noqa: E402

from logguard.sim import AttackChain, iter_process_events, simulate_processes  # noqa: E402

RESULTS = ROOT / "bench" / "results"
HOSTS = 40
SEED = 1
START = "2026-11-23T00:00:00Z"
DURATION_S = 3 * 24 * 3600  # long enough for 1 M events; the stream is cut at --events
CHAIN = AttackChain("OFFICE-005.acme.local", "2026-11-23T10:20:00Z", name="bench-chain")


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=1_000_000)
    args = parser.parse_args()

    began = time.perf_counter()
    last = None
    count = 0
    stream = iter_process_events(HOSTS, START, DURATION_S, SEED, [CHAIN])
    for event in islice(stream, args.events):
        count += 1
        last = event
    stream_s = time.perf_counter() - began
    stream_rss = peak_rss_mb()
    assert last is not None
    covered = datetime.fromisoformat(last["time"]) - datetime.fromisoformat(START)
    covered_s = covered.total_seconds()

    began = time.perf_counter()
    frame = simulate_processes(HOSTS, START, covered_s, SEED, [CHAIN])
    frame_s = time.perf_counter() - began

    result = {
        "command": " ".join([".venv/bin/python", "bench/sim.py", *sys.argv[1:]]),
        "machine": machine_info(load_average=os.getloadavg()),
        "hosts": HOSTS,
        "simulated_hours": round(covered_s / 3600, 2),
        "stream": {"events": count, "seconds": round(stream_s, 2),
                   "events_per_s": round(count / stream_s), "peak_rss_mb": round(stream_rss)},
        "frame": {"events": len(frame), "seconds": round(frame_s, 2),
                  "events_per_s": round(len(frame) / frame_s), "peak_rss_mb": round(peak_rss_mb())},
        "attack_events": int(frame["attack_step"].notna().sum()),
        "actions": frame["action"].value_counts().to_dict(),
    }
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "sim.json").write_text(json.dumps(result, indent=2) + "\n")
    m = result["machine"]
    lines = [
        "# Process-trace simulator throughput",
        "",
        f"`{result['command']}` — {HOSTS} hosts, {result['simulated_hours']} simulated hours, "
        f"one planted chain ({result['attack_events']} attack events).",
        "",
        "| form | events | seconds | events/s | peak RSS (MB) |",
        "|---|---:|---:|---:|---:|",
    ]
    for form in ("stream", "frame"):
        r = result[form]
        lines.append(f"| {form} | {r['events']:,} | {r['seconds']} | {r['events_per_s']:,} | "
                     f"{r['peak_rss_mb']} |")
    lines += ["", f"Machine: {m['cpu']}, {m['cores']} cores, Python {m['python']}, pandas "
              f"{m['pandas']}; load average at the end {m['load_average']} (shared machine: "
              "noisy)."]
    (RESULTS / "sim.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
