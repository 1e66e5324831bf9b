"""`jobs/retrain.sh` as CI runs it on the demo data, and the `logguard models` commands."""

from __future__ import annotations

import json
import os
import subprocess
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from logguard.cli import main
from logguard.ingest.consumer import IngestConfig, Ingestor
from logguard.ingest.producer import send_records
from logguard.models.registry import ModelRegistry
from logguard.sim import (
    AttackChain,
    iter_alert_events,
    iter_auth_events,
    iter_process_events,
    simulate_processes,
)
from logguard.store.duckdb_store import EventStore

from .conftest import HOSTS, VICTIM

REPO = Path(__file__).resolve().parents[2]
LOGGUARD = REPO / ".venv" / "bin" / "logguard"


@pytest.mark.kafka
@pytest.mark.slow
@pytest.mark.timeout(300)
def test_the_retrain_job_runs_on_a_history_exported_from_a_simulated_demo_store(
        broker, make_topic, tmp_path):
    # the demo's data path: simulator -> Kafka -> ingest (validation, exactly-once) -> DuckDB,
    # for the two days before today, an intrusion on the victim yesterday morning
    start = datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0) \
        - timedelta(days=2)
    chain = [AttackChain(host=VICTIM, start=start + timedelta(hours=34), name="ci-intrusion")]
    duration = timedelta(hours=48)
    topic = make_topic(1)
    produced = sum(send_records(broker.bootstrap, topic, events, source=source) for source, events
                   in (("process", iter_process_events(HOSTS, start, duration, 7, chain)),
                       ("auth", iter_auth_events(HOSTS, start, duration, 7, chain)),
                       ("alert", iter_alert_events(HOSTS, start, duration, 7, chain))))
    db = tmp_path / "demo.duckdb"
    with EventStore(db) as store:
        stats = Ingestor(IngestConfig(bootstrap=broker.bootstrap, topic=topic, source="process",
                                      group="ci-retrain", until_idle_s=2.0), store).run()
    assert stats.events == produced and stats.dead_letters == 0

    home = tmp_path / "home"
    env = {**os.environ, "LOGGUARD_BIN": str(LOGGUARD), "LOGGUARD_HOME": str(home),
           "LOGGUARD_EXPORT_DB": str(db), "LOGGUARD_DAYS": "2",
           "LOGGUARD_RETRAIN_ARGS": "--set process/ape.epochs=2"}
    job = subprocess.run([str(REPO / "jobs" / "retrain.sh")], env=env, capture_output=True,
                         text=True, timeout=280, check=False)
    assert job.returncode == 0, job.stderr[-3000:]

    report = json.loads((home / "reports" / "retrain-latest.json").read_text())
    yesterday = (start + timedelta(days=1)).date().isoformat()
    assert report["evaluation_day"] == yesterday
    decisions = {slot["slot"]: slot["decision"] for slot in report["slots"]}
    assert decisions["process/ape"] == decisions["process/gid"] == "promoted"
    assert decisions["network/ape"] == decisions["insider/insider-frequency"] == "skipped"
    auth = next(slot for slot in report["slots"] if slot["slot"] == "auth/ape")
    assert auth["decision"] == "skipped"  # few logons
    assert "too few to train and calibrate (need at least 20 to fit and one held out)" in \
        auth["reason"]
    ape = next(slot for slot in report["slots"] if slot["slot"] == "process/ape")
    assert ape["candidate"]["labelled_positives"] >= 10  # the intrusion, labelled in `extra`
    registry = ModelRegistry(home / "models")
    assert set(registry.pointers()) == {("process", "ape"), ("process", "gid")}
    assert sorted(p.name for p in (home / "history").iterdir()) == [
        "source=alert", "source=auth", "source=process"]
    assert "process/ape" in job.stdout and "promoted" in job.stdout


def _write_csv(path: Path, hours: float, seed: int) -> Path:
    frame = simulate_processes(HOSTS, "2026-11-02T00:00:00Z", timedelta(hours=hours), seed=seed)
    frame.to_csv(path, index=False)
    return path


def test_models_add_list_show_promote_and_rollback(tmp_path, capsys):
    train_csv = _write_csv(tmp_path / "train.csv", 6, seed=1)
    reference_csv = _write_csv(tmp_path / "reference.csv", 3, seed=2)
    models = str(tmp_path / "models")
    versions = []
    for entities in ("host,image,action", "host,parent_image,image,action"):
        out = tmp_path / f"rarity-{len(versions)}"
        assert main(["train", "rarity", "--input", str(train_csv), "--entities", entities,
                     "--out", str(out)]) == 0
        assert main(["models", "add", "process", "--model-dir", str(out), "--reference",
                     str(reference_csv), "--models", models, "--promote"]) == 0
        versions.append(ModelRegistry(models).active_version("process", "rarity"))
    assert versions[0] != versions[1]
    capsys.readouterr()

    assert main(["models", "list", "--models", models]) == 0
    listing = capsys.readouterr().out
    assert "process/rarity" in listing and versions[1] in listing

    assert main(["models", "rollback", "process/rarity", "--models", models]) == 0
    assert f"rolled back to {versions[0]}" in capsys.readouterr().out
    assert main(["models", "show", "process/rarity", "--models", models]) == 0
    shown = capsys.readouterr().out
    assert f"* {versions[0]}" in shown and f"  {versions[1]}" in shown
    assert "rollback from" in shown

    assert main(["models", "promote", "process/rarity", "nope", "--models", models]) == 5
    assert "has no version 'nope'" in capsys.readouterr().err
    assert main(["models", "show", "process", "--models", models]) == 2
    assert "expected SOURCE/MODEL" in capsys.readouterr().err
    assert main(["retrain", "--history", str(tmp_path / "none"), "--models", models]) == 2
    assert "does not exist" in capsys.readouterr().err
    assert main(["retrain", "--history", str(tmp_path), "--models", models,
                 "--set", "process/ape.epoch=3"]) == 2
    assert "has no hyper-parameter(s) epoch" in capsys.readouterr().err
