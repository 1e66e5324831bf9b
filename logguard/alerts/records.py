"""Alert records: a batch of categorical alerts as integer codes, ready for the CAR models.

An alert is a categorical event (signature, host, ip, code, detector, ...) with a time
(methods.md §4.2: a = (v_1, ..., v_m, t)). :class:`Vocabulary` maps each attribute value to a
stable integer id that only grows, so codes stay valid while alerts stream in.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from logguard.errors import InputError

SIGNATURE = "name"
SEQUENCE_KEY = "host"
DEFAULT_ATTRIBUTES = ("name", "host", "ip", "short")
MISSING = "-"


@dataclass
class Vocabulary:
    """Value -> id for one attribute; ids are assigned in first-seen order and never change."""

    ids: dict[str, int] = field(default_factory=dict)

    def encode(self, values: pd.Series) -> np.ndarray:
        codes, uniques = pd.factorize(values.astype("string").fillna(MISSING), sort=False)
        local = np.empty(len(uniques), dtype=np.int64)
        for i, value in enumerate(uniques):
            local[i] = self.ids.setdefault(str(value), len(self.ids))
        return local[codes]

    def values(self) -> list[str]:
        return list(self.ids)

    def __len__(self) -> int:
        return len(self.ids)


def parse_times(values: pd.Series) -> np.ndarray:
    """Event times as float Unix seconds: numbers are epoch seconds, text is ISO 8601 (UTC)."""
    numeric = pd.to_numeric(values, errors="coerce")
    if not numeric.isna().any():
        return numeric.to_numpy(dtype=np.float64)
    stamps = pd.to_datetime(values.where(numeric.isna()), utc=True, errors="coerce",
                            format="ISO8601")
    bad = (numeric.isna() & stamps.isna()).to_numpy().nonzero()[0]
    if len(bad):
        raise InputError(f"alert {int(bad[0]) + 1}: field 'time' is {values.iloc[bad[0]]!r}, "
                         "expected Unix seconds or ISO 8601")
    seconds = stamps.astype("int64").to_numpy() / 1e9
    return np.where(numeric.isna().to_numpy(), seconds, numeric.to_numpy(dtype=np.float64))


@dataclass
class AlertCodes:
    """One batch of alerts as arrays: time, and one integer code column per attribute."""

    time: np.ndarray
    codes: dict[str, np.ndarray]

    def __len__(self) -> int:
        return len(self.time)


@dataclass
class AlertEncoder:
    """Encodes alert frames with one growing :class:`Vocabulary` per attribute."""

    attributes: tuple[str, ...] = DEFAULT_ATTRIBUTES
    vocabularies: dict[str, Vocabulary] = field(default_factory=dict)

    def encode(self, frame: pd.DataFrame) -> AlertCodes:
        """Codes of ``frame``; it needs ``time``, ``name`` and ``host`` (others may be absent)."""
        missing = [c for c in ("time", SIGNATURE, SEQUENCE_KEY) if c not in frame.columns]
        if missing:
            raise InputError(f"alerts need the column(s) {', '.join(map(repr, missing))}; "
                             f"the input has {', '.join(map(repr, frame.columns))}")
        codes = {}
        for name in self.attributes:
            vocab = self.vocabularies.setdefault(name, Vocabulary())
            column = frame[name] if name in frame.columns else pd.Series([MISSING] * len(frame))
            codes[name] = vocab.encode(column.reset_index(drop=True))
        return AlertCodes(time=parse_times(frame["time"].reset_index(drop=True)), codes=codes)
