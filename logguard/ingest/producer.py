"""Send event dicts to a Kafka topic as JSON messages (``logguard produce``, the demo).

Each event becomes one orjson-encoded message. The key is the event's host (or its user
when it has no host), so one host's events stay in order on one partition and a host's
state lives on one consumer-group member. Every message must be acknowledged: a failed
send is a BrokerError with the count, never silently dropped. The client is confluent-kafka
(librdkafka, ~10x kafka-python's produce rate here); its local queue is drained as it fills.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterable
from typing import Any

import orjson

from logguard.broker import check_reachable
from logguard.errors import BrokerError

KEY_FIELDS = ("host", "user")


def message_key(event: dict[str, Any]) -> bytes | None:
    """The partitioning key: host, else user, else none (the client spreads such events)."""
    for name in KEY_FIELDS:
        value = event.get(name)
        if value is not None:
            return str(value).encode()
    return None


def send_records(bootstrap: str, topic: str, events: Iterable[dict[str, Any]], *,
                 rate: float | None = None, source: str | None = None,
                 on_sent: Callable[[int], None] | None = None) -> int:
    """Send every event to ``topic``; returns how many were sent and acknowledged.

    ``rate`` caps events per second; ``source`` is added to events that name none;
    ``on_sent(n)`` is called after each event (progress bars).
    """
    from confluent_kafka import KafkaException, Producer

    if rate is not None and rate <= 0:
        raise BrokerError(f"the send rate must be positive, got {rate}")
    check_reachable(bootstrap)
    try:
        producer = Producer({"bootstrap.servers": bootstrap, "linger.ms": 20,
                             "message.max.bytes": 8 << 20, "acks": "all",
                             # events without a key are spread over the partitions
                             "sticky.partitioning.linger.ms": 0,
                             # the Java client's (and kafka-python's) key hash: a host maps to
                             # the same partition whichever client produced its events
                             "partitioner": "murmur2_random",
                             "logger": logging.getLogger("librdkafka")})
    except KafkaException as exc:
        raise BrokerError(f"cannot reach the Kafka broker at {bootstrap}: {exc}") from exc
    sent = 0
    failures: list[str] = []

    def delivered(error, _message) -> None:
        if error is not None:
            failures.append(error.str())

    started = time.monotonic()
    for event in events:
        if source is not None:
            event.setdefault("source", source)
        value, key = orjson.dumps(event), message_key(event)
        while True:
            try:
                producer.produce(topic, value=value, key=key, on_delivery=delivered)
                break
            except BufferError:  # the local queue is full: let deliveries drain it
                producer.poll(0.05)
        producer.poll(0)
        sent += 1
        if on_sent is not None:
            on_sent(1)
        if rate is not None:
            ahead = sent / rate - (time.monotonic() - started)
            if ahead > 0:
                time.sleep(ahead)
    unflushed = producer.flush(60)
    if unflushed:
        failures.append(f"{unflushed} messages still unsent after 60 s")
    if failures:
        raise BrokerError(f"{len(failures)} of {sent} events were not acknowledged by "
                          f"{bootstrap}: {failures[0]}")
    return sent
