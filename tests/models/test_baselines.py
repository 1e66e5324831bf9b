"""Baselines: exact values on hand-made events, sklearn parity, and the IDS2017 figures."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from sklearn.ensemble import IsolationForest
from sklearn.metrics import roc_auc_score

from logguard.events.readers import read_frame
from logguard.models.baselines import (
    FOREST_FIT_ROWS,
    IsolationForestDetector,
    PairwiseFrequencyDetector,
    RarityDetector,
)

DATA = Path(__file__).resolve().parents[3] / "shared" / "data" / "ids2017"

# three aggregated events: (a, x) x3, (a, y) x1, (b, x) x2   -> total weight 6
EVENTS = pd.DataFrame({"src": ["a", "a", "b"], "dst": ["x", "y", "x"]})
WEIGHTS = np.array([3.0, 1.0, 2.0])


def test_rarity_is_the_add_one_surprisal_of_the_rarest_value():
    model = RarityDetector().fit(EVENTS, WEIGHTS)
    probe = pd.DataFrame({"src": ["a", "b", "zz"], "dst": ["x", "y", "x"]})
    # n_t + 1 = 3 for both columns (two known values and the unknown id): p = (c + 1) / (6 + 3)
    expected = [-math.log(5 / 9), -math.log(2 / 9), -math.log(1 / 9)]
    np.testing.assert_allclose(model.score(probe), expected)
    assert model.explain(probe)[2] == "rarest: src=zz (weight 0 of 6); unseen: src=zz"


def test_pairwise_is_the_least_likely_value_given_another():
    model = PairwiseFrequencyDetector().fit(EVENTS, WEIGHTS)
    probe = pd.DataFrame({"src": ["a", "b"], "dst": ["x", "y"]})
    # P(dst|src) = (c(src,dst) + 1) / (c(src) + 3); P(src|dst) = (c + 1) / (c(dst) + 3)
    ax = max(-math.log(4 / 7), -math.log(4 / 8))
    by = max(-math.log(1 / 5), -math.log(1 / 4))
    np.testing.assert_allclose(model.score(probe), [ax, by])
    assert model.explain(probe)[1] == "dst=y given src=b (together 0 times, src=b 2 times)"


def test_isolation_forest_arrays_score_like_scikit_learn():
    frame, weights = _ids2017("train.csv")
    model = IsolationForestDetector(n_estimators=30, random_state=3).fit(frame, weights)
    ids = model.vocabulary_.encode(frame)
    rows = np.random.default_rng(3).choice(len(ids), size=FOREST_FIT_ROWS,
                                           p=weights / weights.sum())
    forest = IsolationForest(n_estimators=30, max_samples=256, random_state=3).fit(
        model._features(ids[rows]))
    test, _ = _ids2017("test.csv")
    expected = -forest.score_samples(model._features(model.vocabulary_.encode(test)))
    np.testing.assert_allclose(model.score(test), expected, rtol=1e-10)


@pytest.mark.parametrize(("detector", "roc_auc"), [(RarityDetector, 0.804),
                                                    (PairwiseFrequencyDetector, 0.882)])
def test_ids2017_figures_match_the_reference_measurements(detector, roc_auc):
    """The peer table (reference/peer-results.md) measured these two on the same split."""
    frame, weights = _ids2017("train.csv")
    test, labels = _ids2017("test.csv")
    scores = detector().fit(frame, weights).score(test)
    assert roc_auc_score(labels == -1, scores) == pytest.approx(roc_auc, abs=0.0015)


def _ids2017(name: str) -> tuple[pd.DataFrame, np.ndarray]:
    """Entity columns, and the weights (train) or the labels (test)."""
    frame = read_frame(DATA / name, "csv")
    extra = "count" if "count" in frame.columns else "label"
    return frame.drop(columns=[c for c in ("count", "label") if c in frame.columns]), \
        frame[extra].astype(np.float64).to_numpy()
