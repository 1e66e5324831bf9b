"""One micro-batch of Kafka messages, validated and laid out as Arrow tables for the store.

:class:`MicroBatch` files each message it is given as an accepted event or a dead letter
(raw bytes and reason), lays the events out in the union ``events`` layout (a column a
source does not declare stays null) and tracks the last offset per (topic, partition),
which the store saves in the same transaction.

Validation runs in two halves (see :mod:`logguard.events.validate`). Per message, only the
JSON is decoded and its :class:`~logguard.events.validate.Shape` looked up; the values of
messages of one shape are kept as tuples. When the batch is read (:attr:`events`,
:attr:`dead_letter_rows`, the tables), each shape's tuples are transposed with one ``zip`` and
checked and converted column by column (:meth:`Shape.arrays`). A row a column check flags is
re-run through the exact per-message path, so its dead letter has the exact reason.
Messages of no known shape take the exact path when added; the events it accepts are row
dicts, converted per source as one struct array. Within a source, events keep the order in
which they were added; so do dead letters.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from functools import cache
from typing import Any

import numpy as np
import pyarrow as pa

from logguard.events.schema import load_schema
from logguard.events.validate import Rejection, Shape, Validator
from logguard.store.duckdb_store import dead_letters_arrow_schema, events_arrow_schema

_META_COLUMNS = frozenset(
    ("source", "event_time", "extra", "kafka_topic", "kafka_partition", "kafka_offset"))
# what a shaped row holds after the message's values
_ROW_TAIL = ("kafka_topic", "kafka_partition", "kafka_offset", "timestamp_ms", "payload",
             "sequence")


@cache
def _source_struct(source: str) -> pa.StructType:
    """The struct of the ``events`` columns a source's rows can have."""
    own = {spec.name for spec in load_schema(source).fields}
    return pa.struct([f for f in events_arrow_schema() if f.name in own or f.name in _META_COLUMNS])


