"""The analyst reads on the fixture store: queue order and filters, ids, scenarios, similarity."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from logguard.analyst import queries
from logguard.analyst.queries import AlertFilter, UnknownIdError
from logguard.errors import InputError
from logguard.store.duckdb_store import open_duckdb

ATTACK_HOST, ATTACK_USER = "WS-FIN-07", "CORP\\alice"  # the fixture's planted attack


@pytest.fixture
def con(analyst_db):
    connection = open_duckdb(analyst_db, read_only=True)
    yield connection
    connection.close()


def test_queue_orders_by_calibrated_score_then_car_rank(con, planted):
    queue = queries.alert_queue(con, AlertFilter(top=100))
    assert [a["rank"] for a in queue] == list(range(1, planted.n_alerts + 1))
    scores = [a["score"] for a in queue]
    assert scores == sorted(scores, reverse=True)
    assert [a["alert_id"] for a in queue[:3]] == [planted.attack[0], planted.loud_benign,
                                                  planted.attack[1]]


def test_car_order_puts_the_whole_planted_attack_first(con, planted):
    queue = queries.alert_queue(con, AlertFilter(top=100, order="car"))
    assert [a["alert_id"] for a in queue[:4]] == list(planted.attack)
    # the loud benign alert (96.0) is ranked by CAR below the attack and the backups
    loud = next(a for a in queue if a["alert_id"] == planted.loud_benign)
    assert loud["score"] == 96.0 and loud["rank"] == 8
    with pytest.raises(InputError, match="order must be one of"):
        AlertFilter(order="random")


def test_filters_host_user_score_since_and_status(con, planted):
    on_host = queries.alert_queue(con, AlertFilter(host=ATTACK_HOST.lower()))
    assert [a["alert_id"] for a in on_host] == list(planted.attack[:3])
    by_user = queries.alert_queue(con, AlertFilter(user=ATTACK_USER))
    assert [a["alert_id"] for a in by_user] == list(planted.attack)
    high = queries.alert_queue(con, AlertFilter(top=100, min_score=95))
    assert {a["alert_id"] for a in high} == {planted.attack[0], planted.attack[1],
                                             planted.loud_benign}
    recent = queries.alert_queue(con, AlertFilter(top=100, since=queries.parse_since("3h")))
    assert {a["alert_id"] for a in recent} >= set(planted.attack)
    assert all(a["event_time"] >= (datetime.now(UTC) - timedelta(hours=3, minutes=1))
               .strftime("%Y-%m-%dT%H:%M:%SZ") for a in recent)
    assert len(queries.alert_queue(con, AlertFilter(top=3))) == 3
    assert queries.alert_queue(con, AlertFilter(statuses=("benign",))) == []


def test_parse_since_and_bad_filter_values_name_the_field():
    now = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)
    assert queries.parse_since("24h", now) == now - timedelta(hours=24)
    assert queries.parse_since("7d", now) == now - timedelta(days=7)
    assert queries.parse_since("2026-11-20T08:00:00Z") == datetime(2026, 11, 20, 8, tzinfo=UTC)
    with pytest.raises(InputError, match="--since 'yesterday'"):
        queries.parse_since("yesterday")
    with pytest.raises(InputError, match="min_score must be a number"):
        AlertFilter.from_strings(min_score="high")
    with pytest.raises(InputError, match="top must be between"):
        AlertFilter.from_strings(top="0")
    with pytest.raises(InputError, match="status 'open'"):
        queries.parse_statuses("new,open")
    assert queries.parse_statuses("all") == queries.STATUSES


@settings(max_examples=40, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(value=st.one_of(st.sampled_from(["' OR 1=1 --", "x'; DROP TABLE alerts; --",
                                        "\" OR \"\"=\"", "%", "_", "*", "WS-0%"]),
                       st.text(max_size=30)))
def test_sql_looking_filter_values_match_only_literally(con, planted, value):
    for flt in (AlertFilter(host=value), AlertFilter(user=value)):
        rows = queries.alert_queue(con, flt)
        field = "host" if flt.host is not None else "user"
        assert all(r[field].lower() == value.lower() for r in rows)
    with pytest.raises(UnknownIdError):
        queries.alert_detail(con, value + "-not-an-id")
    assert len(queries.alert_queue(con, AlertFilter(top=100))) == planted.n_alerts


def test_id_prefixes_resolve_only_when_unique_and_long_enough(con, planted):
    full = planted.attack[1]
    assert queries.resolve_alert_id(con, full[:8]) == full
    assert queries.resolve_alert_id(con, full) == full
    with pytest.raises(UnknownIdError, match=f"no alert with id '{full[:7]}'.*8 characters"):
        queries.resolve_alert_id(con, full[:7])
    with pytest.raises(UnknownIdError, match="no alert with id 'ffffffffffff'"):
        queries.resolve_alert_id(con, "ffffffffffff")
    assert queries.resolve_scenario_id(con, planted.attack_scenario[:8]) == planted.attack_scenario


def test_alert_detail_parses_explanations_and_finds_similar_past_alerts(con, planted):
    event = queries.alert_detail(con, planted.attack[0])
    assert event["explanation"]["pairs"][0][:4] == [
        "parent_image", "C:\\Program Files\\Office\\WINWORD.EXE", "image",
        "C:\\Windows\\System32\\powershell.exe"]
    assert event["entities"]["process_id"] == 4242
    assert event["attack_tags"] == ["T1566.001", "T1059.001"]
    path = queries.alert_detail(con, planted.attack[1])
    assert [e["relation"] for e in path["explanation"]["path"]["edges"]] == [
        "process_start", "process_start", "network_connect"]
    # the last backup run is most like the two earlier runs: same model, same stable entities
    backup = queries.alert_detail(con, planted.backup[2])
    assert [s["alert_id"] for s in backup["similar"][:2]] == [planted.backup[1], planted.backup[0]]
    assert backup["similar"][0]["shared"] == 9  # 8 stable entities + same model
    assert all(s["alert_id"] != planted.backup[2] for s in backup["similar"])
    first = queries.alert_detail(con, planted.backup[0])
    assert planted.backup[1] not in [s["alert_id"] for s in first["similar"]]  # only the past


def test_scenarios_list_and_detail_in_time_order(con, planted):
    listed = queries.list_scenarios(con)
    assert [s["scenario_id"] for s in listed] == [planted.attack_scenario, planted.backup_scenario]
    assert listed[0]["hosts"] == [ATTACK_HOST, "DC-01"] and listed[1]["hosts"] == ["WS-02"]
    detail = queries.scenario_detail(con, planted.attack_scenario)
    assert [s["signature"] for s in detail["steps"]] == [
        "WINWORD.EXE -> powershell.exe", "process path to 185.220.101.7",
        "registry_set Run key", "SMB lateral movement"]
    assert [a["alert_id"] for a in detail["alerts"]] == list(planted.attack)
    assert len(detail["graph"]["nodes"]) == 11 and len(detail["graph"]["edges"]) == 9
