"""Calibration: the budget threshold yields about the budgeted alert rate on fresh data."""

from __future__ import annotations

import numpy as np
import pytest

from logguard.errors import InputError, ModelError
from logguard.models.calibration import ScoreCalibrator, budget_threshold


def test_budget_threshold_gives_the_budgeted_rate_on_data_like_the_reference(tmp_path):
    rng = np.random.default_rng(0)
    calibrator = ScoreCalibrator.fit(rng.gumbel(size=200_000))
    fresh = calibrator.calibrate(rng.gumbel(size=200_000))
    for budget in (1, 5, 50, 500):
        rate = (fresh > budget_threshold(budget)).mean() * 10_000
        assert budget * 0.7 <= rate <= budget * 1.3, (budget, rate)
    assert fresh.min() >= 0 and fresh.max() <= 100
    restored = ScoreCalibrator.load(calibrator.save(tmp_path).parent)
    np.testing.assert_array_equal(restored.calibrate(fresh), calibrator.calibrate(fresh))


def test_calibration_is_monotone_and_keeps_order_beyond_the_reference():
    calibrator = ScoreCalibrator.fit(np.r_[np.zeros(500), np.arange(500.0)])  # flat stretch
    raw = np.linspace(-10, 1000, 2001)
    calibrated = calibrator.calibrate(raw)
    assert np.all(np.diff(calibrated) >= 0)
    assert calibrated[0] == 0 and calibrated[-1] <= 100
    beyond = calibrated[(raw > 499) & (raw < 530)]  # novel: ordered, above every reference
    assert beyond.max() < 100
    assert np.all(np.diff(beyond) > 0) and beyond[0] > calibrator.calibrate(np.array([499.0]))[0]
    assert calibrator.calibrate(np.array([np.nan]))[0] == 0


def test_bad_budgets_and_empty_references_are_refused(tmp_path):
    with pytest.raises(InputError, match="alert budget"):
        budget_threshold(0)
    with pytest.raises(ModelError, match="zero finite"):
        ScoreCalibrator.fit(np.array([np.inf, np.nan]))
    with pytest.raises(ModelError, match=r"calibration\.json"):
        ScoreCalibrator.load(tmp_path)
