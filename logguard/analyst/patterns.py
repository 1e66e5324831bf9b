"""The *pattern* of an alert: what stays the same when the same benign thing happens again.

An alert's ``entities`` (JSON object: entity type or column -> value) name the host, user,
image, command line, ... it is about, and also values that change on every recurrence: event
times, operating-system process ids, process-instance GUIDs, ephemeral source ports, source
record ids. The pattern is the entity object minus those *volatile* keys, every value as text:

* a key in :data:`VOLATILE_KEYS`, or
* a key ending in one of :data:`VOLATILE_SUFFIXES` (``_guid``, ``_pid``, ``_time``),
* and any empty value.

Two alerts of the same model with the same pattern are "the same thing again"; suppressions
match on (model, pattern), and similar-alert search counts shared pattern entries.
"""

from __future__ import annotations

import json
from typing import Any

VOLATILE_KEYS = frozenset({
    "time", "event_time", "timestamp", "pid", "ppid", "process_id", "parent_process_id",
    "object_process_id", "process_guid", "parent_guid", "object_guid", "src_port",
    "source_port", "event_id", "record_id", "logon_id", "session_id", "kafka_offset",
    "kafka_partition", "kafka_topic",
})
VOLATILE_SUFFIXES = ("_guid", "_pid", "_time")


def is_volatile(key: str) -> bool:
    """True for entity keys whose values change on every recurrence (see the module rule)."""
    lowered = key.lower()
    return lowered in VOLATILE_KEYS or lowered.endswith(VOLATILE_SUFFIXES)


def parse_entities(text: str | dict | None) -> dict[str, Any]:
    """The ``entities`` column as a dict; missing or malformed JSON gives ``{}``."""
    if isinstance(text, dict):
        return text
    if not text:
        return {}
    try:
        value = json.loads(text)
    except (TypeError, ValueError):
        return {}
    return value if isinstance(value, dict) else {}


def pattern_of(entities: str | dict | None) -> dict[str, str]:
    """The stable part of an alert's entities: volatile keys and empty values dropped, values
    as text, keys sorted."""
    stable = {}
    for key, value in parse_entities(entities).items():
        if value is None or is_volatile(str(key)):
            continue
        text = value if isinstance(value, str) else json.dumps(value, sort_keys=True)
        if text != "":
            stable[str(key)] = text
    return dict(sorted(stable.items()))


def pattern_text(pattern: dict[str, str]) -> str:
    """Canonical JSON text of a pattern (what the ``suppressions.pattern`` column holds)."""
    return json.dumps(pattern, sort_keys=True, ensure_ascii=False, separators=(",", ":"))


def matches(pattern: dict[str, str], entities: str | dict | None) -> bool:
    """True when every entry of ``pattern`` has the same value in ``entities``."""
    observed = pattern_of(entities)
    return all(observed.get(key) == value for key, value in pattern.items())
