"""Run the whole product on the embedded broker and a simulated enterprise; show the alert queue.

Starts tansu on a free loopback port, simulates an enterprise's Windows hosts (process
events, logons and third-party IDS alerts) for a clean training window (--train-hours) and
the next day with one planted intrusion, and its staff's CERT-style activity (--users; three
weeks before, and an insider's after-hours leak on the test day), and streams the clean
window through the daemon into the DuckDB file. It then trains every model slot on it
(process/ape, process/gid, auth/ape, insider/lan), registers and promotes them in the registry
beside the file (PATH-models/), streams the next day through the daemon (scoring, GID path
windows, LAN on each user's recent activities, CAR ranking, OCSF findings on logguard.alerts)
and prints the ranked alert queue and the top scenarios with explanations.

The DuckDB file and the registry stay for the analyst commands:

  logguard alerts --db logguard-demo.duckdb --top 20
  logguard scenarios --db logguard-demo.duckdb
  logguard models list --models logguard-demo-models

Takes 1-3 minutes on a 2-core CPU (most of it training APE). Every step is real; only the
enterprise is simulated.

example:
  logguard demo --db /tmp/demo.duckdb --hosts 12
"""

from __future__ import annotations

import argparse
import shutil
from pathlib import Path

from logguard.errors import InputError


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--db", type=Path, default=Path("logguard-demo.duckdb"), metavar="PATH",
                        help="DuckDB file to create (default ./logguard-demo.duckdb; an existing "
                        "demo file and its PATH-models/ registry are replaced)")
    parser.add_argument("--hosts", type=int, default=8, help="simulated hosts (default 8)")
    parser.add_argument("--users", type=int, default=20,
                        help="staff whose activity is simulated for LAN (default 20)")
    parser.add_argument("--seed", type=int, default=7, help="simulation and training seed")
    parser.add_argument("--top", type=int, default=15, help="rows of the queue to print")
    parser.add_argument("--epochs", type=int, default=10,
                        help="APE training epochs (default 10; fewer is faster and coarser)")
    parser.add_argument("--train-hours", type=float, default=24.0, metavar="H",
                        help="clean training window in hours (default 24; 48 halves the false "
                        "alerts and ranks the intrusion higher, and trains about 2x longer)")


def run(args: argparse.Namespace) -> int:
    import torch

    from logguard.demo import DemoConfig, run_demo

    if args.hosts < 3:
        raise InputError("--hosts must be at least 3 (an office host, a developer and a server)")
    if args.users < 5:
        raise InputError("--users must be at least 5 (the insider and colleagues to compare)")
    if args.top < 1 or args.epochs < 1 or args.train_hours < 6:
        raise InputError("--top and --epochs must be at least 1, --train-hours at least 6")
    torch.set_num_threads(min(2, torch.get_num_threads()))
    config = DemoConfig(db=args.db, hosts=args.hosts, users=args.users, seed=args.seed,
                        top=args.top,
                        epochs=args.epochs, train_hours=args.train_hours)
    for stale in (args.db, args.db.with_name(args.db.name + ".wal")):
        stale.unlink(missing_ok=True)
    shutil.rmtree(config.models, ignore_errors=True)
    report = run_demo(config, say=lambda line: print(line, flush=True))
    _print_queue(report)
    _print_scenarios(report)
    found = report.attack_ranks
    print(f"\nplanted intrusion: {report.attack_events} events; {len(found)} alerts on them, "
          f"best rank {found[0] if found else '-'} of {report.alerts:,}; "
          f"{sum(r <= args.top for r in found)} of them in the top {args.top}")
    insider = report.insider_ranks
    print(f"planted insider (after-hours thumb drive and leak-site upload): "
          f"{report.insider_events} activities; {len(insider)} alerts on them, best rank "
          f"{insider[0] if insider else '-'}; {sum(r <= args.top for r in insider)} of them in "
          f"the top {args.top}")
    print("timings: " + ", ".join(f"{k} {v:.1f} s" for k, v in report.timings.items()))
    print(f"the DuckDB file stays for `logguard alerts --db {args.db}`; models: {config.models}")
    return 0


def _print_queue(report) -> None:
    from logguard.demo import short

    print("\nranked alert queue (calibrated score, then CAR rank; * = on a planted intrusion "
          "event; a path alert is marked by its last event):")
    print(f"  {'rank':>4} {'score':>6}  {'time':<8}  {'host':<22} {'user':<16} summary  [scenario]")
    for row in report.queue:
        mark = "*" if isinstance(row["attack_step"], str) else " "
        scenario = (row["scenario_id"] or "-")[:8]
        print(f"{mark} {row['rank']:>4} {row['score']:6.1f}  {row['event_time']:%H:%M:%S}  "
              f"{short(row['host'], 22):<22} {short(row['user_name'], 16):<16} "
              f"{short(row['summary'], 70, keep_end=False)}  [{scenario}]")


def _print_scenarios(report) -> None:
    from logguard.demo import explanation_text, short

    print("\ntop scenarios:")
    for scenario in report.scenarios:
        print(f"  #{scenario['rank']} score {scenario['score']:.3f}, {scenario['alert_count']} "
              f"alerts, hosts {', '.join(scenario['hosts'])}: {scenario['summary']}")
        for alert in scenario["alerts"]:
            print(f"      {alert['event_time']:%H:%M:%S} {alert['model']:<4} "
                  f"{short(alert['summary'], 80, keep_end=False)} (x{alert['alerts']})")
            why = explanation_text(alert["explanation"])
            if why:
                print(f"           why: {why}")
