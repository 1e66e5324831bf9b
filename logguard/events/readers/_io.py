"""Opening inputs that may be compressed: plain, ``.gz``, or a single-member ``.zip``."""

from __future__ import annotations

import gzip
import io
import zipfile
from pathlib import Path
from typing import IO

from logguard.errors import InputError


def open_binary(path: Path) -> IO[bytes]:
    """A binary stream of ``path``, decompressing ``.gz`` and the largest member of a ``.zip``."""
    name = path.name.lower()
    if name.endswith(".gz"):
        return gzip.open(path, "rb")
    if name.endswith(".zip"):
        archive = zipfile.ZipFile(path)
        members = [m for m in archive.infolist() if not m.is_dir()]
        if not members:
            raise InputError(f"{path}: empty zip archive")
        return archive.open(max(members, key=lambda m: m.file_size))
    return path.open("rb")


def open_text(path: Path) -> IO[str]:
    """A UTF-8 text stream of ``path`` (invalid bytes replaced, never a crash)."""
    return io.TextIOWrapper(open_binary(path), encoding="utf-8", errors="replace", newline="")
