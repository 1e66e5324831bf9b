"""`logguard demo` end to end on a small enterprise: real broker, real daemon, real DuckDB."""

import duckdb
import pytest

pytestmark = [pytest.mark.kafka, pytest.mark.slow, pytest.mark.timeout(180)]


def test_demo_streams_through_the_daemon_and_ranks_the_planted_intrusion_first(demo_run):
    db, report, lines = demo_run  # 3 hosts, 20 users, 24 h clean + 24 h with the intrusion
    assert report.produced == report.train_events + report.test_events > 10_000
    assert report.stored == report.produced and report.dead_letters == 0
    assert {"process/ape", "process/gid", "insider/lan"} <= set(report.trained)
    assert report.attack_events >= 10
    planted = sorted(report.attack_ranks + report.insider_ranks)  # intrusion and insider
    assert planted and planted[0] == 1, planted[:5]
    assert sum(rank <= 10 for rank in planted) >= 8, planted[:12]
    assert report.attack_ranks[0] <= 10 and sum(r <= 20 for r in report.attack_ranks) >= 3
    assert report.scenarios and report.scenarios[0]["rank"] == 1
    # the insider's after-hours leak: LAN, from each user's context the daemon keeps
    assert report.insider_events >= 5
    assert len(report.insider_ranks) >= report.insider_events // 2, report.insider_ranks
    assert any(line.startswith("[6/6]") for line in lines)
    with duckdb.connect(str(db), read_only=True) as con:
        events, keys = con.execute(
            "SELECT count(*), count(DISTINCT (kafka_topic, kafka_partition, kafka_offset)) "
            "FROM events").fetchone()
        own_alerts = {a for (a,) in con.execute("SELECT alert_id FROM alerts WHERE kind <> 'ids'"
                                                ).fetchall()}
        scenarios = {s for (s,) in con.execute("SELECT scenario_id FROM scenarios").fetchall()}
    assert events == keys == report.produced  # every event stored once
    assert own_alerts  # the models raised alerts, and every one of them was published
    assert report.published_ids - scenarios == own_alerts
