"""Fast message validation compiled from the source schemas.

:class:`Validator` turns one raw Kafka message (bytes) into either an event row
(the event time as UTC microseconds since the epoch, declared fields checked against their
JSON Schema type, enum, length, pattern and range, undeclared properties kept as JSON text in
``extra``) or a :class:`Rejection` whose reason names the field and what was wrong.

The JSON Schema keywords our schemas use are compiled once per source into a list of small
checks, so no generic schema engine runs per message. A message may name its own source in
a top-level ``"source"`` property; otherwise it has the validator's default source.
Values are kept verbatim: nothing in a message is ever interpreted or executed.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import orjson

from logguard.errors import InputError
from logguard.events.schema import (
    EVENT_TIME_COLUMN,
    FieldSpec,
    SourceSchema,
    available_sources,
    load_schema,
)

DEFAULT_MAX_MESSAGE_BYTES = 1 << 20
SOURCE_PROPERTY = "source"
EXTRA_COLUMN = "extra"
CONTROL_CHAR_PATTERN = "^[^\\u0000-\\u001f\\u007f]*$"
_CONTROL_CHAR = re.compile("[\x00-\x1f\x7f]")
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MIN_US = int((datetime(1, 1, 1, tzinfo=UTC) - _EPOCH).total_seconds()) * 1_000_000
_MAX_US = int((datetime(9999, 12, 31, 23, 59, 59, tzinfo=UTC) - _EPOCH).total_seconds()) * 1_000_000
_JSON_TYPE_NAMES = {str: "string", int: "integer", float: "number", bool: "boolean",
                    dict: "object", list: "array", type(None): "null"}


@dataclass(frozen=True, slots=True)
class Rejection:
    """A refused message: why (naming the field), and its source when known."""

    reason: str
    source: str | None = None


class FieldError(Exception):
    """One field failed a check; the message names the field."""


def json_type_name(value: Any) -> str:
    """The JSON type of a decoded value (``integer`` for ``3``, ``null`` for ``None``)."""
    return _JSON_TYPE_NAMES.get(type(value), type(value).__name__)


def parse_event_time(value: Any, name: str = "time") -> int:
    """ISO 8601 text (naive = UTC) or Unix epoch seconds -> UTC microseconds since the epoch."""
    if isinstance(value, str):
        try:
            moment = datetime.fromisoformat(value)
        except ValueError:
            raise FieldError(f"field {name!r}: event time {_clip(value)!r} does not parse "
                             "(expected ISO 8601 or Unix seconds)") from None
        if moment.tzinfo is None:
            moment = moment.replace(tzinfo=UTC)
        delta = moment - _EPOCH
        return (delta.days * 86_400 + delta.seconds) * 1_000_000 + delta.microseconds
    if isinstance(value, int | float) and not isinstance(value, bool):
        if not math.isfinite(value) or not _MIN_US <= value * 1_000_000 <= _MAX_US:
            raise FieldError(f"field {name!r}: event time {value!r} does not parse "
                             "(Unix seconds out of range)")
        return round(value * 1_000_000)
    raise FieldError(f"field {name!r}: event time does not parse: expected string or number, "
                     f"got {json_type_name(value)}")


def _clip(text: str, limit: int = 60) -> str:
    return text if len(text) <= limit else text[:limit] + "…"


def _coerce(spec: FieldSpec, value: Any) -> Any:
    """``value`` typed per the schema (JSON ``3.0`` is an integer), or FieldError."""
    allowed = spec.json_types
    kind = type(value)
    if kind is str and "string" in allowed:
        return value
    if kind is int and ("integer" in allowed or "number" in allowed):
        return value if "integer" in allowed else float(value)
    if kind is float:
        if "number" in allowed:
            return value
        if "integer" in allowed and value.is_integer():
            return int(value)
    if kind is bool and "boolean" in allowed:
        return value
    raise FieldError(f"field {spec.name!r}: expected {' or '.join(allowed)}, "
                     f"got {json_type_name(value)}")


def _string_problem(spec: FieldSpec, value: str, pattern: re.Pattern[str] | None) -> str | None:
    """Why a string breaks the field's maxLength / pattern / enum, or None."""
    name = spec.name
    if spec.max_length is not None and len(value) > spec.max_length:
        return (f"field {name!r}: value too long ({len(value)} characters, "
                f"at most {spec.max_length})")
    if spec.pattern == CONTROL_CHAR_PATTERN:
        found = _CONTROL_CHAR.search(value)
        if found:
            return (f"field {name!r}: control character U+{ord(found.group()):04X} "
                    f"at position {found.start()}")
    elif pattern is not None and pattern.search(value) is None:
        return f"field {name!r}: value does not match pattern {spec.pattern!r}"
    if spec.enum is not None and value not in spec.enum:
        return f"field {name!r}: {_clip(value)!r} is not one of {', '.join(spec.enum)}"
    return None


