"""The queue score: a scenario lifts its steps, a burst of co-firing near-duplicates less."""

import numpy as np
import pytest

from logguard.alerts.car import CarRanker
from logguard.alerts.scenarios import build_scenarios, queue_scores

from .conftest import ATTACK_STEPS, synthetic_stream


def flooded_stream():
    """One action on host ``web`` trips eight signatures in the same second (b0 strong, b1..b7
    near-duplicates); five minutes later a distinct step, ``webshell``, on the same host;
    ten unrelated alerts on other hosts, hours apart, score between the two."""
    signature = [f"b{k}" for k in range(8)] + ["webshell"] + [f"n{k}" for k in range(10)]
    host = ["web"] * 9 + [f"h{k}" for k in range(10)]
    time = np.array([1000.0] * 8 + [1300.0] + [10_000.0 * (k + 1) for k in range(10)])
    scores = np.array([0.60] + [0.515] * 7 + [0.50] + [0.51] * 10)
    return scores, time, np.array(signature, dtype=object), np.array(host, dtype=object)


def queue_rank(scores, signature, name):
    order = np.argsort(-scores, kind="stable")
    return int(np.flatnonzero(signature[order] == name)[0]) + 1


@pytest.mark.parametrize(("redundancy", "expected_rank"), [(0.5, 2), (0.0, 9)])
def test_a_burst_of_near_duplicates_does_not_crowd_out_a_distinct_step(redundancy,
                                                                       expected_rank):
    scores, time, signature, host = flooded_stream()
    run_of = np.arange(len(scores))
    scenarios = build_scenarios(scores, run_of, time, signature, host,
                                np.array(["-"] * len(scores), dtype=object))
    assert scenarios[0].hosts == ["web"] and len(scenarios[0].steps) == 9
    # by the fixed point alone the distinct step is read last, after every duplicate and noise
    assert queue_rank(scores, signature, "webshell") == 19
    queue = queue_scores(scores, scenarios, time, signature, host, redundancy=redundancy)
    # the scenario lifts it above the unrelated alerts; only the burst discount lifts it
    # above the seven duplicates of b0
    assert queue_rank(queue, signature, "webshell") == expected_rank
    assert queue_rank(queue, signature, "b0") == 1
    assert ((queue >= 0) & (queue <= 1)).all()
    noise = np.char.startswith(signature.astype(str), "n")
    assert (queue[~noise] > queue[noise].max()).all()


def test_no_weight_gives_the_fixed_point_back_and_the_steps_are_taken_best_first():
    scores, time, signature, host = flooded_stream()
    scenarios = build_scenarios(scores, np.arange(len(scores)), time, signature, host,
                                np.array(["-"] * len(scores), dtype=object))
    np.testing.assert_array_equal(
        queue_scores(scores, scenarios, time, signature, host, weight=0.0), scores)
    queue = queue_scores(scores, scenarios, time, signature, host, weight=1.0)
    # κ = 1: the lift alone; the best step and the distinct step get the top scenario's 1,
    # the co-firing duplicates 1 - ρ
    assert queue[0] == pytest.approx(1.0) and queue[8] == pytest.approx(1.0)
    np.testing.assert_allclose(queue[1:8], 0.5)


def test_the_ranker_scores_the_queue_from_its_own_scenarios():
    frame = synthetic_stream().drop(columns="label")
    ranker = CarRanker().fit(frame)
    fixed_point = ranker.result.alert_scores
    rebuilt = build_scenarios(fixed_point, ranker.run_of, ranker.time, frame["name"].tolist(),
                              frame["host"].tolist(), frame["ip"].tolist())
    assert [s.alert_indices for s in ranker.scenarios] == [s.alert_indices for s in rebuilt]
    assert not np.array_equal(ranker.alert_scores, fixed_point)
    plain = CarRanker(scenario_weight=0.0).fit(frame)
    np.testing.assert_array_equal(plain.alert_scores, plain.result.alert_scores)
    top = frame["name"].to_numpy()[np.argsort(-ranker.alert_scores, kind="stable")[:5]]
    assert set(top) <= set(ATTACK_STEPS)
