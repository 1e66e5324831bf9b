"""Output sinks for alert findings: a Kafka topic, CEF over syslog, an HTTP webhook.

Every sink follows one contract, :class:`Sink`: ``send(messages)`` tries to deliver a batch of
:class:`OutboxMessage` and returns the ids the destination **acknowledged**; the caller (the
daemon's publisher) marks those ``acked_at`` in the ``outbox`` table and retries the rest later,
after :func:`backoff_s`. ``send`` never raises for a destination that is down or refuses: a
failing sink must never block ingest nor lose an alert (at-least-once with stable ids, so a
consumer dedupes on ``message_id``). It logs one warning when an outage starts and one line when
it ends, never one per message, and never a password, token or header value.

Configuration mistakes (a ``file://`` webhook, an unknown Kafka security key, a bad syslog
facility) raise :class:`~logguard.errors.ConfigError` at construction.
"""

from __future__ import annotations

import logging
import random
import select
import socket
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Literal, Protocol

import orjson

from logguard import __version__
from logguard.daemon.finding import cef_severity
from logguard.errors import ConfigError

log = logging.getLogger(__name__)

MESSAGE_KINDS = ("alert", "scenario")


@dataclass(frozen=True)
class OutboxMessage:
    """One row of the ``outbox`` table to deliver: ``payload`` is the OCSF finding JSON."""

    message_id: str
    kind: str  # alert | scenario
    ref_id: str  # alert_id or scenario_id
    payload: str


class Sink(Protocol):
    """A destination for findings (see the module docstring for the contract)."""

    name: str

    def send(self, messages: list[OutboxMessage]) -> list[str]:
        """Deliver ``messages``; the message ids the destination acknowledged."""
        ...

    def close(self) -> None:
        """Flush and release connections."""
        ...


def backoff_s(attempts: int, base: float = 1.0, cap: float = 300.0,
              rng: random.Random | None = None) -> float:
    """Seconds to wait before the next try after ``attempts`` failed ones: exponential back-off
    with **full jitter**, ``uniform(0, min(cap, base * 2**attempts))`` (Brooker, "Exponential
    Backoff and Jitter", AWS Architecture Blog 2015: full jitter spreads the retries of many
    clients best). ``rng`` makes it deterministic (a seeded ``random.Random``)."""
    if attempts < 0 or base <= 0 or cap <= 0:
        raise ValueError(f"backoff needs attempts >= 0 and base, cap > 0; got "
                         f"{attempts}, {base}, {cap}")
    ceiling = cap if attempts >= 64 else min(cap, base * 2.0 ** attempts)
    return (rng or random).uniform(0.0, ceiling)


class _OutageLog:
    """Logs the start of an outage once and its end once, whatever the number of failures."""

    def __init__(self, sink: str) -> None:
        self.sink = sink
        self.down = False

    def failed(self, reason: str) -> None:
        if not self.down:
            log.warning("sink %s: delivery failing, will retry with back-off: %s",
                        self.sink, reason)
            self.down = True

    def delivered(self) -> None:
        if self.down:
            log.info("sink %s: delivering again", self.sink)
            self.down = False


# ---------------------------------------------------------------- Kafka topic

KAFKA_SECURITY_KEYS = ("security_protocol", "sasl_mechanism", "sasl_plain_username",
                       "sasl_plain_password", "ssl_cafile", "ssl_certfile", "ssl_keyfile",
                       "ssl_password", "ssl_check_hostname")


