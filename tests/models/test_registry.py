"""The model registry: versions, an atomic ACTIVE pointer, promotion history and rollback."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from logguard.errors import InputError, ModelError
from logguard.models.baselines import RarityDetector
from logguard.models.calibration import ScoreCalibrator
from logguard.models.registry import ModelRegistry


def _fitted(values: list[str]) -> tuple[RarityDetector, ScoreCalibrator]:
    frame = pd.DataFrame({"host": values, "image": ["a.exe"] * len(values)})
    detector = RarityDetector(entities=["host", "image"]).fit(frame)
    return detector, ScoreCalibrator.fit(detector.score(frame))


def test_promote_load_and_rollback(tmp_path):
    registry = ModelRegistry(tmp_path)
    first = registry.add("process", "rarity", *_fitted(["h1", "h1", "h2"]))
    second = registry.add("process", "rarity", *_fitted(["h1", "h2", "h3", "h3"]))
    assert first != second and registry.versions("process", "rarity") == [first, second]
    assert registry.active_version("process", "rarity") is None
    registry.promote("process", "rarity", first, reason="initial")
    registry.promote("process", "rarity", second, reason="better")
    assert registry.pointers() == {("process", "rarity"): second}
    loaded = registry.load("process", "rarity")
    assert loaded.version == second
    probe = pd.DataFrame({"host": ["h3", "h9"], "image": ["a.exe", "a.exe"]})
    calibrated = loaded.calibrator.calibrate(loaded.detector.score(probe))
    assert calibrated[1] >= calibrated[0]
    assert registry.rollback("process", "rarity") == first
    assert registry.active_version("process", "rarity") == first
    assert [h["version"] for h in registry.history("process", "rarity")] == [first, second, first]


def test_adding_the_same_model_twice_keeps_one_version(tmp_path):
    registry = ModelRegistry(tmp_path)
    detector, calibrator = _fitted(["h1", "h2"])
    assert registry.add("auth", "rarity", detector, calibrator) == \
        registry.add("auth", "rarity", detector, calibrator)
    assert len(registry.versions("auth", "rarity")) == 1


def test_errors_name_what_is_wrong(tmp_path):
    registry = ModelRegistry(tmp_path)
    with pytest.raises(ModelError, match="no active version"):
        registry.load("process", "ape")
    with pytest.raises(ModelError, match="no version 'nope'"):
        registry.promote("process", "ape", "nope")
    with pytest.raises(InputError, match="not a valid name"):
        registry.slot_dir("../etc", "ape")
    detector, calibrator = _fitted(["h1"])
    version = registry.add("process", "rarity", detector, calibrator)
    registry.promote("process", "rarity", version)
    with pytest.raises(ModelError, match="no earlier version"):
        registry.rollback("process", "rarity")
    assert np.isfinite(registry.load("process", "rarity").calibrator.quantiles).all()
