"""Exact top-k most anomalous time-respecting paths by dynamic programming (GID §3.6).

A path is a sequence of edges ``e_1 .. e_L`` (``1 <= L <= max_length``) with
``dst(e_i) = src(e_{i+1})`` that respects time: each edge comes no earlier than the previous
one (edges of equal time in their given order, so a path never reuses an edge and the graph
of edge-to-edge steps is acyclic). Its log score is ``l(P) = sum_i w(e_i)`` and its rank score
``z = normalise(l(P), L)``, increasing in ``l`` for every fixed ``L`` (the Box-Cox z-score).

Edges are processed in time order. ``best[v][L]`` holds the ``k`` highest-``l`` paths of
length ``L`` that end at ``v`` among the edges seen so far; edge ``u -> v`` extends each entry
of ``best[u][L-1]`` by ``w(e)`` and starts a path of length 1. Because ``z`` is monotone in
``l`` per length, a path outside ``best[u][L-1]`` has ``k`` better siblings whose extensions
beat its own, so keeping ``k`` per ``(node, length)`` is exact. Cost:
``O(|E| * k * max_length)`` per graph, with no path enumeration.

The optimisation scheme (the paper's efficiency device, reconstructed):

* a maximum length ``max_length``;
* bound-based pruning: a partial path ``(l, L)`` is kept for extension only if some extension
  could still enter the current top-k, i.e. if
  ``max_{L' > L} z(l + (L' - L) w_max, L') > z_k`` (``w_max`` the graph's largest edge weight,
  ``z_k`` the current k-th best z); candidates of a node are visited best first and the
  visit stops at the first one below ``z_k`` (exact);
* seeding at low-regularity edges: with ``min_seed_weight > 0`` paths start only at edges of
  weight ``w(e) >= min_seed_weight`` (a heuristic, off by default).
"""

from __future__ import annotations

import bisect
import heapq
import math
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

ZScore = Callable[[float, int], float]


@dataclass(frozen=True)
class Path:
    """One path: its edge indices (in path order), log score, length and z-score."""

    edges: tuple[int, ...]
    score: float
    z: float

    @property
    def length(self) -> int:
        return len(self.edges)


