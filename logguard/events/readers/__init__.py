"""Format readers: every input format streamed as chunks of rows.

One entry point per shape of consumer:

* :func:`iter_frames` yields ``pandas.DataFrame`` chunks of at most ``chunk_rows`` rows
  (models, ``logguard score``): memory stays flat however large the file;
* :func:`iter_records` yields one ``dict`` per event (``logguard produce``);
* :func:`read_frame` concatenates the chunks (training on a file that fits in memory).

Each format module registers a function ``(path, chunk_rows) -> Iterator[DataFrame]`` in
:data:`FRAME_READERS`; formats that map to a source schema (``sysmon`` -> ``process``,
``ait`` -> ``alert``, ``cert`` -> ``insider``) yield that source's field names.
"""

from __future__ import annotations

import importlib
import math
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pandas as pd

from logguard.errors import InputError

DEFAULT_CHUNK_ROWS = 65_536

# format -> "module:function" ; imported on first use.
FRAME_READERS: dict[str, str] = {
    "csv": "logguard.events.readers.tabular:iter_csv",
    "jsonl": "logguard.events.readers.tabular:iter_jsonl",
    "parquet": "logguard.events.readers.tabular:iter_parquet",
    "sysmon": "logguard.events.readers.sysmon:iter_sysmon",
    "ait": "logguard.events.readers.ait:iter_ait",
    "cert": "logguard.events.readers.cert:iter_cert",
}
# format -> the source schema its rows follow (tabular formats follow none in particular)
FORMAT_SOURCES: dict[str, str] = {"sysmon": "process", "ait": "alert", "cert": "insider"}


def _reader(fmt: str) -> Callable[[Path, int], Iterator[pd.DataFrame]]:
    try:
        target = FRAME_READERS[fmt]
    except KeyError:
        raise InputError(f"unknown format {fmt!r}; known: {', '.join(FRAME_READERS)}") from None
    module_name, func = target.split(":")
    try:
        module = importlib.import_module(module_name)
    except ModuleNotFoundError as exc:
        raise InputError(f"format {fmt!r} is not available in this build") from exc
    return getattr(module, func)


def iter_frames(path: str | Path, fmt: str, *, chunk_rows: int = DEFAULT_CHUNK_ROWS,
                columns: list[str] | None = None) -> Iterator[pd.DataFrame]:
    """Stream ``path`` as DataFrame chunks; ``columns`` (if given) must all be present."""
    path = Path(path)
    if not path.exists():
        raise InputError(f"input {path} does not exist")
    for frame in _reader(fmt)(path, chunk_rows):
        if columns is not None:
            missing = [c for c in columns if c not in frame.columns]
            if missing:
                raise InputError(
                    f"{path}: column(s) {', '.join(map(repr, missing))} not found; "
                    f"it has {', '.join(map(repr, frame.columns))}"
                )
        yield frame


def read_frame(path: str | Path, fmt: str, *, columns: list[str] | None = None) -> pd.DataFrame:
    """The whole input as one DataFrame (an empty input gives an empty frame)."""
    frames = list(iter_frames(path, fmt, columns=columns))
    if not frames:
        return pd.DataFrame(columns=columns or [])
    return pd.concat(frames, ignore_index=True) if len(frames) > 1 else frames[0]


def iter_records(path: str | Path, fmt: str, *,
                 chunk_rows: int = DEFAULT_CHUNK_ROWS) -> Iterator[dict[str, Any]]:
    """Stream ``path`` one event dict at a time; missing values are left out of the dict."""
    for frame in iter_frames(path, fmt, chunk_rows=chunk_rows):
        names = list(frame.columns)
        for row in frame.itertuples(index=False, name=None):
            yield {k: _plain(v) for k, v in zip(names, row, strict=True) if not _missing(v)}


def _missing(value: Any) -> bool:
    return value is None or (isinstance(value, float) and math.isnan(value)) or value is pd.NA


def _plain(value: Any) -> Any:
    """NumPy / pandas scalars as plain Python values (JSON-serialisable)."""
    if isinstance(value, pd.Timestamp):
        return value.isoformat()
    item = getattr(value, "item", None)
    return item() if callable(item) else value
