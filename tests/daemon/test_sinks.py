"""Output sinks against real endpoints on 127.0.0.1: syslog servers (UDP, TCP), an HTTP server,
and the tansu broker; the CEF escaping checked by a parser written here."""

from __future__ import annotations

import json
import logging
import random
import re
import socket
import socketserver
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import ClassVar

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from logguard.broker import EmbeddedBroker, create_topics, free_port
from logguard.daemon.finding import alert_finding, cef_severity, encode_finding
from logguard.daemon.sinks import (
    KafkaTopicSink,
    OutboxMessage,
    SyslogCefSink,
    WebhookSink,
    backoff_s,
    cef_message,
)
from logguard.errors import ConfigError
from logguard.store.alerts import event_alert_id

SINK_LOGGER = "logguard.daemon.sinks"


def alert(i: int, **changes: object) -> dict:
    row = {
        "alert_id": event_alert_id("ape", "events.process", 0, i), "source": "process",
        "model": "ape", "model_version": "v3", "kind": "event",
        "event_time": 1795428000.0 + i, "host": f"ws-{i}", "user_name": "CORP\\bob",
        "raw_score": 10.5 + i, "score": 50.0 + i, "threshold": 45.0,
        "summary": f"rare process start #{i}", "explanation": json.dumps([f"reason {i}"]),
        "entities": json.dumps({"host": f"ws-{i}", "user": "CORP\\bob",
                                "image": "C:\\Windows\\System32\\cmd.exe"}),
        "attack_tags": json.dumps(["T1059.003"]), "kafka_topic": "events.process",
        "kafka_partition": 0, "kafka_offset": i,
    }
    row.update(changes)
    return row


def messages(n: int, refs: int | None = None) -> list[OutboxMessage]:
    out = []
    for i in range(n):
        row = alert(i)
        ref = row["alert_id"] if refs is None else f"ref-{i % refs}"
        out.append(OutboxMessage(f"msg-{i}", "alert", ref, encode_finding(alert_finding(row))))
    return out


def sink_records(caplog: pytest.LogCaptureFixture, level: int) -> list[logging.LogRecord]:
    return [r for r in caplog.records if r.name == SINK_LOGGER and r.levelno == level]


def wait_for(condition: Callable[[], bool], timeout_s: float = 5.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.01)


# ------------------------------------------------------------------ back-off

def test_backoff_is_full_jitter_and_deterministic_with_a_seed() -> None:
    draws = [backoff_s(a, base=0.5, cap=60.0, rng=random.Random(7)) for a in range(12)]
    assert draws == [backoff_s(a, base=0.5, cap=60.0, rng=random.Random(7)) for a in range(12)]
    for attempts, draw in enumerate(draws):
        assert 0.0 <= draw <= min(60.0, 0.5 * 2 ** attempts)
    rng = random.Random(1)
    samples = [backoff_s(3, base=1.0, cap=300.0, rng=rng) for _ in range(4000)]
    assert max(samples) <= 8.0 and abs(sum(samples) / len(samples) - 4.0) < 0.2
    assert backoff_s(10_000, cap=30.0, rng=rng) <= 30.0
    with pytest.raises(ValueError, match="attempts >= 0"):
        backoff_s(-1)


# ------------------------------------------------------------------ CEF

def _unescape(text: str) -> str:
    return re.sub(r"\\(.)", lambda m: {"n": "\n", "r": "\r"}.get(m.group(1), m.group(1)),
                  text, flags=re.DOTALL)


def _split_unescaped(text: str, sep: str, limit: int = -1) -> list[str]:
    parts, start, i = [], 0, 0
    while i < len(text) and (limit < 0 or len(parts) < limit):
        if text[i] == "\\":
            i += 2
            continue
        if text[i] == sep:
            parts.append(text[start:i])
            start = i + 1
        i += 1
    return [*parts, text[start:]]


def parse_cef(line: str) -> tuple[list[str], dict[str, str]]:
    """(7 header fields, extension key -> value), every escape undone."""
    assert line.startswith("CEF:")
    *header, extension = _split_unescaped(line[4:], "|", limit=7)
    segments = _split_unescaped(extension, "=")
    fields: dict[str, str] = {}
    key = segments[0]
    for i, segment in enumerate(segments[1:], start=1):
        value, next_key = (segment.rsplit(" ", 1) if i < len(segments) - 1 else (segment, ""))
        assert key not in fields and re.fullmatch(r"[A-Za-z0-9]+", key), key
        fields[key] = _unescape(value)
        key = next_key
    return [_unescape(h) for h in header], fields


# stored text is valid UTF-8 (DuckDB VARCHAR), so no lone surrogates
tricky_text = st.text(alphabet=st.sampled_from("ab |\\=\n\r\t\"'x=é€\x00 ")
                      | st.characters(codec="utf-8"), max_size=40)


