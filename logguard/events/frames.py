"""Stored events as the frames the models read: one place, shared by training and scoring.

The ``events`` table keeps what arrived (the union layout of the schemas, with
``event_time``); the models read a frame with ``time`` and, for process events, the derived
``object_class`` (GID's abstracted object label, :func:`~logguard.graph.abstraction.abstract_label`)
that APE also uses as an entity, and for insider activity the ``hour`` of day (UTC) of the
event, the second half of the activity token (activity type x hour). Training jobs, the
daemon and the demo all call :func:`model_frame`, so a model sees the same columns when it
is fitted and when it scores.
"""

from __future__ import annotations

import pandas as pd


def model_frame(events: pd.DataFrame) -> pd.DataFrame:
    """``events`` rows (store layout) with ``time`` and the derived model columns added."""
    frame = events.rename(columns={"event_time": "time"})
    if "object_type" in frame.columns and "object_name" in frame.columns:
        from logguard.graph.abstraction import abstract_label

        # abstract_label is memoised, and a batch repeats few objects many times: one cached
        # call per row is cheaper than factorising the (kind, name) pairs first
        frame["object_class"] = pd.Series([
            abstract_label(kind if isinstance(kind, str) else "other",
                           name if isinstance(name, str) else None)
            for kind, name in zip(frame["object_type"].tolist(), frame["object_name"].tolist(),
                                  strict=True)], index=frame.index, dtype=object)
    if "activity" in frame.columns and "hour" not in frame.columns and "time" in frame.columns:
        # insider activity is read as activity type x hour of day (Cai et al. 2024, LAN)
        frame["hour"] = pd.to_datetime(frame["time"], utc=True).dt.hour
    return frame
