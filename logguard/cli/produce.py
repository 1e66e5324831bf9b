"""Replay a file into a Kafka topic as JSON events.

Reads --input with the format reader (csv, jsonl, parquet, sysmon, ait, cert; inferred from
the extension when --format is omitted) and sends one JSON object per event. The message key
is the event's host (or user when it has no host), so one host's events stay in order on one
partition. The topic is created with --partitions partitions when it does not exist (topics
are never auto-created). --rate caps events per second; --source adds "source": S to events
that name no source. A progress bar goes to stderr and the final count to stdout.

example:
  logguard produce --bootstrap 127.0.0.1:9092 --topic flows \\
      --input ../shared/data/ids2017/test.csv --format csv --rate 5000
"""

from __future__ import annotations

import argparse
import sys
import time

from logguard.cli._common import add_input_arguments, infer_format
from logguard.errors import InputError


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--bootstrap", required=True, metavar="HOST:PORT",
                        help="Kafka bootstrap servers")
    parser.add_argument("--topic", required=True, help="topic to write to")
    add_input_arguments(parser, entities=False)
    parser.add_argument("--rate", type=float, default=None, metavar="N",
                        help="at most N events per second (default: as fast as possible)")
    parser.add_argument("--source", default=None,
                        help='add "source": S to every event that has no "source" field')
    parser.add_argument("--partitions", type=int, default=4,
                        help="partitions of the topic if it has to be created (default 4)")


def run(args: argparse.Namespace) -> int:
    from tqdm import tqdm

    from logguard.broker import create_topics
    from logguard.events.readers import iter_records
    from logguard.ingest.producer import send_records

    if args.rate is not None and args.rate <= 0:
        raise InputError("--rate must be positive")
    if args.partitions <= 0:
        raise InputError("--partitions must be positive")
    fmt = infer_format(args.input, args.format)
    create_topics(args.bootstrap, {args.topic: args.partitions})
    started = time.monotonic()
    with tqdm(unit=" events", file=sys.stderr, disable=None) as progress:
        sent = send_records(args.bootstrap, args.topic, iter_records(args.input, fmt),
                            rate=args.rate, source=args.source, on_sent=progress.update)
    print(f"produced {sent} events to {args.topic} in {time.monotonic() - started:.1f} s",
          flush=True)
    return 0
