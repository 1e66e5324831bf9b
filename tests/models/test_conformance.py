"""The detector contract, checked the same way for every registered tabular detector.

Adding a detector is one line in ``CASES``: its kind, a factory of a fresh detector with
small-data settings, and a factory of its training events (frame, weights or None).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import pandas as pd
import pytest

from logguard.errors import InputError, ModelError
from logguard.models.ape import APE
from logguard.models.base import Detector, detector_class, load_detector
from logguard.models.baselines import (
    IsolationForestDetector,
    PairwiseFrequencyDetector,
    RarityDetector,
)
from logguard.models.lan import LAN
from logguard.sim.cert import simulated_activity

COLUMNS = ["user", "host", "process", "port"]


def categorical_events(rows: int = 400, seed: int = 7) -> tuple[pd.DataFrame, np.ndarray]:
    """Three groups of users, hosts, processes and ports; an event stays within one group."""
    rng = np.random.default_rng(seed)
    group = rng.integers(0, 3, rows)
    frame = pd.DataFrame({c: [f"{c}{g}-{v}" for g, v in zip(group, rng.integers(0, 4, rows),
                                                             strict=True)] for c in COLUMNS})
    return frame, rng.integers(1, 20, rows).astype(np.float64)


@dataclass(frozen=True)
class Case:
    kind: str
    make: Callable[[], Detector]
    events: Callable[[], tuple[pd.DataFrame, np.ndarray | None]]


CASES = [
    Case("ape", lambda: APE(dim=8, epochs=3, progress=False), categorical_events),
    Case("rarity", RarityDetector, categorical_events),
    Case("pairwise", PairwiseFrequencyDetector, categorical_events),
    Case("iforest", lambda: IsolationForestDetector(n_estimators=20), categorical_events),
    Case("lan", lambda: LAN(window=8, dim=16, heads=2, pool_size=256, epochs=1),
         lambda: (simulated_activity(n_users=6, days=8), None)),
]


@pytest.fixture(params=CASES, ids=[c.kind for c in CASES])
def case(request) -> Case:
    return request.param


@pytest.fixture
def fitted(case: Case) -> tuple[Detector, pd.DataFrame]:
    frame, weights = case.events()
    return case.make().fit(frame, sample_weight=weights), frame


def test_registered_under_its_kind(case: Case):
    model = case.make()
    assert model.kind == case.kind
    assert detector_class(case.kind) is type(model)


def test_scores_and_explanations_have_one_entry_per_event(fitted):
    model, frame = fitted
    scores = model.score(frame)
    explanations = model.explain(frame)
    assert scores.shape == (len(frame),) and scores.dtype == np.float64
    assert np.isfinite(scores).all()
    assert len(explanations) == len(frame)
    assert all(isinstance(e, str) and e for e in explanations)


def test_same_seed_same_scores(case: Case):
    frame, weights = case.events()
    first = case.make().fit(frame, sample_weight=weights).score(frame)
    second = case.make().fit(frame, sample_weight=weights).score(frame)
    np.testing.assert_array_equal(first, second)


def test_save_load_round_trip_gives_identical_scores(fitted, tmp_path):
    model, frame = fitted
    version = model.save(tmp_path / "model")
    again = load_detector(tmp_path / "model")
    assert type(again) is type(model) and again.version_ == version
    assert again.get_params() == model.get_params()
    np.testing.assert_array_equal(again.score(frame), model.score(frame))
    assert again.explain(frame.head(20)) == model.explain(frame.head(20))
    assert model.save(tmp_path / "again") == version  # the version is a content hash


def test_unseen_entities_score_finite_and_above_training_events(fitted):
    model, frame = fitted
    novel = frame.head(50).copy()
    novel[frame.columns[0]] = [f"never-seen-{i}" for i in range(len(novel))]
    scores = model.score(novel)
    assert np.isfinite(scores).all()
    assert np.median(scores) > np.median(model.score(frame))


def test_empty_input_gives_empty_scores(fitted, case: Case):
    model, frame = fitted
    empty = frame.iloc[:0]
    assert model.score(empty).shape == (0,)
    assert model.explain(empty) == []
    with pytest.raises(InputError, match="empty"):
        case.make().fit(empty)


def test_single_event_scores_as_in_a_batch(fitted):
    model, frame = fitted
    batch = model.score(frame)
    for row in (0, 17, len(frame) - 1):
        single = model.score(frame.iloc[[row]])
        assert single.shape == (1,)
        assert single[0] == pytest.approx(batch[row], rel=1e-6, abs=1e-9)


def test_missing_column_is_named(fitted, case: Case):
    model, frame = fitted
    dropped = frame.columns[1]
    with pytest.raises(InputError, match=f"'{dropped}'"):
        model.score(frame.drop(columns=[dropped]))
    data, weights = case.events()
    with pytest.raises(InputError, match="'nope'"):
        case.make().set_params(entities=[*data.columns[:2], "nope"]).fit(data, weights)


def test_scoring_before_fit_is_a_model_error(case: Case):
    frame, _ = case.events()
    with pytest.raises(ModelError, match="not fitted"):
        case.make().score(frame)


def test_bad_sample_weights_are_rejected(case: Case):
    frame, _ = case.events()
    weights = np.ones(len(frame))
    weights[3] = -1.0
    with pytest.raises(InputError, match="row 3"):
        case.make().fit(frame, sample_weight=weights)
