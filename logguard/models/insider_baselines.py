"""Insider-threat baselines in the detector contract, for comparison with LAN.

* :class:`ActivityFrequencyDetector` (``insider-frequency``): per-user activity-frequency
  surprise. With c_u(t) the training count of activity token t (``action@hour``) for user u,
  N_u the user's total and p_g(t) = (c(t) + 1) / (N + V + 1) the add-one global frequency,
  p_u(t) = (c_u(t) + alpha * p_g(t)) / (N_u + alpha) and the score is -log p_u(t).
* :class:`UserDayIsolationForest` (``insider-iforest``): Isolation Forest (Liu et al., ICDM
  2008) on user-day count vectors (one count per ``action``, plus off-hours and new-pc
  counts), the classic CERT user-day feature set. Each event is scored in real time with the
  counts of its user-day *up to and including it*, accumulated in input order, so an event's
  score depends on the earlier events of the same user-day in the same frame.
* The LSTM next-activity model without the graph (the paper's ablation) is
  ``LAN(neighbors=1)``: no retrieved neighbours, so the GCN sees the sequence alone.
"""

from __future__ import annotations

from typing import Any, ClassVar, Self

import numpy as np
import pandas as pd

from logguard.errors import InputError
from logguard.models.base import Detector
from logguard.models.encoding import check_sample_weight

FIT_ROWS = 50_000  # running user-day vectors the forest is grown from (weighted sample)


class ActivityFrequencyDetector(Detector):
    """-log of the user's smoothed frequency of the activity token (backed off to global)."""

    kind = "insider-frequency"
    default_entities: ClassVar[tuple[str, ...]] = ("action", "hour")

    def __init__(self, entities: list[str] | None = None, user_column: str = "user",
                 alpha: float = 5.0) -> None:
        self.entities = entities
        self.user_column = user_column
        self.alpha = alpha

    def _columns(self) -> list[str]:
        tokens = self.entities if self.entities is not None else self.default_entities
        return [self.user_column, *tokens]

    def _keys(self, events: pd.DataFrame) -> tuple[pd.Series, pd.Series]:
        self._require_columns(events, self._columns())
        tokens = events[self._columns()[1]].astype(str)
        for column in self._columns()[2:]:
            tokens = tokens + "@" + events[column].astype(str)
        return events[self.user_column].astype(str), tokens

    def fit(self, events: pd.DataFrame, sample_weight: np.ndarray | None = None) -> Self:
        if len(events) == 0:
            raise InputError("cannot fit on an empty input: no events to learn from")
        users, tokens = self._keys(events)
        weights = check_sample_weight(sample_weight, len(events))
        counts = pd.DataFrame({"user": users, "token": tokens, "w": weights})
        per_pair = counts.groupby(["user", "token"])["w"].sum()
        self.pairs_ = {f"{u}\x1f{t}": float(c) for (u, t), c in per_pair.items()}
        self.user_totals_ = counts.groupby("user")["w"].sum().astype(float).to_dict()
        self.token_totals_ = counts.groupby("token")["w"].sum().astype(float).to_dict()
        self.total_ = float(weights.sum())
        self.fitted_ = True
        return self

    def _probabilities(self, events: pd.DataFrame) -> np.ndarray:
        self._check_fitted()
        users, tokens = self._keys(events)
        vocabulary = len(self.token_totals_)
        out = np.empty(len(events), dtype=np.float64)
        for row, (user, token) in enumerate(zip(users, tokens, strict=True)):
            p_global = (self.token_totals_.get(token, 0.0) + 1) / (self.total_ + vocabulary + 1)
            pair = self.pairs_.get(f"{user}\x1f{token}", 0.0)
            out[row] = (pair + self.alpha * p_global) / (self.user_totals_.get(user, 0.0)
                                                         + self.alpha)
        return out

    def score(self, events: pd.DataFrame) -> np.ndarray:
        return -np.log(self._probabilities(events))

    def explain(self, events: pd.DataFrame) -> list[str]:
        users, tokens = self._keys(events)
        probabilities = self._probabilities(events)
        return [f"{t} has frequency {p:.3g} for user {u} "
                f"({self.pairs_.get(f'{u}' + chr(31) + t, 0.0):.0f} times in training)"
                for u, t, p in zip(users, tokens, probabilities, strict=True)]

    def _get_state(self) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
        return {}, {"pairs": self.pairs_, "user_totals": self.user_totals_,
                    "token_totals": self.token_totals_, "total": self.total_}

    def _set_state(self, arrays: dict[str, np.ndarray], meta: dict[str, Any]) -> None:
        self.pairs_, self.user_totals_ = meta["pairs"], meta["user_totals"]
        self.token_totals_, self.total_ = meta["token_totals"], meta["total"]


