"""The metrics registry and its Prometheus text exposition (0.0.4), read back by a parser here."""

from __future__ import annotations

import math
import re
import threading

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from logguard.daemon.metrics import (
    ALERT_LATENCY_BUCKETS_S,
    FAMILIES,
    LATENCY_BUCKETS_S,
    Metrics,
)

_SAMPLE = re.compile(r'^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{(.*)\})? (\S+)$')
_LABEL = re.compile(r'([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"(,|$)')


def _unescape(value: str) -> str:
    return re.sub(r"\\(.)", lambda m: "\n" if m.group(1) == "n" else m.group(1), value)


def parse_exposition(text: str) -> tuple[dict[str, tuple[str, str]],
                                         list[tuple[str, dict[str, str], float]]]:
    """({family: (type, help)}, [(sample name, labels, value)]); fails on any malformed line."""
    assert text.endswith("\n")
    families: dict[str, list[str]] = {}
    samples = []
    for line in text.split("\n")[:-1]:  # the format splits on LF only
        if line.startswith("# HELP "):
            name, _, help_text = line[7:].partition(" ")
            families.setdefault(name, ["", ""])[1] = _unescape(help_text)
        elif line.startswith("# TYPE "):
            name, _, kind = line[7:].partition(" ")
            assert kind in ("counter", "gauge", "histogram"), line
            families.setdefault(name, ["", ""])[0] = kind
        else:
            match = _SAMPLE.match(line)
            assert match, f"malformed sample line {line!r}"
            labels: dict[str, str] = {}
            body = match.group(3) or ""
            position = 0
            while position < len(body):
                label = _LABEL.match(body, position)
                assert label, f"malformed labels in {line!r}"
                labels[label.group(1)] = _unescape(label.group(2))
                position = label.end()
            samples.append((match.group(1), labels, float(match.group(4))))
    return {k: (v[0], v[1]) for k, v in families.items()}, samples


def test_every_family_has_help_and_type_even_before_any_sample() -> None:
    families, samples = parse_exposition(Metrics().render())
    assert samples == []
    assert {name: kind for name, (kind, _) in families.items()} == {
        "logguard_events_total": "counter", "logguard_dead_letters_total": "counter",
        "logguard_alerts_total": "counter", "logguard_alert_repeats_total": "counter",
        "logguard_consumer_lag": "gauge",
        "logguard_batch_seconds": "histogram", "logguard_event_to_alert_seconds": "histogram",
        "logguard_outbox_pending": "gauge", "logguard_sink_failures_total": "counter",
        "logguard_model_info": "gauge"}
    assert all(help_text for _, help_text in families.values())


def test_counters_gauges_and_model_info() -> None:
    metrics = Metrics()
    metrics.inc("logguard_events_total", 10_000, source="process")
    metrics.inc("logguard_events_total", 2_500, source="process")
    metrics.inc("logguard_events_total", source="auth")
    metrics.inc("logguard_alerts_total", 3, source="process", model="ape")
    metrics.set("logguard_consumer_lag", 1234, topic="events.process", partition=2)
    metrics.set("logguard_consumer_lag", 17, topic="events.process", partition=2)
    metrics.set("logguard_outbox_pending", 0.5, sink="webhook")
    metrics.model_loaded("process", "ape", "v1")
    metrics.model_loaded("process", "ape", "v2")
    metrics.model_loaded("auth", "ape", "v7")
    metrics.model_loaded("process", "gid", "g1")  # a second slot of one source keeps both
    _, samples = parse_exposition(metrics.render())
    assert samples == [
        ("logguard_events_total", {"source": "auth"}, 1.0),
        ("logguard_events_total", {"source": "process"}, 12_500.0),
        ("logguard_alerts_total", {"source": "process", "model": "ape"}, 3.0),
        ("logguard_consumer_lag", {"topic": "events.process", "partition": "2"}, 17.0),
        ("logguard_outbox_pending", {"sink": "webhook"}, 0.5),
        ("logguard_model_info", {"source": "auth", "model": "ape", "version": "v7"}, 1.0),
        ("logguard_model_info", {"source": "process", "model": "ape", "version": "v2"}, 1.0),
        ("logguard_model_info", {"source": "process", "model": "gid", "version": "g1"}, 1.0),
    ]
    assert metrics.value("logguard_events_total", source="process") == 12_500
    assert metrics.value("logguard_sink_failures_total", sink="kafka") == 0


