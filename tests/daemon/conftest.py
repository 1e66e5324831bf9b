"""Daemon test fixtures: small trained models in a real registry, simulated events, and a
reader of the output topic (real tansu broker from tests/conftest.py, real DuckDB files)."""

from __future__ import annotations

import copy
import shutil
import threading
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import orjson
import pandas as pd
import pytest

from logguard.broker import create_topics
from logguard.daemon.config import DaemonConfig
from logguard.daemon.service import Daemon, DaemonStats

APE_ENTITIES = ["host", "user", "parent_image", "image", "action", "object_type", "object_class"]
TRAIN_START = datetime(2026, 11, 23, 8, tzinfo=UTC)
SEED = 1


def process_events(hours: float, after_hours: float = 0.0) -> list[dict]:
    """Normal simulated process events of the 4-host enterprise the models were trained on
    (its hosts and users depend on the simulator's seed), ``after_hours`` after training."""
    from logguard.sim import iter_process_events

    return list(iter_process_events(4, TRAIN_START + timedelta(hours=after_hours),
                                    timedelta(hours=hours), seed=SEED))


def running_start(events: list[dict]) -> datetime:
    """The event time of the first of ``events``."""
    return pd.Timestamp(events[0]["time"]).to_pydatetime()


def planted_event(i: int, when: datetime) -> dict:
    """An event no normal host produces: an unseen tool spawned by Word as a service user."""
    return {"time": when.isoformat().replace("+00:00", "Z"), "host": "OFFICE-001.acme.local",
            "user": f"ACME\\intruder{i}", "image": f"C:\\Users\\Public\\dropper{i}.exe",
            "parent_image": "C:\\Program Files\\Microsoft Office\\WINWORD.EXE",
            "action": "network_connect", "object_type": "socket",
            "object_name": f"203.0.113.{i % 250}:4444", "process_id": 4242 + i}


def train_ape(events: list[dict], seed: int, epochs: int = 5):
    """A small APE and its calibrator, fitted on ``events`` the way the daemon reads them."""
    from logguard.events.frames import model_frame
    from logguard.models.ape import APE
    from logguard.models.calibration import ScoreCalibrator

    frame = model_frame(pd.DataFrame(events).rename(columns={"time": "event_time"}))
    ape = APE(entities=APE_ENTITIES, dim=8, epochs=epochs, random_state=seed, progress=False,
              device="cpu")
    ape.fit(frame)
    return ape, ScoreCalibrator.fit(ape.score(frame))


@pytest.fixture(scope="session")
def ape_registry(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, list[str]]:
    """A registry with process/ape promoted (version v1) and a second version v2 added but
    not active; returns (root, [v1, v2]). Tests copy it before changing it.

    v2 is v1 with another ``random_state`` hyper-parameter: a different version (the version
    hashes parameters and state) with the same scores, which is all a hot-reload test needs
    and saves a second training run.
    """
    import torch

    from logguard.models.registry import ModelRegistry

    torch.set_num_threads(2)
    root = tmp_path_factory.mktemp("registry")
    registry = ModelRegistry(root)
    ape, calibrator = train_ape(process_events(2.0), seed=1)
    versions = [registry.add("process", "ape", ape, calibrator)]
    renamed = copy.deepcopy(ape)
    renamed.random_state = 2
    versions.append(registry.add("process", "ape", renamed, calibrator))
    assert versions[0] != versions[1]
    registry.promote("process", "ape", versions[0], reason="test")
    return root, versions


@pytest.fixture
def models_dir(ape_registry: tuple[Path, list[str]], tmp_path: Path) -> Path:
    """A private copy of the session registry."""
    target = tmp_path / "models"
    shutil.copytree(ape_registry[0], target)
    return target


def daemon_config(bootstrap: str, db: Path, models: Path, topic: str, output: str,
                  **changes: object) -> DaemonConfig:
    """A fast-cycling configuration for tests."""
    settings: dict = dict(bootstrap=bootstrap, db=str(db), models=str(models),
                          topics={topic: "process"}, group=f"g-{topic}", output_topic=output,
                          batch_ms=200, batch_size=5000, car_interval_s=1.0,
                          reload_interval_s=0.3, gid_interval_s=1.0)
    settings.update(changes)
    return DaemonConfig(**settings).check()


class RunningDaemon:
    """A :class:`Daemon` on a thread of the test process."""

    def __init__(self, config: DaemonConfig) -> None:
        self.daemon = Daemon(config)
        self.stats: DaemonStats | None = None
        self.error: BaseException | None = None
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self) -> None:
        try:
            self.stats = self.daemon.run()
        except BaseException as exc:  # surfaced by stop()
            self.error = exc

    def wait_ready(self, timeout_s: float = 30.0) -> None:
        assert self.daemon.ready.wait(timeout_s), "the daemon got no partitions in time"

    def wait_events(self, count: int, timeout_s: float = 30.0) -> None:
        deadline = time.monotonic() + timeout_s
        while self.daemon.stats.events < count:
            assert self.error is None, self.error
            assert time.monotonic() < deadline, (
                f"stored {self.daemon.stats.events} of {count} events in {timeout_s} s")
            time.sleep(0.05)

    def stop(self) -> DaemonStats:
        self.daemon.request_stop()
        self.thread.join(timeout=60)
        assert not self.thread.is_alive(), "the daemon did not stop"
        if self.error is not None:
            raise self.error
        assert self.stats is not None
        return self.stats


@pytest.fixture
def start_daemon() -> Iterator[Callable[[DaemonConfig], RunningDaemon]]:
    running: list[RunningDaemon] = []

    def start(config: DaemonConfig) -> RunningDaemon:
        running.append(RunningDaemon(config))
        return running[-1]

    yield start
    for r in running:
        if r.thread.is_alive():
            r.daemon.request_stop()
            r.thread.join(timeout=60)


def read_findings(bootstrap: str, topic: str, *, until: Callable[[list[dict]], bool],
                  timeout_s: float) -> list[dict]:
    """Read the output topic from the start (no group) until ``until(findings)`` holds."""
    from kafka import KafkaConsumer, TopicPartition

    consumer = KafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False,
                             allow_auto_create_topics=False, auto_offset_reset="earliest")
    try:
        parts = [TopicPartition(topic, p) for p in sorted(consumer.partitions_for_topic(topic)
                                                          or [])]
        consumer.assign(parts)
        consumer.seek_to_beginning(*parts)
        findings: list[dict] = []
        deadline = time.monotonic() + timeout_s
        while not until(findings) and time.monotonic() < deadline:
            for messages in consumer.poll(timeout_ms=200).values():
                findings += [orjson.loads(m.value) for m in messages]
        return findings
    finally:
        consumer.close()


def make_output_topic(bootstrap: str, name: str) -> str:
    create_topics(bootstrap, {name: 3})
    return name


def encode(events: list[dict]) -> list[tuple[bytes, bytes]]:
    return [(e["host"].encode(), orjson.dumps(e)) for e in events]


def alert_ids(findings: list[dict]) -> list[str]:
    """Ids of the alert findings (OCSF activity 1 Create; scenario updates are 2)."""
    return [f["finding_info"]["uid"] for f in findings if f.get("activity_id") == 1]

