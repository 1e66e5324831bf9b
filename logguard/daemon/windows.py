"""GID's per-host sliding windows of process events, kept between micro-batches.

A host with events since its last search is *due*; the daemon searches due hosts every
``gid_interval_s`` with ``GID.top_paths_by_host`` (Dong et al., CIKM 2017: top-k least regular
paths of the time-respecting process graph). A search reads every event that arrived since
the host's last search together with the ``window_s`` seconds of *event* time before the
newest one, then the buffer keeps only that trailing span. So every event is searched at
least once, also when a backlog brings hours of event time between two searches (a restart,
a replay); a buffer that only kept the trailing span would skip all but the last hour.

The buffers are state that a restart or a rebalance would lose, so
:meth:`HostWindows.rebuild` refills them from the store (the last ``window_s`` of each host's
process events); a path found again gets the same stable id and ``INSERT OR IGNORE`` keeps
the first alert.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import pandas as pd

from logguard.events.frames import model_frame

if TYPE_CHECKING:
    import duckdb

PROCESS_SOURCE = "process"


class HostWindows:
    """Per-host frames of process events (the model frame layout) over ``window_s``."""

    def __init__(self, window_s: float) -> None:
        self.span = pd.Timedelta(seconds=window_s)
        self._parts: dict[str, list[pd.DataFrame]] = {}
        self._due: set[str] = set()

    def append(self, frame: pd.DataFrame) -> None:
        """Add process events (model frame rows with ``host`` and ``time``)."""
        if len(frame) == 0:
            return
        for host, rows in frame.groupby("host", sort=False):
            self._parts.setdefault(str(host), []).append(rows)
            self._due.add(str(host))

    def take_due(self) -> list[str]:
        """Hosts with events since the last call (and forget that they were due)."""
        due, self._due = sorted(self._due), set()
        return due

    def window(self, host: str) -> pd.DataFrame:
        """The host's events to search, in time order: all that arrived since its last search
        and those within ``window_s`` of its newest event. The buffer then keeps the latter."""
        parts = self._parts.get(host)
        if not parts:
            return pd.DataFrame()
        frame = parts[0] if len(parts) == 1 else pd.concat(parts, ignore_index=True)
        frame = frame.sort_values(["time", "kafka_partition", "kafka_offset"], kind="stable")
        frame = frame.reset_index(drop=True)
        kept = frame[frame["time"] >= frame["time"].max() - self.span]
        self._parts[host] = [kept.reset_index(drop=True)]
        return frame

    @property
    def hosts(self) -> int:
        return len(self._parts)

    def rows(self) -> int:
        return sum(len(p) for parts in self._parts.values() for p in parts)

    def rebuild(self, con: duckdb.DuckDBPyConnection) -> int:
        """Refill every buffer from the store's process events; every host becomes due.

        Returns the number of events loaded.
        """
        seconds = self.span.total_seconds()
        frame = con.execute(
            "SELECT * EXCLUDE (ingested_at) FROM events WHERE source = ? "
            "QUALIFY event_time >= max(event_time) OVER (PARTITION BY host) - to_seconds(?) "
            "ORDER BY event_time, kafka_partition, kafka_offset",
            [PROCESS_SOURCE, seconds]).df()
        self._parts, self._due = {}, set()
        self.append(model_frame(frame))
        return len(frame)
