"""Raw anomaly scores -> a 0-100 scale every model shares, and thresholds from an alert budget.

Each model scores on its own scale (APE: −S(e), GID: a path z-score, LAN: −log p). A SOC needs
one scale, so the calibrated score is the empirical CDF of the model's scores on reference
data (its training window, or better a held-out day):

    c(x) = 100 · F̂(x),   F̂(x) = fraction of reference scores ≤ x,

read off stored quantiles q_ℓ at probability levels ℓ by linear interpolation. The levels are
dense in the tail (0.99, 0.999, 0.9999, …), where alerting happens, so 99.9 and 99.99 differ.
A score above every reference score calibrates to 100.

An alert budget of ``N`` alerts per 10,000 events is the threshold c* = 100 · (1 − N/10,000):
on data like the reference, about N events in 10,000 score above it. The budget is a target,
not a guarantee: drift (new hosts, new software) raises the alert rate, which the retrain job
and the ``logguard_alerts_total`` metric show.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from logguard.errors import InputError, ModelError

CALIBRATION_FILE = "calibration.json"
_BODY = np.linspace(0.0, 0.99, 100)
_TAIL = 1.0 - np.logspace(-2.0, -6.0, 41)[1:]
LEVELS = np.concatenate([_BODY, _TAIL, [1.0]])


def budget_threshold(alerts_per_10k: float) -> float:
    """The calibrated threshold at which about ``alerts_per_10k`` events in 10,000 alert."""
    if not 0 < alerts_per_10k <= 10_000:
        raise InputError(f"alert budget must be in (0, 10000] alerts per 10k events, "
                         f"got {alerts_per_10k}")
    return 100.0 * (1.0 - alerts_per_10k / 10_000.0)


@dataclass
class ScoreCalibrator:
    """Quantiles of reference scores, and the map raw score -> 0-100."""

    quantiles: np.ndarray
    levels: np.ndarray
    reference_size: int

    @classmethod
    def fit(cls, reference_scores: np.ndarray) -> ScoreCalibrator:
        """Learn F̂ from reference scores (non-finite values are dropped)."""
        scores = np.asarray(reference_scores, dtype=np.float64)
        scores = scores[np.isfinite(scores)]
        if len(scores) == 0:
            raise ModelError("cannot calibrate on zero finite reference scores")
        quantiles = np.quantile(scores, LEVELS)
        return cls(quantiles=np.maximum.accumulate(quantiles), levels=LEVELS.copy(),
                   reference_size=len(scores))

    def calibrate(self, raw_scores: np.ndarray) -> np.ndarray:
        """c(x) = 100 · F̂(x) in [0, 100]; ties in the quantiles resolve to the highest level."""
        raw = np.asarray(raw_scores, dtype=np.float64)
        # np.interp needs increasing x; on flat stretches take the right end (F̂ is right-continuous)
        x, right = np.unique(self.quantiles[::-1], return_index=True)
        levels = self.levels[::-1][right]
        out = 100.0 * np.interp(raw, x, levels, left=0.0, right=1.0)
        out[raw > self.quantiles[-1]] = 100.0
        return np.where(np.isnan(raw), 0.0, out)

    def raw_threshold(self, calibrated: float) -> float:
        """The raw score whose calibrated value is ``calibrated`` (for explanations)."""
        return float(np.interp(calibrated / 100.0, self.levels, self.quantiles))

    def save(self, directory: str | Path) -> Path:
        path = Path(directory) / CALIBRATION_FILE
        path.write_text(json.dumps({"levels": self.levels.tolist(),
                                    "quantiles": self.quantiles.tolist(),
                                    "reference_size": self.reference_size}) + "\n")
        return path

    @classmethod
    def load(cls, directory: str | Path) -> ScoreCalibrator:
        path = Path(directory) / CALIBRATION_FILE
        try:
            record = json.loads(path.read_text())
            return cls(quantiles=np.asarray(record["quantiles"], dtype=np.float64),
                       levels=np.asarray(record["levels"], dtype=np.float64),
                       reference_size=int(record["reference_size"]))
        except FileNotFoundError:
            raise ModelError(f"{directory} has no {CALIBRATION_FILE}: register the model with "
                             "`logguard models add` (or the retrain job), which calibrates it"
                             ) from None
        except (OSError, ValueError, KeyError, TypeError) as exc:
            raise ModelError(f"{path} is unreadable: {exc}") from exc
