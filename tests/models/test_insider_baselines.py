"""The insider baselines: planted insiders rank high, persistence round-trips."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.metrics import roc_auc_score

from logguard.models.base import load_detector
from logguard.models.insider_baselines import ActivityFrequencyDetector, UserDayIsolationForest
from logguard.sim.cert import simulated_activity


@pytest.fixture(scope="module")
def timeline():
    frame = simulated_activity(n_users=12, days=36, seed=3, scenarios=(1, 2, 3))
    cut = frame["time"] < "2010-02-01"
    return frame[cut], frame[~cut]


@pytest.mark.parametrize("make", [ActivityFrequencyDetector, UserDayIsolationForest],
                         ids=["frequency", "iforest"])
def test_insiders_rank_high_and_models_round_trip(make, timeline, tmp_path):
    train, test = timeline
    model = make().fit(train)
    scores = model.score(test)
    assert roc_auc_score(test["label"], scores) > 0.85
    model.save(tmp_path / "m")
    np.testing.assert_array_equal(load_detector(tmp_path / "m").score(test), scores)
    assert all(model.explain(test.head(5)))


def test_frequency_is_minus_log_of_the_smoothed_user_frequency(timeline):
    train, _ = timeline
    model = ActivityFrequencyDetector(alpha=5.0).fit(train)
    row = train.head(1)
    user, token = row["user"].iloc[0], f"{row['action'].iloc[0]}@{row['hour'].iloc[0]}"
    mask = (train["user"] == user)
    tokens = train["action"] + "@" + train["hour"].astype(str)
    p_global = ((tokens == token).sum() + 1) / (len(train) + tokens.nunique() + 1)
    p_user = (((tokens == token) & mask).sum() + 5.0 * p_global) / (mask.sum() + 5.0)
    assert model.score(row)[0] == pytest.approx(-np.log(p_user))