@settings(max_examples=200, deadline=None)
@given(title=tricky_text, model=tricky_text.filter(bool), host=tricky_text, user=tricky_text,
       reason=tricky_text, version=tricky_text)
def test_cef_escaping_recovers_every_field(title: str, model: str, host: str, user: str,
                                           reason: str, version: str) -> None:
    row = alert(3, summary=title, model=model, model_version=version,
                explanation=json.dumps(reason),
                entities=json.dumps({"host": host, "user": user}))
    finding = alert_finding(row)
    line = cef_message(finding)
    assert "\n" not in line and "\r" not in line
    header, fields = parse_cef(line)
    assert header == ["0", "logguard", "logguard", header[3], model, title,
                      str(cef_severity(row["score"]))]
    assert fields["dhost"] == host and fields["duser"] == user
    assert fields["cs1"] == row["alert_id"] and fields["cs1Label"] == "alertId"
    assert fields["cs2"] == version
    assert fields.get("msg") == (reason or None)
    assert fields["cn1"] == "53" and fields["cfp1"] == "13.5"
    assert fields["rt"] == str(finding["time"])


def test_cef_line_format_is_pinned() -> None:
    line = cef_message(alert_finding(alert(1)))
    assert line == (
        "CEF:0|logguard|logguard|0.1.0|ape|rare process start #1|5|rt=1795428001000 "
        "start=1795428001000 end=1795428001000 externalId=" + alert(1)["alert_id"]
        + " cat=Anomalous event dhost=ws-1 duser=CORP\\\\bob "
        "dproc=C:\\\\Windows\\\\System32\\\\cmd.exe cs1Label=alertId cs1=" + alert(1)["alert_id"]
        + " cs2Label=modelVersion cs2=v3 cs4Label=attackTechniques cs4=T1059.003 "
        "cn1Label=score cn1=51 cfp1Label=rawScore cfp1=11.5 cfp2Label=threshold cfp2=45.0 "
        "msg=reason 1")


# ------------------------------------------------------------------ syslog

class _UdpCollector(socketserver.BaseRequestHandler):
    def handle(self) -> None:
        self.server.received.append(self.request[0])  # type: ignore[attr-defined]


class _TcpCollector(socketserver.BaseRequestHandler):
    def handle(self) -> None:
        self.server.connections.append(self.request)  # type: ignore[attr-defined]
        while chunk := self.request.recv(65536):
            self.server.received.extend(chunk)  # type: ignore[attr-defined]


class _ReusableTcpServer(socketserver.ThreadingTCPServer):
    allow_reuse_address = True
    daemon_threads = True


@contextmanager
def serving(server: socketserver.BaseServer) -> Iterator[socketserver.BaseServer]:
    server.received = [] if isinstance(server, socketserver.UDPServer) else bytearray()
    server.connections = []
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05},
                              daemon=True)
    thread.start()
    try:
        yield server
    finally:
        server.shutdown()
        for connection in server.connections:  # closes what the handler still holds open
            with suppress(OSError):
                connection.shutdown(socket.SHUT_RDWR)
        server.server_close()
        thread.join(timeout=5)


def test_udp_syslog_server_receives_the_exact_lines() -> None:
    batch = messages(3)
    with serving(socketserver.UDPServer(("127.0.0.1", 0), _UdpCollector)) as server:
        sink = SyslogCefSink("127.0.0.1", server.server_address[1], "udp", facility="local4",
                             hostname="logguard-test")
        assert sink.send(batch) == ["msg-0", "msg-1", "msg-2"]
        wait_for(lambda: len(server.received) == 3)
        sink.close()
    lines = [data.decode("utf-8") for data in server.received]
    assert sorted(lines) == sorted(sink.format(m) for m in batch)
    first = sink.format(batch[0])
    # local4 (20) * 8 + warning (4): score 50 -> CEF 5 -> syslog warning
    assert first.startswith("<164>1 2026-11-23T10:00:00.000Z logguard-test logguard - alert - "
                            "CEF:0|logguard|logguard|")
    assert first.endswith(cef_message(json.loads(batch[0].payload)))


def octet_frames(data: bytes) -> list[str]:
    frames = []
    while data:
        length, _, rest = data.partition(b" ")
        frames.append(rest[:int(length)].decode("utf-8"))
        data = rest[int(length):]
    return frames


