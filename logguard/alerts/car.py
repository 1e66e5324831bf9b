"""CAR end to end: alerts in, alert scores, pattern scores and scenarios out; batch or streaming.

:class:`CarRanker` wires the parts together (Lin et al., CIKM 2018; methods.md §4.3):
records -> temporal model (sessions, runs, HPY prefix tree) -> patterns with dependency
strength p -> content similarity S from entity embeddings -> joint fixed point (t, u) ->
scenarios stitched from the top runs of t -> the queue score q (:func:`queue_scores`: t lifted
by the alert's scenario, less for a step that only co-fires with a better step of it).

``fit`` is the batch job; ``update`` adds new alerts without a refit: the prefix-tree counts
grow, the new runs get their prequential surprisal, the patterns of the new runs are added,
the content classes of new attribute tuples are added (embeddings stay those of the last
fit), the fixed point restarts from the previous scores, so it needs few iterations, and
the scenarios and q are rebuilt from the new t.
Labels are never read: only the attribute columns are encoded.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd
import scipy.sparse as sp

from logguard.alerts.content import (
    ContentSimilarity,
    class_similarity,
    entity_embeddings,
)
from logguard.alerts.ranking import RankingResult, RankingWeights, co_rank
from logguard.alerts.records import (
    DEFAULT_ATTRIBUTES,
    MISSING,
    SEQUENCE_KEY,
    SIGNATURE,
    AlertEncoder,
)
from logguard.alerts.scenarios import Scenario, build_scenarios, queue_scores
from logguard.alerts.temporal import PrefixTree, TemporalModel
from logguard.errors import ModelError


def _scale(values: np.ndarray) -> np.ndarray:
    """Min-max scale to [0, 1] (a constant vector becomes all ones)."""
    if len(values) == 0:
        return values
    low, high = float(values.min()), float(values.max())
    return np.ones_like(values) if high <= low else (values - low) / (high - low)


@dataclass
class CarRanker:
    """Collaborative alert ranking with the same defaults for every network.

    ``step_window`` is the w of :mod:`logguard.alerts.temporal` (how far back in its session an
    alert may find the run of its signature to continue); ``depth`` bounds the patterns.

    :attr:`alert_scores` is the queue score q (``car_score``; ``rank`` orders by it):
    the joint fixed point t (``result.alert_scores``) lifted by ``scenario_weight`` κ toward
    the strength of the alert's scenario, with steps that only co-fire within ``burst``
    seconds with a better step of their scenario (same host or same signature) lifted
    ``1 - burst_redundancy`` as much (:func:`logguard.alerts.scenarios.queue_scores`).
    :attr:`scenarios` are built from t with ``top_runs`` and ``horizon``.
    """

    session_gap: float = 1800.0
    depth: int = 4
    step_window: int = 1
    embedding_dim: int = 16
    neighbours: int = 10
    weights: RankingWeights = field(default_factory=RankingWeights)
    attributes: tuple[str, ...] = DEFAULT_ATTRIBUTES
    top_runs: int = 200
    horizon: float = 3600.0
    scenario_weight: float = 0.05
    burst: float = 2.0
    burst_redundancy: float = 0.5

    def __post_init__(self) -> None:
        self.encoder = AlertEncoder(self.attributes)
        self.temporal = TemporalModel(session_gap=self.session_gap, step_window=self.step_window,
                                      tree=PrefixTree(depth=self.depth))
        self.time = np.empty(0)
        self.codes = {name: np.empty(0, dtype=np.int64) for name in self.attributes}
        self.run_of = np.empty(0, dtype=np.int64)
        self.pattern_ids: dict[tuple[int, ...], int] = {}
        self._incidence_runs: list[int] = []
        self._incidence_patterns: list[int] = []
        self.class_ids: dict[tuple[int, ...], int] = {}
        self.class_of = np.empty(0, dtype=np.int64)
        self.vectors: list[np.ndarray] | None = None
        self.result: RankingResult | None = None
        self.scenarios: list[Scenario] = []
        self.queue: np.ndarray | None = None

    # ------------------------------------------------------------------ data
    def _add(self, frame: pd.DataFrame) -> None:
        batch = self.encoder.encode(frame)
        run_of = self.temporal.observe(batch.codes[SEQUENCE_KEY], batch.time,
                                       batch.codes[SIGNATURE])
        first_new_run = int(self.run_of.max()) + 1 if len(self.run_of) else 0
        self.time = np.concatenate([self.time, batch.time])
        for name in self.attributes:
            self.codes[name] = np.concatenate([self.codes[name], batch.codes[name]])
        self.run_of = np.concatenate([self.run_of, run_of])
        ids, runs, patterns = self.temporal.patterns(first_new_run)
        remap = np.array([self.pattern_ids.setdefault(p, len(self.pattern_ids)) for p in ids],
                         dtype=np.int64)
        self._incidence_runs.extend(runs)
        self._incidence_patterns.extend(remap[patterns].tolist() if patterns else [])
        rows = np.stack([batch.codes[name] for name in self.attributes], axis=1)
        uniques, inverse = np.unique(rows, axis=0, return_inverse=True)
        local = np.array([self.class_ids.setdefault(tuple(r), len(self.class_ids))
                          for r in uniques.tolist()], dtype=np.int64)
        self.class_of = np.concatenate([self.class_of, local[inverse.reshape(-1)]])

    def _classes(self) -> np.ndarray:
        return np.array(list(self.class_ids), dtype=np.int64).reshape(-1, len(self.attributes))

    def _fit_embeddings(self) -> None:
        sizes = np.bincount(self.class_of, minlength=len(self.class_ids))
        self.vectors = entity_embeddings(self._classes(), sizes, self.embedding_dim)

    def _vectors_for_all_values(self) -> list[np.ndarray]:
        """The fitted vectors, with zero vectors for values first seen after the fit."""
        assert self.vectors is not None
        out = []
        for name, vectors in zip(self.attributes, self.vectors, strict=True):
            size = len(self.encoder.vocabularies[name])
            pad = np.zeros((max(size - len(vectors), 0), vectors.shape[1]))
            out.append(np.vstack([vectors, pad]))
        return out

    # ------------------------------------------------------------------ ranking
    def _rank(self, start: np.ndarray | None) -> None:
        runs = self.temporal.runs
        run_count = len(runs)
        surprisal = np.asarray(runs.surprisal, dtype=np.float64)
        prior = _scale(surprisal)[self.run_of]
        strength = _scale(np.array([self.temporal.dependency_strength(p)
                                    for p in self.pattern_ids], dtype=np.float64))
        run_incidence = sp.csr_matrix(
            (np.ones(len(self._incidence_runs)),
             (np.asarray(self._incidence_runs, dtype=np.int64),
              np.asarray(self._incidence_patterns, dtype=np.int64))),
            shape=(run_count, len(self.pattern_ids)))
        kernel = class_similarity(self._classes(), self._vectors_for_all_values(),
                                  self.neighbours)
        content = ContentSimilarity(self.class_of, kernel)
        degree = content.degrees()
        inverse_degree = np.divide(1.0, degree, out=np.zeros_like(degree), where=degree > 0)
        self.result = co_rank(lambda t: content.apply(t) * inverse_degree, run_incidence,
                              strength, prior, self.weights, group_of=self.run_of, start=start)
        self._queue()

    def _text(self, name: str) -> np.ndarray:
        """Each alert's value of attribute ``name`` as text (``-`` where there is none)."""
        if name not in self.codes:
            return np.full(len(self.time), MISSING, dtype=object)
        values = np.array(self.encoder.vocabularies[name].values(), dtype=object)
        return values[self.codes[name]]

    def _queue(self) -> None:
        """Scenarios from the fixed point t, then the queue score q."""
        assert self.result is not None
        t = self.result.alert_scores
        signature, host = self._text(SIGNATURE), self._text(SEQUENCE_KEY)
        self.scenarios = build_scenarios(t, self.run_of, self.time, signature, host,
                                         self._text("ip"), top_runs=self.top_runs,
                                         horizon=self.horizon)
        self.queue = queue_scores(t, self.scenarios, self.time, self.codes[SIGNATURE],
                                  self.codes[SEQUENCE_KEY], weight=self.scenario_weight,
                                  burst=self.burst, redundancy=self.burst_redundancy)

    def fit(self, frame: pd.DataFrame) -> CarRanker:
        """Batch job: learn from ``frame`` (all alerts) and rank them."""
        self.__post_init__()
        self._add(frame)
        self._fit_embeddings()
        self._rank(start=None)
        return self

    def update(self, frame: pd.DataFrame) -> CarRanker:
        """Streaming: add newer alerts and re-rank everything from the previous scores."""
        if self.result is None:
            raise ModelError("CarRanker.update called before fit")
        previous = self.result.alert_scores
        self._add(frame)
        start = np.concatenate([previous, np.zeros(len(self.time) - len(previous))])
        runs = np.asarray(self.temporal.runs.surprisal)
        start[len(previous):] = _scale(runs)[self.run_of[len(previous):]]
        self._rank(start=start)
        return self

    @property
    def alert_scores(self) -> np.ndarray:
        """The queue score q of every alert (higher = read first)."""
        if self.result is None or self.queue is None:
            raise ModelError("CarRanker has not been fitted")
        return self.queue

    def pattern_symbols(self) -> list[tuple[str, ...]]:
        """Each pattern as its sequence of signatures (pattern id order)."""
        names = self.encoder.vocabularies[SIGNATURE].values()
        return [tuple(names[s] for s in p) for p in self.pattern_ids]
