"""Exact top-k path DP: hand-made graphs with known answers, and brute force on small graphs."""

import math

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from logguard.graph.topk import top_k_paths, top_scores_by_length


def _raw(score: float, length: int) -> float:
    return score


def _brute_force(src, dst, weight, max_length, z_score):
    """Every time-respecting path (edge indices increasing, endpoints chained) and its z."""
    found = []

    def grow(path, total):
        found.append((z_score(total, len(path)), tuple(path)))
        if len(path) == max_length:
            return
        for e in range(path[-1] + 1, len(src)):
            if src[e] == dst[path[-1]]:
                grow([*path, e], total + weight[e])

    for e in range(len(src)):
        grow([e], weight[e])
    return sorted(found, key=lambda item: -item[0])


def test_chain_of_rare_edges_ranks_first():
    # a -> b -> c is rare (w=5, 4); a -> d and b -> e are common (w=0.1, 0.2)
    src = np.array([0, 0, 1, 1])
    dst = np.array([3, 1, 4, 2])
    weight = np.array([0.1, 5.0, 0.2, 4.0])
    paths = top_k_paths(src, dst, weight, k=3, max_length=4, z_score=_raw)
    assert [p.edges for p in paths] == [(1, 3), (1, 2), (1,)]
    assert [p.score for p in paths] == [9.0, 5.2, 5.0]


def test_time_order_forbids_going_back_in_time():
    # b -> c happens before a -> b: a -> b -> c is not time-respecting
    src = np.array([1, 0])
    dst = np.array([2, 1])
    weight = np.array([4.0, 4.0])
    paths = top_k_paths(src, dst, weight, k=5, max_length=3, z_score=_raw)
    assert sorted(p.edges for p in paths) == [(0,), (1,)]


def test_max_length_caps_paths_and_lengths_are_normalised():
    src, dst = np.array([0, 1, 2, 3]), np.array([1, 2, 3, 4])
    weight = np.ones(4)
    paths = top_k_paths(src, dst, weight, k=1, max_length=2, z_score=_raw)
    assert paths[0].length == 2
    # a normaliser that favours short paths picks a single edge instead
    paths = top_k_paths(src, dst, weight, k=1, max_length=4,
                        z_score=lambda score, length: score / length ** 2)
    assert paths[0].length == 1


def test_seeding_at_low_regularity_edges_drops_paths_starting_elsewhere():
    src, dst = np.array([0, 1]), np.array([1, 2])
    weight = np.array([0.5, 6.0])
    paths = top_k_paths(src, dst, weight, k=5, max_length=3, z_score=_raw, min_seed_weight=1.0)
    assert [p.edges for p in paths] == [(1,)]


@st.composite
def small_graphs(draw):
    n_nodes = draw(st.integers(2, 8))
    n_edges = draw(st.integers(1, 14))
    src = draw(st.lists(st.integers(0, n_nodes - 1), min_size=n_edges, max_size=n_edges))
    dst = draw(st.lists(st.integers(0, n_nodes - 1), min_size=n_edges, max_size=n_edges))
    weight = draw(st.lists(st.floats(0.0, 10.0), min_size=n_edges, max_size=n_edges))
    k = draw(st.integers(1, 6))
    max_length = draw(st.integers(1, 5))
    shift = draw(st.lists(st.floats(-3, 3), min_size=max_length, max_size=max_length))
    scale = draw(st.lists(st.floats(0.2, 3), min_size=max_length, max_size=max_length))
    return np.array(src), np.array(dst), np.array(weight), k, max_length, shift, scale


@settings(max_examples=300, deadline=None)
@given(small_graphs(), st.booleans())
def test_dp_equals_brute_force(graph, prune):
    src, dst, weight, k, max_length, shift, scale = graph

    def z_score(score, length):  # monotone in score for each length, different per length
        return (math.log1p(score) - shift[length - 1]) / scale[length - 1]

    extendable = np.zeros(8, dtype=bool)
    extendable[src] = True
    paths = top_k_paths(src, dst, weight, k=k, max_length=max_length, z_score=z_score,
                        extendable=extendable, prune=prune)
    expected = _brute_force(src.tolist(), dst.tolist(), weight.tolist(), max_length, z_score)
    assert np.allclose([p.z for p in paths], [z for z, _ in expected[:k]])
    for path in paths:  # every returned path is a real time-respecting path with its z
        steps = zip(path.edges, path.edges[1:], strict=False)
        assert all(dst[a] == src[b] and a < b for a, b in steps)
        assert math.isclose(path.z, z_score(float(weight[list(path.edges)].sum()), path.length),
                            rel_tol=1e-9, abs_tol=1e-9)


@settings(max_examples=300, deadline=None)
@given(small_graphs())
def test_top_scores_per_length_equal_brute_force(graph):
    src, dst, weight, k, max_length, _, _ = graph
    tops = top_scores_by_length(src, dst, weight, k=k, max_length=max_length)
    everything = _brute_force(src.tolist(), dst.tolist(), weight.tolist(), max_length, _raw)
    for length in range(1, max_length + 1):
        expected = sorted((z for z, p in everything if len(p) == length), reverse=True)[:k]
        assert np.allclose(tops[length - 1], expected)


def test_top_scores_per_length_on_a_chain():
    # 0 -> 1 -> 2 -> 3 in time order, plus a later 1 -> 2 edge of weight 5
    src, dst = np.array([0, 1, 2, 1]), np.array([1, 2, 3, 2])
    weight = np.array([1.0, 2.0, 3.0, 5.0])
    tops = top_scores_by_length(src, dst, weight, k=2, max_length=3)
    assert tops == [[5.0, 3.0], [6.0, 5.0], [6.0]]


@settings(max_examples=300, deadline=None)
@given(small_graphs(), st.booleans(), st.lists(st.integers(0, 3), min_size=14, max_size=14))
def test_grouped_dp_equals_brute_force_best_of_each_group(graph, prune, groups):
    src, dst, weight, k, max_length, shift, scale = graph
    group = np.array(groups[:len(src)])

    def z_score(score, length):
        return (math.log1p(score) - shift[length - 1]) / scale[length - 1]

    paths = top_k_paths(src, dst, weight, k=k, max_length=max_length, z_score=z_score,
                        group=group, prune=prune)
    best: dict[int, float] = {}  # group of the last edge -> its best z
    for z, path in _brute_force(src.tolist(), dst.tolist(), weight.tolist(), max_length,
                                z_score):
        best[int(group[path[-1]])] = max(best.get(int(group[path[-1]]), -math.inf), z)
    expected = sorted(best.values(), reverse=True)[:k]
    assert np.allclose([p.z for p in paths], expected)
    assert len({int(group[p.edges[-1]]) for p in paths}) == len(paths)  # one path per group


def test_groups_keep_the_best_path_of_each_group():
    # 0 -> 1 (w=5) then 1 -> 2 (w=4) and 1 -> 3 (w=3): both end at process 1's objects
    src, dst = np.array([0, 1, 1, 4]), np.array([1, 2, 3, 5])
    weight = np.array([5.0, 4.0, 3.0, 1.0])
    group = np.array([0, 1, 1, 2])  # edges 1 and 2 share an end process
    paths = top_k_paths(src, dst, weight, k=3, max_length=3, z_score=_raw, group=group)
    assert [p.edges for p in paths] == [(0, 1), (0,), (3,)]
    assert [p.score for p in paths] == [9.0, 5.0, 1.0]
