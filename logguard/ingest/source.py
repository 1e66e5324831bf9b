"""A consumer-group member's view of Kafka: polled records, store-driven resume, commits, lag.

Built on confluent-kafka (librdkafka): measured on the embedded broker it consumes ~4.6x as
many messages per second as kafka-python on the same CPU (see ``bench/ingest.py``), and the
client's parsing is where a pure-Python consumer spends most of its time.

The store is the source of truth for where to resume: when partitions are assigned,
``start_offsets`` is asked for the last offset stored per partition and each partition starts
right after it (librdkafka's committed offset is only used where the store has nothing). The
assignment strategy is eager ``range``: tansu mis-handles ``cooperative-sticky`` (a member may
never get an assignment; ``reference/infra-measurements.md`` §2.6). Commits are synchronous and
advisory: a failed commit (e.g. the member was fenced after a broker restart) is logged and
ignored, since the next assignment resumes from the store anyway. Lag uses the high watermark
the broker sent with the last fetch (``cached=True``); tansu's ListOffsets under-reports the log
end (§2.8).

Security settings use kafka-python's names (``security_protocol``, ``sasl_mechanism``,
``sasl_plain_username``, ``sasl_plain_password``, ``ssl_cafile``, ``ssl_certfile``,
``ssl_keyfile``) and are translated to librdkafka's; nothing here logs them.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from logguard.broker import check_reachable
from logguard.errors import BrokerError, ConfigError

log = logging.getLogger(__name__)

SECURITY_KEYS = {
    "security_protocol": "security.protocol",
    "sasl_mechanism": "sasl.mechanisms",
    "sasl_plain_username": "sasl.username",
    "sasl_plain_password": "sasl.password",
    "ssl_cafile": "ssl.ca.location",
    "ssl_certfile": "ssl.certificate.location",
    "ssl_keyfile": "ssl.key.location",
}

Partition = tuple[str, int]


def librdkafka_security(security: dict[str, Any] | None) -> dict[str, Any]:
    """kafka-python style security settings as librdkafka configuration keys."""
    out = {}
    for key, value in (security or {}).items():
        if value is None:
            continue
        if key not in SECURITY_KEYS:
            raise ConfigError(f"unknown Kafka security setting {key!r}; known: "
                              f"{', '.join(SECURITY_KEYS)}")
        out[SECURITY_KEYS[key]] = value
    return out


@dataclass
class SourceConfig:
    """Where to consume from and the group settings."""

    bootstrap: str
    topics: list[str]
    group: str
    client_id: str = "logguard"
    session_timeout_ms: int = 6000
    heartbeat_interval_ms: int = 1000
    max_poll_interval_ms: int = 30_000
    auto_offset_reset: str = "earliest"
    security: dict[str, Any] = field(default_factory=dict)


class KafkaSource:
    """One consumer-group member; ``start_offsets(partitions)`` maps a partition to the last
    offset already stored (absent = start from the committed offset or ``auto_offset_reset``);
    ``on_revoke(partitions)`` runs before partitions go away (finish and commit in-flight work)."""

    def __init__(self, config: SourceConfig,
                 start_offsets: Callable[[list[Partition]], dict[Partition, int]],
                 on_revoke: Callable[[list[Partition]], None] | None = None,
                 on_assign: Callable[[list[Partition]], None] | None = None) -> None:
        from confluent_kafka import Consumer, KafkaException

        self.config = config
        self._start_offsets = start_offsets
        self._on_revoke = on_revoke
        self._on_assign = on_assign
        check_reachable(config.bootstrap)
        settings = {
            "bootstrap.servers": config.bootstrap,
            "group.id": config.group,
            "client.id": config.client_id,
            "enable.auto.commit": False,
            "enable.auto.offset.store": False,
            "auto.offset.reset": config.auto_offset_reset,
            "allow.auto.create.topics": False,
            "session.timeout.ms": config.session_timeout_ms,
            "heartbeat.interval.ms": config.heartbeat_interval_ms,
            "max.poll.interval.ms": config.max_poll_interval_ms,
            "partition.assignment.strategy": "range",
            "reconnect.backoff.max.ms": 1000,
            "logger": logging.getLogger("librdkafka"),
            **librdkafka_security(config.security),
        }
        try:
            self._consumer = Consumer(settings)
            self._consumer.subscribe(list(config.topics), on_assign=self._assigned,
                                     on_revoke=self._revoked, on_lost=self._revoked)
        except KafkaException as exc:
            raise BrokerError(f"cannot consume from {config.bootstrap}: {exc}") from exc
        self._assignment: list[Partition] = []

    # ------------------------------------------------------------------ rebalance callbacks
    def _assigned(self, consumer, partitions) -> None:
        keys = [(p.topic, p.partition) for p in partitions]
        stored = self._start_offsets(keys)
        for p in partitions:
            last = stored.get((p.topic, p.partition))
            if last is not None:
                p.offset = last + 1
        consumer.assign(partitions)
        self._assignment = keys
        log.info("assigned %s (resuming after the store's last offset where it has one)",
                 sorted(keys))
        if self._on_assign is not None:
            self._on_assign(keys)

    def _revoked(self, consumer, partitions) -> None:
        keys = [(p.topic, p.partition) for p in partitions]
        if self._on_revoke is not None:
            self._on_revoke(keys)
        self._assignment = [k for k in self._assignment if k not in set(keys)]

    # ------------------------------------------------------------------ the loop's calls
    def poll(self, max_records: int, timeout_s: float) -> list:
        """Up to ``max_records`` messages (confluent ``Message``: ``topic()``, ``partition()``,
        ``offset()``, ``timestamp()``, ``value()``); transport errors are logged, not raised."""
        messages = self._consumer.consume(num_messages=max_records, timeout=timeout_s)
        good = []
        for message in messages:
            error = message.error()
            if error is None:
                good.append(message)
            elif not error.retriable() and error.fatal():
                raise BrokerError(f"Kafka consumer failed: {error.str()}")
            else:
                log.warning("Kafka: %s", error.str())
        return good

    def commit(self, offsets: dict[Partition, int]) -> None:
        """Commit ``last offset + 1`` for the partitions still assigned; failures are logged."""
        from confluent_kafka import KafkaException, TopicPartition

        assigned = set(self._assignment)
        commit = [TopicPartition(t, p, o + 1) for (t, p), o in offsets.items()
                  if (t, p) in assigned]
        if not commit:
            return
        try:
            self._consumer.commit(offsets=commit, asynchronous=False)
        except KafkaException as exc:  # fenced after a rebalance or broker restart: store dedupes
            log.warning("Kafka offset commit failed (%s); the store has the batch, continuing",
                        exc.args[0].name() if exc.args else exc)

    def assignment(self) -> list[Partition]:
        return list(self._assignment)

    def lag(self) -> dict[Partition, int] | None:
        """Messages behind the log end per assigned partition (None before the first fetch)."""
        from confluent_kafka import TopicPartition

        if not self._assignment:
            return {}
        out = {}
        positions = self._consumer.position([TopicPartition(t, p) for t, p in self._assignment])
        for position in positions:
            _, high = self._consumer.get_watermark_offsets(position, cached=True)
            if high is None or high < 0 or position.offset < 0:
                return None
            out[(position.topic, position.partition)] = max(0, high - position.offset)
        return out

    def close(self) -> None:
        """Leave the group (without committing: commits follow the store's writes)."""
        self._consumer.close()

