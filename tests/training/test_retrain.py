"""The retrain job on real Parquet histories: it promotes a better model, refuses a worse one,
keeps the previous version for rollback, and says clearly when it cannot run."""

from __future__ import annotations

import json
from datetime import date

import pytest

from logguard.errors import InputError
from logguard.models.registry import ModelRegistry
from logguard.training.history import read_history
from logguard.training.retrain import PromotionRule, retrain
from logguard.training.slots import train_slot

from .conftest import intrusion, simulated_sources, write_history

pytestmark = pytest.mark.timeout(300)

APE_QUICK = {"epochs": 3}
EVAL_DAY = date(2026, 11, 24)


def _decision(report: dict, slot: str) -> dict:
    return next(entry for entry in report["slots"] if entry["slot"] == slot)


def test_retrain_promotes_a_better_model_refuses_a_worse_one_and_rollback_restores(
        clean_history, tmp_path):
    registry = ModelRegistry(tmp_path / "models")
    monday = read_history(clean_history, "process", [date(2026, 11, 23)])

    # 1. the active model saw only the first 800 events of Monday: a poor model of normal
    tiny = train_slot("process", "ape", monday.iloc[:800], **APE_QUICK)
    tiny_version = registry.add("process", "ape", tiny[0], tiny[1], training_summary=tiny[2])
    registry.promote("process", "ape", tiny_version, reason="test: tiny window")

    report = retrain(clean_history, registry, days=2, now=EVAL_DAY, sources=["process"],
                     slot_options={"process/ape": APE_QUICK}, report_path=tmp_path / "r1.json")
    ape = _decision(report, "process/ape")
    assert report["evaluation_day"] == "2026-11-24"
    assert report["training_days"] == ["2026-11-23"]
    assert ape["decision"] == "promoted", ape["reason"]
    assert ape["candidate"]["labelled_positives"] >= 10  # the planted intrusion's events
    assert ape["candidate"]["average_precision"] > ape["active"]["average_precision"] + 0.05
    assert ape["candidate"]["alerts_per_10k"] <= 3 * 5.0  # within the promotion volume rule
    good_version = registry.active_version("process", "ape")
    assert good_version not in (None, tiny_version)
    assert set(registry.versions("process", "ape")) == {tiny_version, good_version}
    gid = _decision(report, "process/gid")
    assert gid["decision"] == "promoted" and gid["reason"] == "no active version"
    assert json.loads((tmp_path / "r1.json").read_text())["slots"][0]["slot"] == "process/ape"

    # 2. rollback returns to the tiny model, promote returns to the good one
    assert registry.rollback("process", "ape") == tiny_version
    assert registry.active_version("process", "ape") == tiny_version
    registry.promote("process", "ape", good_version, reason="test: back to the good model")

    # 3. a window poisoned by the same intrusion on two hosts trains a worse candidate
    poisoned = write_history(tmp_path / "poisoned", simulated_sources(48, [
        intrusion(10, name="poison-1"), intrusion(11, host="DEV-001.acme.local",
                                                  name="poison-2"),
        intrusion(34)]))
    report = retrain(poisoned, registry, days=2, now=EVAL_DAY, sources=["process"],
                     slot_options={"process/ape": APE_QUICK})
    ape = _decision(report, "process/ape")
    assert ape["decision"] == "refused", ape["reason"]
    assert "worse" in ape["reason"]
    assert ape["candidate"]["average_precision"] < ape["active"]["average_precision"] - 0.02
    assert registry.active_version("process", "ape") == good_version  # unchanged
    refused = ape["candidate"]["version"]
    assert refused in registry.versions("process", "ape")  # kept for a manual promote


def test_promotion_rule_bounds_alert_volume_and_average_precision():
    from logguard.training.evaluate import ModelEvaluation

    def evaluation(rate: float, ap: float | None) -> ModelEvaluation:
        return ModelEvaluation(version="v", scores=10_000, alerts=int(rate), alerts_per_10k=rate,
                               calibration_ks=0.0, average_precision=ap)

    rule = PromotionRule(ap_tolerance=0.02, max_budget_factor=3.0)
    assert rule.decide(evaluation(100.0, None), None, 5.0)[0]  # nothing active yet
    assert rule.decide(evaluation(15.0, None), evaluation(1.0, None), 5.0)[0]
    assert not rule.decide(evaluation(15.1, None), evaluation(1.0, None), 5.0)[0]
    assert rule.decide(evaluation(40.0, None), evaluation(40.0, None), 5.0)[0]
    assert rule.decide(evaluation(1.0, 0.49), evaluation(1.0, 0.5), 5.0)[0]
    promote, reason = rule.decide(evaluation(1.0, 0.47), evaluation(1.0, 0.5), 5.0)
    assert not promote and "AP 0.470 vs active 0.500" in reason


def test_retrain_names_what_is_wrong(tmp_path, clean_history):
    registry = ModelRegistry(tmp_path / "models")
    with pytest.raises(InputError, match="does not exist"):
        retrain(tmp_path / "nowhere", registry)
    with pytest.raises(InputError, match="at least 2"):
        retrain(clean_history, registry, days=1)
    with pytest.raises(InputError, match=r"no slot for source.*firewall"):
        retrain(clean_history, registry, sources=["firewall"])
    with pytest.raises(InputError, match="no history partitions on or before 2026-11-01"):
        retrain(clean_history, registry, now=date(2026, 11, 1))
