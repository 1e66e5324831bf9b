"""Each user's activity context for insider events that arrive one by one (Kafka, the store).

LAN (Cai et al., 2024) scores an activity from the user's previous activities: the ``cert``
reader attaches them while it streams a release (:class:`~logguard.events.readers.cert.
UserState`). Events from Kafka are plain ``insider`` records, so the daemon and the training
jobs keep the same per-user state themselves: :func:`annotate` runs a frame of insider events
(in time order) through a :class:`UserState`, giving every row the reader's ``hour``,
``off_hours``, ``new_pc``, ``action`` (activity type with its qualifiers) and ``history``
(the user's last ``HISTORY_LENGTH`` ``action@hour`` tokens before it), and advancing the state
by one activity per row: O(1) per event, never recomputed from scratch.

The qualifiers the reader derives from the CERT files travel as extra fields of the event
(``removable``, ``recipients``, ``external_recipients``, ``attachments``, ``domain_class``:
what ``logguard produce --format cert`` sends); an event without them counts as a device
activity being removable media and as no email recipients, attachments or site class.

A restarted daemon rebuilds the state from the store (:func:`restore_state`): the pcs each
user was seen on before its last ``HISTORY_LENGTH`` events, then those events replayed, which
gives exactly the state the daemon had after its last committed batch.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from logguard.events.readers.cert import HISTORY_LENGTH, UserState

if TYPE_CHECKING:
    import duckdb

INSIDER_FEATURES = ("removable", "recipients", "external_recipients", "attachments",
                    "domain_class")
CONTEXT_COLUMNS = ("hour", "off_hours", "new_pc", "action", "history")


def _text(values: pd.Series) -> np.ndarray:
    return values.where(values.notna(), "").astype(str).to_numpy()


def _feature(frame: pd.DataFrame, name: str, default: Any) -> list:
    if name not in frame.columns:
        return [default] * len(frame)
    return [default if v is None or v != v else v for v in frame[name].tolist()]


def _flag(value: Any) -> bool:
    if isinstance(value, str):
        return value.strip().lower() in ("1", "true", "yes")
    return bool(value)


def annotate(frame: pd.DataFrame, state: UserState) -> pd.DataFrame:
    """``frame`` (insider model frame: ``time``, ``user``, ``pc``, ``activity``, ``subtype``,
    ``object``, optional :data:`INSIDER_FEATURES`) sorted by time, with the
    :data:`CONTEXT_COLUMNS` of each row computed from ``state``, which advances."""
    out = frame.sort_values("time", kind="stable").reset_index(drop=True)
    if out.empty:
        for name in CONTEXT_COLUMNS:
            out[name] = pd.Series(dtype=object)
        return out
    times = pd.to_datetime(out["time"], utc=True).dt.strftime("%Y-%m-%dT%H:%M:%S").tolist()
    activity = _text(out["activity"]).tolist()
    removable = [_flag(v) for v in _feature(out, "removable", None)]
    removable = [r or a.lower() == "device" for r, a in zip(removable, activity, strict=True)]
    columns = zip(times, _feature(out, "event_id", ""), _text(out["user"]).tolist(),
                  _text(out["pc"]).tolist(), activity, _feature(out, "subtype", ""),
                  _feature(out, "object", ""), removable,
                  [int(v) for v in _feature(out, "recipients", 0)],
                  [int(v) for v in _feature(out, "external_recipients", 0)],
                  [int(v) for v in _feature(out, "attachments", 0)],
                  [str(v) for v in _feature(out, "domain_class", "")], strict=True)
    rows = [state.annotate(event) for event in columns]
    # annotate's tuple ends with hour, off_hours, new_pc, ..., action, history
    out["hour"] = [r[7] for r in rows]
    out["off_hours"] = [r[8] for r in rows]
    out["new_pc"] = [r[9] for r in rows]
    out["action"] = [r[15] for r in rows]
    out["history"] = [r[16] for r in rows]
    return out


def restore_state(cursor: duckdb.DuckDBPyConnection, history_length: int = HISTORY_LENGTH,
                  source: str = "insider") -> UserState:
    """The state after every stored ``source`` event, from the store (see the module text)."""
    from logguard.events.frames import model_frame

    state = UserState(history_length=history_length)
    ranked = ("SELECT *, row_number() OVER (PARTITION BY \"user\" ORDER BY event_time DESC, "
              "kafka_partition DESC, kafka_offset DESC) AS recency FROM events WHERE source = ?")
    for user, pc in cursor.execute(
            f"SELECT DISTINCT \"user\", pc FROM ({ranked}) WHERE recency > ?",  # noqa: S608
            [source, history_length]).fetchall():
        state.pcs.setdefault(str(user), set()).add(str(pc))
    recent = cursor.execute(
        f"SELECT * EXCLUDE (recency) FROM ({ranked}) WHERE recency <= ? "  # noqa: S608
        "ORDER BY event_time, kafka_partition, kafka_offset", [source, history_length]).df()
    if not recent.empty:
        annotate(model_frame(with_features(recent)), state)
    return state


def with_features(rows: pd.DataFrame) -> pd.DataFrame:
    """Stored rows with the :data:`INSIDER_FEATURES` lifted out of their ``extra`` JSON."""
    import orjson

    if "extra" not in rows.columns or rows.empty:
        return rows
    parsed = [orjson.loads(text) if isinstance(text, str) and text else {}
              for text in rows["extra"]]
    rows = rows.copy()
    for name in INSIDER_FEATURES:
        if name not in rows.columns:
            rows[name] = [p.get(name) if isinstance(p, dict) else None for p in parsed]
    return rows
