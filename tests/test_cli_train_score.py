"""`logguard train` and `logguard score` end to end on the real IDS2017 files."""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import roc_auc_score

from logguard.cli import main
from logguard.models.base import DETECTORS

DATA = Path(__file__).resolve().parents[2] / "shared" / "data" / "ids2017"
TRAIN, TEST = DATA / "train.csv", DATA / "test.csv"
ENTITIES = ["srcIp", "dstIp", "dstPort", "proto", "duration", "fwdPackets", "bwdPackets",
            "fwdBytes", "bwdBytes", "iatStd", "fwdHeaderBytes", "bwdHeaderBytes"]


def _train(kind: str, out: Path, *extra: str) -> int:
    return main(["train", kind, "--input", str(TRAIN), "--weight-column", "count",
                 "--label-column", "label", "--out", str(out), *extra])


def test_ape_trains_and_scores_every_row_with_explanations(tmp_path, capsys):
    model = tmp_path / "ape"
    assert _train("ape", model, "--epochs", "2", "--dim", "8", "--seed", "1",
                  "--threads", "1") == 0
    out = capsys.readouterr()
    assert "trained ape on 18,137 rows (2,085,733 weighted events, 12 entity columns)" in out.out
    assert "APE epochs" in out.err  # the progress bar goes to stderr
    record = json.loads((model / "model.json").read_text())
    assert record["params"]["entities"] == ENTITIES  # weight and label columns left out
    assert record["params"]["epochs"] == 2 and record["params"]["random_state"] == 1
    assert record["training_summary"]["weighted_events"] == 2_085_733

    output = tmp_path / "scored.csv"
    assert main(["score", "--model", str(model), "--input", str(TEST), "--output",
                 str(output), "--chunk-rows", "100"]) == 0
    scored = pd.read_csv(output, dtype={"label": str})
    source = pd.read_csv(TEST, dtype=str)
    assert list(scored.columns) == [*source.columns, "score", "explanation"]
    assert len(scored) == 734
    assert (scored["label"] == source["label"]).all()
    assert np.isfinite(scored["score"]).all()
    assert scored["explanation"].str.contains(r" with .*\(pair score -?\d").all()


def test_pairwise_scores_as_measured_through_parquet(tmp_path):
    assert _train("pairwise", tmp_path / "pw") == 0
    output = tmp_path / "scored.parquet"
    assert main(["score", "--model", str(tmp_path / "pw"), "--input", str(TEST),
                 "--output", str(output), "--chunk-rows", "200"]) == 0
    scored = pd.read_parquet(output)
    assert len(scored) == 734
    auc = roc_auc_score(scored["label"] == "-1", scored["score"])
    assert auc == pytest.approx(0.882, abs=0.0015)


def test_entities_flag_and_jsonl_input(tmp_path):
    events = pd.read_csv(TEST, dtype=str)
    events.to_json(tmp_path / "events.jsonl", orient="records", lines=True)
    assert main(["train", "rarity", "--input", str(tmp_path / "events.jsonl"),
                 "--entities", "srcIp,dstPort", "--out", str(tmp_path / "r")]) == 0
    record = json.loads((tmp_path / "r" / "model.json").read_text())
    assert record["params"]["entities"] == ["srcIp", "dstPort"]
    assert record["schema"]["format"] == "jsonl"


@pytest.mark.parametrize(("argv", "message"), [
    (["train", "nope", "--input", str(TRAIN), "--out", "x"],
     f"unknown model 'nope'; known: {', '.join(sorted(DETECTORS))}"),
    (["train", "rarity", "--input", str(TRAIN), "--weight-column", "cnt", "--out", "x"],
     "column(s) 'cnt' not found"),
    (["train", "rarity", "--input", str(TRAIN), "--entities", "srcIp,bogus", "--out", "x"],
     "column(s) 'bogus' not found"),
    (["train", "rarity", "--input", str(TRAIN), "--weight-column", "srcIp", "--out", "x"],
     "weight column 'srcIp' must hold finite numbers >= 0; row 0 has '192.168.10.3'"),
    (["train", "rarity", "--input", str(TRAIN), "--dim", "4", "--out", "x"],
     "--dim does not apply to model 'rarity'"),
    (["score", "--model", "/nonexistent", "--input", str(TEST), "--output", "x.csv"],
     "not a logguard model directory"),
    (["score", "--model", "x", "--input", str(TEST), "--output", "x.txt"],
     "cannot tell the output format"),
])
def test_user_errors_are_clean_messages(argv, message, capsys, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    code = main(argv)
    err = capsys.readouterr().err
    assert code in (2, 5)
    assert message in err and "Traceback" not in err


def test_scoring_input_missing_an_entity_column_names_it(tmp_path, capsys):
    assert _train("rarity", tmp_path / "r") == 0
    pd.read_csv(TEST, dtype=str).drop(columns=["dstPort"]).to_csv(tmp_path / "t.csv", index=False)
    assert main(["score", "--model", str(tmp_path / "r"), "--input", str(tmp_path / "t.csv"),
                 "--output", str(tmp_path / "o.csv")]) == 2
    assert "missing column(s) 'dstPort'" in capsys.readouterr().err


def test_every_command_help_teaches_with_an_example(capsys):
    from logguard.cli import _command_modules

    for command in _command_modules():
        with pytest.raises(SystemExit):
            main([command.replace("_", "-"), "--help"])
        help_text = capsys.readouterr().out
        assert re.search(r"^examples?:$", help_text, re.MULTILINE), command
