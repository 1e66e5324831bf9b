"""A broker restart mid-run loses nothing: tansu on s3:// storage (a local moto S3 server, so
topics and committed offsets survive), stopped and started again on the same port while the
daemon runs; every event is stored once and every alert reaches the output topic."""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import duckdb
import pandas as pd
import pytest

from logguard.broker import EmbeddedBroker, create_topics, free_port

from .conftest import (
    alert_ids,
    daemon_config,
    encode,
    planted_event,
    process_events,
    read_findings,
)

pytestmark = [pytest.mark.kafka, pytest.mark.slow]
BUCKET = "logguard-test"


@pytest.fixture
def s3_env() -> Iterator[dict[str, str]]:
    """A moto S3 server on 127.0.0.1 with one bucket; the env tansu needs to use it."""
    import boto3
    from moto.server import ThreadedMotoServer

    port = free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    endpoint = f"http://127.0.0.1:{port}"
    env = {"AWS_ACCESS_KEY_ID": "test", "AWS_SECRET_ACCESS_KEY": "test",
           "AWS_DEFAULT_REGION": "us-east-1", "AWS_ENDPOINT": endpoint, "AWS_ALLOW_HTTP": "true"}
    boto3.client("s3", endpoint_url=endpoint, aws_access_key_id="test",
                 aws_secret_access_key="test", region_name="us-east-1").create_bucket(
        Bucket=BUCKET)
    try:
        yield env
    finally:
        server.stop()


def test_broker_restart_mid_run_loses_nothing(s3_env, send_messages, models_dir: Path,
                                              tmp_path: Path, start_daemon):
    broker = EmbeddedBroker(storage=f"s3://{BUCKET}/", env=s3_env).start()
    try:
        topic, output = "restart.process", "restart.alerts"
        # one at a time: two creations racing on tansu's S3 metadata lost one topic here
        create_topics(broker.bootstrap, {topic: 2})
        create_topics(broker.bootstrap, {output: 2})
        events = process_events(1.0, after_hours=30)
        for i in range(0, len(events), 400):
            events.insert(i, planted_event(i, pd.Timestamp(events[i]["time"]).to_pydatetime()))
        half = len(events) // 2
        db = tmp_path / "d.duckdb"
        running = start_daemon(daemon_config(broker.bootstrap, db, models_dir, topic, output))
        running.wait_ready()
        send_messages(broker.bootstrap, topic, encode(events[:half]))
        running.wait_events(half // 2)
        broker.stop()  # SIGTERM; the daemon keeps polling and reconnects by itself
        time.sleep(2.0)
        broker.start()  # same port, same bucket: topics and committed offsets are back
        send_messages(broker.bootstrap, topic, encode(events[half:]))
        running.wait_events(len(events), timeout_s=90)
        deadline = time.monotonic() + 90
        while running.daemon.publisher.pending():  # sinks retry with back-off after the outage
            assert time.monotonic() < deadline, "the outbox did not drain after the restart"
            time.sleep(0.2)
        running.stop()
        with duckdb.connect(str(db), read_only=True) as con:
            keys = con.execute("SELECT kafka_partition, kafka_offset FROM events").fetchall()
            table_ids = {r[0] for r in con.execute("SELECT alert_id FROM alerts").fetchall()}
            planted = con.execute("SELECT count(*) FROM alerts WHERE user_name LIKE "
                                  "'ACME\\intruder%'").fetchone()[0]
        assert len(keys) == len(events) and max(Counter(keys).values()) == 1
        assert planted == len(range(0, len(events) - 1, 400))
        published = alert_ids(read_findings(broker.bootstrap, output, timeout_s=20,
                                            until=lambda f: set(alert_ids(f)) >= table_ids))
        assert set(published) == table_ids
    finally:
        broker.stop()
