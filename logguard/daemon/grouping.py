"""Alert grouping: the same anomaly repeating within a window is one alert with a count.

A novel program on a host (the first Outlook a machine ever runs, say) makes every one of its
events unusual in the same way: each module it loads, each file it writes. Alerting on each
event floods the queue with copies of one finding (one simulated morning raised 707 APE
alerts, 86 distinct). SIEMs group such repeats (Splunk's throttling, Sentinel's alert
grouping); logguard groups them by the alert's *pattern* (:mod:`logguard.analyst.patterns`:
the entities minus volatile keys such as pids and GUIDs):

    key(a) = sha256(model, pattern(a)),

and an alert whose key has an open group joins it instead of becoming a new alert. A group is
open while its last member is at most ``window_s`` of event time old:

    join  ⇔  t(a) − last(key) ≤ window_s,   then last(key) ← max(last(key), t(a)).

The first alert of a group is stored, ranked and published as usual; a member adds one to the
head's ``occurrences`` and moves its ``last_event_time`` (both in the batch's DuckDB
transaction, so a crash loses or keeps the update together with the events); the member's own
score stays in the ``scores`` table. The open groups are rebuilt from the ``alerts`` table on
start (:meth:`AlertGrouper.restore`), so a restarted daemon groups the next repeat exactly as
the one before the crash would have. ``window_s = 0`` turns grouping off.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from logguard.analyst.patterns import pattern_of, pattern_text
from logguard.store.alerts import pattern_key as stable_pattern_key

if TYPE_CHECKING:
    import duckdb


def pattern_key(model: str, entities: str | dict | None) -> str:
    """The grouping key of an alert: a hash of its model and its pattern."""
    return stable_pattern_key(model, pattern_text(pattern_of(entities)))


@dataclass
class OpenGroup:
    """A group accepting repeats: its head alert and its latest member's event time."""

    head_id: str
    last: datetime


@dataclass
class GroupUpdate:
    """What a batch adds to one existing head: more occurrences and a later last event."""

    occurrences: int
    last: datetime


class AlertGrouper:
    """Decides, alert by alert, whether it opens a group or repeats an open one."""

    def __init__(self, window_s: float) -> None:
        if window_s < 0:
            raise ValueError(f"window_s must be >= 0, got {window_s}")
        self.window = timedelta(seconds=window_s)
        self.groups: dict[str, OpenGroup] = {}

    @property
    def enabled(self) -> bool:
        return self.window > timedelta(0)

    def restore(self, cursor: duckdb.DuckDBPyConnection) -> int:
        """Reopen the groups whose last event lies within the window of the newest alert's
        event time (event time, not wall clock: a replay of old data groups the same way).
        Returns how many groups are open."""
        self.groups.clear()
        if not self.enabled:
            return 0
        rows = cursor.execute(
            "WITH heads AS (SELECT pattern_key, alert_id, "
            "coalesce(last_event_time, event_time) AS last FROM alerts "
            "WHERE pattern_key IS NOT NULL AND status <> 'suppressed') "
            "SELECT pattern_key, arg_max(alert_id, last), max(last) FROM heads "
            "WHERE last >= (SELECT max(last) FROM heads) - to_microseconds(?) "
            "GROUP BY pattern_key",
            [int(self.window.total_seconds() * 1e6)]).fetchall()
        self.groups = {key: OpenGroup(head, last) for key, head, last in rows}
        return len(self.groups)

    def assign(self, alert: dict[str, Any], updates: dict[str, GroupUpdate]) -> str | None:
        """Set ``alert["pattern_key"]``; return the head's id when the alert repeats an open
        group (and record the head's update in ``updates``), None when it opens a group."""
        key = pattern_key(alert["model"], alert["entities"])
        alert["pattern_key"] = key
        if not self.enabled:
            return None
        when: datetime = alert["event_time"]
        group = self.groups.get(key)
        if group is None or when - group.last > self.window:
            self.groups[key] = OpenGroup(alert["alert_id"], when)
            return None
        group.last = max(group.last, when)
        update = updates.setdefault(group.head_id, GroupUpdate(0, group.last))
        update.occurrences += 1
        update.last = max(update.last, group.last)
        return group.head_id

    def expire(self, now: datetime) -> None:
        """Drop groups closed at event time ``now`` (keeps memory bounded on long runs)."""
        stale = [k for k, g in self.groups.items() if now - g.last > self.window]
        for key in stale:
            del self.groups[key]


def apply_updates(cursor: duckdb.DuckDBPyConnection, updates: dict[str, GroupUpdate]) -> None:
    """Add a batch's repeats to their heads (inside the batch's transaction)."""
    if updates:
        cursor.executemany(
            "UPDATE alerts SET occurrences = occurrences + ?, "
            "last_event_time = greatest(coalesce(last_event_time, event_time), ?), "
            "updated_at = current_timestamp WHERE alert_id = ?",
            [[u.occurrences, u.last, head] for head, u in updates.items()])
