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


def test_a_short_chain_of_strong_steps_outranks_many_steps_that_barely_made_the_cut():
    # host "a": 2 strong steps; host "b": 6 steps just above the weakest chosen run (0.30)
    scores = np.array([0.9, 0.9] + [0.32] * 6 + [0.30])
    signature = ["s1", "s2"] + [f"n{k}" for k in range(6)] + ["w"]
    host = ["a", "a"] + ["b"] * 6 + ["c"]
    run_of = np.arange(len(scores))
    time = np.arange(len(scores), dtype=float) * 10
    scenarios = build_scenarios(scores, run_of, time, signature, host, ["-"] * len(scores))
    assert [s.hosts for s in scenarios] == [["a"], ["b"], ["c"]]
    assert scenarios[0].score == pytest.approx(2 * (0.9 - 0.30))
    assert scenarios[1].score == pytest.approx(6 * (0.32 - 0.30))
    assert sum(s.score for s in scenarios[1].steps) > sum(s.score for s in scenarios[0].steps)


def test_one_signature_seen_at_once_on_several_hosts_links_them_but_not_hours_apart():
    # a scan sweeps hosts a and b at the same time; host c raises the same signature 2 h later
    signature = ["nmap scan", "nmap scan", "exploit", "nmap scan"]
    host = ["a", "b", "b", "c"]
    time = np.array([0.0, 0.0, 300.0, 7200.0])
    scenarios = build_scenarios(np.array([0.8, 0.7, 0.9, 0.8]), np.arange(4), time, signature,
                                host, ["-"] * 4)
    assert [s.hosts for s in scenarios] == [["a", "b"], ["c"]]
    assert [(s.signature, s.host) for s in scenarios[0].steps] == [
        ("nmap scan", "a"), ("nmap scan", "b"), ("exploit", "b")]
