"""The compiled message validator: every reject reason, the normalisation, and agreement
with the reference ``jsonschema`` implementation on generated messages."""

from __future__ import annotations

from datetime import UTC, datetime

import jsonschema
import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from logguard.errors import InputError
from logguard.events.schema import load_schema
from logguard.events.validate import Rejection, Validator

BASE = {"time": "2026-11-23T10:00:00Z", "host": "ws-1", "image": "C:\\a.exe",
        "action": "process_start"}


def message(**changes: object) -> bytes:
    event = dict(BASE)
    event.update(changes)
    return orjson.dumps({k: v for k, v in event.items() if v is not None})


@pytest.fixture(scope="module")
def validator() -> Validator:
    return Validator("process", max_message_bytes=32 * 1024)


def reason(validator: Validator, payload: bytes) -> str:
    result = validator.validate(payload)
    assert isinstance(result, Rejection), result
    return result.reason


def test_accepted_event_is_normalised(validator):
    row = validator.validate(message(time="2026-11-23T11:00:00.250+01:00", process_id=4.0,
                                     user="CORP\\bob", note={"k": [1, 2]}, seq=7))
    assert not isinstance(row, Rejection)
    expected_us = int(datetime(2026, 11, 23, 10, 0, 0, 250_000, tzinfo=UTC).timestamp()
                      * 1_000_000)
    assert row["event_time"] == expected_us
    assert row["source"] == "process"
    assert row["process_id"] == 4 and type(row["process_id"]) is int
    assert row["user"] == "CORP\\bob"
    assert orjson.loads(row["extra"]) == {"note": {"k": [1, 2]}, "seq": 7}
    assert "time" not in row and "note" not in row


def test_naive_times_are_utc_and_epoch_seconds_are_accepted(validator):
    naive = validator.validate(message(time="2026-11-23T10:00:00"))
    epoch = validator.validate(message(time=1795428000.5))
    assert naive["event_time"] == 1795428000 * 1_000_000
    assert epoch["event_time"] == 1795428000 * 1_000_000 + 500_000
    assert naive["extra"] is None


def test_values_are_kept_verbatim(validator):
    hostile = "'; DROP TABLE events; -- $(rm -rf /) {{7*7}} \u202e"
    row = validator.validate(message(command_line=hostile, object_name="ünïcødé"))
    assert row["command_line"] == hostile
    assert row["object_name"] == "ünïcødé"


@pytest.mark.parametrize(("payload", "phrase"), [
    (b'{"host": "\xff"}', "not UTF-8: invalid byte at position 10"),
    (b'{"host": ', "not JSON"),
    (b"", "not JSON"),
    (b'"just a string"', "JSON is not an object (got string)"),
    (b"[1, 2]", "JSON is not an object (got array)"),
    (message(source="martian"), "unknown source 'martian' in field 'source'"),
    (message(source=3), "unknown source 'integer' in field 'source'"),
    (message(image=None), "required field 'image' is missing"),
    (message(time=None), "required field 'time' is missing"),
    (message(user=42), "field 'user': expected string, got integer"),
    (message(user=None, host=["a"]), "field 'host': expected string, got array"),
    (message(process_id="12"), "field 'process_id': expected integer, got string"),
    (message(process_id=1.5), "field 'process_id': expected integer, got number"),
    (message(process_id=True), "field 'process_id': expected integer, got boolean"),
    (message(action="explode"), "field 'action': 'explode' is not one of process_start"),
    (message(time="next tuesday"), "field 'time': event time 'next tuesday' does not parse"),
    (message(time=True), "field 'time': event time does not parse: expected string or number"),
    (message(time=1e300), "field 'time': event time 1e+300 does not parse"),
    (message(command_line="a\nb"), "field 'command_line': control character U+000A at position 1"),
    (message(host="ws\x7f"), "field 'host': control character U+007F at position 2"),
    (message(object_name="x" * 10_000),
     "field 'object_name': value too long (10000 characters, at most 9999)"),
    (message(padding="x" * 40_000), "over the size limit of 32768 bytes"),
])
def test_every_reject_reason_names_the_problem(validator, payload, phrase):
    assert phrase in reason(validator, payload)


def test_size_limit_is_configurable():
    small = Validator("process", max_message_bytes=100)
    assert "message size 120 bytes is over the size limit of 100 bytes" in reason(
        small, message(padding="x" * (120 - len(message(padding="")))))


def test_null_payload_is_rejected(validator):
    assert "not JSON" in reason(validator, None)


def test_a_message_may_name_another_source(validator):
    row = validator.validate(orjson.dumps({"source": "auth", "time": 0, "src_user": "a",
                                           "dst_user": "b", "src_computer": "c",
                                           "dst_computer": "d"}))
    assert row["source"] == "auth" and row["event_time"] == 0
    assert "field 'dst_port': -1 is outside [0, 65535]" in reason(validator, orjson.dumps(
        {"source": "network", "time": 0, "src_ip": "a", "dst_ip": "b", "dst_port": -1,
         "protocol": "tcp"}))


def test_entity_of_9999_characters_is_accepted(validator):
    row = validator.validate(message(object_name="x" * 9999))
    assert len(row["object_name"]) == 9999


def test_bad_settings_are_refused():
    with pytest.raises(InputError, match="unknown source 'nope'"):
        Validator("nope")
    with pytest.raises(InputError, match="size limit must be positive"):
        Validator("process", max_message_bytes=0)


_text = st.one_of(st.text(max_size=12), st.sampled_from(["process_start", "file", "other"]))
_value = st.one_of(_text, st.integers(-5, 70_000), st.floats(allow_nan=False, allow_infinity=False),
                   st.booleans(), st.none(), st.lists(st.integers(-9, 9), max_size=2))
_process_fields = [f.name for f in load_schema("process").fields]


@settings(max_examples=400, deadline=None)
@given(st.dictionaries(st.sampled_from([*_process_fields, "zz"]), _value, max_size=8),
       st.booleans())
def test_validator_agrees_with_jsonschema(fields, complete):
    """Accept exactly what the JSON Schema accepts (event-time parsing and integers beyond the
    store's 64 bits aside)."""
    event = dict(BASE) if complete else {}
    event.update(fields)
    schema = load_schema("process").raw
    reference_ok = jsonschema.Draft202012Validator(schema).is_valid(event)
    result = Validator("process").validate(orjson.dumps(event))
    ours_ok = not isinstance(result, Rejection)
    if reference_ok and not ours_ok:
        # a schema-valid but unparseable time, or an integer no BIGINT column can hold
        assert "event time" in result.reason or "64-bit" in result.reason, result.reason
    else:
        assert ours_ok == reference_ok, (event, result)
