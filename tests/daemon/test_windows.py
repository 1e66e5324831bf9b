"""GID's host windows: a search reads every (host, window bucket) that got events since the
last one, whole, and the buffer keeps only each host's trailing span."""

from __future__ import annotations

import pandas as pd

from logguard.daemon.windows import HostWindows

T0 = pd.Timestamp("2026-11-23T08:00:00Z")  # on an hour boundary: hour buckets start here
HOUR = 3600.0


def rows(*events: tuple[str, float, int]) -> pd.DataFrame:
    """(host, hours after T0, offset) -> model-frame rows with the columns windows read."""
    return pd.DataFrame({"host": [h for h, _, _ in events],
                         "time": [T0 + pd.Timedelta(hours=t) for _, t, _ in events],
                         "kafka_partition": 0, "kafka_offset": [o for _, _, o in events]})


def searched(frame: pd.DataFrame) -> list[tuple[str, float]]:
    return [(h, (t - T0) / pd.Timedelta(hours=1))
            for h, t in zip(frame["host"], frame["time"], strict=True)]


def test_a_search_reads_each_bucket_with_new_events_whole_and_no_other():
    windows = HostWindows(window_s=HOUR)
    windows.append(rows(("a", 2.0, 1), ("b", 1.0, 2), ("a", 0.0, 3)))
    # all of it, by host and in time order, though a's first event is 2 h before its newest
    assert searched(windows.take_due(HOUR)) == [("a", 0.0), ("a", 2.0), ("b", 1.0)]
    assert len(windows.take_due(HOUR)) == 0  # nothing new: nothing to search
    windows.append(rows(("a", 2.5, 4)))
    # a's bucket [2 h, 3 h) again, whole; b waits for events of its own
    assert searched(windows.take_due(HOUR)) == [("a", 2.0), ("a", 2.5)]
    windows.append(rows(("a", 3.2, 5)))
    # a new bucket: a's 2.5 is kept (within the hour) but its bucket gives nothing new
    assert searched(windows.take_due(HOUR)) == [("a", 3.2)]
    windows.append(rows(("b", 4.0, 6), ("a", 3.4, 7)))
    assert searched(windows.take_due(HOUR)) == [("a", 3.2), ("a", 3.4), ("b", 4.0)]
    windows.append(rows(("b", 4.5, 8)))
    assert searched(windows.take_due(HOUR)) == [("b", 4.0), ("b", 4.5)]
    assert windows.hosts == 2


def test_the_buffer_keeps_each_hosts_trailing_span_only():
    windows = HostWindows(window_s=HOUR)
    windows.append(rows(("a", 0.1, 1), ("a", 0.9, 2), ("b", 0.5, 3)))
    windows.take_due(HOUR)
    windows.append(rows(("a", 1.5, 4)))
    windows.take_due(HOUR)  # a's 0.1 falls out, its 0.9 stays; b keeps its only event
    # a late event of a's first bucket finds only what the buffer kept of it
    windows.append(rows(("a", 0.95, 5), ("b", 0.6, 6)))
    assert searched(windows.take_due(HOUR)) == [("a", 0.9), ("a", 0.95), ("b", 0.5), ("b", 0.6)]


def test_buckets_follow_the_models_window_not_the_buffers_span():
    windows = HostWindows(window_s=2 * HOUR)
    windows.append(rows(("a", 0.2, 1), ("a", 0.7, 2)))
    windows.take_due(HOUR / 2)
    windows.append(rows(("a", 0.8, 3)))
    # half-hour buckets: [0.5 h, 1 h) only, though the buffer keeps two hours
    assert searched(windows.take_due(HOUR / 2)) == [("a", 0.7), ("a", 0.8)]


def test_a_slow_search_delays_the_next_so_gid_takes_at_most_its_share():
    from logguard.daemon.service import GID_MAX_SHARE, next_search_in

    assert next_search_in(5.0, 0.4) == 5.0  # quick searches keep the configured interval
    wait = next_search_in(5.0, 20.0)  # a window so full that a search takes 20 s
    assert wait == 60.0 and 20.0 / (20.0 + wait) == GID_MAX_SHARE
