"""The one contract every detector follows (APE, GID, LAN, CAR's content model, baselines).

Modelled on scikit-learn's estimator API and PyOD's detector base class:

* hyper-parameters are the keyword arguments of ``__init__``, stored unchanged as attributes
  of the same name (so :meth:`Detector.get_params` can read them back);
* learned state lives in attributes ending in ``_``, set by :meth:`Detector.fit`;
* :meth:`Detector.score` returns one float per event, **higher = more anomalous**;
* :meth:`Detector.explain` returns one human-readable string per event;
* :meth:`Detector.save` writes a model directory and :func:`load_detector` reads it back,
  giving identical scores.

A model directory holds ``model.json`` (kind, hyper-parameters, entity columns, the schema
it was trained on, a training-data summary, library versions and ``version``: a content
hash of parameters and state) and ``state.npz`` (NumPy arrays, loaded with
``allow_pickle=False``: loading a model never executes code).
"""

from __future__ import annotations

import hashlib
import importlib
import inspect
import io
import json
import platform
from abc import ABC, abstractmethod
from collections.abc import Sequence
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any, ClassVar, Self

import numpy as np
import pandas as pd

from logguard.errors import InputError, ModelError

MODEL_FILE = "model.json"
STATE_FILE = "state.npz"
FORMAT_VERSION = 1
_VERSIONED_LIBRARIES = ("logguard", "numpy", "pandas", "torch", "torch-geometric", "scikit-learn")

# kind -> "module:Class"; imported lazily so the CLI starts without torch.
DETECTORS: dict[str, str] = {
    "ape": "logguard.models.ape:APE",
    "rarity": "logguard.models.baselines:RarityDetector",
    "pairwise": "logguard.models.baselines:PairwiseFrequencyDetector",
    "iforest": "logguard.models.baselines:IsolationForestDetector",
    "gid": "logguard.models.gid:GID",
    "lan": "logguard.models.lan:LAN",
    "insider-frequency": "logguard.models.insider_baselines:ActivityFrequencyDetector",
    "insider-iforest": "logguard.models.insider_baselines:UserDayIsolationForest",
}


def detector_class(kind: str) -> type[Detector]:
    """The detector class registered under ``kind`` (``ape``, ``rarity``, ...)."""
    try:
        target = DETECTORS[kind]
    except KeyError:
        raise InputError(f"unknown model {kind!r}; known: {', '.join(sorted(DETECTORS))}") from None
    module_name, class_name = target.split(":")
    return getattr(importlib.import_module(module_name), class_name)


class NotFittedError(ModelError):
    """``score``/``explain``/``save`` called before ``fit``."""


