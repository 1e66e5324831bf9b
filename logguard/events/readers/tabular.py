"""Tabular readers: CSV (plain or gzip), JSON lines, Parquet, each streamed in chunks.

Entity columns are categorical: CSV and JSON-lines values are read as text (a port ``80``
stays ``"80"``, with no float conversion of identifiers); only columns that a caller asks
to be numeric (weights) are converted by the caller.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import orjson
import pandas as pd
import pyarrow.parquet as pq

from logguard.errors import InputError
from logguard.events.readers._io import open_text


def iter_csv(path: Path, chunk_rows: int) -> Iterator[pd.DataFrame]:
    """CSV with a header row; every value as a string, empty fields as missing."""
    try:
        reader = pd.read_csv(
            path,
            dtype=str,
            keep_default_na=False,
            na_values=[""],
            chunksize=chunk_rows,
            compression="infer",
        )
        with reader:
            yield from reader
    except pd.errors.EmptyDataError:
        return
    except (pd.errors.ParserError, UnicodeDecodeError) as exc:
        raise InputError(f"{path}: not readable as CSV: {exc}") from exc


def iter_jsonl(path: Path, chunk_rows: int) -> Iterator[pd.DataFrame]:
    """One JSON object per line; blank lines are skipped; a bad line is an error naming it."""
    rows: list[dict] = []
    with open_text(path) as handle:
        for number, line in enumerate(handle, start=1):
            if not line.strip():
                continue
            try:
                row = orjson.loads(line)
            except orjson.JSONDecodeError as exc:
                raise InputError(f"{path}:{number}: not JSON: {exc}") from exc
            if not isinstance(row, dict):
                raise InputError(
                    f"{path}:{number}: expected a JSON object, got {type(row).__name__}"
                )
            rows.append(
                {k: v if isinstance(v, str | type(None)) else _text(v) for k, v in row.items()}
            )
            if len(rows) >= chunk_rows:
                yield pd.DataFrame.from_records(rows)
                rows = []
    if rows:
        yield pd.DataFrame.from_records(rows)


def _text(value: object) -> str:
    if isinstance(value, dict | list):
        return orjson.dumps(value).decode()
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def iter_parquet(path: Path, chunk_rows: int) -> Iterator[pd.DataFrame]:
    """Parquet file (or a directory of them, e.g. the exported history), by record batch."""
    try:
        if path.is_dir():
            import pyarrow.dataset as ds

            batches = ds.dataset(path, format="parquet", partitioning="hive").to_batches(
                batch_size=chunk_rows
            )
        else:
            batches = pq.ParquetFile(path).iter_batches(batch_size=chunk_rows)
        for batch in batches:
            yield batch.to_pandas()
    except OSError as exc:  # pyarrow raises ArrowInvalid (an OSError) for non-Parquet files
        raise InputError(f"{path}: not readable as Parquet: {exc}") from exc
