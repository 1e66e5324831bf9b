"""One micro-batch of Kafka messages, validated and laid out as Arrow tables for the store.

:class:`MicroBatch` validates each message as it is added and appends accepted events
as rows keyed by column of the union ``events`` layout (a column a source does not declare
stays null) and refused messages to the dead letters with their raw bytes and reason. It also
tracks the last offset per (topic, partition), which the store saves in the same transaction.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from functools import cache

import pyarrow as pa

from logguard.events.schema import load_schema
from logguard.events.validate import Rejection, Validator
from logguard.store.duckdb_store import dead_letters_arrow_schema, events_arrow_schema

_META_COLUMNS = frozenset(
    ("source", "event_time", "extra", "kafka_topic", "kafka_partition", "kafka_offset"))


@cache
def _source_struct(source: str) -> pa.StructType:
    """The struct of the ``events`` columns a source's rows can have."""
    own = {spec.name for spec in load_schema(source).fields}
    return pa.struct([f for f in events_arrow_schema() if f.name in own or f.name in _META_COLUMNS])


@dataclass
class MicroBatch:
    """Messages of one poll cycle: accepted event rows, dead letters, last offsets.

    ``validator`` checks every message unless ``topic_validators`` names one for its topic
    (a multi-topic consumer such as the daemon has one default source per topic).
    """

    validator: Validator
    topic_validators: dict[str, Validator] = field(default_factory=dict)
    offsets: dict[tuple[str, int], int] = field(default_factory=dict)
    dead_letter_rows: list[tuple] = field(default_factory=list)
    first_message_at: float | None = None

    def __post_init__(self) -> None:
        self._rows: dict[str, list[dict]] = {}
        self.events = 0

    @property
    def messages(self) -> int:
        return self.events + len(self.dead_letter_rows)

    def add(self, topic: str, partition: int, offset: int, timestamp_ms: int | None,
            payload: bytes | None) -> None:
        """Validate one message and file it as an event or a dead letter."""
        key = (topic, partition)
        if offset > self.offsets.get(key, -1):
            self.offsets[key] = offset
        validator = self.topic_validators.get(topic, self.validator)
        row = validator.validate(payload)
        if type(row) is Rejection:
            kafka_time = None if timestamp_ms is None or timestamp_ms < 0 else timestamp_ms * 1000
            self.dead_letter_rows.append((
                payload if payload is not None else b"", row.reason,
                row.source or validator.default_source, topic, partition, offset,
                kafka_time, time.time_ns() // 1000))
            return
        row["kafka_topic"] = topic
        row["kafka_partition"] = partition
        row["kafka_offset"] = offset
        rows = self._rows.get(row["source"])
        if rows is None:
            rows = self._rows[row["source"]] = []
        rows.append(row)
        self.events += 1

    def events_table(self) -> pa.Table:
        """Accepted events in the exact ``events`` layout (columns a source lacks are null).

        Each source's rows are converted in one C++ pass as a struct array of only that
        source's columns; the other columns of the union layout are filled with nulls.
        """
        schema = events_arrow_schema()
        tables = []
        for source, rows in self._rows.items():
            converted = pa.Table.from_struct_array(pa.array(rows, type=_source_struct(source)))
            tables.append(pa.Table.from_arrays(
                [converted.column(f.name) if f.name in converted.column_names
                 else pa.nulls(len(rows), f.type) for f in schema], schema=schema))
        if not tables:
            return schema.empty_table()
        return tables[0] if len(tables) == 1 else pa.concat_tables(tables)

    def dead_letters_table(self) -> pa.Table:
        """Refused messages with raw bytes, reason and Kafka coordinates."""
        schema = dead_letters_arrow_schema()
        columns = list(zip(*self.dead_letter_rows, strict=True)) or [[] for _ in schema]
        arrays = []
        for column, values in zip(schema, columns, strict=True):
            if pa.types.is_timestamp(column.type):
                arrays.append(pa.array(values, pa.int64()).cast(column.type))
            else:
                arrays.append(pa.array(values, column.type))
        return pa.Table.from_arrays(arrays, schema=schema)
