"""`logguard train lan` / `logguard score` end to end on a simulated CERT release."""

from __future__ import annotations

import json

import pandas as pd
from sklearn.metrics import roc_auc_score

from logguard.events.readers.cert import load_answers
from logguard.sim.cert import simulate_cert


def test_train_then_score_a_cert_release(tmp_path, logguard_cli):
    release = tmp_path / "release"
    simulate_cert(release, n_users=10, days=30, seed=2)
    trained = logguard_cli("train", "lan", "--input", str(release), "--format", "cert",
                           "--out", str(tmp_path / "model"), "--label-column", "label",
                           "--epochs", "2", "--dim", "32", "--batch-size", "128", "--threads", "1",
                           timeout=300)
    assert trained.returncode == 0, trained.stderr
    assert trained.stdout.startswith("trained lan on ")
    assert "2 entity columns" in trained.stdout  # lan's own: action and hour
    scored = logguard_cli("score", "--model", str(tmp_path / "model"), "--input", str(release),
                          "--format", "cert", "--output", str(tmp_path / "scored.csv"),
                          timeout=300)
    assert scored.returncode == 0, scored.stderr
    out = pd.read_csv(tmp_path / "scored.csv", keep_default_na=False)
    events = sum(len(pd.read_csv(release / f"{k}.csv"))
                 for k in ("logon", "device", "file", "email", "http"))
    assert len(out) == events and out["event_id"].is_unique
    assert list(out.columns[:5]) == ["time", "event_id", "user", "pc", "activity"]
    assert out["explanation"].str.contains("nearest normal sequence").all()
    assert roc_auc_score(out["label"], out["score"]) > 0.8


def test_missing_input_folder_is_a_clean_error(tmp_path, logguard_cli):
    result = logguard_cli("train", "lan", "--input", str(tmp_path / "nope"), "--format", "cert",
                          "--out", str(tmp_path / "model"))
    assert result.returncode != 0
    assert "does not exist" in result.stderr and "Traceback" not in result.stderr


def test_labels_from_an_answers_folder_outside_the_release(tmp_path, logguard_cli):
    release = tmp_path / "release"
    simulate_cert(release, n_users=8, days=20, seed=4)
    answers = (release / "answers").rename(tmp_path / "answers")
    malicious = len(load_answers(answers))
    assert malicious > 0
    trained = logguard_cli("train", "lan", "--input", str(release), "--format", "cert",
                           "--labels", str(answers), "--out", str(tmp_path / "model"),
                           "--epochs", "1", "--dim", "16", "--threads", "1", timeout=300)
    assert trained.returncode == 0, trained.stderr
    assert f"labels: {malicious:,} of " in trained.stderr
    model = json.loads((tmp_path / "model" / "model.json").read_text())
    assert model["schema"]["label_column"] == "label"
    assert model["training_summary"]["malicious_rows"] == malicious


def test_labels_need_the_cert_format(tmp_path, logguard_cli):
    events = tmp_path / "events.csv"
    events.write_text("action,hour,history\nlogon,9,\n")
    result = logguard_cli("train", "lan", "--input", str(events), "--labels", str(tmp_path),
                          "--out", str(tmp_path / "model"))
    assert result.returncode == 2
    assert "needs --format cert, not csv" in result.stderr and "Traceback" not in result.stderr