def test_histogram_buckets_are_cumulative_with_sum_and_count() -> None:
    metrics = Metrics()
    observations = [0.004, 0.005, 0.02, 0.3, 0.3, 7.0, 42.0]
    for value in observations:
        metrics.observe("logguard_batch_seconds", value)
    metrics.observe("logguard_event_to_alert_seconds", 1.5)
    _, samples = parse_exposition(metrics.render())
    buckets = [(s[1]["le"], s[2]) for s in samples if s[0] == "logguard_batch_seconds_bucket"]
    assert [float(le) for le, _ in buckets] == [*LATENCY_BUCKETS_S, math.inf]
    assert [count for _, count in buckets] == [
        sum(v <= bound for v in observations) for bound in [*LATENCY_BUCKETS_S, math.inf]]
    assert buckets[1] == ("0.01", 2.0) and buckets[-1] == ("+Inf", 7.0)
    totals = {s[0]: s[2] for s in samples if not s[0].endswith("_bucket")}
    assert totals["logguard_batch_seconds_sum"] == pytest.approx(sum(observations))
    assert totals["logguard_batch_seconds_count"] == 7
    alert_buckets = [s for s in samples if s[0] == "logguard_event_to_alert_seconds_bucket"]
    assert len(alert_buckets) == len(ALERT_LATENCY_BUCKETS_S) + 1
    assert [s[2] for s in alert_buckets][3:5] == [0.0, 1.0]  # le=1.0: 0, le=2.0: 1


@settings(max_examples=100, deadline=None)
@given(st.lists(st.text(st.characters(codec="utf-8"), max_size=20), min_size=1, max_size=5,
                unique=True))
def test_label_values_round_trip_through_escaping(sources: list[str]) -> None:
    metrics = Metrics()
    for i, source in enumerate(sources):
        metrics.inc("logguard_dead_letters_total", i + 1, source=source)
    _, samples = parse_exposition(metrics.render())
    assert {s[1]["source"]: s[2] for s in samples} == {
        source: float(i + 1) for i, source in enumerate(sources)}


def test_concurrent_updates_are_not_lost() -> None:
    metrics = Metrics()

    def work() -> None:
        for _ in range(5_000):
            metrics.inc("logguard_events_total", source="process")
            metrics.observe("logguard_batch_seconds", 0.01)

    threads = [threading.Thread(target=work) for _ in range(4)]
    for thread in threads:
        thread.start()
    renders = [metrics.render() for _ in range(20)]  # rendering while others write
    for thread in threads:
        thread.join(timeout=30)
    assert metrics.value("logguard_events_total", source="process") == 20_000
    _, samples = parse_exposition(metrics.render())
    assert ("logguard_batch_seconds_count", {}, 20_000.0) in samples
    assert all(parse_exposition(text) for text in renders)


def test_misuse_is_refused() -> None:
    metrics = Metrics()
    with pytest.raises(ValueError, match=r"takes labels \['source'\]"):
        metrics.inc("logguard_events_total", host="ws-1")
    with pytest.raises(ValueError, match="cannot decrease"):
        metrics.inc("logguard_events_total", -1, source="process")
    with pytest.raises(TypeError, match="is a gauge"):
        metrics.inc("logguard_consumer_lag", topic="t", partition=0)
    with pytest.raises(KeyError, match="unknown metric"):
        metrics.set("logguard_nonexistent", 1)
    assert len(FAMILIES) == 10
