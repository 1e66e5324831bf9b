"""Send event dicts to a Kafka topic as JSON messages (``logguard produce``, the demo).

Each event becomes one orjson-encoded message. The key is the event's host (or its user
when it has no host), so one host's events stay in order on one partition and a host's
state lives on one consumer-group member. Every message must be acknowledged: a failed
send is a BrokerError with the count, never silently dropped.
"""

from __future__ import annotations

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
    from kafka import KafkaProducer
    from kafka.errors import KafkaError

    if rate is not None and rate <= 0:
        raise BrokerError(f"the send rate must be positive, got {rate}")
    check_reachable(bootstrap)
    try:
        producer = KafkaProducer(bootstrap_servers=bootstrap, linger_ms=20,
                                 batch_size=256 * 1024, max_request_size=8 << 20)
    except KafkaError as exc:
        raise BrokerError(f"cannot reach the Kafka broker at {bootstrap}: {exc}") from exc
    sent = 0
    failures: list[BaseException] = []
    started = time.monotonic()
    try:
        for event in events:
            if source is not None:
                event.setdefault("source", source)
            future = producer.send(topic, value=orjson.dumps(event), key=message_key(event))
            future.add_errback(failures.append)
            sent += 1
            if on_sent is not None:
                on_sent(1)
            if rate is not None:
                ahead = sent / rate - (time.monotonic() - started)
                if ahead > 0:
                    time.sleep(ahead)
        producer.flush()
    finally:
        producer.close()
    if failures:
        raise BrokerError(f"{len(failures)} of {sent} events were not acknowledged by "
                          f"{bootstrap}: {failures[0]}")
    return sent
