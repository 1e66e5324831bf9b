"""Operational metrics of the daemon, rendered in the Prometheus text exposition format 0.0.4.

:class:`Metrics` is a small thread-safe registry of the daemon's fixed metric families
(:data:`FAMILIES`): counters, gauges and histograms with fixed buckets, each with its label
names. The ingest, scoring and publisher threads update it; :meth:`Metrics.render` writes the
text a Prometheus server scrapes (the web server mounts it at ``/metrics``):

* ``# HELP`` and ``# TYPE`` lines per family (help text escapes ``\\`` and newline);
* one sample line per label set, ``name{label="value",...} number``, label values escaping
  ``\\``, ``"`` and newline; numbers as Go's ``ParseFloat`` reads them (``+Inf``, ``NaN``);
* a histogram as cumulative ``name_bucket{...,le="<bound>"}`` lines ending with
  ``le="+Inf"``, then ``name_sum`` and ``name_count``.
"""

from __future__ import annotations

import bisect
import math
import threading
from collections.abc import Iterable
from dataclasses import dataclass, field

LATENCY_BUCKETS_S = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
ALERT_LATENCY_BUCKETS_S = (0.1, 0.25, 0.5, 1.0, 2.0, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0)


@dataclass(frozen=True)
class Family:
    """One metric family: its name, type, help text, label names and histogram buckets."""

    name: str
    kind: str  # counter | gauge | histogram
    help: str
    labels: tuple[str, ...] = ()
    buckets: tuple[float, ...] = ()


FAMILIES: tuple[Family, ...] = (
    Family("logguard_events_total", "counter", "Events stored, by source.", ("source",)),
    Family("logguard_dead_letters_total", "counter",
           "Messages rejected to dead letters, by source.", ("source",)),
    Family("logguard_alerts_total", "counter", "Alerts raised, by source and model.",
           ("source", "model")),
    Family("logguard_alert_repeats_total", "counter",
           "Alerts that repeated an open alert group and were counted on its first alert.", ()),
    Family("logguard_consumer_lag", "gauge",
           "Messages between the committed offset and the high watermark.",
           ("topic", "partition")),
    Family("logguard_batch_seconds", "histogram",
           "Time to ingest, store and score one micro-batch.", (), LATENCY_BUCKETS_S),
    Family("logguard_event_to_alert_seconds", "histogram",
           "Time from an event's arrival on Kafka to its alert in the outbox.", (),
           ALERT_LATENCY_BUCKETS_S),
    Family("logguard_outbox_pending", "gauge",
           "Outbox messages not yet acknowledged, by sink.", ("sink",)),
    Family("logguard_sink_failures_total", "counter",
           "Sink deliveries that acknowledged nothing, by sink.", ("sink",)),
    Family("logguard_model_info", "gauge",
           "The active model of each source (value 1).", ("source", "model", "version")),
)


@dataclass
class _Histogram:
    counts: list[int]
    total: float = 0.0
    count: int = 0


@dataclass
class _Series:
    family: Family
    values: dict[tuple[str, ...], float | _Histogram] = field(default_factory=dict)


def format_value(value: float) -> str:
    """A sample value as the exposition format writes it."""
    if math.isnan(value):
        return "NaN"
    if math.isinf(value):
        return "+Inf" if value > 0 else "-Inf"
    if float(value).is_integer() and abs(value) < 1e15:
        return str(int(value))
    return repr(float(value))


def escape_label_value(value: str) -> str:
    """``\\`` -> ``\\\\``, ``"`` -> ``\\"``, newline -> ``\\n``."""
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


def _escape_help(text: str) -> str:
    return text.replace("\\", "\\\\").replace("\n", "\\n")


def _label_text(names: Iterable[str], values: Iterable[str]) -> str:
    pairs = [f'{n}="{escape_label_value(v)}"' for n, v in zip(names, values, strict=True)]
    return "{" + ",".join(pairs) + "}" if pairs else ""


