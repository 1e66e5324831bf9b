"""Two `logguard daemon` members in one consumer group, each with its own DuckDB shard (the
scale-out of DESIGN.md): together they store every event exactly once and publish every alert
of either shard, with the group's rebalance (the second member joining) in the middle."""

from __future__ import annotations

import subprocess
import sys
from collections import Counter
from pathlib import Path

import duckdb
import pandas as pd
import pytest

from .conftest import (
    alert_ids,
    encode,
    make_output_topic,
    planted_event,
    process_events,
    read_findings,
)

pytestmark = [pytest.mark.kafka]
REPO_ROOT = Path(__file__).resolve().parents[2]
PLANT_EVERY = 400


def member_config(tmp_path: Path, member: int, bootstrap: str, topic: str, output: str,
                  models: Path) -> Path:
    path = tmp_path / f"member-{member}.toml"
    path.write_text(
        f'bootstrap = "{bootstrap}"\ndb = "{tmp_path / f"shard-{member}.duckdb"}"\n'
        f'models = "{models}"\ngroup = "members-{topic}"\noutput_topic = "{output}"\n'
        "batch_size = 1000\nbatch_ms = 200\ncar_interval_s = 1.0\n"
        f'[topics]\n"{topic}" = "process"\n')
    return path


@pytest.mark.timeout(240)
def test_two_members_store_each_event_once_across_shards_and_publish_every_alert(
        broker, make_topic, send_messages, models_dir: Path, tmp_path: Path):
    topic = make_topic(4)
    output = make_output_topic(broker.bootstrap, f"{topic}-alerts")
    events = []
    for i, event in enumerate(process_events(4.0, after_hours=24)):
        events.append(event)
        if i % PLANT_EVERY == PLANT_EVERY - 1:
            events.append(planted_event(i, pd.Timestamp(event["time"]).to_pydatetime()))
    plants = sum(1 for e in events if e["user"].startswith("ACME\\intruder"))
    send_messages(broker.bootstrap, topic, encode(events))
    members = [subprocess.Popen(
        [sys.executable, "-m", "logguard", "daemon", "--config",
         str(member_config(tmp_path, m, broker.bootstrap, topic, output, models_dir)),
         "--until-idle", "10"], cwd=REPO_ROOT, stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE, text=True) for m in range(2)]
    for member in members:
        _, err = member.communicate(timeout=200)
        assert member.returncode == 0, err[-3000:]

    keys: list[list[tuple[int, int]]] = []
    table_ids: set[str] = set()
    planted_alerts = 0
    for m in range(2):
        with duckdb.connect(str(tmp_path / f"shard-{m}.duckdb"), read_only=True) as con:
            keys.append(con.execute("SELECT kafka_partition, kafka_offset FROM events").fetchall())
            table_ids |= {r[0] for r in con.execute("SELECT alert_id FROM alerts").fetchall()}
            planted_alerts += con.execute(
                "SELECT count(*) FROM alerts WHERE user_name LIKE 'ACME\\intruder%'").fetchone()[0]
    assert all(keys), [len(k) for k in keys]  # both members took part
    every = keys[0] + keys[1]
    assert len(every) == len(events)
    assert max(Counter(every).values()) == 1  # no event in both shards
    assert planted_alerts == plants
    published = alert_ids(read_findings(broker.bootstrap, output, timeout_s=20,
                                        until=lambda f: set(alert_ids(f)) >= table_ids))
    assert set(published) == table_ids
