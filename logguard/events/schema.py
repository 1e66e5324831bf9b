"""Source schemas: one JSON Schema per event source in ``schemas/``, turned into a column layout.

Each ``schemas/<source>.schema.json`` is plain JSON Schema (draft 2020-12) with two
annotations of ours: ``x-entity: <entity type>`` on a property marks a categorical entity
the models learn from, and ``x-event-time: true`` marks the event time. :func:`load_schema`
reads one into a :class:`SourceSchema`; :func:`store_columns` is the union layout of every
source, the column layout of the DuckDB ``events`` table and its Parquet history.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from functools import cache
from pathlib import Path

import pyarrow as pa

from logguard.errors import ConfigError, InputError

SCHEMA_DIR_ENV = "LOGGUARD_SCHEMAS"
_JSON_TO_ARROW = {
    "string": pa.string(),
    "integer": pa.int64(),
    "number": pa.float64(),
    "boolean": pa.bool_(),
}
EVENT_TIME_COLUMN = "event_time"


def schema_dir() -> Path:
    """The folder holding ``<source>.schema.json`` files (``$LOGGUARD_SCHEMAS`` or ``schemas/``)."""
    override = os.environ.get(SCHEMA_DIR_ENV)
    if override:
        return Path(override)
    return Path(__file__).resolve().parents[2] / "schemas"


@dataclass(frozen=True)
class FieldSpec:
    """One property of a source schema."""

    name: str
    json_types: tuple[str, ...]
    required: bool
    entity_type: str | None = None
    is_event_time: bool = False
    max_length: int | None = None
    pattern: str | None = None
    enum: tuple[str, ...] | None = None
    minimum: float | None = None
    maximum: float | None = None
    description: str = ""

    @property
    def arrow_type(self) -> pa.DataType:
        """Arrow type of the stored column (the event time is a UTC timestamp)."""
        if self.is_event_time:
            return pa.timestamp("us", tz="UTC")
        return _JSON_TO_ARROW[self.json_types[0]]


@dataclass(frozen=True)
class SourceSchema:
    """The parsed schema of one source: its fields in declaration order."""

    source: str
    fields: tuple[FieldSpec, ...]
    raw: dict

    @property
    def time_field(self) -> FieldSpec:
        return next(f for f in self.fields if f.is_event_time)

    @property
    def entity_fields(self) -> tuple[FieldSpec, ...]:
        return tuple(f for f in self.fields if f.entity_type is not None)

    @property
    def entity_columns(self) -> list[str]:
        """Names of the entity fields, the default ``--entities`` of this source."""
        return [f.name for f in self.entity_fields]

    @property
    def required(self) -> tuple[str, ...]:
        return tuple(f.name for f in self.fields if f.required)

    def field(self, name: str) -> FieldSpec:
        for spec in self.fields:
            if spec.name == name:
                return spec
        raise InputError(f"source {self.source!r} has no field {name!r}")

    def arrow_schema(self) -> pa.Schema:
        """Arrow layout of this source's events: ``event_time`` then every other field."""
        columns = [pa.field(EVENT_TIME_COLUMN, self.time_field.arrow_type, nullable=False)]
        columns += [
            pa.field(f.name, f.arrow_type, nullable=not f.required)
            for f in self.fields
            if not f.is_event_time
        ]
        return pa.schema(columns)


def _parse_field(name: str, prop: dict, required: bool, source: str) -> FieldSpec:
    types = prop.get("type")
    if types is None:
        raise ConfigError(f"schema {source!r}: property {name!r} has no type")
    json_types = (types,) if isinstance(types, str) else tuple(types)
    unknown = [t for t in json_types if t not in _JSON_TO_ARROW]
    if unknown:
        raise ConfigError(f"schema {source!r}: property {name!r} has unsupported type {unknown}")
    enum = prop.get("enum")
    return FieldSpec(
        name=name,
        json_types=json_types,
        required=required,
        entity_type=prop.get("x-entity"),
        is_event_time=bool(prop.get("x-event-time", False)),
        max_length=prop.get("maxLength"),
        pattern=prop.get("pattern"),
        enum=tuple(enum) if enum is not None else None,
        minimum=prop.get("minimum"),
        maximum=prop.get("maximum"),
        description=prop.get("description", ""),
    )


def parse_schema(raw: dict) -> SourceSchema:
    """Turn a schema document into a :class:`SourceSchema`, checking our annotations."""
    source = raw.get("x-logguard-source")
    if not source:
        raise ConfigError("schema has no 'x-logguard-source' naming its source")
    required = set(raw.get("required", []))
    props = raw.get("properties", {})
    fields = tuple(_parse_field(n, p, n in required, source) for n, p in props.items())
    times = [f.name for f in fields if f.is_event_time]
    if len(times) != 1:
        raise ConfigError(
            f"schema {source!r}: exactly one property needs x-event-time, got {times}"
        )
    if times[0] not in required:
        raise ConfigError(f"schema {source!r}: the event time {times[0]!r} must be required")
    return SourceSchema(source=source, fields=fields, raw=raw)


def available_sources() -> list[str]:
    """Source names with a schema file, sorted."""
    return sorted(p.name.removesuffix(".schema.json") for p in schema_dir().glob("*.schema.json"))


@cache
def load_schema(source: str) -> SourceSchema:
    """Load ``schemas/<source>.schema.json``; an unknown source names the known ones."""
    path = schema_dir() / f"{source}.schema.json"
    if not source.isidentifier() or not path.is_file():
        raise InputError(
            f"unknown source {source!r}; known sources: {', '.join(available_sources())}"
        )
    with path.open(encoding="utf-8") as handle:
        return parse_schema(json.load(handle))


STORE_KEY_COLUMNS: tuple[tuple[str, pa.DataType], ...] = (
    ("kafka_topic", pa.string()),
    ("kafka_partition", pa.int32()),
    ("kafka_offset", pa.int64()),
)


@cache
def store_columns() -> tuple[tuple[str, pa.DataType], ...]:
    """The union column layout of the ``events`` table and its Parquet history.

    ``source`` and ``event_time`` first, then every field of every source (a field name
    shared by several sources, such as ``host``, is one column, so it must have one type),
    then ``extra`` (JSON text of properties no schema declares: kept, never dropped) and the
    Kafka coordinates that make each row unique.
    """
    columns: dict[str, pa.DataType] = {
        "source": pa.string(),
        EVENT_TIME_COLUMN: pa.timestamp("us", tz="UTC"),
    }
    owner: dict[str, str] = {}
    for source in available_sources():
        for spec in load_schema(source).fields:
            if spec.is_event_time:
                continue
            previous = columns.get(spec.name)
            if previous is not None and previous != spec.arrow_type:
                raise ConfigError(
                    f"field {spec.name!r} is {previous} in {owner[spec.name]!r} "
                    f"but {spec.arrow_type} in {source!r}: one name, one type"
                )
            columns[spec.name] = spec.arrow_type
            owner.setdefault(spec.name, source)
    columns["extra"] = pa.string()
    columns.update(dict(STORE_KEY_COLUMNS))
    return tuple(columns.items())