def compile_field(spec: FieldSpec) -> Callable[[Any], Any]:
    """One function checking a value of ``spec``: returns it typed, or raises FieldError.

    The common case (a string of the declared type that is short, printable and in the
    enum; an integer in range) takes a single call; anything unusual goes to the slow path
    that finds the precise reason.
    """
    pattern = None
    if spec.pattern is not None and spec.pattern != CONTROL_CHAR_PATTERN:
        pattern = re.compile(spec.pattern)
    limit = spec.max_length if spec.max_length is not None else math.inf
    control_free = spec.pattern == CONTROL_CHAR_PATTERN
    members = frozenset(spec.enum) if spec.enum is not None else None
    low = spec.minimum if spec.minimum is not None else -math.inf
    high = spec.maximum if spec.maximum is not None else math.inf
    string_ok = "string" in spec.json_types
    integer_ok = "integer" in spec.json_types

    def slow(value: Any) -> Any:
        value = _coerce(spec, value)
        if type(value) is str:
            problem = _string_problem(spec, value, pattern)
            if problem:
                raise FieldError(problem)
        elif type(value) is not bool and not low <= value <= high:
            raise FieldError(f"field {spec.name!r}: {value} is outside "
                             f"[{spec.minimum}, {spec.maximum}]")
        return value

    def check(value: Any) -> Any:
        kind = type(value)
        if kind is str and string_ok:
            if (len(value) <= limit and (not control_free or value.isprintable())
                    and pattern is None and (members is None or value in members)):
                return value
        elif kind is int and integer_ok and low <= value <= high:
            return value
        return slow(value)

    return check


class CompiledSource:
    """The checks of one source schema, run field by field on a decoded object."""

    def __init__(self, schema: SourceSchema) -> None:
        self.source = schema.source
        self.time_name = schema.time_field.name
        self.required = tuple(f.name for f in schema.fields if f.required and not f.is_event_time)
        self.declared = frozenset(f.name for f in schema.fields) | {SOURCE_PROPERTY}
        self.required_set = frozenset(self.required)
        self.checks: dict[str, Callable[[Any], Any]] = {
            f.name: compile_field(f) for f in schema.fields if not f.is_event_time
        }
        # fields whose only rules are "a string, at most N characters, no control character":
        # checked inline (most entity fields), everything else through its compiled check
        self.plain_strings: dict[str, int] = {
            f.name: f.max_length for f in schema.fields
            if f.json_types == ("string",) and f.max_length is not None
            and f.pattern == CONTROL_CHAR_PATTERN and f.enum is None and not f.is_event_time
        }

    def validate(self, obj: dict[str, Any]) -> dict[str, Any]:
        """Check one decoded object and return it as a row; FieldError names a bad field.

        The object itself becomes the row (no copy): declared fields typed, the event time
        replaced by ``event_time`` (UTC µs), undeclared properties moved into ``extra`` (JSON
        text or None), and ``source`` set.
        """
        if self.time_name not in obj:
            raise FieldError(f"required field {self.time_name!r} is missing")
        event_time = parse_event_time(obj.pop(self.time_name), self.time_name)
        if not self.required_set.issubset(obj):
            missing = next(name for name in self.required if name not in obj)
            raise FieldError(f"required field {missing!r} is missing")
        checks, plain_strings = self.checks, self.plain_strings
        undeclared: list[str] | None = None
        for name, value in obj.items():
            limit = plain_strings.get(name)
            if (limit is not None and type(value) is str and len(value) <= limit
                    and value.isprintable()):
                continue
            check = checks.get(name)
            if check is not None:
                typed = check(value)
                if typed is not value:
                    obj[name] = typed
            elif name not in self.declared:
                if undeclared is None:
                    undeclared = []
                undeclared.append(name)
        extra = None
        if undeclared is not None:
            extra = orjson.dumps({name: obj.pop(name) for name in undeclared}).decode()
        obj[SOURCE_PROPERTY] = self.source
        obj[EVENT_TIME_COLUMN] = event_time
        obj[EXTRA_COLUMN] = extra
        return obj


class Validator:
    """Validate raw messages of ``default_source`` (or of the source a message names)."""

    def __init__(self, default_source: str, *,
                 max_message_bytes: int = DEFAULT_MAX_MESSAGE_BYTES) -> None:
        if max_message_bytes <= 0:
            raise InputError(f"the message size limit must be positive, got {max_message_bytes}")
        self.default_source = load_schema(default_source).source
        self.max_message_bytes = max_message_bytes
        self.sources = {name: CompiledSource(load_schema(name)) for name in available_sources()}

    def validate(self, payload: bytes | None) -> dict[str, Any] | Rejection:
        """One raw message -> an event row or a :class:`Rejection` naming the problem.

        The row maps column names of the ``events`` layout to values: ``source``,
        ``event_time`` (UTC microseconds since the epoch), each declared field present in
        the message (typed per the schema), and ``extra`` (JSON text of undeclared
        properties, or None).
        """
        if payload is None:
            return Rejection("empty message (null value): not JSON")
        if len(payload) > self.max_message_bytes:
            return Rejection(f"message size {len(payload)} bytes is over the size limit of "
                             f"{self.max_message_bytes} bytes")
        try:
            obj = orjson.loads(payload)
        except orjson.JSONDecodeError as exc:
            return Rejection(self._decode_reason(payload, exc))
        if type(obj) is not dict:
            return Rejection(f"JSON is not an object (got {json_type_name(obj)})")
        source = obj.get(SOURCE_PROPERTY, self.default_source)
        compiled = self.sources.get(source) if type(source) is str else None
        if compiled is None:
            shown = source if type(source) is str else json_type_name(source)
            return Rejection(f"unknown source {_clip(str(shown))!r} in field 'source'; known "
                             f"sources: {', '.join(self.sources)}")
        try:
            return compiled.validate(obj)
        except FieldError as exc:
            return Rejection(str(exc), source)

    @staticmethod
    def _decode_reason(payload: bytes, exc: orjson.JSONDecodeError) -> str:
        try:
            payload.decode("utf-8")
        except UnicodeDecodeError as bad:
            return f"not UTF-8: invalid byte at position {bad.start}"
        return f"not JSON: {exc}"
