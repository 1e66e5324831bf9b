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

        # one label per distinct (kind, name): a batch repeats few objects many times
        names = frame["object_name"].astype(object)
        pairs = pd.MultiIndex.from_arrays([frame["object_type"].fillna("other").astype(object),
                                           names.where(names.notna(), None)])
        codes, distinct = pairs.factorize()
        labels = [abstract_label(kind, None if pd.isna(name) else name)
                  for kind, name in distinct]
        frame["object_class"] = pd.Series(labels, dtype=object).take(codes).to_numpy()
    if "activity" in frame.columns and "hour" not in frame.columns and "time" in frame.columns:
        # insider activity is read as activity type x hour of day (Cai et al. 2024, LAN)
        frame["hour"] = pd.to_datetime(frame["time"], utc=True).dt.hour
    return frame
