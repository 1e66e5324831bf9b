"""Box-Cox per length on random-walk samples, and the CSR random walks themselves."""

import numpy as np
import pytest
from scipy import stats

from logguard.graph.boxcox import LengthNormalizer
from logguard.graph.walks import random_walks


def _history_graph(seed: int, n_nodes: int = 500, out_degree: int = 12):
    """A random history graph: skewed counts and weights -log(count / out-count)."""
    rng = np.random.default_rng(seed)
    src = np.repeat(np.arange(n_nodes), out_degree)
    dst = rng.integers(0, n_nodes, size=len(src))
    count = rng.lognormal(2.0, 1.5, size=len(src))
    out = np.bincount(src, weights=count)
    weight = -np.log(count / out[src])
    return src, dst, count, weight, n_nodes


def test_walks_follow_edges_and_respect_weights():
    src = np.array([0, 0, 1, 2])
    dst = np.array([1, 2, 0, 0])
    count = np.array([9.0, 1.0, 1.0, 1.0])
    score = np.array([1.0, 100.0, 0.0, 0.0])
    sample = random_walks(src, dst, count, score, 3, n_walks=4000, steps=3, seed=1,
                          start_weight=np.array([1.0, 1.0, 0.0, 0.0]))
    first = sample.lengths(1)
    assert set(np.unique(first)) == {1.0, 100.0}
    assert 0.45 < np.mean(first == 1.0) < 0.55  # first edge drawn by start_weight
    third = sample.lengths(3)  # 0 -> x -> 0 -> then 1 with p = 0.9, 2 with p = 0.1
    assert abs(np.mean(third == 2.0) - 0.45) < 0.03 and abs(np.mean(third == 200.0) - 0.05) < 0.02


def test_walks_stop_at_nodes_without_out_edges():
    sample = random_walks(np.array([0]), np.array([1]), np.ones(1), np.ones(1), 2,
                          n_walks=10, steps=3, seed=0)
    assert len(sample.lengths(1)) == 10 and len(sample.lengths(2)) == 0


@pytest.mark.parametrize("seed", [0, 1])
def test_box_cox_makes_every_length_standard_normal_on_normal_paths(seed):
    src, dst, count, weight, n = _history_graph(seed)
    max_length = 6
    reference = random_walks(src, dst, count, weight, n, n_walks=20_000, steps=max_length,
                             seed=seed)
    normalizer = LengthNormalizer.fit([reference.lengths(L) for L in range(1, max_length + 1)])
    fresh = random_walks(src, dst, count, weight, n, n_walks=20_000, steps=max_length,
                         seed=seed + 100)
    raw_means = [fresh.lengths(L).mean() for L in range(1, max_length + 1)]
    assert raw_means[-1] > 3 * raw_means[0]  # the length bias that Box-Cox removes
    for length in range(1, max_length + 1):
        z = normalizer.z_scores(fresh.lengths(length), np.full(20_000, length))
        assert abs(z.mean()) < 0.05 and abs(z.std() - 1) < 0.05
        assert abs(np.mean(z > 2) - stats.norm.sf(2)) < 0.02  # tails line up across lengths


def test_lengths_without_samples_borrow_the_nearest_shorter_fit():
    rng = np.random.default_rng(0)
    normalizer = LengthNormalizer.fit([rng.gamma(2, size=500), rng.gamma(4, size=500),
                                       np.array([1.0])])
    assert normalizer.lam[2] == normalizer.lam[1] and normalizer.mu[2] == normalizer.mu[1]


def test_shared_lambda_is_one_power_for_every_length_and_per_length_fits_differ():
    rng = np.random.default_rng(1)
    samples = [rng.normal(20, 2, size=2000), rng.lognormal(1.5, 0.6, size=2000)]
    shared = LengthNormalizer.fit(samples)
    assert shared.lam[0] == shared.lam[1]
    pooled = 1.0 + np.concatenate(samples)
    assert shared.lam[0] == pytest.approx(stats.boxcox_normmax(pooled, method="mle"))
    separate = LengthNormalizer.fit(samples, shared_lambda=False)
    assert separate.lam[0] - separate.lam[1] > 0.5  # symmetric vs log-normal
    for normalizer in (shared, separate):  # each length standardised on its own sample
        for length, sample in enumerate(samples, start=1):
            z = normalizer.z_scores(sample, np.full(len(sample), length))
            assert abs(z.mean()) < 1e-9 and abs(z.std() - 1) < 1e-9