class KafkaTopicSink:
    """Findings to a Kafka topic (default ``logguard.alerts``) with kafka-python.

    ``acks="all"``; the key is ``ref_id`` so every update of one alert or scenario lands in one
    partition, in order (one request in flight per connection keeps retries in order); header
    ``message_id`` (and ``kind``) lets consumers dedupe. A message counts as acknowledged only
    when its produce future succeeded. The producer is not idempotent: after a broker restart
    an idempotent kafka-python producer fails every send with UnknownProducerId for good
    (measured on tansu), while a plain one reconnects; delivery is at-least-once either way.
    ``security`` passes SASL/TLS settings (:data:`KAFKA_SECURITY_KEYS`) straight to the
    producer. ``timeout_s`` bounds one ``send``: metadata waits (``max_block_ms``) and requests
    (``request_timeout_ms``), so a broker that is down costs at most about that long per call
    and acknowledges nothing.
    """

    def __init__(self, bootstrap: str, topic: str = "logguard.alerts",
                 security: dict[str, Any] | None = None, *, name: str = "kafka",
                 timeout_s: float = 10.0) -> None:
        unknown = sorted(set(security or {}) - set(KAFKA_SECURITY_KEYS))
        if unknown:
            raise ConfigError(f"kafka security: unknown key(s) {', '.join(unknown)}; "
                              f"expected some of {', '.join(KAFKA_SECURITY_KEYS)}")
        if timeout_s <= 0:
            raise ConfigError(f"kafka sink timeout must be positive, got {timeout_s}")
        self.name = name
        self.bootstrap = bootstrap
        self.topic = topic
        self.timeout_s = timeout_s
        self._security = dict(security or {})
        self._producer: Any = None
        self._outage = _OutageLog(name)

    def _redact(self, text: str) -> str:
        for key in ("sasl_plain_password", "ssl_password"):
            secret = self._security.get(key)
            if secret:
                text = text.replace(str(secret), "***")
        return text

    def _ensure_producer(self) -> Any:
        if self._producer is None:
            from kafka import KafkaProducer

            timeout_ms = int(self.timeout_s * 1000)
            self._producer = KafkaProducer(
                bootstrap_servers=self.bootstrap, acks="all", linger_ms=5,
                enable_idempotence=False, max_in_flight_requests_per_connection=1,
                max_block_ms=timeout_ms, request_timeout_ms=max(1000, timeout_ms // 2),
                delivery_timeout_ms=timeout_ms + 10, reconnect_backoff_max_ms=1000,
                bootstrap_timeout_ms=timeout_ms, allow_auto_create_topics=False,
                **self._security)
        return self._producer

    def send(self, messages: list[OutboxMessage]) -> list[str]:
        from kafka.errors import KafkaError

        if not messages:
            return []
        futures: list[tuple[str, Any]] = []
        try:
            producer = self._ensure_producer()
            for message in messages:
                headers = [("message_id", message.message_id.encode()),
                           ("kind", message.kind.encode())]
                futures.append((message.message_id, producer.send(
                    self.topic, key=message.ref_id.encode(), value=message.payload.encode(),
                    headers=headers)))
            producer.flush(timeout=self.timeout_s)
        except (KafkaError, OSError) as exc:
            acked = [mid for mid, future in futures if future.is_done and future.succeeded()]
            self._outage.failed(self._redact(f"{type(exc).__name__}: {exc}"))
            return acked
        acked = [mid for mid, future in futures if future.is_done and future.succeeded()]
        if len(acked) < len(messages):
            failed = next((f.exception for _, f in futures if f.is_done and f.failed()), None)
            self._outage.failed(self._redact(
                f"{len(messages) - len(acked)} of {len(messages)} not acknowledged"
                + (f" ({type(failed).__name__}: {failed})" if failed else "")))
        else:
            self._outage.delivered()
        return acked

    def close(self) -> None:
        """Flush for up to ``timeout_s`` and close (messages still unsent stay unacknowledged
        in the outbox)."""
        from kafka.errors import KafkaError

        producer, self._producer = self._producer, None
        if producer is not None:
            try:
                producer.close(timeout=self.timeout_s)
            except KafkaError as exc:  # kafka-python's close raises when its flush times out
                log.info("sink %s: closed with unsent messages: %s", self.name,
                         self._redact(str(exc)))


# ---------------------------------------------------------------- CEF over syslog

CEF_VENDOR = "logguard"
CEF_PRODUCT = "logguard"
FACILITIES = {"kern": 0, "user": 1, "mail": 2, "daemon": 3, "auth": 4, "syslog": 5, "lpr": 6,
              "news": 7, "uucp": 8, "cron": 9, "authpriv": 10, "ftp": 11,
              **{f"local{i}": 16 + i for i in range(8)}}
MAX_MESSAGE_CHARS = 4000


def cef_escape_header(value: str) -> str:
    """A CEF header field: ``\\`` and ``|`` escaped with a backslash; CR/LF, which the
    header may not hold, as ``\\r`` / ``\\n``."""
    return (value.replace("\\", "\\\\").replace("|", "\\|")
            .replace("\r", "\\r").replace("\n", "\\n"))


def cef_escape_value(value: str) -> str:
    """A CEF extension value: ``\\`` and ``=`` escaped, CR/LF as ``\\r`` / ``\\n``."""
    return (value.replace("\\", "\\\\").replace("=", "\\=")
            .replace("\r", "\\r").replace("\n", "\\n"))


def _first(finding: dict, path: str) -> str | None:
    """The first value of ``evidences.<path>`` over the finding's evidences."""
    for evidence in finding.get("evidences") or []:
        node: Any = evidence
        for part in path.split("."):
            node = node.get(part) if isinstance(node, dict) else None
        if node is not None:
            return str(node)
    return None


def cef_extension(finding: dict) -> list[tuple[str, str]]:
    """CEF dictionary keys of a finding, in a fixed order (values unescaped)."""
    info = finding["finding_info"]
    unmapped = finding.get("unmapped") or {}
    pairs: list[tuple[str, str | None]] = [
        ("rt", str(finding["time"])),
        ("start", str(info["first_seen_time"])),
        ("end", str(info["last_seen_time"])),
        ("externalId", finding["metadata"]["uid"]),
        ("cat", info["types"][0]),
        ("dhost", _first(finding, "device.hostname")),
        ("shost", _first(finding, "src_endpoint.hostname")),
        ("src", _first(finding, "src_endpoint.ip")),
        ("dst", _first(finding, "dst_endpoint.ip")),
        ("dpt", _first(finding, "dst_endpoint.port")),
        ("duser", _first(finding, "user.name")),
        ("suser", _first(finding, "actor.user.name")),
        ("dproc", _first(finding, "process.file.path")),
        ("fname", _first(finding, "file.path")),
        ("cs1Label", "alertId"), ("cs1", info["uid"]),
        ("cs2Label", "modelVersion"), ("cs2", info["analytic"].get("version")),
        ("cs3Label", "scenarioId"),
        ("cs3", unmapped.get("scenario_id") or finding["metadata"].get("correlation_uid")),
        ("cs4Label", "attackTechniques"),
        ("cs4", ",".join(sorted({a["sub_technique"]["uid"] if "sub_technique" in a
                                 else a["technique"]["uid"]
                                 for a in finding.get("attacks") or [] if "technique" in a}))
         or None),
        ("cn1Label", "score"), ("cn1", str(finding["risk_score"])),
        ("cfp1Label", "rawScore"),
        ("cfp1", None if unmapped.get("raw_score") is None else repr(unmapped["raw_score"])),
        ("cfp2Label", "threshold"),
        ("cfp2", None if unmapped.get("threshold") is None else repr(unmapped["threshold"])),
        ("cnt", None if "alert_count" not in unmapped else str(unmapped["alert_count"])),
        ("msg", (info.get("desc") or "")[:MAX_MESSAGE_CHARS] or None),
    ]
    present = [(k, v) for k, v in pairs if v is not None]
    keys = {k for k, _ in present}
    return [(k, v) for k, v in present   # drop a label whose value is absent
            if not (k.endswith("Label") and k.removesuffix("Label") not in keys)]


def cef_message(finding: dict) -> str:
    """``CEF:0|logguard|logguard|<version>|<model>|<title>|<severity 0-10>|k=v ...``."""
    info = finding["finding_info"]
    header = [CEF_VENDOR, CEF_PRODUCT, __version__, info["analytic"]["name"], info["title"],
              str(cef_severity(finding["unmapped"].get("score", finding["risk_score"])))]
    extension = " ".join(f"{k}={cef_escape_value(v)}" for k, v in cef_extension(finding))
    return "CEF:0|" + "|".join(cef_escape_header(h) for h in header) + "|" + extension


def syslog_severity(cef: int) -> int:
    """RFC 5424 severity of a CEF severity: 9-10 crit (2), 7-8 err (3), 4-6 warning (4),
    0-3 notice (5)."""
    return 2 if cef >= 9 else 3 if cef >= 7 else 4 if cef >= 4 else 5


def _syslog_token(value: str, field: str) -> str:
    if not value or len(value) > 255 or any(not 33 <= ord(c) <= 126 for c in value):
        raise ConfigError(f"syslog {field} must be 1-255 printable ASCII characters without "
                          f"spaces, got {value!r}")
    return value


class SyslogCefSink:
    """Findings as CEF in **RFC 5424** syslog messages over UDP or TCP.

    ``<PRI>1 TIMESTAMP HOSTNAME logguard - MSGID - CEF:0|...``: PRI = facility * 8 + the
    syslog severity of the CEF severity; TIMESTAMP is the finding's time (so a resend is the
    same line); MSGID ``alert`` or ``scenario``; no structured data. UDP (RFC 5426): one
    datagram per message, acknowledged once the kernel took it. TCP (RFC 6587): ``framing``
    ``"octet"`` (octet counting, ``LEN SP MSG``, the default) or ``"newline"`` (a message never
    holds a raw LF: CEF escapes it); acknowledged once written; a broken connection is closed,
    the rest of the batch is left for the retry, and the next ``send`` reconnects.
    """

    def __init__(self, host: str, port: int, protocol: Literal["udp", "tcp"] = "udp",
                 facility: int | str = "local0", *, framing: Literal["octet", "newline"] = "octet",
                 hostname: str | None = None, name: str = "syslog",
                 timeout_s: float = 5.0) -> None:
        if protocol not in ("udp", "tcp"):
            raise ConfigError(f"syslog protocol must be 'udp' or 'tcp', got {protocol!r}")
        if framing not in ("octet", "newline"):
            raise ConfigError(f"syslog framing must be 'octet' or 'newline', got {framing!r}")
        code = FACILITIES.get(facility) if isinstance(facility, str) else facility
        if not isinstance(code, int) or not 0 <= code <= 23:
            raise ConfigError(f"syslog facility must be 0-23 or one of "
                              f"{', '.join(FACILITIES)}; got {facility!r}")
        if not 0 < int(port) < 65536:
            raise ConfigError(f"syslog port must be 1-65535, got {port}")
        self.name = name
        self.address = (host, int(port))
        self.protocol = protocol
        self.framing = framing
        self.facility = code
        self.hostname = _syslog_token(hostname or socket.gethostname() or "-", "hostname")
        self.timeout_s = timeout_s
        self._socket: socket.socket | None = None
        self._outage = _OutageLog(name)

    def format(self, message: OutboxMessage) -> str:
        """The syslog line (without transport framing) of one outbox message."""
        finding = orjson.loads(message.payload)
        severity = cef_severity(finding["unmapped"].get("score", finding["risk_score"]))
        stamp = datetime.fromtimestamp(finding["time"] / 1000, tz=UTC)
        timestamp = stamp.isoformat(timespec="milliseconds").replace("+00:00", "Z")
        pri = self.facility * 8 + syslog_severity(severity)
        msgid = message.kind if message.kind in MESSAGE_KINDS else "-"
        return (f"<{pri}>1 {timestamp} {self.hostname} logguard - {msgid} - "
                f"{cef_message(finding)}")

    def _frame(self, line: str) -> bytes:
        data = line.encode("utf-8")
        if self.protocol == "udp":
            return data
        if self.framing == "newline":
            return data + b"\n"
        return str(len(data)).encode() + b" " + data

    def _connect(self) -> socket.socket:
        if self._socket is not None and self.protocol == "tcp" and self._peer_closed():
            self._drop()
        if self._socket is None:
            if self.protocol == "udp":
                family = socket.getaddrinfo(*self.address, type=socket.SOCK_DGRAM)[0][0]
                self._socket = socket.socket(family, socket.SOCK_DGRAM)
                self._socket.settimeout(self.timeout_s)
            else:
                self._socket = socket.create_connection(self.address, timeout=self.timeout_s)
        return self._socket

    def _peer_closed(self) -> bool:
        """True when the TCP peer has closed (readable with no data) or reset the connection."""
        assert self._socket is not None
        try:
            readable, _, _ = select.select([self._socket], [], [], 0)
            return bool(readable) and self._socket.recv(1, socket.MSG_PEEK) == b""
        except OSError:
            return True

    def _drop(self) -> None:
        sock, self._socket = self._socket, None
        if sock is not None:
            sock.close()

    def send(self, messages: list[OutboxMessage]) -> list[str]:
        acked: list[str] = []
        for message in messages:
            data = self._frame(self.format(message))
            try:
                sock = self._connect()
                if self.protocol == "udp":
                    sock.sendto(data, self.address)
                else:
                    sock.sendall(data)
            except OSError as exc:
                self._drop()
                self._outage.failed(f"{self.protocol}://{self.address[0]}:{self.address[1]}: "
                                    f"{type(exc).__name__}: {exc}")
                return acked
            acked.append(message.message_id)
        if messages:
            self._outage.delivered()
        return acked

    def close(self) -> None:
        self._drop()


# ---------------------------------------------------------------- HTTP webhook

class _NoRedirect(urllib.request.HTTPRedirectHandler):
    """A redirect is not an acknowledgement: it surfaces as an HTTPError (never followed,
    so a POST body and its token never go to another host)."""

    def redirect_request(self, req, fp, code, msg, headers, newurl) -> None:  # type: ignore[override]
        return None


class WebhookSink:
    """Findings POSTed as a JSON array to an HTTP(S) endpoint, ``batch`` per request.

    A 2xx answer acknowledges the whole request's batch; 429, 5xx, any other status, a redirect,
    a timeout or a connection error acknowledge nothing and stop the call (the rest wait for the
    retry). ``headers`` (e.g. ``Authorization: Bearer ...``) are sent as given and never logged;
    logs name the endpoint by scheme, host and port only, as webhook paths often hold secrets.
    Uses the standard library's urllib (environment proxies apply).
    """

    def __init__(self, url: str, headers: dict[str, str] | None = None, timeout_s: float = 5.0,
                 batch: int = 100, *, name: str = "webhook") -> None:
        parts = urllib.parse.urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ConfigError(f"webhook url must be an http:// or https:// URL with a host; "
                              f"got scheme {parts.scheme or '(none)'!r}")
        for key, value in (headers or {}).items():
            if any(c in f"{key}{value}" for c in "\r\n\0") or not key.strip():
                raise ConfigError(f"webhook header {key!r}: names and values may not be empty "
                                  "or hold CR, LF or NUL")
        if batch < 1 or timeout_s <= 0:
            raise ConfigError(f"webhook batch must be >= 1 and timeout > 0; got {batch}, "
                              f"{timeout_s}")
        self.name = name
        self.url = url
        self.endpoint = f"{parts.scheme}://{parts.hostname}" + (
            f":{parts.port}" if parts.port else "")
        self.timeout_s = timeout_s
        self.batch = batch
        self._headers = {"Content-Type": "application/json",
                         "User-Agent": f"logguard/{__version__}", **(headers or {})}
        self._opener = urllib.request.build_opener(_NoRedirect)
        self._outage = _OutageLog(name)

    def _post(self, chunk: list[OutboxMessage]) -> str | None:
        """None when the endpoint acknowledged ``chunk``, else why not."""
        body = ("[" + ",".join(m.payload for m in chunk) + "]").encode("utf-8")
        request = urllib.request.Request(self.url, data=body, headers=self._headers,
                                         method="POST")
        try:
            with self._opener.open(request, timeout=self.timeout_s) as response:
                status = response.status
        except urllib.error.HTTPError as exc:
            exc.close()
            return f"{self.endpoint} answered HTTP {exc.code}"
        except (urllib.error.URLError, OSError) as exc:
            reason = getattr(exc, "reason", exc)
            return f"{self.endpoint}: {type(reason).__name__}: {reason}"
        return None if 200 <= status < 300 else f"{self.endpoint} answered HTTP {status}"

    def send(self, messages: list[OutboxMessage]) -> list[str]:
        acked: list[str] = []
        for start in range(0, len(messages), self.batch):
            chunk = messages[start:start + self.batch]
            failure = self._post(chunk)
            if failure is not None:
                self._outage.failed(failure)
                return acked
            acked += [m.message_id for m in chunk]
        if messages:
            self._outage.delivered()
        return acked

    def close(self) -> None:
        """Nothing to release: each request opens and closes its own connection."""
