"""Record an analyst verdict on an alert: true-positive, false-positive or benign.

The verdict becomes the alert's status, feeds CAR's ranking (true positives weigh more,
false positives and benign alerts less) and the retrain job's threshold calibration.
With --suppress DAYS, a benign or false-positive verdict also suppresses the alert's pattern
(its model plus its entities minus volatile ones: times, process ids and GUIDs, source
ports) for DAYS days: the daemon stores matching new alerts as `suppressed` instead of
raising them. `logguard suppressions` lists them; `--revoke ID` undoes one.

Feedback writes: the DuckDB file is opened read-write; while a daemon holds it, pass --api.

examples:
  logguard feedback 9c1e44d0 true-positive --note "confirmed with the host owner" \\
      --db logguard-demo.duckdb
  logguard feedback 51aa02c7 benign --suppress 30 --note "nightly backup" \\
      --db logguard.duckdb --api http://127.0.0.1:8700
"""

from __future__ import annotations

import argparse
import json

from logguard.cli._analyst import WHERE_HELP, add_store_arguments, api_token
from logguard.store.alerts import VERDICTS

__doc__ += WHERE_HELP


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("alert_id", metavar="ALERT_ID", help="alert id or unique prefix")
    parser.add_argument("verdict", choices=VERDICTS, help="the verdict")
    parser.add_argument("--note", default=None, metavar="TEXT", help="free-text note")
    parser.add_argument("--suppress", type=float, default=None, metavar="DAYS",
                        help="benign/false-positive only: suppress this alert's pattern for "
                        "DAYS days")
    add_store_arguments(parser)
    parser.add_argument("--format", choices=("text", "json"), default="text")


def run(args: argparse.Namespace) -> int:
    from logguard.analyst.backend import open_backend
    from logguard.analyst.feedback import validate_feedback

    validate_feedback(args.verdict, args.note, args.suppress)
    with open_backend(args.db, args.api, api_token(args), write=True) as backend:
        result = backend.feedback(args.alert_id, args.verdict, args.note, args.suppress)
    if args.format == "json":
        print(json.dumps(result, indent=2))
        return 0
    print(f"recorded {result['verdict']} on alert {result['alert_id']} "
          f"(feedback {result['feedback_id']})")
    suppression = result.get("suppression")
    if suppression:
        print(f"suppression {suppression['suppression_id']} until {suppression['expires_at']}: "
              f"{suppression['model']} {json.dumps(suppression['pattern'], ensure_ascii=False)}"
              f"\n  undo with: logguard suppressions --revoke {suppression['suppression_id']}")
    return 0
