"""The joint fixed point: it converges on random inputs to the unique, stated fixed point."""

import numpy as np
import pytest
import scipy.sparse as sp
from hypothesis import given, settings
from hypothesis import strategies as st

from logguard.alerts.ranking import RankingWeights, co_rank, row_normalise
from logguard.errors import ConfigError

TOL = 1e-8


def random_problem(seed: int, alerts: int, patterns: int):
    rng = np.random.default_rng(seed)
    similarity = sp.random(alerts, alerts, density=0.2, random_state=rng)
    similarity = (similarity + similarity.T).tocsr()
    smooth_matrix, _ = row_normalise(similarity)
    incidence = (sp.random(alerts, patterns, density=0.3, random_state=rng) > 0).astype(float)
    return (smooth_matrix, incidence.tocsr(), rng.uniform(size=patterns),
            rng.uniform(size=alerts))


weights_strategy = st.builds(RankingWeights, *(st.floats(0.0, 3.0) for _ in range(3)),
                             st.floats(0.2, 3.0))


@settings(max_examples=40, deadline=None)
@given(st.integers(0, 10_000), st.integers(1, 40), st.integers(1, 15), weights_strategy)
def test_the_fixed_point_is_reached_from_any_start(seed, alerts, patterns, weights):
    smooth, incidence, strength, prior = random_problem(seed, alerts, patterns)
    a, b, g, d = weights.alpha, weights.beta, weights.gamma, weights.delta
    results = [co_rank(lambda t: smooth @ t, incidence, strength, prior, weights, start=start,
                       tol=TOL)
               for start in (None, np.zeros(alerts), np.ones(alerts))]
    t, u = results[0].alert_scores, results[0].pattern_scores
    assert results[0].contraction < 1
    for other in results[1:]:
        np.testing.assert_allclose(other.alert_scores, t, atol=3 * TOL)
    # t and u satisfy the stationarity equations of the docstring
    to_pattern, degree = row_normalise(incidence)
    to_alert, _ = row_normalise(incidence.T.tocsr())
    gamma_j = np.where(degree > 0, g, 0.0)
    expected_u = (a * strength + g * (to_alert @ t)) / (a + g) if a + g > 0 else strength
    np.testing.assert_allclose(u, expected_u, atol=1e-12)
    expected_t = (b * (smooth @ t) + gamma_j * (to_pattern @ u) + d * prior) / (b + gamma_j + d)
    np.testing.assert_allclose(t, expected_t, atol=3 * TOL)
    assert t.min() >= 0 and t.max() <= 1 and u.min() >= 0 and u.max() <= 1
    bound = np.log(TOL * (1 - results[0].contraction)) / np.log(results[0].contraction) + 2 \
        if results[0].contraction > 0 else 2
    assert results[0].iterations <= bound


def test_a_weighting_that_is_no_contraction_is_refused():
    smooth, incidence, strength, prior = random_problem(1, 10, 3)
    incidence = incidence.tolil()
    incidence[0, :] = 0  # an alert in no pattern, and no prior to hold it
    with pytest.raises(ConfigError, match=r"contraction factor 1\.000"):
        co_rank(lambda t: smooth @ t, incidence.tocsr(), strength, prior,
                RankingWeights(alpha=1, beta=1, gamma=1, delta=0))


def test_the_prior_and_the_patterns_move_the_ranking():
    # alert 0 is in the strong pattern, alert 1 in the weak one, alert 2 in none
    incidence = sp.csr_matrix(np.array([[1.0, 0.0], [0.0, 1.0], [0.0, 0.0]]))
    result = co_rank(lambda t: t, incidence, np.array([1.0, 0.0]), np.full(3, 0.5))
    t = result.alert_scores
    assert t[0] > t[2] > t[1]
    assert result.pattern_scores[0] > result.pattern_scores[1]


def test_grouped_incidence_equals_the_materialised_one():
    _, incidence, strength, _ = random_problem(3, 12, 4)
    group_of = np.random.default_rng(3).integers(0, 12, 40)
    alert_smooth = sp.random(40, 40, density=0.2, random_state=3).tocsr()
    alert_smooth, _ = row_normalise(alert_smooth + alert_smooth.T)
    prior = np.random.default_rng(4).uniform(size=40)
    grouped = co_rank(lambda t: alert_smooth @ t, incidence, strength, prior,
                      group_of=group_of, tol=TOL)
    materialised = co_rank(lambda t: alert_smooth @ t, incidence[group_of], strength, prior,
                           tol=TOL)
    np.testing.assert_allclose(grouped.alert_scores, materialised.alert_scores, atol=1e-9)
    np.testing.assert_allclose(grouped.pattern_scores, materialised.pattern_scores, atol=1e-9)