class Detector(ABC):
    """Base class of all detectors; subclasses implement fit, score, explain and the state hooks."""

    kind: ClassVar[str]

    # ------------------------------------------------------------------ parameters
    @classmethod
    def _param_names(cls) -> list[str]:
        signature = inspect.signature(cls.__init__)
        return [
            name
            for name, p in signature.parameters.items()
            if name != "self" and p.kind not in (p.VAR_POSITIONAL, p.VAR_KEYWORD)
        ]

    def get_params(self) -> dict[str, Any]:
        """Hyper-parameters as passed to ``__init__``."""
        return {name: getattr(self, name) for name in self._param_names()}

    def set_params(self, **params: Any) -> Self:
        valid = set(self._param_names())
        for name, value in params.items():
            if name not in valid:
                raise InputError(f"{type(self).__name__} has no hyper-parameter {name!r}")
            setattr(self, name, value)
        return self

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in self.get_params().items())
        return f"{type(self).__name__}({args})"

    # ------------------------------------------------------------------ the contract
    @abstractmethod
    def fit(self, events: pd.DataFrame, sample_weight: np.ndarray | None = None) -> Self:
        """Learn normal behaviour from ``events`` (optionally weighted per row)."""

    @abstractmethod
    def score(self, events: pd.DataFrame) -> np.ndarray:
        """One anomaly score per row of ``events``, float64, higher = more anomalous."""

    @abstractmethod
    def explain(self, events: pd.DataFrame) -> list[str]:
        """One readable explanation per row of ``events``: why it scored as it did."""

    @abstractmethod
    def _get_state(self) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
        """Learned state as (NumPy arrays, JSON-able metadata)."""

    @abstractmethod
    def _set_state(self, arrays: dict[str, np.ndarray], meta: dict[str, Any]) -> None:
        """Restore what :meth:`_get_state` returned."""

    # ------------------------------------------------------------------ helpers for subclasses
    @property
    def is_fitted(self) -> bool:
        return getattr(self, "fitted_", False)

    def _check_fitted(self) -> None:
        if not self.is_fitted:
            raise NotFittedError(f"{type(self).__name__} is not fitted: call fit() or load a model")

    @staticmethod
    def _require_columns(events: pd.DataFrame, columns: Sequence[str]) -> None:
        """Raise an :class:`InputError` naming every missing column."""
        missing = [c for c in columns if c not in events.columns]
        if missing:
            raise InputError(
                f"missing column(s) {', '.join(map(repr, missing))}; "
                f"the input has {', '.join(map(repr, events.columns))}"
            )

    # ------------------------------------------------------------------ persistence
    def save(self, directory: str | Path, *, schema: dict | None = None,
             training_summary: dict | None = None) -> str:
        """Write the model directory and return its version (a content hash)."""
        self._check_fitted()
        arrays, meta = self._get_state()
        buffer = io.BytesIO()
        np.savez(buffer, **arrays)
        state_bytes = buffer.getvalue()
        params = self.get_params()
        digest = hashlib.sha256()
        digest.update(json.dumps({"kind": self.kind, "params": params, "meta": meta},
                                 sort_keys=True, default=str).encode())
        digest.update(state_bytes)
        model_version = digest.hexdigest()[:16]
        record = {
            "format_version": FORMAT_VERSION,
            "kind": self.kind,
            "class": f"{type(self).__module__}:{type(self).__name__}",
            "version": model_version,
            "params": params,
            "meta": meta,
            "schema": schema,
            "training_summary": training_summary or {},
            "libraries": _library_versions(),
        }
        target = Path(directory)
        target.mkdir(parents=True, exist_ok=True)
        (target / STATE_FILE).write_bytes(state_bytes)
        (target / MODEL_FILE).write_text(json.dumps(record, indent=2, default=str) + "\n")
        return model_version


def read_model_record(directory: str | Path) -> dict[str, Any]:
    """The ``model.json`` of a model directory, with a clear error when it is not one."""
    path = Path(directory) / MODEL_FILE
    if not path.is_file():
        raise ModelError(f"{directory} is not a logguard model directory (no {MODEL_FILE})")
    try:
        record = json.loads(path.read_text())
    except (OSError, json.JSONDecodeError) as exc:
        raise ModelError(f"{path} is unreadable: {exc}") from exc
    if record.get("format_version") != FORMAT_VERSION:
        raise ModelError(f"{path}: unsupported model format {record.get('format_version')!r}")
    return record


def load_detector(directory: str | Path) -> Detector:
    """Rebuild the detector saved in ``directory``."""
    record = read_model_record(directory)
    cls = detector_class(record["kind"])
    model = cls(**record["params"])
    try:
        with np.load(Path(directory) / STATE_FILE, allow_pickle=False) as data:
            arrays = {name: data[name] for name in data.files}
    except (OSError, ValueError) as exc:
        raise ModelError(f"{directory}/{STATE_FILE} is unreadable: {exc}") from exc
    model._set_state(arrays, record["meta"])
    model.fitted_ = True
    model.version_ = record["version"]
    return model


def _library_versions() -> dict[str, str]:
    versions = {"python": platform.python_version()}
    for name in _VERSIONED_LIBRARIES:
        try:
            versions[name] = version(name)
        except PackageNotFoundError:
            continue
    return versions
