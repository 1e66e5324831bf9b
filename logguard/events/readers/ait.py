"""AIT Alert Data Set reader: ``*_alerts.csv.gz`` -> ``alert`` events.

The AIT-ADS files (Landauer et al., CSET 2024; github.com/ait-aecid/alert-data-set) have the
header ``time,name,ip,host,short,time_label,event_label``: ``time`` is Unix seconds, the next
four columns are the fields of ``schemas/alert.schema.json`` with the same names, and the two
label columns are passed through unchanged (evaluation only: no model reads them).

``time`` stays numeric (float64 Unix seconds, the schema's epoch form); every other column is
text, read verbatim.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pandas as pd

from logguard.errors import InputError
from logguard.events.readers.tabular import iter_csv

ALERT_COLUMNS = ("time", "name", "ip", "host", "short")
LABEL_COLUMNS = ("time_label", "event_label")


def iter_ait(path: Path, chunk_rows: int) -> Iterator[pd.DataFrame]:
    """Stream an AIT-ADS alert CSV (plain or gzip) as ``alert`` frames of ``chunk_rows`` rows."""
    first_row = 0
    for chunk in iter_csv(path, chunk_rows):
        missing = [c for c in ALERT_COLUMNS if c not in chunk.columns]
        if missing:
            raise InputError(f"{path}: not an AIT-ADS alert file: column(s) "
                             f"{', '.join(map(repr, missing))} missing; it has "
                             f"{', '.join(map(repr, chunk.columns))}")
        times = pd.to_numeric(chunk["time"], errors="coerce")
        bad = times.isna().to_numpy().nonzero()[0]
        if len(bad):
            row = first_row + int(bad[0])
            raise InputError(f"{path}: data row {row + 1}: field 'time' is "
                             f"{chunk['time'].iloc[bad[0]]!r}, expected Unix seconds")
        chunk = chunk.copy()
        chunk["time"] = times.astype("float64")
        first_row += len(chunk)
        yield chunk
