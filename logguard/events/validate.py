"""Fast message validation compiled from the source schemas.

:class:`Validator` turns one raw Kafka message (bytes) into either an event row
(the event time as UTC microseconds since the epoch, declared fields checked against their
JSON Schema type, enum, length, pattern and range, undeclared properties kept as JSON text in
``extra``) or a :class:`Rejection` whose reason names the field and what was wrong.

The JSON Schema keywords our schemas use are compiled once per source into a list of small
checks, so no generic schema engine runs per message. A message may name its own source in
a top-level ``"source"`` property; otherwise it has the validator's default source.
Values are kept verbatim: nothing in a message is ever interpreted or executed.

Two paths give the same answer. :meth:`Validator.validate` is the exact per-message path: it
walks the fields and, for a bad message, finds the precise reason. The fast path splits the
work: :meth:`Validator.screen` decodes a message and looks up its :class:`Shape` (source,
property names in order, value types), which settles presence, types and coercion once per
shape; :meth:`Shape.arrays` then checks the values of a whole micro-batch column by column
(control characters in a column's UTF-8 bytes, lengths, enum, range, event time, all in
Arrow/numpy) while building its Arrow columns. A row that fails a column check, and any
message of a shape that needs coercion or lacks a field, takes the exact path, so every
rejection keeps its exact reason. An integer must fit the BIGINT column on both paths.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import numpy as np
import orjson
import pyarrow as pa
import pyarrow.compute as pc

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
MAX_SHAPES = 1024  # shapes remembered per validator; messages of further shapes take the exact path
INT64_MIN, INT64_MAX = -(1 << 63), (1 << 63) - 1  # an integer column is a BIGINT
_CONTROL_CHAR = re.compile("[\x00-\x1f\x7f]")
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MIN_US = int((datetime(1, 1, 1, tzinfo=UTC) - _EPOCH).total_seconds()) * 1_000_000
_MAX_US = int((datetime(9999, 12, 31, 23, 59, 59, tzinfo=UTC) - _EPOCH).total_seconds()) * 1_000_000
_JSON_TYPE_NAMES = {str: "string", int: "integer", float: "number", bool: "boolean",
                    dict: "object", list: "array", type(None): "null"}
_UNSEEN = object()


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


def iso_time_us(text: str) -> int | None:
    """ISO 8601 text (naive = UTC) -> UTC microseconds since the epoch, or None."""
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        return None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    delta = moment - _EPOCH
    return (delta.days * 86_400 + delta.seconds) * 1_000_000 + delta.microseconds


def parse_event_time(value: Any, name: str = "time") -> int:
    """ISO 8601 text (naive = UTC) or Unix epoch seconds -> UTC microseconds since the epoch."""
    if isinstance(value, str):
        micros = iso_time_us(value)
        if micros is None:
            raise FieldError(f"field {name!r}: event time {_clip(value)!r} does not parse "
                             "(expected ISO 8601 or Unix seconds)")
        return micros
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


def _bounds(spec: FieldSpec) -> tuple[float, float]:
    """The schema's [minimum, maximum] of a numeric field (open ends infinite)."""
    low = spec.minimum if spec.minimum is not None else -math.inf
    high = spec.maximum if spec.maximum is not None else math.inf
    return low, high