def top_k_paths(src: np.ndarray, dst: np.ndarray, weight: np.ndarray, *, k: int,
                max_length: int, z_score: ZScore, extendable: np.ndarray | None = None,
                group: np.ndarray | None = None, min_seed_weight: float = 0.0,
                prune: bool = True) -> list[Path]:
    """The ``k`` paths of highest ``z`` over edges given in time order (ties: given order).

    ``extendable[v]`` (optional) says whether node ``v`` has out-edges at all; paths ending
    at other nodes are complete and are not stored for extension.

    ``group[e]`` (optional): paths whose last edge is ``e`` belong to group ``group[e]``, and
    only the best path of each group is returned: the best paths of the ``k`` best groups.
    Exact by the same argument: the best path ending with ``u -> v`` extends the best entry
    of ``best[u][L-1]``, which is kept; a group's place in the top list is taken only by a
    better path of the same group, and the pruning threshold is the ``k``-th best group's z.
    """
    if k <= 0 or len(src) == 0:
        return []
    w_max = float(np.max(weight))
    src_l, dst_l, weight_l = src.tolist(), dst.tolist(), weight.tolist()
    # whether each edge's end node extends, per edge: ``extendable`` spans the whole graph
    extends_l = extendable[dst].tolist() if extendable is not None else None
    group_l = group.tolist() if group is not None else None
    top_of_group: dict[int, float] = {}  # group -> z of its path in ``top``
    # entry arena: (edge, previous entry) per entry; scores live in the lists
    entry_edge: list[int] = []
    entry_prev: list[int] = []
    # node -> length -> its best entries, ascending by score
    best: dict[int, dict[int, list[tuple[float, int]]]] = {}
    top: list[tuple[float, float, int, int, int]] = []  # (z, score, length, entry, group)
    threshold = -math.inf

    def bound(score: float, length: int) -> float:
        return max(z_score(score + (m - length) * w_max, m)
                   for m in range(length + 1, max_length + 1))

    for e in range(len(src_l)):
        u, v, w = src_l[e], dst_l[e], weight_l[e]
        store = max_length
        if extends_l is not None and not extends_l[e]:
            store = 0
        candidates: list[tuple[float, int, int]] = []  # (score, length, previous entry)
        if w >= min_seed_weight:
            candidates.append((w, 1, -1))
        ending_at_u = best.get(u)
        for length in range(1, max_length) if ending_at_u else ():
            entries = ending_at_u.get(length)
            if entries is None:
                continue
            for score, entry in reversed(entries):  # best first
                total = score + w
                if prune and len(top) >= k and z_score(total, length + 1) <= threshold and (
                        length + 1 >= max_length or store == 0
                        or bound(total, length + 1) <= threshold):
                    break
                candidates.append((total, length + 1, entry))
        for total, length, previous in candidates:
            z = z_score(total, length)
            keep_for_extension = store and length < max_length and (
                not prune or len(top) < k or bound(total, length) > threshold)
            key = group_l[e] if group_l is not None else -1 - len(entry_edge)
            enters_top = (len(top) < k or z > threshold) and z > top_of_group.get(key, -math.inf)
            if not (keep_for_extension or enters_top):
                continue
            entry = len(entry_edge)
            entry_edge.append(e)
            entry_prev.append(previous)
            if enters_top:
                item = (z, total, length, entry, key)
                if key in top_of_group:  # a better path of a group already in the list
                    top = [old for old in top if old[4] != key]
                    heapq.heapify(top)
                    heapq.heappush(top, item)
                elif len(top) < k:
                    heapq.heappush(top, item)
                else:
                    del top_of_group[heapq.heapreplace(top, item)[4]]
                top_of_group[key] = z
                if len(top) >= k:
                    threshold = top[0][0]
            if keep_for_extension:
                entries = best.setdefault(v, {}).setdefault(length, [])
                if len(entries) < k or total > entries[0][0]:
                    bisect.insort(entries, (total, entry))
                    if len(entries) > k:
                        entries.pop(0)
    paths = []
    for z, total, _length, entry, _key in sorted(top, key=lambda item: (-item[0], item[3])):
        edges = []
        while entry >= 0:
            edges.append(entry_edge[entry])
            entry = entry_prev[entry]
        paths.append(Path(edges=tuple(reversed(edges)), score=total, z=z))
    return paths


def top_scores_by_length(src: np.ndarray, dst: np.ndarray, weight: np.ndarray, *, k: int,
                         max_length: int) -> list[list[float]]:
    """The ``k`` highest log scores of time-respecting paths of each exact length.

    ``out[L-1]`` lists, highest first, the scores ``l(P)`` of the ``k`` best paths with ``L``
    edges over edges given in time order (fewer where the graph has fewer such paths). The
    recursion is the one of :func:`top_k_paths` with the raw score and no cross-length
    ranking, so it is exact by the same argument; the Box-Cox reference of
    :mod:`logguard.graph.boxcox` is drawn from it ("the DP's top-N per length on history",
    reference/methods.md §3.5). Cost ``O(|E| * k * max_length)``.
    """
    tops: list[list[float]] = [[] for _ in range(max_length)]  # min-heaps
    best: dict[tuple[int, int], list[float]] = {}  # ascending, at most k
    for u, v, w in zip(src.tolist(), dst.tolist(), weight.tolist(), strict=True):
        candidates = [(w, 1)]
        for length in range(1, max_length):
            candidates.extend((score + w, length + 1) for score in best.get((u, length), ()))
        for total, length in candidates:
            top = tops[length - 1]
            if len(top) < k:
                heapq.heappush(top, total)
            elif total > top[0]:
                heapq.heapreplace(top, total)
            if length < max_length:
                entries = best.setdefault((v, length), [])
                if len(entries) < k or total > entries[0]:
                    bisect.insort(entries, total)
                    if len(entries) > k:
                        entries.pop(0)
    return [sorted(top, reverse=True) for top in tops]
