"""Shared base of the detectors over the entity columns of tabular events (APE, baselines).

It owns what they all do the same way: choosing the entity columns (``entities``, default
every column of the training frame), validating sample weights, building the
:class:`~logguard.models.encoding.TypedVocabulary`, encoding events to ids (unseen values ->
the type's unknown id), the empty-input policy, and saving the vocabulary. Subclasses
implement ``_fit_ids`` / ``_score_ids`` / ``_explain_ids`` on the (n, m) id matrix.

Empty-input policy: ``fit`` on zero events is an :class:`InputError` (nothing to learn);
``score`` / ``explain`` of zero events return an empty array / list.
"""

from __future__ import annotations

from abc import abstractmethod
from collections.abc import Sequence
from typing import Any, Self

import numpy as np
import pandas as pd

from logguard.errors import InputError
from logguard.models.base import Detector
from logguard.models.encoding import (
    TypedVocabulary,
    check_sample_weight,
    entity_text,
    resolve_entity_columns,
)


class CategoricalDetector(Detector):
    """A detector whose events are m categorical entities, one per entity column."""

    entities: list[str] | None

    # ------------------------------------------------------------------ the contract
    def fit(self, events: pd.DataFrame, sample_weight: np.ndarray | None = None) -> Self:
        if len(events) == 0:
            raise InputError("cannot fit on an empty input: no events to learn from")
        columns = resolve_entity_columns(events, self.entities)
        weights = check_sample_weight(sample_weight, len(events))
        self.vocabulary_, ids = TypedVocabulary.fit(events, columns, weights)
        self._fit_ids(ids, weights)
        self.fitted_ = True
        return self

    def score(self, events: pd.DataFrame) -> np.ndarray:
        ids = self._encode(events)
        if len(ids) == 0:
            return np.empty(0, dtype=np.float64)
        return np.asarray(self._score_ids(ids), dtype=np.float64)

    def explain(self, events: pd.DataFrame) -> list[str]:
        ids = self._encode(events)
        if len(ids) == 0:
            return []
        texts = [entity_text(events[c]).to_numpy(dtype=object) for c in self.entity_columns_]
        return self._explain_ids(ids, texts)

    # ------------------------------------------------------------------ for subclasses
    @property
    def entity_columns_(self) -> list[str]:
        return self.vocabulary_.columns

    @abstractmethod
    def _fit_ids(self, ids: np.ndarray, weights: np.ndarray) -> None:
        """Learn from the (n, m) id matrix and the per-row weights."""

    @abstractmethod
    def _score_ids(self, ids: np.ndarray) -> np.ndarray:
        """Anomaly score per row of a non-empty (n, m) id matrix."""

    @abstractmethod
    def _explain_ids(self, ids: np.ndarray, texts: list[np.ndarray]) -> list[str]:
        """Explanation per row; ``texts[t]`` are the raw values of entity column t."""

    @abstractmethod
    def _model_arrays(self) -> dict[str, np.ndarray]:
        """Learned arrays besides the vocabulary."""

    @abstractmethod
    def _set_model_arrays(self, arrays: dict[str, np.ndarray], meta: dict[str, Any]) -> None:
        """Restore what :meth:`_model_arrays` returned."""

    def _model_meta(self) -> dict[str, Any]:
        """JSON-able learned metadata besides the vocabulary (none by default)."""
        return {}

    def _encode(self, events: pd.DataFrame) -> np.ndarray:
        self._check_fitted()
        self._require_columns(events, self.entity_columns_)
        return self.vocabulary_.encode(events)

    def _unseen_text(self, row: int, ids: np.ndarray, texts: list[np.ndarray]) -> str:
        """``"unseen: col=value, ..."`` for the entities of ``row`` never seen in training."""
        unseen = [f"{self.entity_columns_[t]}={texts[t][row]}"
                  for t in np.flatnonzero(ids[row] == self.vocabulary_.unknown_ids)]
        return f"unseen: {', '.join(unseen)}" if unseen else ""

    # ------------------------------------------------------------------ state
    def _get_state(self) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
        arrays, meta = self.vocabulary_.to_arrays()
        arrays.update(self._model_arrays())
        meta.update(self._model_meta())
        return arrays, meta

    def _set_state(self, arrays: dict[str, np.ndarray], meta: dict[str, Any]) -> None:
        self.vocabulary_ = TypedVocabulary.from_arrays(arrays, meta)
        self._set_model_arrays(arrays, meta)


def join_parts(parts: Sequence[str]) -> str:
    """Join the non-empty parts of an explanation with ``"; "``."""
    return "; ".join(p for p in parts if p)
