"""Baselines every APE number is reported against, in the same detector contract.

All three use the count-weighted typed vocabulary (:mod:`logguard.models.encoding`): c(v) is
the total weight of the training rows holding value v in its column, C the total weight, and
n_t the number of known values of column t (an unseen value has c = 0).

* :class:`RarityDetector` — the rarest value: score(e) = max_t −log p̂_t(a_t), with the
  add-one estimate p̂_t(v) = (c(v) + 1) / (C + n_t + 1).
* :class:`PairwiseFrequencyDetector` — the least likely value given another one, over ordered
  pairs of columns (Das & Schneider, KDD 2007, pairwise conditional anomalies): score(e) =
  max_{i≠j} −log (c(a_i, a_j) + 1) / (c(a_i) + n_j + 1), with c(a_i, a_j) the weight of
  the rows holding both values.
* :class:`IsolationForestDetector` — scikit-learn's Isolation Forest (Liu, Ting, Zhou, ICDM
  2008) on the frequency encoding of each entity, log p̂_t(a_t); the forest is fitted on a
  weighted resample of the rows, its trees are kept as arrays, and the score is the
  isolation score 2^(−E[h(x)] / c(ψ)) (the negated ``score_samples``).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from logguard.models.categorical import CategoricalDetector, join_parts

SCORE_CHUNK_ROWS = 65_536


def _log_frequency(counts: np.ndarray, ids: np.ndarray, totals: np.ndarray,
                   sizes: np.ndarray) -> np.ndarray:
    """log p̂_t(a_t) = log (c + 1) / (C + n_t + 1) for an (n, m) id matrix."""
    return np.log(counts[ids] + 1.0) - np.log(totals + sizes)[None, :]


def _format_count(value: float) -> str:
    return f"{value:.0f}" if float(value).is_integer() else f"{value:.3g}"


class RarityDetector(CategoricalDetector):
    """The rarest value of the event (see the module docstring)."""

    kind = "rarity"

    def __init__(self, entities: list[str] | None = None) -> None:
        self.entities = entities

    def _fit_ids(self, ids: np.ndarray, weights: np.ndarray) -> None:
        self.total_weight_ = float(weights.sum())

    def _surprisal(self, ids: np.ndarray) -> np.ndarray:
        vocab = self.vocabulary_
        sizes = np.diff(vocab.offsets).astype(np.float64)  # n_t + 1 (the unknown id included)
        totals = np.full(vocab.n_types, self.total_weight_)
        return -_log_frequency(vocab.counts, ids, totals, sizes)

    def _score_ids(self, ids: np.ndarray) -> np.ndarray:
        return np.concatenate([self._surprisal(ids[s:s + SCORE_CHUNK_ROWS]).max(axis=1)
                               for s in range(0, len(ids), SCORE_CHUNK_ROWS)])

    def _explain_ids(self, ids: np.ndarray, texts: list[np.ndarray]) -> list[str]:
        columns, counts = self.entity_columns_, self.vocabulary_.counts
        rarest = self._surprisal(ids).argmax(axis=1)
        return [join_parts([
            f"rarest: {columns[t]}={texts[t][row]} (weight {_format_count(counts[ids[row, t]])} "
            f"of {_format_count(self.total_weight_)})",
            self._unseen_text(row, ids, texts)]) for row, t in enumerate(rarest)]

    def _model_arrays(self) -> dict[str, np.ndarray]:
        return {"total_weight": np.array([self.total_weight_])}

    def _set_model_arrays(self, arrays: dict[str, np.ndarray], meta: dict[str, Any]) -> None:
        self.total_weight_ = float(arrays["total_weight"][0])


class PairwiseFrequencyDetector(CategoricalDetector):
    """The least likely value given another value of the event (see the module docstring)."""

    kind = "pairwise"

    def __init__(self, entities: list[str] | None = None) -> None:
        self.entities = entities

    # each unordered column pair (i < j) owns the key range [base_p, base_p + size_i·size_j)
    def _pair_layout(self) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        sizes = np.diff(self.vocabulary_.offsets)
        first, second = np.triu_indices(len(sizes), 1)
        spans = sizes[first] * sizes[second]
        return first, second, sizes, np.concatenate([[0], np.cumsum(spans)[:-1]])

    def _pair_keys(self, ids: np.ndarray) -> np.ndarray:
        first, second, sizes, base = self._pair_layout()
        local = ids - self.vocabulary_.unknown_ids[None, :]
        return base[None, :] + local[:, first] * sizes[second][None, :] + local[:, second]

    def _fit_ids(self, ids: np.ndarray, weights: np.ndarray) -> None:
        keys = self._pair_keys(ids).reshape(-1)
        self.pair_keys_, inverse = np.unique(keys, return_inverse=True)
        pair_count = ids.shape[1] * (ids.shape[1] - 1) // 2
        self.pair_counts_ = np.bincount(inverse, weights=np.repeat(weights, pair_count))

    def _pair_surprisal(self, ids: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(n, 2P) −log P̂(a_j | a_i) for every pair, both directions; and the pair counts."""
        first, second, sizes, _ = self._pair_layout()
        keys = self._pair_keys(ids)
        position = np.searchsorted(self.pair_keys_, keys).clip(max=len(self.pair_keys_) - 1)
        together = np.where(self.pair_keys_[position] == keys, self.pair_counts_[position], 0.0)
        counts = self.vocabulary_.counts[ids]
        log_together = np.log(together + 1.0)
        given_first = np.log(counts[:, first] + sizes[second]) - log_together
        given_second = np.log(counts[:, second] + sizes[first]) - log_together
        return np.concatenate([given_first, given_second], axis=1), together

    def _score_ids(self, ids: np.ndarray) -> np.ndarray:
        return np.concatenate([self._pair_surprisal(ids[s:s + SCORE_CHUNK_ROWS])[0].max(axis=1)
                               for s in range(0, len(ids), SCORE_CHUNK_ROWS)])

    def _explain_ids(self, ids: np.ndarray, texts: list[np.ndarray]) -> list[str]:
        first, second, _, _ = self._pair_layout()
        given = np.concatenate([first, second])
        target = np.concatenate([second, first])
        columns, counts = self.entity_columns_, self.vocabulary_.counts
        out = []
        for start in range(0, len(ids), SCORE_CHUNK_ROWS):
            block = ids[start:start + SCORE_CHUNK_ROWS]
            surprisal, together = self._pair_surprisal(block)
            worst = surprisal.argmax(axis=1)
            for offset, k in enumerate(worst):
                row, g, t = start + offset, given[k], target[k]
                out.append(join_parts([
                    f"{columns[t]}={texts[t][row]} given {columns[g]}={texts[g][row]} "
                    f"(together {_format_count(together[offset, k % len(first)])} times, "
                    f"{columns[g]}={texts[g][row]} {_format_count(counts[block[offset, g]])} "
                    "times)",
                    self._unseen_text(row, ids, texts)]))
        return out

    def _model_arrays(self) -> dict[str, np.ndarray]:
        return {"pair_keys": self.pair_keys_, "pair_counts": self.pair_counts_}

    def _set_model_arrays(self, arrays: dict[str, np.ndarray], meta: dict[str, Any]) -> None:
        self.pair_keys_ = arrays["pair_keys"]
        self.pair_counts_ = arrays["pair_counts"]


