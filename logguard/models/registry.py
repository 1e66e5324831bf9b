"""The model registry: versioned model directories with one ``ACTIVE`` pointer per slot.

A *slot* is one (source, model) pair the daemon runs, e.g. ``process/ape`` or ``process/gid``.
Layout under the registry root (``--models DIR``)::

    <source>/<model>/versions/<version>/   model.json, state.npz, calibration.json
    <source>/<model>/ACTIVE                the active version (one line)
    <source>/<model>/history.jsonl         one record per promotion or rollback

``ACTIVE`` is replaced atomically (write a temporary file, then ``os.replace``), so a reader
sees the old or the new version, never half a file. Promotion only moves the pointer: every
version stays on disk, so :meth:`ModelRegistry.rollback` returns to the version active before
the current one. The daemon polls :meth:`ModelRegistry.pointers` between batches and loads a
changed slot completely before swapping it in (hot reload without dropping a batch).
"""

from __future__ import annotations

import json
import os
import re
import tempfile
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from logguard.errors import InputError, ModelError
from logguard.models.base import Detector, load_detector
from logguard.models.calibration import ScoreCalibrator

ACTIVE_FILE = "ACTIVE"
HISTORY_FILE = "history.jsonl"
_NAME = re.compile(r"^[a-z][a-z0-9-]{0,39}$")


@dataclass
class ActiveModel:
    """A loaded, calibrated model of one slot."""

    source: str
    model: str
    version: str
    path: Path
    detector: Detector
    calibrator: ScoreCalibrator


def _check_name(kind: str, value: str) -> str:
    if not _NAME.match(value):
        raise InputError(f"{kind} {value!r} is not a valid name (lower-case letters, digits, '-')")
    return value


class ModelRegistry:
    """Read and change the registry rooted at ``root``."""

    def __init__(self, root: str | Path) -> None:
        self.root = Path(root)

    # ------------------------------------------------------------------ layout
    def slot_dir(self, source: str, model: str) -> Path:
        return self.root / _check_name("source", source) / _check_name("model", model)

    def slots(self) -> list[tuple[str, str]]:
        """Every (source, model) with at least one version, sorted."""
        if not self.root.is_dir():
            return []
        return sorted((d.parent.parent.name, d.parent.name)
                      for d in self.root.glob("*/*/versions") if d.is_dir())

    def versions(self, source: str, model: str) -> list[str]:
        """Versions on disk, oldest first (by the time they were added)."""
        base = self.slot_dir(source, model) / "versions"
        if not base.is_dir():
            return []
        return [d.name for d in sorted(base.iterdir(), key=lambda d: d.stat().st_mtime_ns)
                if d.is_dir()]

    def version_dir(self, source: str, model: str, version: str) -> Path:
        path = self.slot_dir(source, model) / "versions" / version
        if not path.is_dir():
            known = ", ".join(self.versions(source, model)) or "none"
            raise ModelError(f"{source}/{model} has no version {version!r} (known: {known})")
        return path

    # ------------------------------------------------------------------ writing
    def add(self, source: str, model: str, detector: Detector, calibrator: ScoreCalibrator,
            training_summary: dict[str, Any] | None = None) -> str:
        """Save a fitted detector and its calibration as a new version (not yet active)."""
        staging = Path(tempfile.mkdtemp(prefix=".staging-", dir=self._ensure_slot(source, model)))
        version = detector.save(staging, training_summary=training_summary)
        calibrator.save(staging)
        target = self.slot_dir(source, model) / "versions" / version
        if target.exists():  # identical content: the same version is already registered
            for child in staging.iterdir():
                child.unlink()
            staging.rmdir()
        else:
            target.parent.mkdir(parents=True, exist_ok=True)
            os.replace(staging, target)
        return version

    def _ensure_slot(self, source: str, model: str) -> Path:
        path = self.slot_dir(source, model)
        path.mkdir(parents=True, exist_ok=True)
        return path

    def promote(self, source: str, model: str, version: str, reason: str = "") -> None:
        """Make ``version`` the active one (atomically) and record it in the history."""
        self.version_dir(source, model, version)
        previous = self.active_version(source, model)
        slot = self.slot_dir(source, model)
        fd, tmp = tempfile.mkstemp(prefix=".active-", dir=slot)
        with os.fdopen(fd, "w") as handle:
            handle.write(version + "\n")
        os.replace(tmp, slot / ACTIVE_FILE)
        with (slot / HISTORY_FILE).open("a") as history:
            history.write(json.dumps({"at": datetime.now(UTC).isoformat(), "version": version,
                                      "previous": previous, "reason": reason}) + "\n")

    def rollback(self, source: str, model: str) -> str:
        """Re-activate the version that was active before the current one; returns it."""
        current = self.active_version(source, model)
        if current is None:
            raise ModelError(f"{source}/{model} has no active version to roll back from")
        for record in reversed(self.history(source, model)):
            if record["version"] == current and record.get("previous"):
                self.promote(source, model, record["previous"], reason=f"rollback from {current}")
                return record["previous"]
        raise ModelError(f"{source}/{model}: no earlier version to roll back to from {current}")

    # ------------------------------------------------------------------ reading
    def history(self, source: str, model: str) -> list[dict[str, Any]]:
        path = self.slot_dir(source, model) / HISTORY_FILE
        if not path.is_file():
            return []
        return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]

    def active_version(self, source: str, model: str) -> str | None:
        path = self.slot_dir(source, model) / ACTIVE_FILE
        try:
            value = path.read_text().strip()
        except FileNotFoundError:
            return None
        return value or None

    def pointers(self) -> dict[tuple[str, str], str]:
        """(source, model) -> active version, for every slot that has one."""
        out = {}
        for source, model in self.slots():
            version = self.active_version(source, model)
            if version is not None:
                out[(source, model)] = version
        return out

    def load(self, source: str, model: str, version: str | None = None) -> ActiveModel:
        """Load ``version`` (default: the active one) with its calibration."""
        version = version or self.active_version(source, model)
        if version is None:
            raise ModelError(f"{source}/{model} has no active version under {self.root}")
        path = self.version_dir(source, model, version)
        return ActiveModel(source=source, model=model, version=version, path=path,
                           detector=load_detector(path), calibrator=ScoreCalibrator.load(path))