def _takes_as_is(spec: FieldSpec, kind: type) -> bool:
    """Whether a value of Python type ``kind`` is stored as it is (no coercion, no rejection)."""
    return _JSON_TYPE_NAMES.get(kind) in spec.json_types


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
    that finds the precise reason. An integer must also fit the BIGINT column.
    """
    pattern = None
    if spec.pattern is not None and spec.pattern != CONTROL_CHAR_PATTERN:
        pattern = re.compile(spec.pattern)
    limit = spec.max_length if spec.max_length is not None else math.inf
    control_free = spec.pattern == CONTROL_CHAR_PATTERN
    members = frozenset(spec.enum) if spec.enum is not None else None
    low, high = _bounds(spec)
    int_low, int_high = max(low, INT64_MIN), min(high, INT64_MAX)
    string_ok = "string" in spec.json_types
    integer_ok = "integer" in spec.json_types

    def slow(value: Any) -> Any:
        value = _coerce(spec, value)
        if type(value) is str:
            problem = _string_problem(spec, value, pattern)
            if problem:
                raise FieldError(problem)
        elif type(value) is not bool:
            if not low <= value <= high:
                raise FieldError(f"field {spec.name!r}: {value} is outside "
                                 f"[{spec.minimum}, {spec.maximum}]")
            if type(value) is int and not INT64_MIN <= value <= INT64_MAX:
                raise FieldError(f"field {spec.name!r}: {value} does not fit a 64-bit integer")
        return value

    def check(value: Any) -> Any:
        kind = type(value)
        if kind is str and string_ok:
            if (len(value) <= limit and (not control_free or value.isprintable())
                    and pattern is None and (members is None or value in members)):
                return value
        elif kind is int and integer_ok and int_low <= value <= int_high:
            return value
        return slow(value)

    return check


@dataclass(frozen=True)
class ColumnRule:
    """The rules of one declared field as checks over a whole column of a micro-batch."""

    spec: FieldSpec
    pattern: re.Pattern[str] | None  # a pattern other than "no control character"
    members: pa.Array | None  # the enum
    low: float  # the range; an integer column is also bounded by BIGINT
    high: float
    ranged: bool  # whether the schema gives a minimum or maximum

    @classmethod
    def of(cls, spec: FieldSpec) -> ColumnRule:
        pattern = None
        if spec.pattern is not None and spec.pattern != CONTROL_CHAR_PATTERN:
            pattern = re.compile(spec.pattern)
        members = pa.array(spec.enum, pa.string()) if spec.enum is not None else None
        low, high = _bounds(spec)
        if spec.arrow_type == pa.int64():
            low, high = max(low, INT64_MIN), min(high, INT64_MAX)
        ranged = spec.minimum is not None or spec.maximum is not None
        return cls(spec, pattern, members, low, high, ranged)

    def array(self, values: Sequence[Any], broken: np.ndarray) -> pa.Array:
        """``values`` (all of one type the field declares) as the stored Arrow column; rows
        whose value breaks a rule are flagged in ``broken``."""
        kind = type(values[0])
        if kind is str:
            array = pa.array(values, self.spec.arrow_type)
            self._flag_text(array, values, broken)
            return array
        if kind is bool:
            return pa.array(values, self.spec.arrow_type)
        try:
            array = pa.array(values, self.spec.arrow_type)
        except (OverflowError, pa.ArrowInvalid):  # an integer beyond BIGINT: flag row by row
            outside = np.array([not self.low <= v <= self.high for v in values])
            broken |= outside
            return pa.array([0 if out else v for v, out in zip(values, outside, strict=True)],
                            self.spec.arrow_type)
        if self.ranged:
            numbers = array.to_numpy()
            broken |= (numbers < self.low) | (numbers > self.high)
        return array

    def _flag_text(self, array: pa.Array, values: Sequence[str], broken: np.ndarray) -> None:
        """Flag strings over maxLength, with a control character, off the pattern or the enum.

        Control characters are looked up in the UTF-8 bytes of the whole column at once (a
        byte below 0x20 or 0x7F is always a character of its own in UTF-8) and mapped back to
        rows through the offsets; lengths are counted in characters like ``len``.
        """
        spec = self.spec
        offsets = np.frombuffer(array.buffers()[1], np.int32, count=len(array) + 1)
        if spec.pattern == CONTROL_CHAR_PATTERN and offsets[-1] > 0:
            data = np.frombuffer(array.buffers()[2], np.uint8, count=offsets[-1])
            found = np.flatnonzero((data < 0x20) | (data == 0x7F))
            if found.size:
                broken[np.searchsorted(offsets, found, side="right") - 1] = True
        elif self.pattern is not None:
            broken |= np.array([self.pattern.search(v) is None for v in values])
        if spec.max_length is not None and np.diff(offsets).max() > spec.max_length:
            # a string has at most as many characters as bytes: count only if bytes exceed
            broken |= pc.utf8_length(array).to_numpy() > spec.max_length
        if self.members is not None:
            broken |= ~pc.is_in(array, value_set=self.members).to_numpy(zero_copy_only=False)


@dataclass(frozen=True, eq=False)
class Shape:
    """Messages of one source with the same properties, in the same order, with the same
    value types, each a type its field declares (so nothing is coerced), the event time and
    every required field present: all a message's type and presence checks, made once.

    The value checks (length, control characters, pattern, enum, range, event time) run on
    whole columns in :meth:`arrays`. Positions index a message's values in property order.
    """

    source: str
    fields: tuple[tuple[int, ColumnRule], ...]
    time_position: int
    time_kind: type
    undeclared: tuple[tuple[int, str], ...]

    def arrays(self, columns: Sequence[Sequence[Any]]) -> tuple[dict[str, pa.Array], np.ndarray]:
        """The stored columns (declared fields, ``event_time``, ``extra``) of rows of this
        shape, ``columns[position]`` holding every row's value at that position, and the mask
        of rows that break a rule (those must take the exact path, which names the reason)."""
        rows = len(columns[0])
        broken = np.zeros(rows, dtype=bool)
        arrays = {rule.spec.name: rule.array(columns[position], broken)
                  for position, rule in self.fields}
        arrays[EVENT_TIME_COLUMN] = self._event_times(columns[self.time_position], broken)
        if self.undeclared:
            names = [name for _, name in self.undeclared]
            values = zip(*(columns[position] for position, _ in self.undeclared), strict=True)
            extra = [orjson.dumps(dict(zip(names, row, strict=True))).decode() for row in values]
            arrays[EXTRA_COLUMN] = pa.array(extra, pa.string())
        else:
            arrays[EXTRA_COLUMN] = pa.nulls(rows, pa.string())
        return arrays, broken

    def _event_times(self, values: Sequence[Any], broken: np.ndarray) -> pa.Array:
        """UTC microseconds as :func:`parse_event_time` computes them, unparseable rows flagged.

        Float seconds are scaled and rounded half to even in numpy, as ``round(v * 1_000_000)``
        does (both bounds are exact doubles, so the range test agrees too)."""
        if self.time_kind is float:
            with np.errstate(over="ignore"):  # inf is out of range, as in Python
                scaled = np.asarray(values, dtype=np.float64) * 1_000_000
            inside = (scaled >= _MIN_US) & (scaled <= _MAX_US)
            broken |= ~inside
            micros = np.rint(np.where(inside, scaled, 0.0)).astype(np.int64)
        else:
            if self.time_kind is str:
                parsed = [iso_time_us(v) for v in values]
            else:
                parsed = [v * 1_000_000 if _MIN_US <= v * 1_000_000 <= _MAX_US else None
                          for v in values]
            bad = np.array([m is None for m in parsed])
            broken |= bad
            micros = np.array([0 if m is None else m for m in parsed], dtype=np.int64)
        return pa.array(micros, pa.int64()).cast(pa.timestamp("us", tz="UTC"))


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
        self.rules = {f.name: ColumnRule.of(f) for f in schema.fields if not f.is_event_time}
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

    def shape(self, names: tuple[str, ...], types: tuple[type, ...]) -> Shape | None:
        """The :class:`Shape` of messages with these property names and value types, or None
        when such messages need the exact path (a field missing, a value to coerce or refuse)."""
        if self.time_name not in names or not self.required_set.issubset(names):
            return None
        fields: list[tuple[int, ColumnRule]] = []
        undeclared: list[tuple[int, str]] = []
        time_position, time_kind = -1, float
        for position, (name, kind) in enumerate(zip(names, types, strict=True)):
            if name == self.time_name:
                if kind not in (str, int, float):
                    return None
                time_position, time_kind = position, kind
            elif name in self.rules:
                if not _takes_as_is(self.rules[name].spec, kind):
                    return None
                fields.append((position, self.rules[name]))
            elif name != SOURCE_PROPERTY:
                undeclared.append((position, name))
        return Shape(source=self.source, fields=tuple(fields), time_position=time_position,
                     time_kind=time_kind, undeclared=tuple(undeclared))


class Validator:
    """Validate raw messages of ``default_source`` (or of the source a message names)."""

    def __init__(self, default_source: str, *,
                 max_message_bytes: int = DEFAULT_MAX_MESSAGE_BYTES) -> None:
        if max_message_bytes <= 0:
            raise InputError(f"the message size limit must be positive, got {max_message_bytes}")
        self.default_source = load_schema(default_source).source
        self.max_message_bytes = max_message_bytes
        self.sources = {name: CompiledSource(load_schema(name)) for name in available_sources()}
        self._shapes: dict[tuple, Shape | None] = {}

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
        return self._validate_object(obj)

    def screen(self, payload: bytes | None
               ) -> tuple[Shape, dict[str, Any]] | dict[str, Any] | Rejection:
        """The per-message half of the fast path: a message of a known :class:`Shape` comes
        back as ``(shape, decoded object)``, its value checks still to run on the batch's
        columns (:meth:`Shape.arrays`; a row they flag must be re-run through
        :meth:`validate`); any other message gets :meth:`validate`'s answer.

        The shape is looked up by (source, property names, value types).
        """
        if payload is None or len(payload) > self.max_message_bytes:
            return self.validate(payload)
        try:
            obj = orjson.loads(payload)
        except orjson.JSONDecodeError as exc:
            return Rejection(self._decode_reason(payload, exc))
        if type(obj) is dict:
            source = obj.get(SOURCE_PROPERTY, self.default_source)
            if type(source) is str:
                key = (source, tuple(obj), tuple(map(type, obj.values())))
                shape = self._shapes.get(key, _UNSEEN)
                if shape is _UNSEEN:
                    shape = self._learn_shape(key)
                if shape is not None:
                    return shape, obj
        return self._validate_object(obj)

    def _learn_shape(self, key: tuple[str, tuple[str, ...], tuple[type, ...]]) -> Shape | None:
        source, names, types = key
        compiled = self.sources.get(source)
        shape = compiled.shape(names, types) if compiled is not None else None
        if len(self._shapes) < MAX_SHAPES:
            self._shapes[key] = shape
        return shape

    def _validate_object(self, obj: Any) -> dict[str, Any] | Rejection:
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
