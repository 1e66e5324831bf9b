"""The model slots logguard trains, in one place: what each reads and how it is calibrated.

A *slot* is one (source, model) pair the daemon runs and the registry versions
(:mod:`logguard.models.registry`). Every slot reads :func:`~logguard.events.frames.model_frame`
of its source's stored events, the frame the daemon scores, so training and scoring see the
same columns.

=================  ===========================================================================
slot               what it models
=================  ===========================================================================
process/ape        APE (Chen et al., IJCAI 2016) over :data:`APE_ENTITIES` of Sysmon-style
                   process events; identical entity tuples are collapsed into one row weighted
                   by their count (APE's NCE loss weights events, so this is the same objective)
process/gid        GID (Dong et al., CIKM 2017) process paths, scored by the daemon on per-host
                   sliding windows of ``gid_window_s`` with ``top_paths(window, gid_top_k)``
auth/ape           APE over the users, computers and logon kinds of authentications
network/ape        APE over flow endpoints, port and protocol
insider/insider-   per-user activity-token frequency, token = activity x subtype x hour
frequency          (the LAN paper's activity x hour; ``insider-frequency`` baseline)
insider/lan        LAN (Cai et al., 2024): each activity scored from the user's previous
                   activities (``history``) and its retrieved neighbours
=================  ===========================================================================

Insider frames get each user's context (``action``, ``hour``, ``history``, ...) from
:func:`~logguard.events.insider_context.annotate`, run over the window in time order, the
same per-user state the daemon keeps across its micro-batches; a user's first activities in
the window have short histories, as a new user's have in the daemon.

Calibration reference, never in-sample: the window's events are split by time
(:func:`split_holdout`): every k-th whole hour of the window (k = 1 / ``holdout``, default 5:
hours 4, 9, 14, ... from its first event) is held out, the rest fits the detector, and the
detector's scores on the held-out hours are the reference sample of
:class:`~logguard.models.calibration.ScoreCalibrator` (c(x) = 100 · F̂(x), F̂ the empirical
CDF of the held-out scores). Held-out hours spread over the window cover the daily cycle; a
single last slice does not: on a simulated one-day window (3 hosts, APE, 15 epochs) the last
20 % is the quiet evening, and calibrating on it put 217 of every 10,000 events of the next
day above the 5-per-10k threshold, against 31 with held-out hours (same model quality, AP
0.92). Whole hours keep GID's windows whole. For per-event slots the sample is one score per
held-out event. For GID it is the statistic the daemon thresholds: the held-out events of
each host are cut into consecutive windows of ``gid_window_s`` (the daemon's window length)
and each window contributes the z-scores of its ``top_paths(window, gid_top_k)``; the
daemon's windows slide, these tile, and both are top-k z-scores of one window of one host.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from logguard.errors import InputError, ModelError
from logguard.events.frames import model_frame
from logguard.events.insider_context import annotate, with_features
from logguard.events.readers.cert import UserState
from logguard.models.base import Detector, detector_class
from logguard.models.calibration import ScoreCalibrator

log = logging.getLogger(__name__)

APE_ENTITIES = ("host", "user", "parent_image", "image", "action", "object_type", "object_class")
HOLDOUT_FRACTION = 0.2
MIN_EVENTS = 20  # fewer events than this in a window teach a slot nothing
GID_WINDOW_S = 3600.0
GID_TOP_K = 10


@dataclass(frozen=True)
class SlotSpec:
    """One slot: the detector kind, its entity columns and hyper-parameters."""

    source: str
    model: str
    entities: tuple[str, ...] | None = None
    params: dict[str, Any] = field(default_factory=dict)
    weighted_distinct: bool = False  # fit on distinct entity tuples weighted by count
    per_event: bool = True  # False: scored on windows of paths (GID)
    user_context: bool = False  # insider rows need each user's recent activities (LAN)

    @property
    def name(self) -> str:
        return f"{self.source}/{self.model}"


SLOTS: dict[tuple[str, str], SlotSpec] = {(spec.source, spec.model): spec for spec in (
    SlotSpec("process", "ape", APE_ENTITIES, {"epochs": 15, "progress": False},
             weighted_distinct=True),
    SlotSpec("process", "gid", None, {}, per_event=False),
    SlotSpec("auth", "ape", ("src_user", "dst_user", "src_computer", "dst_computer",
                             "auth_type", "logon_type", "outcome"),
             {"epochs": 15, "progress": False}, weighted_distinct=True),
    SlotSpec("network", "ape", ("src_ip", "dst_ip", "dst_port", "protocol"),
             {"epochs": 15, "progress": False}, weighted_distinct=True),
    SlotSpec("insider", "insider-frequency", ("activity", "subtype", "hour"),
             {"user_column": "user"}),
    SlotSpec("insider", "lan", ("action", "hour"), {"progress": False}, user_context=True),
)}


def slot_spec(source: str, model: str) -> SlotSpec:
    """The spec of slot ``source/model``; an unknown slot names the known ones."""
    try:
        return SLOTS[(source, model)]
    except KeyError:
        known = ", ".join(spec.name for spec in SLOTS.values())
        raise InputError(f"no slot {source}/{model}; the slots are: {known}") from None


def slots_for(sources: list[str] | None = None) -> list[SlotSpec]:
    """The slots of ``sources`` (all slots when None); an unknown source is an error."""
    if sources is None:
        return list(SLOTS.values())
    known = sorted({spec.source for spec in SLOTS.values()})
    unknown = [s for s in sources if s not in known]
    if unknown:
        raise InputError(f"no slot for source(s) {', '.join(unknown)}; "
                         f"sources with slots: {', '.join(known)}")
    return [spec for spec in SLOTS.values() if spec.source in sources]


def slot_frame(spec: SlotSpec, events: pd.DataFrame) -> pd.DataFrame:
    """The model frame of ``spec``'s source from stored events (store layout) in time order;
    a frame that is already a model frame (``time``, no ``event_time``) is kept as it is."""
    if "source" in events.columns:
        events = events[events["source"] == spec.source]
    if "event_time" in events.columns:
        frame = model_frame(with_features(events) if spec.user_context else events)
    else:
        frame = events.copy()
    if "time" not in frame.columns:
        raise InputError(f"{spec.name}: the events have no 'time' or 'event_time' column")
    if spec.user_context and "history" not in frame.columns:
        return annotate(frame, UserState())
    return frame.sort_values("time", kind="stable").reset_index(drop=True)


def split_holdout(frame: pd.DataFrame, holdout: float) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(fit part, held-out part) of a time-ordered frame: held out is every k-th whole hour of
    the window, k = round(1 / holdout), counted from its first event (hours k-1, 2k-1, ...).

    A window shorter than k hours holds out the last ``holdout`` share of its rows instead.
    """
    if not 0 < holdout < 1:
        raise InputError(f"holdout must lie in (0, 1), got {holdout}")
    every = max(2, round(1 / holdout))
    elapsed = pd.to_datetime(frame["time"], utc=True) - pd.to_datetime(frame["time"].iloc[0],
                                                                        utc=True)
    hour = (elapsed // pd.Timedelta(hours=1)).to_numpy()
    held = hour % every == every - 1
    if not held.any():
        held = np.arange(len(frame)) >= round(len(frame) * (1 - holdout))
    return frame[~held].reset_index(drop=True), frame[held].reset_index(drop=True)


def new_detector(spec: SlotSpec, **params: Any) -> Detector:
    """An unfitted detector of ``spec`` with its defaults overridden by ``params``."""
    cls = detector_class(spec.model)
    merged = {**spec.params, **params}
    if spec.entities is not None and "entities" in cls._param_names():
        merged.setdefault("entities", list(spec.entities))
    unknown = sorted(set(merged) - set(cls._param_names()))
    if unknown:
        raise InputError(f"{spec.name}: {cls.kind} has no hyper-parameter(s) "
                         f"{', '.join(unknown)}")
    return cls(**merged)


def fit_detector(spec: SlotSpec, detector: Detector, frame: pd.DataFrame) -> Detector:
    """Fit ``detector`` on ``frame`` (distinct weighted tuples where the slot says so)."""
    if not spec.weighted_distinct:
        return detector.fit(frame)
    from logguard.models.encoding import entity_text

    columns = list(spec.entities or ())
    missing = [c for c in columns if c not in frame.columns]
    if missing:
        raise InputError(f"{spec.name}: missing column(s) {', '.join(missing)}")
    text = pd.DataFrame({c: entity_text(frame[c]) for c in columns})
    distinct = text.value_counts(dropna=False).reset_index(name="count")
    return detector.fit(distinct[columns],
                        sample_weight=distinct["count"].to_numpy(dtype=np.float64))


def gid_window_scores(detector: Detector, frame: pd.DataFrame, window_s: float,
                      top_k: int) -> np.ndarray:
    """Top-``top_k`` path z-scores of every (host, window of ``window_s``) of ``frame``: the
    statistic the daemon computes on each host's sliding window."""
    if frame.empty:
        return np.zeros(0)
    seconds = pd.to_datetime(frame["time"], utc=True).astype("int64") // 10**9
    bucket = (seconds - int(seconds.min())) // int(window_s)
    scores: list[float] = []
    for _, window in frame.groupby(bucket, sort=True):  # each host's paths, one graph per window
        for paths in detector.top_paths_by_host(window, int(top_k)).values():
            scores.extend(path["z_score"] for path in paths)
    return np.asarray(scores, dtype=np.float64)


def slot_scores(spec: SlotSpec, detector: Detector, frame: pd.DataFrame, *,
                gid_window_s: float = GID_WINDOW_S, gid_top_k: int = GID_TOP_K) -> np.ndarray:
    """The raw scores the daemon calibrates and thresholds: one per event, or for GID one per
    top path of each host window."""
    if spec.per_event:
        return detector.score(frame)
    return gid_window_scores(detector, frame, gid_window_s, gid_top_k)


def train_slot(source: str, model: str, frame: pd.DataFrame, *,
               holdout: float = HOLDOUT_FRACTION, gid_window_s: float = GID_WINDOW_S,
               gid_top_k: int = GID_TOP_K,
               **params: Any) -> tuple[Detector, ScoreCalibrator, dict[str, Any]]:
    """Train slot ``source/model`` on ``frame`` and calibrate it on its held-out hours.

    ``frame``: stored events (store layout, e.g. :func:`~logguard.training.history.read_history`;
    rows of other sources are ignored) or a model frame. ``params`` override the slot's
    hyper-parameters. Returns the fitted detector, its calibrator and a JSON-able summary
    (saved in the model directory by the registry).
    """
    spec = slot_spec(source, model)
    data = slot_frame(spec, frame)
    fit_part, reference_part = split_holdout(data, holdout)
    if len(fit_part) < MIN_EVENTS or len(reference_part) < 1:
        raise ModelError(f"{spec.name}: {len(data)} events are too few to train and calibrate "
                         f"(need at least {MIN_EVENTS} to fit and one held out)")
    detector = new_detector(spec, **params)
    started = time.perf_counter()
    fit_detector(spec, detector, fit_part)
    fit_seconds = time.perf_counter() - started
    reference = slot_scores(spec, detector, reference_part, gid_window_s=gid_window_s,
                            gid_top_k=gid_top_k)
    calibrator = ScoreCalibrator.fit(reference)
    summary: dict[str, Any] = {
        "slot": spec.name, "events": len(data), "fit_events": len(fit_part),
        "reference_events": len(reference_part), "reference_scores": calibrator.reference_size,
        "holdout": holdout, "first_event": _iso(data["time"].iloc[0]),
        "last_event": _iso(data["time"].iloc[-1]),
        "fit_seconds": round(fit_seconds, 3),
        "calibrate_seconds": round(time.perf_counter() - started - fit_seconds, 3),
    }
    if not spec.per_event:
        summary.update(gid_window_s=gid_window_s, gid_top_k=gid_top_k)
    fitted = getattr(detector, "training_summary_", {})
    summary.update({k: v for k, v in fitted.items() if k != "history"})
    log.info("trained %s on %d events in %.1f s; calibrated on %d held-out scores",
             spec.name, len(fit_part), fit_seconds, calibrator.reference_size)
    return detector, calibrator, summary


def _iso(value: Any) -> str:
    return pd.Timestamp(value).isoformat()