@dataclass
class MicroBatch:
    """Messages of one poll cycle: accepted events, dead letters, last offsets.

    ``validator`` checks every message unless ``topic_validators`` names one for its topic
    (a multi-topic consumer such as the daemon has one default source per topic).
    """

    validator: Validator
    topic_validators: dict[str, Validator] = field(default_factory=dict)
    offsets: dict[tuple[str, int], int] = field(default_factory=dict)
    first_message_at: float | None = None

    def __post_init__(self) -> None:
        self.messages = 0  # every message added: events + dead letters
        self._shaped: dict[Shape, list[tuple]] = {}  # rows whose column checks are still due
        self._columns: list[tuple[str, dict[str, pa.Array], np.ndarray]] = []  # checked
        self._rows: dict[str, list[dict]] = {}  # events of the exact path, by source
        self._row_order: dict[str, list[int]] = {}  # their sequence numbers in the batch
        self._dead: list[tuple] = []
        self._dead_order: list[int] = []

    @property
    def events(self) -> int:
        """Accepted events."""
        return self.messages - len(self.dead_letter_rows)

    @property
    def dead_letter_rows(self) -> list[tuple]:
        """Refused messages as rows of ``dead_letters``, in the order they were added."""
        self._settle()
        return self._dead

    def add(self, topic: str, partition: int, offset: int, timestamp_ms: int | None,
            payload: bytes | None) -> None:
        """Decode one message and file it as an event (its shape's column checks pending) or
        as a dead letter."""
        key = (topic, partition)
        if offset > self.offsets.get(key, -1):
            self.offsets[key] = offset
        validator = self.topic_validators.get(topic, self.validator)
        screened = validator.screen(payload)
        if type(screened) is tuple:
            shape, obj = screened
            rows = self._shaped.get(shape)
            if rows is None:
                rows = self._shaped[shape] = []
            rows.append((*obj.values(), topic, partition, offset, timestamp_ms, payload,
                         self.messages))
        else:
            self._file(screened, validator, topic, partition, offset, timestamp_ms, payload,
                       self.messages)
        self.messages += 1

    def _file(self, result: dict[str, Any] | Rejection, validator: Validator, topic: str,
              partition: int, offset: int, timestamp_ms: int | None, payload: bytes | None,
              sequence: int) -> None:
        """File an answer of the exact path: a row dict or a dead letter."""
        if type(result) is Rejection:
            kafka_time = None if timestamp_ms is None or timestamp_ms < 0 else timestamp_ms * 1000
            self._dead.append((
                payload if payload is not None else b"", result.reason,
                result.source or validator.default_source, topic, partition, offset,
                kafka_time, time.time_ns() // 1000))
            self._dead_order.append(sequence)
            return
        result["kafka_topic"] = topic
        result["kafka_partition"] = partition
        result["kafka_offset"] = offset
        source = result["source"]
        if source not in self._rows:
            self._rows[source], self._row_order[source] = [], []
        self._rows[source].append(result)
        self._row_order[source].append(sequence)

    def _settle(self) -> None:
        """Run the pending column checks: each shape's rows become checked Arrow columns, and
        the rows they flag go through the exact path."""
        if not self._shaped:
            return
        dead_before = len(self._dead)
        for shape, rows in self._shaped.items():
            transposed = list(zip(*rows, strict=True))
            width = len(transposed) - len(_ROW_TAIL)
            topics, partitions, offsets, stamps, payloads, sequences = transposed[width:]
            arrays, broken = shape.arrays(transposed[:width])
            arrays["source"] = pa.repeat(pa.scalar(shape.source, pa.string()), len(rows))
            arrays["kafka_topic"] = pa.array(topics, pa.string())
            arrays["kafka_partition"] = pa.array(partitions, pa.int32())
            arrays["kafka_offset"] = pa.array(offsets, pa.int64())
            order = np.asarray(sequences)
            if broken.any():
                keep = ~broken
                arrays = {name: array.filter(keep) for name, array in arrays.items()}
                order = order[keep]
                for i in np.flatnonzero(broken).tolist():
                    validator = self.topic_validators.get(topics[i], self.validator)
                    self._file(validator.validate(payloads[i]), validator, topics[i],
                               partitions[i], offsets[i], stamps[i], payloads[i], sequences[i])
            self._columns.append((shape.source, arrays, order))
        self._shaped = {}
        if len(self._dead) > dead_before:
            by_arrival = np.argsort(self._dead_order, kind="stable").tolist()
            self._dead = [self._dead[i] for i in by_arrival]
            self._dead_order = [self._dead_order[i] for i in by_arrival]

    def events_table(self) -> pa.Table:
        """Accepted events in the exact ``events`` layout (columns a source lacks are null),
        grouped by source, in the order they were added within a source."""
        self._settle()
        schema = events_arrow_schema()
        parts: dict[str, list[tuple[dict[str, pa.Array], np.ndarray]]] = {}
        for source, arrays, order in self._columns:
            if len(order):
                parts.setdefault(source, []).append((arrays, order))
        for source, rows in self._rows.items():
            converted = pa.Table.from_struct_array(pa.array(rows, type=_source_struct(source)))
            arrays = dict(zip(converted.column_names, converted.columns, strict=True))
            parts.setdefault(source, []).append((arrays, np.asarray(self._row_order[source])))
        tables = []
        # sources in the order of their first event
        for source_parts in sorted(parts.values(), key=lambda ps: min(o[0] for _, o in ps)):
            pieces = [pa.Table.from_arrays(
                [arrays[f.name] if f.name in arrays else pa.nulls(len(order), f.type)
                 for f in schema], schema=schema) for arrays, order in source_parts]
            if len(pieces) == 1:
                tables.append(pieces[0])
            else:
                order = np.concatenate([order for _, order in source_parts])
                tables.append(pa.concat_tables(pieces).take(np.argsort(order, kind="stable")))
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
