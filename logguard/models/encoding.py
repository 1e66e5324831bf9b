"""The typed entity vocabulary shared by APE and the categorical baselines.

A heterogeneous categorical event e = (a_1, ..., a_m) has one entity a_t per entity column t
(Chen et al., IJCAI 2016, §2). All entities live in **one id space**, type-contiguous as in the
APE author code (``type2range``): type t owns ids ``[offset_t, offset_t + 1 + n_t)``, where
``offset_t`` is the type's **unknown id** (any value never seen in training) followed by its
n_t known values in sorted order. One embedding table indexed by these ids serves every type,
and the same value under two columns is two different entities.

Counts are weighted by the sample weights (a ``count`` column of pre-aggregated events is used
as weights, never expanded into rows): c(v) = Σ weights of the rows holding v, and the
per-type unigram frequency is p_t(v) = c(v) / Σ_{v' of type t} c(v').

Entity values are compared as text; a missing value is the empty string. Encoding looks the
text up with Arrow's hash kernel (``pyarrow.compute.index_in``) on the Arrow-backed strings,
several times faster than a pandas ``Index.get_indexer`` over Python strings.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from logguard.errors import InputError


def entity_text(column: pd.Series) -> pd.Series:
    """The values of one entity column as pandas text (missing -> ``""``)."""
    text = column if pd.api.types.is_string_dtype(column.dtype) else column.astype(str)
    return text.fillna("").astype("str")


def check_sample_weight(sample_weight: np.ndarray | Sequence[float] | None, n_rows: int,
                        name: str = "sample_weight") -> np.ndarray:
    """Weights as float64, one per row, finite and >= 0 with a positive total (1.0 when None)."""
    if sample_weight is None:
        return np.ones(n_rows, dtype=np.float64)
    weights = np.asarray(sample_weight, dtype=np.float64).reshape(-1)
    if weights.shape[0] != n_rows:
        raise InputError(f"{name} has {weights.shape[0]} values for {n_rows} events")
    bad = ~np.isfinite(weights) | (weights < 0)
    if bad.any():
        row = int(np.flatnonzero(bad)[0])
        raise InputError(f"{name} must be finite and >= 0; row {row} has {weights[row]!r}")
    if n_rows and weights.sum() <= 0:
        raise InputError(f"{name} sums to 0: no event carries any weight")
    return weights


@dataclass
class TypedVocabulary:
    """Per entity column: value -> id in one shared id space, with weighted counts per id."""

    columns: list[str]
    values: list[np.ndarray]          # per type: its known values, sorted (str arrays)
    counts: np.ndarray                # per id: weighted count; 0 for the unknown ids
    offsets: np.ndarray = field(init=False)
    _value_sets: list[pa.Array] = field(init=False, repr=False)

    def __post_init__(self) -> None:
        sizes = np.array([1 + len(v) for v in self.values], dtype=np.int64)
        self.offsets = np.concatenate([[0], np.cumsum(sizes)]).astype(np.int64)
        self._value_sets = [pa.array(v, type=pa.large_string()) for v in self.values]
        if self.counts.shape != (self.size,):
            raise InputError(f"vocabulary counts have shape {self.counts.shape}, "
                             f"expected ({self.size},)")

    # ------------------------------------------------------------------ building
    @classmethod
    def fit(cls, events: pd.DataFrame, columns: Sequence[str],
            weights: np.ndarray) -> tuple[TypedVocabulary, np.ndarray]:
        """Learn the vocabulary of ``columns``; also return the (n, m) id matrix of ``events``."""
        values, count_blocks, id_blocks = [], [], []
        offset = 0
        for name in columns:
            codes, uniques = pd.factorize(entity_text(events[name]), sort=True)
            known = np.asarray(uniques, dtype=str)
            counts = np.bincount(codes, weights=weights, minlength=len(known))
            values.append(known)
            count_blocks.append(np.concatenate([[0.0], counts]))
            id_blocks.append(offset + 1 + codes.astype(np.int64))
            offset += 1 + len(known)
        vocabulary = cls(list(columns), values, np.concatenate(count_blocks).astype(np.float64))
        ids = np.stack(id_blocks, axis=1) if id_blocks else np.empty((len(events), 0), np.int64)
        return vocabulary, ids

    # ------------------------------------------------------------------ lookups
    @property
    def size(self) -> int:
        """Number of ids, unknown ids included."""
        return int(self.offsets[-1])

    @property
    def n_types(self) -> int:
        return len(self.columns)

    @property
    def unknown_ids(self) -> np.ndarray:
        """The unknown id of each type."""
        return self.offsets[:-1]

    def type_of_ids(self) -> np.ndarray:
        """For every id, the index of its type."""
        return np.repeat(np.arange(self.n_types), np.diff(self.offsets))

    def encode(self, events: pd.DataFrame) -> np.ndarray:
        """(n, m) int64 ids of ``events``; unseen values get their type's unknown id."""
        ids = np.empty((len(events), self.n_types), dtype=np.int64)
        for t, (name, known) in enumerate(zip(self.columns, self._value_sets, strict=True)):
            text = pa.array(entity_text(events[name]), type=pa.large_string())
            position = pc.fill_null(pc.index_in(text, value_set=known), -1).to_numpy()
            ids[:, t] = np.where(position >= 0, self.offsets[t] + 1 + position, self.offsets[t])
        return ids

    def is_unknown(self, ids: np.ndarray) -> np.ndarray:
        """Boolean (n, m): which entities were never seen in training."""
        return ids == self.unknown_ids[None, :]

    def type_totals(self) -> np.ndarray:
        """Total weighted count of each type (the same for every type: the total weight)."""
        return np.add.reduceat(self.counts, self.offsets[:-1])

    def unigram(self) -> np.ndarray:
        """p_t(v) per id (0 for the unknown ids)."""
        totals = self.type_totals()[self.type_of_ids()]
        return np.divide(self.counts, totals, out=np.zeros_like(self.counts), where=totals > 0)

    # ------------------------------------------------------------------ persistence
    def to_arrays(self) -> tuple[dict[str, np.ndarray], dict[str, list[str]]]:
        arrays = {f"vocab_{t}": v for t, v in enumerate(self.values)}
        arrays["vocab_counts"] = self.counts
        return arrays, {"vocab_columns": list(self.columns)}

    @classmethod
    def from_arrays(cls, arrays: dict[str, np.ndarray], meta: dict) -> TypedVocabulary:
        columns = list(meta["vocab_columns"])
        values = [np.asarray(arrays[f"vocab_{t}"], dtype=str) for t in range(len(columns))]
        return cls(columns, values, np.asarray(arrays["vocab_counts"], dtype=np.float64))


def resolve_entity_columns(events: pd.DataFrame, entities: Sequence[str] | None) -> list[str]:
    """The entity columns to model: ``entities`` when given (all must exist), else every column."""
    columns = list(entities) if entities is not None else [str(c) for c in events.columns]
    if not columns:
        raise InputError("no entity columns: the input has no columns")
    duplicates = sorted({c for c in columns if columns.count(c) > 1})
    if duplicates:
        raise InputError(f"entity column(s) given twice: {', '.join(map(repr, duplicates))}")
    missing = [c for c in columns if c not in events.columns]
    if missing:
        raise InputError(
            f"missing column(s) {', '.join(map(repr, missing))}; "
            f"the input has {', '.join(map(repr, events.columns))}"
        )
    return columns