def test_tcp_syslog_octet_counting_and_reconnect(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger=SINK_LOGGER)
    batch = messages(5)
    port = free_port()
    sink = SyslogCefSink("127.0.0.1", port, "tcp", hostname="h1", timeout_s=2.0)
    with serving(_ReusableTcpServer(("127.0.0.1", port), _TcpCollector)) as server:
        assert sink.send(batch[:3]) == ["msg-0", "msg-1", "msg-2"]
        expected = [sink.format(m) for m in batch[:3]]
        wait_for(lambda: octet_frames(bytes(server.received)) == expected)
    # the server is gone: its connection was closed and nothing listens on the port
    assert sink.send(batch[3:]) == []
    assert sink.send(batch[3:]) == []
    assert len(sink_records(caplog, logging.WARNING)) == 1
    with serving(_ReusableTcpServer(("127.0.0.1", port), _TcpCollector)) as server:
        assert sink.send(batch[3:]) == ["msg-3", "msg-4"]
        expected = [sink.format(m) for m in batch[3:]]
        wait_for(lambda: octet_frames(bytes(server.received)) == expected)
        sink.close()
    assert [r.getMessage() for r in sink_records(caplog, logging.INFO)] == [
        "sink syslog: delivering again"]


def test_tcp_syslog_newline_framing() -> None:
    batch = messages(2)
    with serving(_ReusableTcpServer(("127.0.0.1", 0), _TcpCollector)) as server:
        sink = SyslogCefSink("127.0.0.1", server.server_address[1], "tcp", framing="newline",
                             facility=13, hostname="h1")
        assert sink.send(batch) == ["msg-0", "msg-1"]
        expected = "".join(sink.format(m) + "\n" for m in batch).encode()
        wait_for(lambda: bytes(server.received) == expected)
        sink.close()


@pytest.mark.parametrize(("kwargs", "phrase"), [
    ({"protocol": "tls"}, "protocol must be 'udp' or 'tcp'"),
    ({"facility": "local9"}, "facility must be 0-23"),
    ({"facility": 24}, "facility must be 0-23"),
    ({"hostname": "my host"}, "hostname must be"),
    ({"framing": "json"}, "framing must be"),
])
def test_syslog_configuration_errors(kwargs: dict, phrase: str) -> None:
    with pytest.raises(ConfigError, match=phrase):
        SyslogCefSink("127.0.0.1", 514, **kwargs)


# ------------------------------------------------------------------ webhook

class _Hook(BaseHTTPRequestHandler):
    statuses: ClassVar[list[int]] = []
    requests: ClassVar[list[tuple[str, dict[str, str], bytes]]] = []

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers["Content-Length"]))
        type(self).requests.append((self.path, dict(self.headers), body))
        status = type(self).statuses.pop(0) if type(self).statuses else 200
        self.send_response(status)
        if status == 302:
            self.send_header("Location", "/elsewhere")
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, format: str, *args: object) -> None:
        """Quiet: the test asserts on the requests instead."""


@pytest.fixture
def hook() -> Iterator[tuple[str, type[_Hook]]]:
    handler = type("Hook", (_Hook,), {"statuses": [], "requests": []})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05},
                              daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", handler
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


def test_webhook_acks_only_after_2xx_and_never_logs_the_token(
        hook: tuple[str, type[_Hook]], caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    base, handler = hook
    handler.statuses = [503, 503]
    token = "tok-9f8e7d6c5b4a"
    sink = WebhookSink(f"{base}/hooks/T0-secret-path", headers={"Authorization": f"Bearer {token}"})
    batch = messages(3)
    assert sink.send(batch) == []
    assert sink.send(batch) == []
    assert sink.send(batch) == ["msg-0", "msg-1", "msg-2"]
    assert len(handler.requests) == 3
    path, headers, body = handler.requests[-1]
    assert path == "/hooks/T0-secret-path"
    assert headers["Authorization"] == f"Bearer {token}"
    assert headers["Content-Type"] == "application/json"
    assert json.loads(body) == [json.loads(m.payload) for m in batch]
    assert len(sink_records(caplog, logging.WARNING)) == 1
    assert "HTTP 503" in sink_records(caplog, logging.WARNING)[0].getMessage()
    assert token not in caplog.text and "secret-path" not in caplog.text


def test_webhook_batches_and_stops_at_the_first_refusal(hook: tuple[str, type[_Hook]]) -> None:
    base, handler = hook
    sink = WebhookSink(f"{base}/in", batch=2)
    assert sink.send(messages(5)) == [f"msg-{i}" for i in range(5)]
    assert [len(json.loads(body)) for _, _, body in handler.requests] == [2, 2, 1]
    handler.requests.clear()
    handler.statuses = [200, 429]
    assert sink.send(messages(5)) == ["msg-0", "msg-1"]
    assert len(handler.requests) == 2


def test_webhook_redirect_and_connection_refused_ack_nothing(
        hook: tuple[str, type[_Hook]]) -> None:
    base, handler = hook
    handler.statuses = [302]
    assert WebhookSink(f"{base}/in").send(messages(1)) == []
    assert [path for path, _, _ in handler.requests] == ["/in"]
    started = time.monotonic()
    assert WebhookSink(f"http://127.0.0.1:{free_port()}/in", timeout_s=2).send(messages(2)) == []
    assert time.monotonic() - started < 5


@pytest.mark.parametrize("url", ["file:///etc/passwd", "ftp://example.org/x",
                                 "javascript:alert(1)", "http:///no-host", "127.0.0.1:8080/x"])
def test_webhook_refuses_non_http_urls(url: str) -> None:
    with pytest.raises(ConfigError, match=r"must be an http:// or https:// URL"):
        WebhookSink(url)


def test_webhook_refuses_header_injection() -> None:
    with pytest.raises(ConfigError, match="'X-Tag'"):
        WebhookSink("https://siem.example/in", headers={"X-Tag": "a\r\nX-Evil: 1"})


# ------------------------------------------------------------------ Kafka

def consume_all(bootstrap: str, topic: str, partitions: int, count: int) -> list:
    from kafka import KafkaConsumer, TopicPartition

    consumer = KafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False,
                             auto_offset_reset="earliest", allow_auto_create_topics=False)
    try:
        consumer.assign([TopicPartition(topic, p) for p in range(partitions)])
        records: list = []
        deadline = time.monotonic() + 20
        while len(records) < count and time.monotonic() < deadline:
            for batch in consumer.poll(timeout_ms=500).values():
                records += batch
        return records
    finally:
        consumer.close()


