"""`logguard demo` end to end on a small enterprise: real broker, real DuckDB file, real models."""

import duckdb
import pytest

from logguard.demo import DemoConfig, run_demo

pytestmark = [pytest.mark.kafka, pytest.mark.slow]


def test_demo_stores_every_event_once_and_ranks_the_planted_intrusion_first(tmp_path):
    db = tmp_path / "demo.duckdb"
    lines: list[str] = []
    report = run_demo(DemoConfig(db=db, hosts=3, train_hours=24, test_hours=12, epochs=5),
                      say=lines.append)
    assert report.produced > 10_000
    assert report.stored == report.produced and report.dead_letters == 0
    assert report.train_events + report.test_events == report.stored
    assert report.attack_events >= 10
    assert report.attack_ranks[0] == 1, report.attack_ranks[:5]
    assert report.queue["attack_step"].notna().sum() >= 5
    assert report.paths and report.paths[0]["rank"] == 1
    assert any("[4/4]" in line for line in lines)
    with duckdb.connect(str(db), read_only=True) as con:
        events, keys = con.execute(
            "SELECT count(*), count(DISTINCT (kafka_partition, kafka_offset)) FROM events"
        ).fetchone()
        scored = con.execute("SELECT count(*) FROM scores WHERE model = 'ape'").fetchone()[0]
    assert events == keys == report.stored
    assert scored == report.test_events
