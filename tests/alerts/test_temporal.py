"""The temporal model: sessions and runs, the HPY / Kneser-Ney predictive, pattern strength."""

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from logguard.alerts.temporal import PrefixTree, TemporalModel, backoff_chain
from logguard.errors import ConfigError

from .conftest import ATTACK_STEPS, synthetic_stream


@settings(max_examples=60, deadline=None)
@given(st.lists(st.integers(0, 6), min_size=1, max_size=80), st.integers(1, 4),
       st.lists(st.integers(0, 6), max_size=3), st.sampled_from([None, 0, 1]))
def test_the_predictive_distribution_sums_to_one(sequence, depth, context, key):
    tree = PrefixTree(depth=depth)
    for k, symbol in enumerate(sequence):
        tree.add(backoff_chain(tuple(sequence[max(0, k - depth + 1):k]), k % 2), symbol)
    context = tuple(context[len(context) - depth + 1:]) if depth > 1 else ()
    chain = backoff_chain(context, key)
    unseen = max(sequence) + 1  # every never-seen symbol shares the one "new" slot
    total = sum(tree.probability(chain, s) for s in tree.symbols)
    assert math.isclose(total + tree.probability(chain, unseen), 1.0, rel_tol=1e-9)


def test_the_backoff_chain_drops_the_oldest_symbol_first():
    assert backoff_chain((4, 5, 6)) == [(), (6,), (5, 6), (4, 5, 6)]
    keyed = ("key", 9)
    assert backoff_chain((5, 6), 9) == [(), (keyed,), (keyed, 6), (keyed, 5, 6)]


def test_repeats_form_one_run_and_a_quiet_gap_starts_a_session():
    model = TemporalModel(session_gap=100.0)
    keys = np.array([0, 0, 0, 1, 0, 0])
    times = np.array([0.0, 10.0, 20.0, 25.0, 30.0, 500.0])
    symbols = np.array([7, 7, 8, 7, 8, 8])
    run_of = model.observe(keys, times, symbols)
    assert run_of.tolist() == [0, 0, 1, 2, 1, 3]
    assert model.runs.size == [2, 2, 1, 1]
    assert model.runs.session == [0, 0, 1, 2]
    assert model.runs.previous == [(), (0,), (), ()]


def test_a_new_signature_after_a_routine_history_is_the_surprise():
    model = TemporalModel()
    routine = np.tile([1, 2, 3], 200)
    times = np.arange(len(routine) + 2, dtype=float)
    model.observe(np.zeros(len(times), dtype=np.int64), times, np.append(routine, [9, 1]))
    surprisal = np.array(model.runs.surprisal)
    assert surprisal[-2] == surprisal.max()
    assert surprisal[-2] > 3 * np.median(surprisal[-100:])


def test_an_ordered_chain_is_a_stronger_pattern_than_the_same_steps_reordered():
    chain = ATTACK_STEPS[:3]

    def best_chain_strength(ordered: bool) -> float:
        frame = synthetic_stream(ordered=ordered)
        names = {name: code for code, name in enumerate(frame["name"].unique())}
        hosts = {host: code for code, host in enumerate(frame["host"].unique())}
        model = TemporalModel()
        model.observe(frame["host"].map(hosts).to_numpy(), frame["time"].to_numpy(),
                      frame["name"].map(names).to_numpy())
        patterns, _, _ = model.patterns()
        steps = {names[s] for s in chain}
        return max(model.dependency_strength(p) for p in patterns
                   if len(p) == 3 and set(p) == steps)

    ordered, reordered = best_chain_strength(True), best_chain_strength(False)
    assert ordered > reordered + 0.3


def test_an_interleaved_burst_is_one_run_per_signature_within_the_step_window():
    # one burst of two interleaved signatures, then a third: A B A B A C
    keys = np.zeros(6, dtype=np.int64)
    times = np.arange(6, dtype=float)
    symbols = np.array([1, 2, 1, 2, 1, 3])
    assert TemporalModel(step_window=1).observe(keys, times, symbols).tolist() == \
        [0, 1, 2, 3, 4, 5]
    model = TemporalModel(step_window=3)
    assert model.observe(keys, times, symbols).tolist() == [0, 1, 0, 1, 0, 2]
    assert model.runs.size == [3, 2, 1]
    assert model.runs.previous == [(), (0,), (0, 1)]


def test_a_run_quiet_for_longer_than_the_session_gap_is_not_continued():
    # B keeps the session alive; A's run has been quiet for 150 s > session_gap when A recurs
    model = TemporalModel(session_gap=100.0, step_window=4)
    run_of = model.observe(np.zeros(5, dtype=np.int64), np.array([0.0, 60, 120, 150, 180]),
                           np.array([1, 2, 2, 1, 1]))
    assert run_of.tolist() == [0, 1, 1, 2, 2]
    with pytest.raises(ConfigError, match="step_window must be >= 1"):
        TemporalModel(step_window=0)


def test_the_step_window_lets_patterns_chain_steps_across_interleaved_bursts():
    # three steps of one host, each a burst of two interleaved sensor signatures
    steps = [(1, 2), (3, 4), (5, 6)]
    symbols = np.array([s for a, b in steps for s in [a, b] * 10])
    times = np.arange(len(symbols), dtype=float)

    def a_pattern_spans_all_steps(step_window: int) -> bool:
        model = TemporalModel(step_window=step_window)
        model.observe(np.zeros(len(symbols), dtype=np.int64), times, symbols)
        patterns, _, _ = model.patterns()
        return any(all(set(p) & set(step) for step in steps) for p in patterns)

    assert not a_pattern_spans_all_steps(1)
    assert a_pattern_spans_all_steps(4)
