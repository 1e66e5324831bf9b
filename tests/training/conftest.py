"""Simulated stores and Parquet histories for the training tests.

Events go through the real ingest path (schema validation into the ``events`` layout, one
``EventStore.write_batch`` transaction per source) into a real DuckDB file, and the history
is written from it by the real export. Kafka is left out here (the CI-job test in
``test_retrain_cli.py`` goes through the real broker): offsets are numbered per source.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import orjson
import pytest
import torch

from logguard.events.validate import Validator
from logguard.ingest.batch import MicroBatch
from logguard.sim import AttackChain, host_names, iter_auth_events, iter_process_events
from logguard.store.duckdb_store import EventStore
from logguard.store.export import export_events

START = datetime(2026, 11, 23, tzinfo=UTC)  # a Monday
HOSTS = 3
VICTIM = host_names(HOSTS)[0]  # OFFICE-001: a workstation, as the phishing chain needs
torch.set_num_threads(2)


def intrusion(hours_after_start: float, host: str = VICTIM, name: str = "intrusion"
              ) -> AttackChain:
    return AttackChain(host=host, start=START + timedelta(hours=hours_after_start), name=name)


def simulated_sources(hours: float, attacks: list[AttackChain], seed: int = 7
                      ) -> dict[str, Iterable[dict[str, Any]]]:
    """Process events and the authentications they imply, labelled where attacks are planted."""
    duration = timedelta(hours=hours)
    return {"process": iter_process_events(HOSTS, START, duration, seed=seed, attacks=attacks),
            "auth": iter_auth_events(HOSTS, START, duration, seed=seed, attacks=attacks)}


def write_store(db: Path, sources: dict[str, Iterable[dict[str, Any]]]) -> int:
    """Validate and store every event (one transaction per source); returns the count."""
    stored = 0
    with EventStore(db) as store:
        for source, events in sources.items():
            batch = MicroBatch(Validator(source))
            for offset, event in enumerate(events):
                batch.add(f"logguard.{source}", 0, offset, None, orjson.dumps(event))
            assert not batch.dead_letter_rows, batch.dead_letter_rows[:1]
            store.write_batch(batch.events_table(), batch.dead_letters_table(), batch.offsets)
            stored += batch.events
    return stored


def write_history(folder: Path, sources: dict[str, Iterable[dict[str, Any]]]) -> Path:
    """A DuckDB store of ``sources`` exported to ``folder/history``; returns the history."""
    db = folder / "store.duckdb"
    write_store(db, sources)
    with EventStore(db) as store:
        export_events(store.con, folder / "history")
    return folder / "history"


@pytest.fixture(scope="session")
def clean_history(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Two simulated days: a clean Monday, and a Tuesday with one intrusion (10:00 UTC)."""
    folder = tmp_path_factory.mktemp("clean-history")
    return write_history(folder, simulated_sources(48, [intrusion(34)]))
