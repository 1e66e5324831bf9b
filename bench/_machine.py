"""The machine a benchmark ran on, recorded beside its results."""

from __future__ import annotations

import os
import platform
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

LIBRARIES = ("torch", "numpy", "pandas", "pyarrow", "duckdb", "confluent-kafka", "kafka-python",
             "scikit-learn", "torch-geometric")


def cpu_model() -> str:
    """The CPU's model name from /proc/cpuinfo (``platform.processor()`` elsewhere)."""
    cpuinfo = Path("/proc/cpuinfo")
    if cpuinfo.exists():
        for line in cpuinfo.read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    return platform.processor() or "unknown"


def machine_info(**extra: object) -> dict[str, object]:
    """CPU, cores, Python, platform and library versions, plus ``extra`` (e.g. torch_threads)."""
    info: dict[str, object] = {"cpu": cpu_model(), "cores": os.cpu_count() or 0,
                               "python": platform.python_version(),
                               "platform": platform.platform()}
    for name in LIBRARIES:
        try:
            info[name] = version(name)
        except PackageNotFoundError:
            continue
    try:
        import torch

        if torch.cuda.is_available():
            info["gpu"] = torch.cuda.get_device_name()
    except ImportError:
        pass
    info.update(extra)
    return info
