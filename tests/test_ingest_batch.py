"""The micro-batch fast path (shapes, column checks) against the exact per-message path.

A batch must store exactly the rows, and refuse exactly the messages with exactly the
reasons, that :meth:`Validator.validate` gives message by message; the reference rows are
converted with ``pa.Table.from_pylist``, independently of the batch's column building.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import orjson
import pyarrow as pa
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from logguard.events.schema import load_schema
from logguard.events.validate import MAX_SHAPES, Rejection, Validator
from logguard.ingest.batch import MicroBatch
from logguard.store.duckdb_store import events_arrow_schema

TOPIC = "logguard.test"
VALIDATOR = Validator("process")


def event(i: int, **changes: Any) -> dict[str, Any]:
    base = {"time": 1_795_400_000 + i * 0.001, "host": f"ws-{i % 7}", "user": f"CORP\\u{i % 5}",
            "process_id": 1000 + i, "image": "C:\\Windows\\cmd.exe", "action": "process_start",
            "object_type": "file", "object_name": f"C:\\Users\\doc{i}.txt"}
    base.update(changes)
    return {k: v for k, v in base.items() if v is not None}


def batch_of(payloads: list[bytes], validator: Validator = VALIDATOR) -> MicroBatch:
    batch = MicroBatch(validator)
    for offset, payload in enumerate(payloads):
        batch.add(TOPIC, offset % 3, offset, 1_795_400_000_000 + offset, payload)
    return batch


def reference(payloads: list[bytes], validator: Validator = VALIDATOR
              ) -> tuple[pa.Table, list[tuple[str, str, int]]]:
    """What the exact path stores: the events table and (reason, source, offset) per refusal."""
    rows, refused = [], []
    for offset, payload in enumerate(payloads):
        result = validator.validate(payload)
        if isinstance(result, Rejection):
            refused.append((result.reason, result.source or validator.default_source, offset))
        else:
            rows.append({**result, "kafka_topic": TOPIC, "kafka_partition": offset % 3,
                         "kafka_offset": offset})
    first_seen = {}
    for row in rows:
        first_seen.setdefault(row["source"], len(first_seen))
    rows.sort(key=lambda row: first_seen[row["source"]])  # stable: arrival order per source
    return pa.Table.from_pylist(rows, schema=events_arrow_schema()), refused


def assert_same_as_exact_path(payloads: list[bytes]) -> MicroBatch:
    batch = batch_of(payloads)
    expected_events, expected_refused = reference(payloads)
    events = batch.events_table()
    assert events.schema == events_arrow_schema()
    assert events.equals(expected_events), (events.to_pylist(), expected_events.to_pylist())
    assert [(r[1], r[2], r[5]) for r in batch.dead_letter_rows] == expected_refused
    assert [r[0] for r in batch.dead_letter_rows] == [payloads[o] for *_, o in expected_refused]
    assert batch.events == events.num_rows
    assert batch.messages == len(payloads)
    return batch


# ---------------------------------------------------------------- generated messages
_SPECS = {source: load_schema(source) for source in ("process", "auth", "network")}
_text = st.text(st.characters(codec="utf-8"), max_size=12)  # control characters included
_clean_text = st.text(st.characters(codec="utf-8", exclude_categories=("Cc",)), max_size=12)
_times = st.one_of(
    st.floats(-1e11, 1e11, allow_nan=False), st.integers(-10**11, 10**11),
    st.floats(allow_nan=False, allow_infinity=False),  # mostly out of range
    st.datetimes(min_value=datetime(1, 1, 2), max_value=datetime(9999, 12, 30),
                 timezones=st.sampled_from([None, UTC, timezone(timedelta(hours=-5))])
                 ).map(datetime.isoformat),
    st.sampled_from(["2026-11-23", "2026-11-23T10:00:00.5+01:00", "next tuesday", "", True]))
_json = st.recursive(st.none() | st.booleans() | st.integers(-2**63, 2**64 - 1)
                     | st.floats(allow_nan=False,
                     allow_infinity=False) | _text,
                     lambda inner: st.lists(inner, max_size=2)
                     | st.dictionaries(_text, inner, max_size=2), max_leaves=4)


@st.composite
def _value(draw: st.DrawFn, spec: Any) -> Any:
    """Mostly a value of the field's type near the edges of its rules; now and then a wrong
    type, a string with a control character, or one over maxLength."""
    if spec.is_event_time:
        return draw(_times)
    odd = draw(st.integers(0, 24))
    if odd == 0:
        return draw(st.sampled_from([None, True, 3.0, 2.5, "7", 7, [1]]))
    if spec.json_types == ("string",):
        if odd == 1:
            return draw(_text)
        if odd == 2:
            return "x" * draw(st.sampled_from([9_999, 10_000]))
        return draw(st.sampled_from(spec.enum) if spec.enum is not None else _clean_text)
    if spec.json_types == ("integer",):
        if odd == 1:
            return draw(st.integers(2**63, 2**64 - 1))
        return draw(st.one_of(st.integers(-5, 70_000), st.integers(-2**63, 2**63 - 1)))
    return draw(st.one_of(st.floats(-10, 1e12), st.integers(-9, 9)))


@st.composite
def messages(draw: st.DrawFn) -> bytes:
    source = draw(st.sampled_from(sorted(_SPECS)))
    fields = _SPECS[source].fields
    chosen = [f for f in fields if f.required and draw(st.integers(0, 30)) > 0]
    chosen += [f for f in fields if not f.required and draw(st.booleans())]
    obj = {f.name: draw(_value(f)) for f in draw(st.permutations(chosen))}
    if source != "process" or draw(st.integers(0, 5)) == 0:
        obj["source"] = source
    obj.update(draw(st.dictionaries(st.sampled_from(["seq", "note", "event_time", "extra"]),
                                    _json, max_size=2)))
    return orjson.dumps(obj)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(messages(), min_size=1, max_size=25))
def test_batch_stores_and_refuses_exactly_what_the_exact_path_does(payloads):
    assert_same_as_exact_path(payloads)


@settings(max_examples=100, deadline=None)
@given(st.lists(st.integers(0, 10**6), min_size=1, max_size=40), st.data())
def test_valid_events_give_identical_rows_on_both_paths(numbers, data):
    """Random valid events, repeating a few shapes (as a real stream does)."""
    payloads = []
    for i in numbers:
        changes = data.draw(st.fixed_dictionaries({}, optional={
            "time": st.sampled_from([f"2026-11-23T10:{i % 60:02d}:00Z", i, i + 0.25,
                                     1_795_400_000 + i / 3, -i / 7]),  # µs to round
            "command_line": _clean_text, "event_code": st.integers(-2**63, 2**63 - 1),
            "note": _json}))
        payloads.append(orjson.dumps(event(i, **changes)))
    batch = assert_same_as_exact_path(payloads)
    assert batch.events == len(payloads)


# ---------------------------------------------------------------- specific behaviour
def test_a_bad_value_among_well_formed_messages_gets_its_exact_reason():
    payloads = [orjson.dumps(event(i)) for i in range(50)]
    payloads[7] = orjson.dumps(event(7, host="ws\x01"))
    payloads[20] = orjson.dumps(event(20, object_name="x" * 10_000))
    payloads[33] = orjson.dumps(event(33, action="explode"))
    payloads[41] = orjson.dumps(event(41, time=1e300))
    batch = assert_same_as_exact_path(payloads)
    reasons = {r[5]: r[1] for r in batch.dead_letter_rows}
    assert reasons == {
        7: "field 'host': control character U+0001 at position 2",
        20: "field 'object_name': value too long (10000 characters, at most 9999)",
        33: "field 'action': 'explode' is not one of " + ", ".join(
            load_schema("process").field("action").enum),
        41: "field 'time': event time 1e+300 does not parse (Unix seconds out of range)"}
    offsets = batch.events_table().column("kafka_offset").to_pylist()
    assert offsets == [o for o in range(50) if o not in reasons]


def test_out_of_range_numbers_among_well_formed_messages_are_refused():
    def flow(**changes: Any) -> bytes:
        return orjson.dumps({"source": "network", "time": 0, "src_ip": "a", "dst_ip": "b",
                             "dst_port": 443, "protocol": "tcp", "bytes": 10, **changes})

    payloads = [flow(), flow(dst_port=-1), flow(dst_port=65_536), flow(bytes=-1), flow()]
    batch = assert_same_as_exact_path(payloads)
    assert [r[1] for r in batch.dead_letter_rows] == [
        "field 'dst_port': -1 is outside [0, 65535]",
        "field 'dst_port': 65536 is outside [0, 65535]", "field 'bytes': -1 is outside [0, None]"]


def test_an_integer_beyond_64_bits_is_refused_not_a_failed_batch():
    payloads = [orjson.dumps(event(0)), orjson.dumps(event(1, process_id=2**63)),
                orjson.dumps(event(2, process_id=2**64 - 1)), orjson.dumps(event(3))]
    batch = assert_same_as_exact_path(payloads)
    assert [r[1] for r in batch.dead_letter_rows] == [
        f"field 'process_id': {2**63} does not fit a 64-bit integer",
        f"field 'process_id': {2**64 - 1} does not fit a 64-bit integer"]
    assert batch.events_table().column("kafka_offset").to_pylist() == [0, 3]


def test_events_of_several_shapes_and_the_exact_path_keep_their_order():
    payloads = [
        orjson.dumps(event(0)),
        orjson.dumps({"source": "auth", "time": 5, "src_user": "a", "dst_user": "b",
                      "src_computer": "c", "dst_computer": "d"}),
        orjson.dumps(event(1, process_id=4.0)),  # coerced: the exact path
        orjson.dumps(dict(reversed(event(2).items()))),  # another shape
        b"not json",
        orjson.dumps(event(3, note=[1, 2])),  # undeclared property: kept in extra
        orjson.dumps(event(4)),
    ]
    batch = assert_same_as_exact_path(payloads)
    events = batch.events_table()
    assert events.column("source").to_pylist() == ["process"] * 5 + ["auth"]
    assert events.column("kafka_offset").to_pylist() == [0, 2, 3, 5, 6, 1]
    assert events.column("extra").to_pylist()[3] == '{"note":[1,2]}'


def test_the_shape_memory_is_bounded():
    validator = Validator("process")
    payloads = [orjson.dumps(event(i, **{f"extra_{i}": i})) for i in range(MAX_SHAPES + 50)]
    batch = batch_of(payloads, validator)
    assert batch.events == len(payloads)
    assert len(validator._shapes) == MAX_SHAPES
    expected, _ = reference(payloads, validator)
    assert batch.events_table().equals(expected)