FOREST_FIT_ROWS = 65_536  # size of the weighted resample the forest is fitted on


class IsolationForestDetector(CategoricalDetector):
    """Isolation Forest on log-frequency-encoded entities (see the module docstring)."""

    kind = "iforest"

    def __init__(self, entities: list[str] | None = None, n_estimators: int = 100,
                 max_samples: int = 256, random_state: int = 0) -> None:
        self.entities = entities
        self.n_estimators = n_estimators
        self.max_samples = max_samples
        self.random_state = random_state

    def _features(self, ids: np.ndarray) -> np.ndarray:
        vocab = self.vocabulary_
        return _log_frequency(vocab.counts, ids, np.full(vocab.n_types, self.total_weight_),
                              np.diff(vocab.offsets).astype(np.float64))

    def _fit_ids(self, ids: np.ndarray, weights: np.ndarray) -> None:
        from sklearn.ensemble import IsolationForest

        self.total_weight_ = float(weights.sum())
        rng = np.random.default_rng(self.random_state)
        rows = rng.choice(len(ids), size=FOREST_FIT_ROWS, p=weights / weights.sum())
        forest = IsolationForest(n_estimators=self.n_estimators,
                                 max_samples=min(self.max_samples, FOREST_FIT_ROWS),
                                 random_state=self.random_state).fit(self._features(ids[rows]))
        trees = [estimator.tree_ for estimator in forest.estimators_]
        self.node_offsets_ = np.concatenate([[0], np.cumsum([t.node_count for t in trees])])
        features = [np.asarray(f) for f in forest.estimators_features_]
        self.children_left_ = np.concatenate([_global(t.children_left, o) for t, o in
                                              zip(trees, self.node_offsets_, strict=False)])
        self.children_right_ = np.concatenate([_global(t.children_right, o) for t, o in
                                               zip(trees, self.node_offsets_, strict=False)])
        self.split_feature_ = np.concatenate([np.where(t.feature >= 0, f[t.feature], -1)
                                              for t, f in zip(trees, features, strict=True)])
        self.threshold_ = np.concatenate([t.threshold for t in trees])
        self.leaf_depth_ = np.concatenate([_node_depths(t) + _average_path_length(
            t.n_node_samples) for t in trees])
        self.sample_size_ = int(forest.max_samples_)

    def _score_ids(self, ids: np.ndarray) -> np.ndarray:
        return np.concatenate([self._isolation_score(self._features(ids[s:s + SCORE_CHUNK_ROWS]))
                               for s in range(0, len(ids), SCORE_CHUNK_ROWS)])

    def _isolation_score(self, features: np.ndarray) -> np.ndarray:
        """2^(−mean path length / c(ψ)); every tree traversed at once, level by level.

        Features are compared in float32, as scikit-learn's trees do.
        """
        features = features.astype(np.float32)
        roots = self.node_offsets_[:-1]
        node = np.tile(roots, (len(features), 1))
        rows = np.arange(len(features))[:, None]
        while True:
            inner = self.children_left_[node] >= 0
            if not inner.any():
                break
            feature = np.where(inner, self.split_feature_[node], 0)
            go_left = features[rows, feature] <= self.threshold_[node]
            step = np.where(go_left, self.children_left_[node], self.children_right_[node])
            node = np.where(inner, step, node)
        depth = self.leaf_depth_[node].mean(axis=1)
        return 2.0 ** (-depth / _average_path_length(np.array([self.sample_size_]))[0])

    def _explain_ids(self, ids: np.ndarray, texts: list[np.ndarray]) -> list[str]:
        columns = self.entity_columns_
        rarest = self._features(ids).argmin(axis=1)
        return [join_parts([f"least frequent: {columns[t]}={texts[t][row]}",
                            self._unseen_text(row, ids, texts)])
                for row, t in enumerate(rarest)]

    _ARRAYS = ("node_offsets", "children_left", "children_right", "split_feature", "threshold",
               "leaf_depth")

    def _model_arrays(self) -> dict[str, np.ndarray]:
        arrays = {name: getattr(self, f"{name}_") for name in self._ARRAYS}
        arrays["scalars"] = np.array([self.total_weight_, self.sample_size_], dtype=np.float64)
        return arrays

    def _set_model_arrays(self, arrays: dict[str, np.ndarray], meta: dict[str, Any]) -> None:
        for name in self._ARRAYS:
            setattr(self, f"{name}_", arrays[name])
        self.total_weight_ = float(arrays["scalars"][0])
        self.sample_size_ = int(arrays["scalars"][1])


def _global(children: np.ndarray, offset: int) -> np.ndarray:
    """Child indices of one tree shifted into the concatenated node arrays (−1 stays −1)."""
    return np.where(children >= 0, children + offset, -1).astype(np.int64)


def _node_depths(tree) -> np.ndarray:
    depth = np.zeros(tree.node_count, dtype=np.float64)
    for node in range(tree.node_count):  # parents precede children in sklearn's node order
        for child in (tree.children_left[node], tree.children_right[node]):
            if child >= 0:
                depth[child] = depth[node] + 1
    return depth


def _average_path_length(n_samples: np.ndarray) -> np.ndarray:
    """c(n): the average path length of an unsuccessful BST search (Liu et al. 2008, eq. 1)."""
    n = np.asarray(n_samples, dtype=np.float64)
    out = np.zeros_like(n)
    out[n == 2] = 1.0
    big = n > 2
    out[big] = 2.0 * (np.log(n[big] - 1.0) + np.euler_gamma) - 2.0 * (n[big] - 1.0) / n[big]
    return out
