"""Shared fixtures: a real tansu broker on a free loopback port (memory storage).

The broker is started once per test session and stopped in a finalizer; each test makes
its own uniquely named topics with :func:`make_topic`, so tests never see each other's data.
"""

from __future__ import annotations

import itertools
import os
import subprocess
import sys
from collections.abc import Callable, Sequence
from pathlib import Path

import pytest

from logguard.broker import EmbeddedBroker, create_topics

REPO_ROOT = Path(__file__).resolve().parents[1]
DATA_DIR = REPO_ROOT.parent / "shared" / "data"
_topic_numbers = itertools.count()


@pytest.fixture(scope="session")
def broker(request: pytest.FixtureRequest) -> EmbeddedBroker:
    """A running tansu broker on 127.0.0.1 with in-memory storage."""
    running = EmbeddedBroker().start()
    request.addfinalizer(running.stop)
    return running


@pytest.fixture
def make_topic(broker: EmbeddedBroker, request: pytest.FixtureRequest) -> Callable[[int], str]:
    """Create a fresh topic with the given number of partitions; returns its name."""

    def make(partitions: int = 1) -> str:
        name = f"t-{request.node.name[:40]}-{os.getpid()}-{next(_topic_numbers)}"
        name = "".join(ch if ch.isalnum() or ch in "-_." else "-" for ch in name)
        create_topics(broker.bootstrap, {name: partitions})
        return name

    return make


def _send(bootstrap: str, topic: str, messages: Sequence[tuple[bytes | None, bytes]],
          partition_of: Callable[[int], int] | None = None) -> list[tuple[int, int]]:
    """Send (key, value) pairs; returns the (partition, offset) of each, once acknowledged."""
    from kafka import KafkaProducer

    producer = KafkaProducer(bootstrap_servers=bootstrap, linger_ms=20, batch_size=256 * 1024,
                             max_request_size=8 << 20)
    try:
        futures = [
            producer.send(topic, value=value, key=key,
                          partition=None if partition_of is None else partition_of(i))
            for i, (key, value) in enumerate(messages)
        ]
        producer.flush()
        placed = [future.get(timeout=30) for future in futures]
        return [(meta.partition, meta.offset) for meta in placed]
    finally:
        producer.close()


def logguard_command(*args: str) -> list[str]:
    """The command line running ``logguard ARGS`` with this interpreter."""
    return [sys.executable, "-m", "logguard", *args]


def run_logguard(*args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    """Run ``logguard ARGS`` to completion in a subprocess (bounded in time)."""
    return subprocess.run(logguard_command(*args), capture_output=True, text=True,
                          timeout=timeout, cwd=REPO_ROOT, check=False)


@pytest.fixture
def send_messages() -> Callable[..., list[tuple[int, int]]]:
    """``send_messages(bootstrap, topic, [(key, value), ...], partition_of=None)``."""
    return _send


@pytest.fixture
def logguard_cli() -> Callable[..., subprocess.CompletedProcess[str]]:
    """``logguard_cli(*args, timeout=120)`` runs the CLI in a subprocess."""
    return run_logguard


@pytest.fixture(scope="session")
def demo_run(tmp_path_factory: pytest.TempPathFactory):
    """One small `logguard demo` run (3 hosts, the default 20 users) shared by the demo and
    notebook tests: (DuckDB path, DemoReport, printed lines)."""
    from logguard.demo import DemoConfig, run_demo

    db = tmp_path_factory.mktemp("demo") / "demo.duckdb"
    lines: list[str] = []
    report = run_demo(DemoConfig(db=db, hosts=3, train_hours=24, test_hours=24, epochs=3),
                      say=lines.append)
    return db, report, lines
