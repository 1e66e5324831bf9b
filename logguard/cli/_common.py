"""Flags and helpers shared by several commands."""

from __future__ import annotations

import argparse
from pathlib import Path

from logguard.errors import InputError

FORMATS = ("csv", "jsonl", "parquet", "sysmon", "cert", "ait")
_SUFFIX_FORMATS = {
    ".csv": "csv",
    ".csv.gz": "csv",
    ".jsonl": "jsonl",
    ".json": "jsonl",
    ".ndjson": "jsonl",
    ".jsonl.gz": "jsonl",
    ".parquet": "parquet",
    ".pq": "parquet",
}


def add_input_arguments(parser: argparse.ArgumentParser, *, entities: bool = True) -> None:
    """``--input``, ``--format`` and (for tabular formats) ``--entities``."""
    parser.add_argument("--input", required=True, type=Path, metavar="FILE|DIR",
                        help="input file (or directory, for sysmon/cert)")
    parser.add_argument("--format", choices=FORMATS, default=None,
                        help="input format; inferred from the file extension when omitted "
                        "(.csv, .jsonl/.json/.ndjson, .parquet)")
    if entities:
        parser.add_argument("--entities", default=None, metavar="a,b,c",
                            help="comma-separated entity columns (default: every column but "
                            "the weight and label columns)")


def infer_format(path: Path, given: str | None) -> str:
    """The explicit ``--format``, else the one its extension names; an error names the fix."""
    if given:
        return given
    name = path.name.lower()
    for suffix, fmt in sorted(_SUFFIX_FORMATS.items(), key=lambda kv: -len(kv[0])):
        if name.endswith(suffix):
            return fmt
    raise InputError(f"cannot infer the format of {path}: pass --format ({', '.join(FORMATS)})")


def split_list(value: str | None) -> list[str] | None:
    """``"a, b,c"`` -> ``["a", "b", "c"]``; ``None`` stays ``None``."""
    if value is None:
        return None
    items = [item.strip() for item in value.split(",") if item.strip()]
    if not items:
        raise InputError("an empty list was given (expected a,b,c)")
    return items