@pytest.mark.kafka
def test_kafka_sink_delivers_with_keys_headers_and_per_key_order(
        broker: EmbeddedBroker, make_topic: Callable[[int], str]) -> None:
    topic = make_topic(3)
    batch = messages(40, refs=7)
    sink = KafkaTopicSink(broker.bootstrap, topic, timeout_s=10)
    try:
        assert sink.send(batch) == [m.message_id for m in batch]
    finally:
        sink.close()
    records = consume_all(broker.bootstrap, topic, 3, len(batch))
    by_id = {m.message_id: m for m in batch}
    assert len(records) == len(batch)
    partitions: dict[bytes, set[int]] = {}
    order: dict[bytes, list[int]] = {}
    for record in sorted(records, key=lambda r: (r.partition, r.offset)):
        headers = dict(record.headers)
        message = by_id[headers["message_id"].decode()]
        assert record.key == message.ref_id.encode()
        assert record.value == message.payload.encode()
        assert headers["kind"] == b"alert"
        partitions.setdefault(record.key, set()).add(record.partition)
        order.setdefault(record.key, []).append(int(message.message_id.split("-")[1]))
    assert all(len(p) == 1 for p in partitions.values())
    assert all(ids == sorted(ids) for ids in order.values())
    assert len(order) == 7


@pytest.mark.kafka
def test_kafka_sink_with_the_broker_down_acks_nothing_and_raises_nothing(
        caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger=SINK_LOGGER)
    own = EmbeddedBroker().start()
    sink = KafkaTopicSink(own.bootstrap, "logguard.alerts", timeout_s=1.5)
    try:
        create_topics(own.bootstrap, {"logguard.alerts": 1})
        assert sink.send(messages(2)) == ["msg-0", "msg-1"]
        own.stop()
        started = time.monotonic()
        assert sink.send(messages(5)) == []
        assert sink.send(messages(5)) == []
        assert time.monotonic() - started < 10
        assert len(sink_records(caplog, logging.WARNING)) == 1
        own = EmbeddedBroker(port=own.port).start()  # memory storage: a new, empty broker
        create_topics(own.bootstrap, {"logguard.alerts": 1})
        assert sink.send(messages(5)) == [f"msg-{i}" for i in range(5)]
    finally:
        sink.close()
        own.stop()
    assert [r.getMessage() for r in sink_records(caplog, logging.INFO)] == [
        "sink kafka: delivering again"]
    assert len(sink_records(caplog, logging.WARNING)) == 1


def test_kafka_sink_that_never_reached_a_broker_keeps_the_password_out_of_logs(
        caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    security = {"security_protocol": "SASL_PLAINTEXT", "sasl_mechanism": "PLAIN",
                "sasl_plain_username": "svc-logguard", "sasl_plain_password": "pw-7c1d2e"}
    sink = KafkaTopicSink(f"127.0.0.1:{free_port()}", security=security, timeout_s=1.0)
    assert sink.send(messages(1)) == []
    sink.close()
    assert len(sink_records(caplog, logging.WARNING)) == 1
    assert "pw-7c1d2e" not in caplog.text


def test_kafka_sink_rejects_unknown_security_keys() -> None:
    with pytest.raises(ConfigError, match=r"unknown key.*sasl_plain_pasword"):
        KafkaTopicSink("127.0.0.1:9092", security={"sasl_plain_pasword": "x"})
