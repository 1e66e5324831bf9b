"""AlertGrouper: the grouping key, the window rule and its restore from a real DuckDB file."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import duckdb
import orjson
import pyarrow as pa

from logguard.daemon.grouping import AlertGrouper, apply_updates, pattern_key
from logguard.store.alerts import ALERTS_SCHEMA, OUTBOX_SCHEMA, ensure_alert_tables, insert_alerts

T0 = datetime(2026, 11, 23, 9, 0, tzinfo=UTC)


def alert(alert_id: str, minutes: float, image: str = "dropper.exe", pid: int = 1) -> dict:
    return {"alert_id": alert_id, "source": "process", "model": "ape", "model_version": "v1",
            "kind": "event", "event_time": T0 + timedelta(minutes=minutes), "host": "ws-1",
            "user_name": "u", "raw_score": 9.0, "score": 99.99, "threshold": 99.95,
            "summary": "s", "explanation": "{}",
            "entities": orjson.dumps({"host": "ws-1", "image": image,
                                      "process_id": pid}).decode(),
            "attack_tags": "[]", "kafka_topic": "t", "kafka_partition": 0,
            "kafka_offset": int(minutes * 100)}


def test_the_key_ignores_volatile_entities_but_not_the_model_or_stable_ones() -> None:
    a = alert("a", 0, pid=1)["entities"]
    assert pattern_key("ape", a) == pattern_key("ape", alert("b", 0, pid=999)["entities"])
    assert pattern_key("ape", a) != pattern_key("rarity", a)
    assert pattern_key("ape", a) != pattern_key("ape", alert("c", 0, image="x.exe")["entities"])


def test_repeats_join_while_the_last_member_is_within_the_window() -> None:
    grouper, updates = AlertGrouper(3600), {}
    assert grouper.assign(alert("a", 0), updates) is None
    assert grouper.assign(alert("b", 50), updates) == "a"
    assert grouper.assign(alert("c", 100), updates) == "a"  # 50 min after the last member
    assert grouper.assign(alert("d", 161), updates) is None  # 61 min: a new group
    assert grouper.assign(alert("e", 5, image="other.exe"), updates) is None
    assert {k: (u.occurrences, u.last) for k, u in updates.items()} == {
        "a": (2, T0 + timedelta(minutes=100))}
    grouper.expire(T0 + timedelta(minutes=170))
    assert set(grouper.groups) == {pattern_key("ape", alert("d", 0)["entities"])}


def test_a_zero_window_groups_nothing() -> None:
    grouper, updates = AlertGrouper(0), {}
    assert [grouper.assign(alert(i, 0), updates) for i in "abc"] == [None, None, None]
    assert updates == {}


def test_restore_reopens_the_groups_of_the_store(tmp_path: Path) -> None:
    con = duckdb.connect(str(tmp_path / "a.duckdb"))
    ensure_alert_tables(con)
    first = AlertGrouper(3600)
    updates: dict = {}
    rows = [alert("old", 0, image="old.exe"), alert("a", 100), alert("b", 130)]
    heads = [r for r in rows if first.assign(r, updates) is None]
    insert_alerts(con, pa.Table.from_pylist(heads, schema=ALERTS_SCHEMA),
                  OUTBOX_SCHEMA.empty_table())
    apply_updates(con, updates)
    assert con.execute("SELECT alert_id, occurrences FROM alerts ORDER BY alert_id"
                       ).fetchall() == [("a", 2), ("old", 1)]

    restored = AlertGrouper(3600)
    # "old" ended 130 min before the newest alert: closed; "a" is open until 130 + 60 min
    assert restored.restore(con) == 1
    assert restored.assign(alert("c", 185), {}) == "a"
    assert restored.assign(alert("d", 20, image="old.exe"), {}) is None
    con.close()
