"""GID's host windows: a search reads everything since the last one plus each due host's
trailing span, and the buffer keeps only the trailing spans."""

from __future__ import annotations

import pandas as pd

from logguard.daemon.windows import HostWindows

T0 = pd.Timestamp("2026-11-23T08:00:00Z")


def rows(*events: tuple[str, float, int]) -> pd.DataFrame:
    """(host, hours after T0, offset) -> model-frame rows with the columns windows read."""
    return pd.DataFrame({"host": [h for h, _, _ in events],
                         "time": [T0 + pd.Timedelta(hours=t) for _, t, _ in events],
                         "kafka_partition": 0, "kafka_offset": [o for _, _, o in events]})


def searched(frame: pd.DataFrame) -> list[tuple[str, float]]:
    return [(h, (t - T0) / pd.Timedelta(hours=1))
            for h, t in zip(frame["host"], frame["time"], strict=True)]


def test_a_search_covers_every_new_event_then_keeps_each_hosts_trailing_span():
    windows = HostWindows(window_s=3600)
    windows.append(rows(("a", 2.0, 1), ("b", 1.0, 2), ("a", 0.0, 3)))
    # all of it, by host and in time order, though a's first event is 2 h before its newest
    assert searched(windows.take_due()) == [("a", 0.0), ("a", 2.0), ("b", 1.0)]
    assert len(windows.take_due()) == 0  # nothing new: no host is due
    windows.append(rows(("a", 2.5, 4)))
    # only a is due: its kept trailing hour and the new event; b waits for events of its own
    assert searched(windows.take_due()) == [("a", 2.0), ("a", 2.5)]
    windows.append(rows(("b", 4.0, 5)))
    assert searched(windows.take_due()) == [("b", 1.0), ("b", 4.0)]
    windows.append(rows(("b", 4.5, 6)))
    assert searched(windows.take_due()) == [("b", 4.0), ("b", 4.5)]  # b's 1.0 fell out
    assert windows.hosts == 2