class Metrics:
    """The daemon's metric registry (thread-safe; every method takes one lock)."""

    def __init__(self, families: Iterable[Family] = FAMILIES) -> None:
        self._series = {f.name: _Series(f) for f in families}
        self._lock = threading.Lock()

    def _key(self, name: str, labels: dict[str, object], kind: str) -> tuple[_Series, tuple]:
        series = self._series.get(name)
        if series is None:
            raise KeyError(f"unknown metric {name!r}; known: {', '.join(self._series)}")
        if series.family.kind != kind:
            raise TypeError(f"metric {name!r} is a {series.family.kind}, not a {kind}")
        if set(labels) != set(series.family.labels):
            raise ValueError(f"metric {name!r} takes labels {list(series.family.labels)}, "
                             f"got {sorted(labels)}")
        return series, tuple(str(labels[n]) for n in series.family.labels)

    def inc(self, name: str, amount: float = 1.0, **labels: object) -> None:
        """Add ``amount`` (>= 0) to a counter."""
        if amount < 0:
            raise ValueError(f"counter {name!r} cannot decrease (amount {amount})")
        with self._lock:
            series, key = self._key(name, labels, "counter")
            series.values[key] = float(series.values.get(key, 0.0)) + amount

    def set(self, name: str, value: float, **labels: object) -> None:
        """Set a gauge."""
        with self._lock:
            series, key = self._key(name, labels, "gauge")
            series.values[key] = float(value)

    def observe(self, name: str, value: float, **labels: object) -> None:
        """Record one observation in a histogram."""
        with self._lock:
            series, key = self._key(name, labels, "histogram")
            hist = series.values.get(key)
            if not isinstance(hist, _Histogram):
                hist = series.values[key] = _Histogram([0] * len(series.family.buckets))
            index = bisect.bisect_left(series.family.buckets, value)
            if index < len(hist.counts):
                hist.counts[index] += 1
            hist.total += value
            hist.count += 1

    def model_loaded(self, source: str, model: str, version: str) -> None:
        """Mark ``version`` the active one of slot ``source/model`` in ``logguard_model_info``
        (the series of the slot's previous version is removed; other slots keep theirs)."""
        with self._lock:
            series = self._series["logguard_model_info"]
            for key in [k for k in series.values if k[:2] == (source, model)]:
                del series.values[key]
            series.values[(source, model, version)] = 1.0

    def value(self, name: str, **labels: object) -> float:
        """Current value of a counter or gauge series (0 when never set)."""
        with self._lock:
            series = self._series[name]
            _, key = self._key(name, labels, series.family.kind)
            current = series.values.get(key, 0.0)
            if isinstance(current, _Histogram):
                raise TypeError(f"metric {name!r} is a histogram")
            return current

    def render(self) -> str:
        """Every family in the text exposition format 0.0.4 (``text/plain; version=0.0.4``)."""
        lines: list[str] = []
        with self._lock:
            for series in self._series.values():
                family = series.family
                lines.append(f"# HELP {family.name} {_escape_help(family.help)}")
                lines.append(f"# TYPE {family.name} {family.kind}")
                for key in sorted(series.values):
                    value = series.values[key]
                    if isinstance(value, _Histogram):
                        lines += _histogram_lines(family, key, value)
                    else:
                        labels = _label_text(family.labels, key)
                        lines.append(f"{family.name}{labels} {format_value(value)}")
        return "\n".join(lines) + "\n"


def _histogram_lines(family: Family, key: tuple[str, ...], hist: _Histogram) -> list[str]:
    lines = []
    cumulative = 0
    bounds = [*(repr(float(b)) for b in family.buckets), "+Inf"]
    counts = [*hist.counts, hist.count - sum(hist.counts)]
    for bound, count in zip(bounds, counts, strict=True):
        cumulative += count
        labels = _label_text((*family.labels, "le"), (*key, bound))
        lines.append(f"{family.name}_bucket{labels} {cumulative}")
    labels = _label_text(family.labels, key)
    lines.append(f"{family.name}_sum{labels} {format_value(hist.total)}")
    lines.append(f"{family.name}_count{labels} {hist.count}")
    return lines
