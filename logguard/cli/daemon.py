"""Run the streaming service: consume, score, alert, rank scenarios and publish findings.

Consumes the configured topics (default logguard.process/auth/network/insider and
logguard.ids for third-party IDS alerts) as one member of --group, validates each message
(bad ones go to dead letters), scores each micro-batch with the active model of each source
from the registry --models (APE and the baselines per event; GID over per-host sliding
windows of process events), calibrates scores to 0-100 and raises an alert above the
source's threshold (default: the alert budget, e.g. 5 per 10,000 events). Events, scores,
alerts and the outbox are written in one DuckDB transaction per batch, so kill -9 anywhere
loses and duplicates nothing. CAR re-ranks alerts into scenarios every few seconds. Each
alert and scenario update is published as an OCSF Detection Finding (stable ids: a replay
re-sends the same id) to --output-topic, and to syslog/CEF or a webhook when configured.
A promoted model version is picked up without a restart. SIGTERM or Ctrl-C finishes the
batch, commits, publishes what is queued and exits 0.

Every flag can live in a TOML file (--config); flags override the file. Print the effective
configuration with --print-config; logguard/daemon/example.toml documents every key.

example:
  logguard daemon --bootstrap 127.0.0.1:9092 --db data/logguard.duckdb --models models \\
      --http-port 8710 --log-format json
  curl -s 127.0.0.1:8710/healthz; curl -s 127.0.0.1:8710/metrics
"""

from __future__ import annotations

import argparse
import gc
import logging
import signal
import sys
import time

import orjson

log = logging.getLogger("logguard.daemon")

GC_YOUNG_THRESHOLD = 100_000  # allocations between young collections (Python: 700)
_LOG_ATTRIBUTES = frozenset(vars(logging.makeLogRecord({})))


class JsonLogFormatter(logging.Formatter):
    """One JSON object per line: time, level, logger, message (+ the exception, if any)."""

    def format(self, record: logging.LogRecord) -> str:
        entry = {"time": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created))
                 + f".{int(record.msecs):03d}Z", "level": record.levelname,
                 "logger": record.name, "message": record.getMessage()}
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        return orjson.dumps(entry).decode()


def _topic(text: str) -> tuple[str, str]:
    topic, sep, source = text.partition("=")
    if not sep or not topic or not source:
        raise argparse.ArgumentTypeError(f"expected TOPIC=SOURCE, got {text!r}")
    return topic, source


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--config", metavar="FILE.toml", help="TOML file with any of the flags")
    parser.add_argument("--bootstrap", metavar="HOST:PORT", help="Kafka bootstrap servers")
    parser.add_argument("--db", metavar="PATH", help="the DuckDB file this daemon owns")
    parser.add_argument("--models", metavar="DIR", help="model registry root")
    parser.add_argument("--topic", dest="topics", action="append", type=_topic,
                        metavar="TOPIC=SOURCE", help="a topic and its source (repeatable; "
                        "replaces the default topics)")
    parser.add_argument("--group", help="consumer group (default logguard-daemon)")
    parser.add_argument("--output-topic", help="topic for the findings (default logguard.alerts)")
    parser.add_argument("--alert-budget", dest="alert_budget_per_10k", type=float,
                        metavar="N", help="default threshold: about N alerts per 10,000 events")
    parser.add_argument("--alert-group-window", dest="alert_group_window_s", type=float,
                        metavar="SECONDS", help="repeats of one model and pattern within this "
                        "much event time are one alert with a count (default 3600; 0 = off)")
    parser.add_argument("--batch-size", type=int, help="messages per micro-batch at most")
    parser.add_argument("--batch-ms", type=int, help="milliseconds per micro-batch at most")
    parser.add_argument("--http-host", help="address of /healthz and /metrics (127.0.0.1)")
    parser.add_argument("--http-port", type=int, help="port of /healthz and /metrics (0 = off)")
    parser.add_argument("--until-idle", dest="until_idle_s", type=float, metavar="SECONDS",
                        help="stop after this long without a message (tests, demos)")
    parser.add_argument("--log-format", choices=("text", "json"), help="log line format")
    parser.add_argument("--print-config", action="store_true",
                        help="print the effective configuration as TOML and exit")


def _setup_logging(log_format: str) -> None:
    if log_format != "json":
        return
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonLogFormatter())
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(handler)


def _tune_garbage_collector() -> None:
    """Keep Python's cyclic collector off the hot path of a long-running daemon.

    A 50,000-message batch allocates millions of tuples and dicts, and with the default
    thresholds (700 allocations per young collection) each batch triggered hundreds of young
    collections and several full ones that walked every live object, including the loaded
    models and modules. ``gc.freeze()`` moves what start-up built into a generation the
    collector never scans, and a young threshold of 100,000 keeps collections per batch to
    a few; reference counting still frees almost everything the loop allocates at once.
    """
    gc.collect()
    gc.freeze()
    gc.set_threshold(GC_YOUNG_THRESHOLD, *gc.get_threshold()[1:])


def run(args: argparse.Namespace) -> int:
    from logguard.daemon.config import load_config, render_toml

    overrides = {name: getattr(args, name) for name in (
        "bootstrap", "db", "models", "group", "output_topic", "alert_budget_per_10k",
        "alert_group_window_s", "batch_size", "batch_ms", "http_host", "http_port",
        "until_idle_s", "log_format")}
    if args.topics:
        overrides["topics"] = dict(args.topics)
    config = load_config(args.config, overrides)
    if args.print_config:
        sys.stdout.write(render_toml(config))
        return 0
    _setup_logging(config.log_format)

    import torch

    # One intra-op thread: the daemon's own threads (main, DuckDB writer, publisher) keep the
    # cores busy, and OpenMP workers waiting beside them made APE scoring 4x slower.
    torch.set_num_threads(config.torch_threads)

    from logguard.daemon.service import Daemon

    daemon = Daemon(config)
    _tune_garbage_collector()

    def stop(signum: int, _frame: object) -> None:
        log.info("%s: finishing the current batch", signal.Signals(signum).name)
        daemon.request_stop()

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    stats = daemon.run(on_status=lambda s: log.info("%s", s.line()))
    log.info("wall seconds per stage: %s",
             orjson.dumps({k: round(v, 3) for k, v in stats.seconds.items()}).decode())
    print(f"daemon done: {stats.line()}", file=sys.stdout, flush=True)
    return 0
