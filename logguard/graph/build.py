"""Compact, time-respecting interaction graphs from ``process`` events (GID §3.3).

Nodes are entity *instances*: a process by its GUID (``host|pid|image`` when the GUID is
missing), every other object (file, socket, registry key, module, domain, pipe) by
``(host, kind, name)``. Each event is an edge ``acting process -> object`` whose relation is
the event's ``action``; a process start (``process_start``) is the edge parent -> child, a
``process_access`` / ``remote_thread`` the edge source process -> target process (the Sysmon
reader puts the target's GUID in ``object_guid``). ``process_end`` carries no interaction and
is not an edge.

The graph is *compact*: parallel events with the same ``(u, relation, v)`` in one
``(host, window)`` merge into one edge that keeps the first time and a count. Time windows are
fixed-width buckets of ``window`` seconds. Each edge also remembers the event rows it merged,
so per-event scores can be read back.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from logguard.errors import InputError
from logguard.graph.abstraction import abstract_label

REQUIRED_COLUMNS = ("time", "host", "image", "action", "object_type", "object_name")
# every column build_graph reads (the optional ones are null when absent)
GRAPH_COLUMNS = (*REQUIRED_COLUMNS, "process_guid", "process_id", "command_line", "object_guid",
                 "object_process_id", "object_command_line")
PROCESS_TARGET_ACTIONS = ("process_start", "process_access", "remote_thread")
SKIPPED_ACTIONS = ("process_end",)
_NULL_GUID = "{00000000-0000-0000-0000-000000000000}"


@dataclass
class EventGraph:
    """Compact edges of every ``(host, window)`` and the attributes of their nodes.

    ``edge_*`` arrays are sorted by ``(group, time)``; ``group`` numbers ``(host, window)``
    pairs. ``event_edge`` maps each input row to its compact edge (-1 for rows that are no
    edge). Node attributes: ``node_key`` (instance id), ``node_kind``, ``node_label`` (history
    abstraction), ``node_name`` (image / path / endpoint), ``node_command_line``.
    """

    edge_src: np.ndarray
    edge_dst: np.ndarray
    edge_relation: np.ndarray  # relation names (object array)
    edge_time: np.ndarray  # int64 nanoseconds since the epoch, first occurrence
    edge_count: np.ndarray
    edge_group: np.ndarray
    group_host: np.ndarray  # host name per group
    event_edge: np.ndarray
    node_key: np.ndarray
    node_kind: np.ndarray
    node_label: np.ndarray
    node_name: np.ndarray
    node_command_line: np.ndarray

    @property
    def n_edges(self) -> int:
        return len(self.edge_src)

    @property
    def n_nodes(self) -> int:
        return len(self.node_key)

    def group_slices(self) -> list[slice]:
        """The contiguous edge range of each ``(host, window)`` group."""
        if self.n_edges == 0:
            return []
        starts = np.flatnonzero(np.r_[True, self.edge_group[1:] != self.edge_group[:-1]])
        ends = np.r_[starts[1:], self.n_edges]
        return [slice(int(a), int(b)) for a, b in zip(starts, ends, strict=True)]

    def to_pyg(self):
        """The graph as a ``torch_geometric.data.Data`` (``edge_index``, relation codes, times).

        ``torch_geometric`` is imported here, not at module import (it costs seconds).
        """
        import torch
        from torch_geometric.data import Data

        relations, relation_codes = np.unique(self.edge_relation.astype(str), return_inverse=True)
        data = Data(
            edge_index=torch.from_numpy(np.vstack([self.edge_src, self.edge_dst]).astype(np.int64)),
            edge_type=torch.from_numpy(relation_codes.astype(np.int64)),
            edge_time=torch.from_numpy(self.edge_time.copy()),
            edge_count=torch.from_numpy(self.edge_count.copy()),
            num_nodes=self.n_nodes,
        )
        data.relation_names = list(relations)
        return data


def event_times(events: pd.DataFrame) -> np.ndarray:
    """Event times as int64 nanoseconds since the epoch (UTC); a bad time is an InputError."""
    column = events["time"]
    try:
        if pd.api.types.is_numeric_dtype(column):
            stamps = pd.to_datetime(column.astype("float64"), unit="s", utc=True)
        else:
            stamps = pd.to_datetime(column, utc=True, format="ISO8601")
    except (ValueError, TypeError) as exc:
        raise InputError(f"column 'time' holds a value that is not a time: {exc}") from exc
    if stamps.isna().any():
        row = int(np.flatnonzero(stamps.isna().to_numpy())[0])
        raise InputError(f"column 'time' is missing in row {row}")
    return stamps.dt.tz_localize(None).to_numpy(dtype="datetime64[ns]").view("int64").copy()


def _values(events: pd.DataFrame, name: str, missing: str | None = None) -> np.ndarray:
    """Column ``name`` as an object array, ``missing`` where a value is missing or where the
    column is absent."""
    if name not in events.columns:
        return np.full(len(events), missing, dtype=object)
    return events[name].to_numpy(dtype=object, na_value=missing)


def build_graph(events: pd.DataFrame, window_seconds: float) -> EventGraph:
    """The compact graph of ``events`` (``process`` rows) per ``(host, window)``."""
    missing = [c for c in REQUIRED_COLUMNS if c not in events.columns]
    if missing:
        raise InputError(
            f"process events need column(s) {', '.join(map(repr, missing))}; "
            f"the input has {', '.join(map(repr, events.columns))}"
        )
    events = events.reset_index(drop=True)
    times = event_times(events)
    action = _values(events, "action", missing="other")
    object_type = _values(events, "object_type", missing="other")
    is_edge = ~np.isin(action, SKIPPED_ACTIONS)
    to_process = (object_type == "process") & np.isin(action, PROCESS_TARGET_ACTIONS)
    edge_rows = np.flatnonzero(is_edge)
    n = len(edge_rows)

    def values(name: str, missing: str | None = None) -> np.ndarray:
        return _values(events, name, missing)[edge_rows]

    host = values("host", missing="?")
    if not all(type(h) is str for h in pd.unique(host)):
        host = host.astype(str)
    image, object_name = values("image"), values("object_name")
    src_keys = _process_keys(host, values("process_guid"), values("process_id"), image)
    targets_process = to_process[edge_rows]
    targets_object = ~targets_process
    dst_keys = np.empty(n, dtype=object)
    dst_keys[targets_process] = _process_keys(
        host[targets_process], values("object_guid")[targets_process],
        values("object_process_id")[targets_process], object_name[targets_process])
    dst_keys[targets_object] = _object_keys(host[targets_object],
                                            object_type[edge_rows][targets_object],
                                            object_name[targets_object])
    node_codes, node_keys = pd.factorize(np.concatenate([src_keys, dst_keys]))
    src, dst = node_codes[:n], node_codes[n:]

    # node attributes: processes from the acting rows and from the child side of starts
    n_nodes = len(node_keys)
    node_kind = _first_per_node(node_codes, np.concatenate([
        np.full(n, "process", dtype=object),
        np.where(targets_object, object_type[edge_rows], "process").astype(object)]), n_nodes)
    node_name = _first_per_node(node_codes, np.concatenate([image, object_name]), n_nodes)
    node_cmd = _first_per_node(node_codes, np.concatenate(
        [values("command_line"), values("object_command_line")]), n_nodes)
    node_label = np.array([abstract_label(k, v) for k, v in zip(node_kind, node_name, strict=True)],
                          dtype=object)

    # compact edges per (host, window, src, relation, dst)
    edge_times = times[edge_rows]
    group_codes, group_host = window_groups(host, edge_times, window_seconds)
    relation_codes, relation_names = pd.factorize(action[edge_rows])
    frame = pd.DataFrame({"g": group_codes, "s": src, "r": relation_codes, "d": dst,
                          "t": edge_times, "row": edge_rows})
    compact = frame.groupby(["g", "s", "r", "d"], sort=False).agg(
        t=("t", "min"), count=("t", "size"))
    compact = compact.reset_index().sort_values(["g", "t", "s", "d"], kind="stable")
    compact_id = pd.Series(np.arange(len(compact)), index=pd.MultiIndex.from_frame(
        compact[["g", "s", "r", "d"]]))
    event_edge = np.full(len(events), -1, dtype=np.int64)
    event_edge[edge_rows] = compact_id.reindex(
        pd.MultiIndex.from_frame(frame[["g", "s", "r", "d"]])).to_numpy()
    return EventGraph(
        edge_src=compact["s"].to_numpy(np.int64),
        edge_dst=compact["d"].to_numpy(np.int64),
        edge_relation=np.asarray(relation_names, dtype=object)[compact["r"].to_numpy()],
        edge_time=compact["t"].to_numpy(np.int64),
        edge_count=compact["count"].to_numpy(np.int64),
        edge_group=compact["g"].to_numpy(np.int64),
        group_host=group_host,
        event_edge=event_edge,
        node_key=np.asarray(node_keys, dtype=object),
        node_kind=node_kind,
        node_label=node_label,
        node_name=node_name,
        node_command_line=node_cmd,
    )


def window_groups(host: np.ndarray, times: np.ndarray,
                  window_seconds: float) -> tuple[np.ndarray, np.ndarray]:
    """The ``(host, window)`` group of each row (``times`` in int64 nanoseconds; windows are
    buckets of ``window_seconds`` aligned to the epoch), numbered by host and then by window,
    and the host of each group."""
    window = times // max(int(window_seconds * 1e9), 1)
    host_codes, host_names = pd.factorize(host, sort=True)
    first = window.min() if len(window) else 0
    span = int(window.max() - first) + 1 if len(window) else 1
    codes, keys = pd.factorize(host_codes.astype(np.int64) * span + (window - first), sort=True)
    return codes, np.asarray(host_names, dtype=object)[np.asarray(keys) // span]


def _process_keys(host: np.ndarray, guid: np.ndarray, pid: np.ndarray,
                  image: np.ndarray) -> np.ndarray:
    """``p|guid`` (lower-case) where there is a GUID, else ``p|host|pid|image``.

    Sysmon writes the all-zero GUID for processes it cannot identify; it names no instance.
    A process has many events, so each distinct GUID is formatted once.
    """
    codes, guids = pd.factorize(guid)
    guid_keys = np.array([f"p|{g.lower()}" if type(g) is str and g and g != _NULL_GUID else None
                          for g in guids], dtype=object)
    keys = np.full(len(guid), None, dtype=object)
    has_guid = codes >= 0
    keys[has_guid] = guid_keys[codes[has_guid]]
    for i in np.flatnonzero(pd.isna(keys)).tolist():
        name = image[i]
        keys[i] = f"p|{host[i]}|{pid[i]}|{str(name).lower() if name is not None else '?'}"
    return keys


def _object_keys(host: np.ndarray, kind: np.ndarray, name: np.ndarray) -> np.ndarray:
    """``o|host|kind|name`` per row, each distinct triple formatted once."""
    index: dict[tuple, int] = {}
    codes = np.fromiter((index.setdefault(triple, len(index))
                         for triple in zip(host.tolist(), kind.tolist(), name.tolist(),
                                           strict=True)),
                        dtype=np.int64, count=len(host))
    keys = np.array([f"o|{h}|{t}|{o}" for h, t, o in index], dtype=object)
    return keys[codes] if len(keys) else np.empty(0, dtype=object)


def _first_per_node(node_codes: np.ndarray, values: np.ndarray, n_nodes: int) -> np.ndarray:
    """Per node, its first non-missing value among the rows ``node_codes`` maps to it (None
    when it has none)."""
    out = np.full(n_nodes, None, dtype=object)
    present = np.flatnonzero(pd.notna(values))
    nodes, first = np.unique(node_codes[present], return_index=True)
    out[nodes] = values[present[first]]
    return out
