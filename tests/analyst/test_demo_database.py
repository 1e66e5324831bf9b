"""The analyst API end to end on a real demo database (what `logguard demo` leaves behind)."""

from __future__ import annotations

import duckdb
import pytest

from logguard.store.duckdb_store import open_duckdb
from logguard.web import WebApp

from .test_api import call

pytestmark = [pytest.mark.kafka, pytest.mark.slow]


def test_api_on_the_demo_database_leads_with_the_planted_intrusion(demo_run, tmp_path):
    db, _report, _lines = demo_run
    copy = tmp_path / "demo-copy.duckdb"  # feedback writes; the shared demo file stays as it is
    copy.write_bytes(db.read_bytes())
    con = open_duckdb(copy)
    app = WebApp(con, con)
    app.serve("127.0.0.1", 0)
    try:
        status, body, _ = call(f"{app.url}/api/alerts?top=5")
        assert status == 200 and body["count"] == 5
        first = body["alerts"][0]
        planted = {a for (a,) in con.cursor().execute(  # an event alert on a planted event
            "SELECT a.alert_id FROM alerts a JOIN events e "
            "USING (kafka_topic, kafka_partition, kafka_offset) "
            "WHERE json_extract_string(e.extra, '$.attack_step') IS NOT NULL").fetchall()}
        planted |= {a for (a,) in con.cursor().execute(  # a GID path through a planted process
            "SELECT DISTINCT a.alert_id FROM alerts a, "
            "unnest(json_extract_string(a.explanation, '$.path.nodes[*].process_guid')) "
            "AS n(guid) JOIN events e ON e.process_guid = n.guid "
            "WHERE a.kind = 'path' AND e.source = 'process' "
            "AND json_extract_string(e.extra, '$.attack_step') IS NOT NULL").fetchall()}
        assert first["alert_id"] in planted
        status, detail, _ = call(f"{app.url}/api/alerts/{first['alert_id']}")
        assert status == 200 and detail["alert_id"] == first["alert_id"] and detail["explanation"]
        status, scenarios, _ = call(f"{app.url}/api/scenarios")
        assert status == 200 and scenarios["count"] >= 1
        status, _, _ = call(f"{app.url}/api/alerts/{first['alert_id']}/feedback", "POST",
                            {"verdict": "true-positive", "note": "planted step"},
                            {"Origin": app.url, "X-Logguard-CSRF": "1"})
        assert status in (200, 201)
    finally:
        app.shutdown()
        con.close()
    with duckdb.connect(str(copy), read_only=True) as check:
        assert check.execute("SELECT alert_id, verdict FROM feedback").fetchall() == [
            (first["alert_id"], "true-positive")]
