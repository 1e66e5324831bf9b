"""Consume a Kafka topic into the DuckDB store: validated events, dead letters, exactly once.

Joins consumer group --group, reads micro-batches (at most --batch-size messages or
--batch-ms milliseconds), validates each message against the schema of --source (or of
the source a message names in its "source" property), and writes accepted events to the
table `events` and refused ones, with their raw bytes and the reason, to `dead_letters`.
Events, dead letters and the last offset per partition are written in one DuckDB
transaction; Kafka offsets are committed after it. On (re)assignment each partition resumes
at the offset stored in the DuckDB file, so a crash (even kill -9) loses and duplicates
nothing. SIGTERM or Ctrl-C finishes the current batch, commits, and exits 0.

Scaling out: run several `logguard ingest` processes with the same --group; Kafka splits
the partitions between them. Give each its own --db file (a shard): DuckDB allows one
writer process per file.

example:
  logguard ingest --bootstrap 127.0.0.1:9092 --topic process-events --source process \
      --db data/shard-0.duckdb --group logguard --until-idle 10
"""

from __future__ import annotations

import argparse
import logging
import signal
import sys
from pathlib import Path

from logguard.errors import InputError

log = logging.getLogger("logguard.ingest")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--bootstrap", required=True, metavar="HOST:PORT",
                        help="Kafka bootstrap servers")
    parser.add_argument("--topic", required=True, help="topic to consume")
    parser.add_argument("--source", required=True,
                        help="source schema of the topic's events (process, auth, network, "
                        "insider, alert)")
    parser.add_argument("--db", required=True, type=Path, metavar="PATH",
                        help="DuckDB file of this process (created when missing)")
    parser.add_argument("--group", default="logguard-ingest", help="consumer group id")
    parser.add_argument("--until-idle", type=float, default=None, metavar="SECONDS",
                        help="exit once no message has arrived for this long (counted from "
                        "the partition assignment; the first join gets 30 s more)")
    parser.add_argument("--batch-size", type=int, default=50_000, metavar="N",
                        help="most messages per micro-batch (default 50000)")
    parser.add_argument("--batch-ms", type=int, default=500, metavar="MS",
                        help="most milliseconds spent filling a micro-batch (default 500)")
    parser.add_argument("--max-message-bytes", type=int, default=1 << 20, metavar="BYTES",
                        help="larger messages go to dead letters (default 1 MiB)")
    parser.add_argument("--session-timeout-ms", type=int, default=6000,
                        help="consumer-group session timeout (default 6000; the embedded "
                        "broker answers a join after about half of it)")
    parser.add_argument("--heartbeat-interval-ms", type=int, default=1000)
    parser.add_argument("--max-poll-interval-ms", type=int, default=30_000,
                        help="rebalance timeout (default 30000): after a crash, the embedded "
                        "broker hands the dead member's partitions on only after this")
    parser.add_argument("--auto-offset-reset", choices=("earliest", "latest"), default="earliest",
                        help="where a partition with no stored or committed offset starts")
    parser.add_argument("--status-every", type=float, default=5.0, metavar="SECONDS",
                        help="log a status line this often")


def run(args: argparse.Namespace) -> int:
    from logguard.ingest.consumer import IngestConfig, Ingestor
    from logguard.store.duckdb_store import EventStore

    for flag in ("batch_size", "batch_ms", "max_message_bytes"):
        if getattr(args, flag) <= 0:
            raise InputError(f"--{flag.replace('_', '-')} must be positive")
    config = IngestConfig(
        bootstrap=args.bootstrap, topic=args.topic, source=args.source, group=args.group,
        batch_size=args.batch_size, batch_ms=args.batch_ms, until_idle_s=args.until_idle,
        max_message_bytes=args.max_message_bytes, session_timeout_ms=args.session_timeout_ms,
        heartbeat_interval_ms=args.heartbeat_interval_ms,
        max_poll_interval_ms=args.max_poll_interval_ms,
        auto_offset_reset=args.auto_offset_reset, status_every_s=args.status_every,
    )
    with EventStore(args.db) as store:
        ingestor = Ingestor(config, store)

        def stop(signum: int, _frame: object) -> None:
            log.info("%s: finishing the current batch", signal.Signals(signum).name)
            ingestor.request_stop()

        signal.signal(signal.SIGTERM, stop)
        signal.signal(signal.SIGINT, stop)
        stats = ingestor.run(on_status=lambda s: log.info("%s", s.line()))
    print(f"ingest done: {stats.line()}", file=sys.stdout, flush=True)
    return 0