class UserDayIsolationForest(Detector):
    """Isolation Forest on the running user-day activity counts of each event."""

    kind = "insider-iforest"
    FLAG_COLUMNS: ClassVar[tuple[str, ...]] = ("off_hours", "new_pc")

    def __init__(self, n_estimators: int = 200, random_state: int = 0) -> None:
        self.n_estimators = n_estimators
        self.random_state = random_state

    def _running_counts(self, events: pd.DataFrame) -> np.ndarray:
        """(n, features): counts of each action and flag in the event's user-day so far."""
        self._require_columns(events, ["user", "time", "action", *self.FLAG_COLUMNS])
        day = events["time"].astype(str).str[:10]
        columns = {a: (events["action"] == a).to_numpy(np.float64) for a in self.actions_}
        for flag in self.FLAG_COLUMNS:
            columns[flag] = events[flag].astype(bool).to_numpy(np.float64)
        onehot = pd.DataFrame(columns, index=events.index)
        running = onehot.groupby([events["user"].to_numpy(), day.to_numpy()]).cumsum()
        return np.log1p(running.to_numpy())

    def fit(self, events: pd.DataFrame, sample_weight: np.ndarray | None = None) -> Self:
        if len(events) == 0:
            raise InputError("cannot fit on an empty input: no events to learn from")
        self._require_columns(events, ["action"])
        weights = check_sample_weight(sample_weight, len(events))
        self.actions_ = sorted(events["action"].astype(str).unique())
        features = self._running_counts(events)
        rng = np.random.default_rng(self.random_state)
        rows = rng.choice(len(features), size=min(FIT_ROWS, len(features)), replace=False,
                          p=weights / weights.sum() if len(features) > FIT_ROWS else None)
        self.sample_ = features[np.sort(rows)]
        self._grow_forest()
        self.fitted_ = True
        return self

    def _grow_forest(self) -> None:
        """The forest is a deterministic function of the stored sample and the seed."""
        from sklearn.ensemble import IsolationForest

        self.forest_ = IsolationForest(n_estimators=self.n_estimators,
                                       random_state=self.random_state).fit(self.sample_)

    def score(self, events: pd.DataFrame) -> np.ndarray:
        self._check_fitted()
        if len(events) == 0:
            return np.empty(0, dtype=np.float64)
        return -self.forest_.score_samples(self._running_counts(events)).astype(np.float64)

    def explain(self, events: pd.DataFrame) -> list[str]:
        if len(events) == 0:
            return []
        counts = np.expm1(self._running_counts(events))
        names = [*self.actions_, *self.FLAG_COLUMNS]
        texts = []
        for row in counts:
            top = np.argsort(-row)[:3]
            texts.append("user-day so far: " + ", ".join(f"{names[i]} x{row[i]:.0f}"
                                                         for i in top if row[i] > 0))
        return texts

    def _get_state(self) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
        return {"sample": self.sample_}, {"actions": self.actions_}

    def _set_state(self, arrays: dict[str, np.ndarray], meta: dict[str, Any]) -> None:
        self.actions_, self.sample_ = list(meta["actions"]), arrays["sample"]
        self._grow_forest()
