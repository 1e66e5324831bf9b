"""CAR end to end on synthetic streams: the planted attack on top, streaming updates, scenarios."""

import time

import numpy as np
import pytest

from logguard.alerts.car import CarRanker
from logguard.alerts.scenarios import build_scenarios
from logguard.errors import InputError, ModelError

from .conftest import ATTACK_STEPS, ATTACKER_IP, synthetic_stream


def planted_share_of_top(frame, scores) -> float:
    attack = frame["label"].to_numpy() == 1
    top = np.argsort(-scores, kind="stable")[: attack.sum()]
    return float(attack[top].mean())


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_the_planted_attack_ranks_on_top_without_reading_labels(seed):
    frame = synthetic_stream(seed=seed)
    scores = CarRanker().fit(frame.drop(columns="label")).alert_scores
    attack = frame["label"].to_numpy() == 1
    assert planted_share_of_top(frame, scores) >= 0.8
    assert np.median(scores[attack]) > np.quantile(scores[~attack], 0.99)


def test_labels_do_not_change_the_ranking(planted_stream):
    with_labels = CarRanker().fit(planted_stream).alert_scores
    relabelled = planted_stream.assign(label=np.random.default_rng(0).permutation(
        planted_stream["label"].to_numpy()))
    np.testing.assert_array_equal(CarRanker().fit(relabelled).alert_scores, with_labels)


def test_incremental_update_matches_the_stream_and_is_fast():
    frame = synthetic_stream(noise_alerts=20_000)
    head, tail = frame.iloc[:-1000], frame.iloc[-1000:]
    ranker = CarRanker().fit(head)
    started = time.perf_counter()
    ranker.update(tail)
    assert time.perf_counter() - started < 1.0
    assert len(ranker.alert_scores) == len(frame)
    assert ranker.result.contraction < 1
    full = CarRanker().fit(frame).alert_scores
    # the counts are the same; only the embeddings of the last fit differ
    assert np.corrcoef(full, ranker.alert_scores)[0, 1] > 0.9


def test_update_before_fit_and_missing_columns_are_clear_errors(planted_stream):
    with pytest.raises(ModelError, match="before fit"):
        CarRanker().update(planted_stream)
    with pytest.raises(InputError, match="'host'"):
        CarRanker().fit(planted_stream.drop(columns="host"))


def test_the_top_scenario_is_the_planted_chain_in_order(planted_stream):
    ranker = CarRanker().fit(planted_stream)
    scenarios = build_scenarios(
        ranker.alert_scores, ranker.run_of, ranker.time, planted_stream["name"].tolist(),
        planted_stream["host"].tolist(), planted_stream["ip"].tolist(), top_runs=15)
    best = scenarios[0]
    signatures = [s.signature for s in best.steps]
    assert [s for s in signatures if s in ATTACK_STEPS] == list(ATTACK_STEPS)
    assert len(signatures) <= len(ATTACK_STEPS) + 1
    assert best.hosts == ["db", "web"]
    assert f"ip:{ATTACKER_IP}" in best.entities
    labels = planted_stream["label"].to_numpy()[best.alert_indices]
    assert labels.mean() >= 0.8
    assert [s.id for s in scenarios] == list(range(1, len(scenarios) + 1))
    assert best.to_record()["steps"][0]["signature"] == ATTACK_STEPS[0]
