"""Evaluate a slot's model on one day of history: alert volume, calibration drift, quality.

For a model m (detector + calibrator) and the evaluation day's events:

* **alert volume**: the raw statistic the daemon thresholds (one score per event; for GID the
  top-k path z-scores of each host window, :func:`~logguard.training.slots.slot_scores`) is
  calibrated, c = 100 · F̂_m(x), and the alerts are the scores with c ≥ c*, the threshold of
  the alert budget (or of analyst feedback); reported as a count and per 10,000 scores;
* **calibration drift**: the one-sample Kolmogorov-Smirnov statistic
  D = sup_u |Ĝ(u) − u| of u = c / 100 against U(0, 1). On data like the model's reference
  slice the calibrated score is uniform, so D is how far the day has moved away from what
  the model was calibrated on (ties in discrete scores put a floor under D);
* **score drift between two models**: the two-sample KS statistic
  D = sup_c |F̂_cand(c) − F̂_active(c)| of their calibrated scores on the same day: how
  differently the candidate would score the same traffic;
* **quality** where the day has labels (a labelled replay: events whose ``extra`` JSON holds a
  truthy ``labels`` key, e.g. the simulator's ``attack_step``): ROC-AUC and average
  precision (AP) of the raw per-event scores against the labels (scikit-learn). Raw, not
  calibrated, scores: calibration saturates at 100 above the reference maximum, which would
  tie exactly the events that matter.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np
import orjson
import pandas as pd

from logguard.models.base import Detector
from logguard.models.calibration import ScoreCalibrator
from logguard.training.slots import GID_TOP_K, GID_WINDOW_S, SlotSpec, slot_scores


@dataclass
class ModelEvaluation:
    """How one model does on the evaluation day."""

    version: str
    scores: int
    alerts: int
    alerts_per_10k: float
    calibration_ks: float
    roc_auc: float | None = None
    average_precision: float | None = None
    labelled_positives: int = 0

    def as_dict(self) -> dict:
        return {k: (round(v, 6) if isinstance(v, float) else v) for k, v in asdict(self).items()}


def event_labels(frame: pd.DataFrame, key: str | None) -> np.ndarray | None:
    """1 where the event's ``extra`` JSON has a truthy ``key``, else 0; None without labels."""
    if key is None or "extra" not in frame.columns:
        return None
    labels = np.zeros(len(frame), dtype=np.int8)
    for row, text in enumerate(frame["extra"].to_numpy()):
        if isinstance(text, str) and key in text:
            value = orjson.loads(text).get(key)
            labels[row] = value not in (None, 0, "", False, "0")
    return labels


def evaluate_model(spec: SlotSpec, version: str, detector: Detector,
                   calibrator: ScoreCalibrator, frame: pd.DataFrame, threshold: float,
                   labels: np.ndarray | None, *, gid_window_s: float = GID_WINDOW_S,
                   gid_top_k: int = GID_TOP_K) -> tuple[ModelEvaluation, np.ndarray]:
    """The evaluation of one model on ``frame`` (a slot frame) and its calibrated scores."""
    from scipy.stats import kstest

    raw = slot_scores(spec, detector, frame, gid_window_s=gid_window_s, gid_top_k=gid_top_k)
    calibrated = calibrator.calibrate(raw)
    alerts = int((calibrated >= threshold).sum())
    evaluation = ModelEvaluation(
        version=version, scores=len(calibrated), alerts=alerts,
        alerts_per_10k=10_000.0 * alerts / len(calibrated) if len(calibrated) else 0.0,
        calibration_ks=float(kstest(calibrated / 100.0, "uniform").statistic)
        if len(calibrated) else 0.0)
    if labels is not None and 0 < labels.sum() < len(labels):
        from sklearn.metrics import average_precision_score, roc_auc_score

        per_event = raw if spec.per_event else detector.score(frame)
        evaluation.roc_auc = float(roc_auc_score(labels, per_event))
        evaluation.average_precision = float(average_precision_score(labels, per_event))
        evaluation.labelled_positives = int(labels.sum())
    return evaluation, calibrated


def score_drift(candidate: np.ndarray, active: np.ndarray) -> float:
    """Two-sample KS statistic of two calibrated score samples (0 = same distribution)."""
    from scipy.stats import ks_2samp

    if len(candidate) == 0 or len(active) == 0:
        return 0.0
    return float(ks_2samp(candidate, active).statistic)
