"""The source schemas and the column layout derived from them."""

import json

import jsonschema
import pyarrow as pa
import pytest

from logguard.errors import ConfigError, InputError
from logguard.events.schema import (
    EVENT_TIME_COLUMN,
    available_sources,
    load_schema,
    parse_schema,
    schema_dir,
    store_columns,
)

SOURCES = ["alert", "auth", "insider", "network", "process"]


def test_every_issue_source_has_a_schema():
    assert available_sources() == SOURCES


@pytest.mark.parametrize("source", SOURCES)
def test_schema_files_are_valid_json_schema(source):
    raw = json.loads((schema_dir() / f"{source}.schema.json").read_text())
    jsonschema.Draft202012Validator.check_schema(raw)
    assert raw["x-logguard-source"] == source


@pytest.mark.parametrize("source", SOURCES)
def test_each_source_marks_entities_and_one_required_time(source):
    schema = load_schema(source)
    assert schema.time_field.required
    assert len(schema.entity_columns) >= 4
    layout = schema.arrow_schema()
    assert layout.names[0] == EVENT_TIME_COLUMN
    assert layout.field(EVENT_TIME_COLUMN).type == pa.timestamp("us", tz="UTC")


def test_process_schema_has_the_fields_the_issue_names():
    fields = {f.name for f in load_schema("process").fields}
    assert {"host", "user", "image", "parent_image", "command_line", "process_id", "process_guid",
            "action", "object_type", "object_name"} <= fields
    assert load_schema("process").field("parent_image").entity_type == "image"


def test_entity_values_with_control_characters_are_rejected_by_the_schema():
    raw = json.loads((schema_dir() / "alert.schema.json").read_text())
    event = {"time": 1642213952, "name": "scan", "host": "web"}
    jsonschema.validate(event, raw)
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate({**event, "host": "web\x1b[31m"}, raw)
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate({**event, "host": "x" * 10_000}, raw)


def test_store_layout_is_the_union_with_kafka_coordinates_last():
    names = [name for name, _ in store_columns()]
    assert names[:2] == ["source", EVENT_TIME_COLUMN]
    assert names[-4:] == ["extra", "kafka_topic", "kafka_partition", "kafka_offset"]
    assert len(names) == len(set(names))
    for source in SOURCES:
        assert {f.name for f in load_schema(source).fields if not f.is_event_time} <= set(names)


def test_unknown_source_lists_the_known_ones():
    with pytest.raises(InputError, match=r"unknown source 'dns'.*process"):
        load_schema("dns")
    with pytest.raises(InputError, match="unknown source"):
        load_schema("../etc/passwd")


def test_schema_without_event_time_is_refused():
    raw = {"x-logguard-source": "x", "required": ["a"],
           "properties": {"a": {"type": "string", "x-entity": "a"}}}
    with pytest.raises(ConfigError, match="x-event-time"):
        parse_schema(raw)
