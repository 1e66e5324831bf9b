"""Run-time choice of the torch device: the same code path on CPU and CUDA."""

from __future__ import annotations

from typing import TYPE_CHECKING

from logguard.errors import ConfigError

if TYPE_CHECKING:
    import torch


def resolve_device(preference: str = "auto") -> torch.device:
    """Return ``cuda`` when available and ``preference`` is ``auto``, else the device asked for.

    ``preference`` is ``auto``, ``cpu``, ``cuda`` or ``cuda:N``; asking for CUDA on a machine
    without it is a :class:`ConfigError`, not a silent fallback.
    """
    import torch

    if preference == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if preference.startswith("cuda") and not torch.cuda.is_available():
        raise ConfigError(
            f"device {preference!r} requested but CUDA is not available; use --device cpu"
        )
    try:
        return torch.device(preference)
    except RuntimeError as exc:
        raise ConfigError(f"unknown device {preference!r}: use auto, cpu, cuda or cuda:N") from exc
