"""GID: graph-based intrusion detection on process traces (Dong et al., arXiv 1608.02639).

Pipeline (reconstruction in ``reference/methods.md`` §3, checked against NoDoze and
ProvDetector):

1. :func:`logguard.graph.build.build_graph`: a compact, time-respecting interaction graph
   per ``(host, window)`` from ``process`` events;
2. :class:`logguard.graph.transitions.TransitionModel`: history counts over abstracted
   entities, ``M(u->v | rel)`` with a floor for unseen edges, sender/receiver scores by a random
   walk, edge weight ``w(e) = -log(s(u) M r(v))`` (``node_scores="none"``: the plain
   random-walk path probability); ``host_rarity`` also weights process starts by how rare the
   child image is across hosts;
3. :class:`logguard.graph.boxcox.LengthNormalizer`: Box-Cox with one ``lambda`` and a
   ``(mu_L, sigma_L)`` per path length (``shared_lambda=False``: a ``lambda_L`` per length),
   fitted on reference paths: ``reference="walks"``, paths sampled from the history graph by
   vectorised CSR random walks (:func:`logguard.graph.walks.random_walks`), or
   ``reference="history"``, the exact top ``reference_k`` paths per length of every history
   ``(host, window)`` graph, scored by a model cross-fitted on the other ``reference_folds``
   folds of windows; ``normalize=False`` ranks by the raw log score;
4. :func:`logguard.graph.topk.top_k_paths`: exact top-k paths per graph by dynamic
   programming with bound-based pruning; with ``dedupe`` the ranking keeps the best path of
   each end process and host (:func:`distinct_end_processes`), found exactly inside the DP,
   which keeps one path per end process (see :meth:`GID.graph_paths`).

``score`` gives each event the largest z-score of a top path through it (0 where none),
``top_paths`` the ranked paths with their nodes and edges, ``explain`` the path as a readable
chain with each edge's regularity and why it is rare.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Self

import numpy as np
import pandas as pd

from logguard.errors import ConfigError, InputError
from logguard.graph.boxcox import LengthNormalizer
from logguard.graph.build import REQUIRED_COLUMNS, EventGraph, build_graph
from logguard.graph.topk import Path, top_k_paths, top_scores_by_length
from logguard.graph.transitions import NODE_SCORES, TransitionModel
from logguard.graph.walks import random_walks
from logguard.models.base import Detector

RARE_PROBABILITY = 0.05
REFERENCES = ("history", "walks")


def end_processes(graph: EventGraph) -> np.ndarray:
    """Per edge, the last process of a path ending with it: the edge's destination when that
    is a process (a start, an access, a remote thread), else the process acting on the
    object."""
    return np.where(graph.node_kind[graph.edge_dst] == "process", graph.edge_dst,
                    graph.edge_src)


def distinct_end_processes(graph: EventGraph, paths: list[Path]) -> list[Path]:
    """``paths`` (best first) keeping the first path of each end process on each host: the
    key is ``(host, abstract label of`` :func:`end_processes` ``)``, the label being the image
    path (:mod:`logguard.graph.abstraction`).

    A finding is the process a suspicious path leads to, shown with its most anomalous path.
    The other paths to the same program differ in the object it touched last (each DLL a new
    process loads, each key it writes) or in the process that reached it first (``csrss``,
    ``lsass``, ``svchost`` open a handle to every new process; ``services`` or ``svchost``
    start it): they tell an analyst nothing new, and on OTRF they filled the top 10 with one
    novel program (``UpdateNotificationMgr.exe`` and its DLLs) while the attacker's
    processes waited behind them. Instances of one program on one host share a key: the
    best path of a program stands for all of its instances there.
    """
    ends = end_processes(graph)
    seen: set[tuple[str, str]] = set()
    out = []
    for path in paths:
        key = (str(graph.group_host[graph.edge_group[path.edges[0]]]),
               str(graph.node_label[ends[path.edges[-1]]]))
        if key not in seen:
            seen.add(key)
            out.append(path)
    return out


@dataclass
class HistoryEdges:
    """The compact edges of history graphs side by side, ``(host, window)`` groups numbered
    across graphs; node ids are offset so graphs never share a node."""

    src: np.ndarray
    dst: np.ndarray
    src_label: np.ndarray
    dst_label: np.ndarray
    relation: np.ndarray
    group: np.ndarray
    host: np.ndarray

    @classmethod
    def of(cls, graphs: list[EventGraph]) -> HistoryEdges:
        group_offsets = np.cumsum([0] + [len(g.group_host) for g in graphs])
        node_offsets = np.cumsum([0] + [g.n_nodes for g in graphs])
        return cls(
            src=np.concatenate([g.edge_src + o for g, o in zip(graphs, node_offsets,
                                                                 strict=False)]),
            dst=np.concatenate([g.edge_dst + o for g, o in zip(graphs, node_offsets,
                                                                 strict=False)]),
            src_label=np.concatenate([g.node_label[g.edge_src] for g in graphs]),
            dst_label=np.concatenate([g.node_label[g.edge_dst] for g in graphs]),
            relation=np.concatenate([g.edge_relation for g in graphs]),
            group=np.concatenate([g.edge_group + o for g, o in zip(graphs, group_offsets,
                                                                   strict=False)]),
            host=np.concatenate([g.group_host[g.edge_group] for g in graphs]))


class GID(Detector):
    """Top-k suspicious process paths; see the module docstring for the method.

    Defaults, from the OTRF leave-one-recording-out bench (``bench/paths.py``, one set for
    every recording; ``bench/results/paths.md`` has the numbers):

    * ``node_scores="none"`` (``R(e) = M``): the HITS-style sender/receiver scores (``"walk"``)
      rank attacker paths lower, because they make every edge of a rarely-visited but normal
      process look irregular;
    * ``normalize=False``: paths are ranked by their log path probability ``l(P)`` (NoDoze's
      ``AS(P)`` order; ProvDetector also ranks raw ``-log`` rareness under a length cap). Every
      Box-Cox reference tried ranked attacker paths lower on OTRF, and by amounts that moved
      with fit details: the z of one odd single edge or of a long chain far in the tail is set
      by the fitted curvature, extrapolated beyond the reference (history walks never contain
      an unseen edge; walks rarely reach length 5). With ``normalize=True`` the defaults are
      ``shared_lambda=True`` and ``reference="walks"`` (see :mod:`logguard.graph.boxcox`); the
      cross-fitted ``"history"`` reference is the detection-time statistic, but its per-window
      maxima are a mixture of multiples of ``-log floor`` (unseen edges occur in every normal
      window) that no power makes normal;
    * ``dedupe=True``: one path per end process and host (:func:`distinct_end_processes`);
      keeping one path per abstract chain (node labels and relations) instead left the
      attacker outside the top 3 in 5 more of 58 recordings;
    * ``host_rarity=False`` (OTRF has few hosts; it did not help there).
    """

    kind = "gid"

    def __init__(self, window_seconds: float = 3600.0, max_length: int = 5, top_k: int = 10,
                 node_scores: str = "none", transition_floor: float = 1e-3,
                 normalize: bool = False, shared_lambda: bool = True, reference: str = "walks",
                 reference_folds: int = 5, reference_k: int = 5, n_walks: int = 20_000,
                 min_seed_weight: float = 0.0, dedupe: bool = True, host_rarity: bool = False,
                 random_state: int = 0, device: str = "cpu") -> None:
        self.window_seconds = window_seconds
        self.max_length = max_length
        self.top_k = top_k
        self.node_scores = node_scores
        self.transition_floor = transition_floor
        self.normalize = normalize
        self.shared_lambda = shared_lambda
        self.reference = reference
        self.reference_folds = reference_folds
        self.reference_k = reference_k
        self.n_walks = n_walks
        self.min_seed_weight = min_seed_weight
        self.dedupe = dedupe
        self.host_rarity = host_rarity
        self.random_state = random_state
        self.device = device

    def _check_params(self) -> None:
        if self.node_scores not in NODE_SCORES:
            raise ConfigError(f"node_scores must be one of {', '.join(NODE_SCORES)}, "
                              f"not {self.node_scores!r}")
        if int(self.max_length) < 1 or int(self.top_k) < 1:
            raise ConfigError("max_length and top_k must be at least 1")
        if not 0 < float(self.transition_floor) < 1:
            raise ConfigError("transition_floor must lie in (0, 1)")
        if self.reference not in REFERENCES:
            raise ConfigError(f"reference must be one of {', '.join(REFERENCES)}, "
                              f"not {self.reference!r}")
        if int(self.reference_folds) < 2 or int(self.reference_k) < 1:
            raise ConfigError("reference_folds must be at least 2 and reference_k at least 1")
        if float(self.window_seconds) <= 0:
            raise ConfigError("window_seconds must be positive")

    # ------------------------------------------------------------------ fit
    def fit(self, events: pd.DataFrame, sample_weight: np.ndarray | None = None) -> Self:
        """Learn history statistics and the Box-Cox parameters from normal ``events``.

        ``sample_weight`` is not used: history counts are graph occurrences, not rows.
        """
        self._check_params()
        self._require_columns(events, REQUIRED_COLUMNS)
        if len(events) == 0:
            raise InputError("no events to fit on: the input is empty")
        return self.fit_graphs([build_graph(events, self.window_seconds)], len(events))

    def fit_graphs(self, graphs: list[EventGraph], n_events: int) -> Self:
        """Fit on already built history graphs (their ``(host, window)`` groups kept apart)."""
        self._check_params()
        history = HistoryEdges.of(graphs)
        self.transitions_ = self._fit_transitions(history)
        self.normalizer_ = self._fit_normalizer(history)
        self.n_history_events_ = int(n_events)
        self.fitted_ = True
        return self

    def _fit_transitions(self, history: HistoryEdges,
                         rows: np.ndarray | slice = slice(None)) -> TransitionModel:
        return TransitionModel.fit(history.src_label[rows], history.relation[rows],
                                   history.dst_label[rows], history.group[rows],
                                   history.host[rows], floor=float(self.transition_floor),
                                   node_scores=self.node_scores)

    def _fit_normalizer(self, history: HistoryEdges) -> LengthNormalizer:
        """Box-Cox per length on reference paths from history (see ``reference``)."""
        if self.reference == "walks":
            return self._fit_normalizer_on_walks()
        return LengthNormalizer.fit(self._history_top_scores(history),
                                    shared_lambda=bool(self.shared_lambda))

    def _history_top_scores(self, history: HistoryEdges) -> list[np.ndarray]:
        """Per length, the ``reference_k`` top path scores of every history ``(host, window)``
        graph, each scored by a transition model fitted on the *other* folds of graphs.

        This is the detection-time statistic under normal behaviour: the same exact DP over
        the same kind of compact instance graph, with edges that history has not seen getting
        the floor as they do at detection (cross-fitting: a graph never scores itself).
        """
        n_groups = int(history.group.max()) + 1 if len(history.group) else 0
        rng = np.random.default_rng(int(self.random_state))
        fold_of_group = rng.permutation(n_groups) % int(self.reference_folds)
        fold = fold_of_group[history.group]
        weights = np.zeros(len(history.group))
        for f in range(int(self.reference_folds)):
            held = fold == f
            if not held.any() or held.all():
                continue
            model = self._fit_transitions(history, ~held)
            weights[held] = model.edge_weights(model.label_ids(history.src_label[held]),
                                               model.relation_ids(history.relation[held]),
                                               model.label_ids(history.dst_label[held]),
                                               host_rarity=bool(self.host_rarity))
        samples: list[list[float]] = [[] for _ in range(int(self.max_length))]
        starts = np.flatnonzero(np.r_[True, history.group[1:] != history.group[:-1]])
        for a, b in zip(starts, np.r_[starts[1:], len(history.group)], strict=True):
            tops = top_scores_by_length(history.src[a:b], history.dst[a:b], weights[a:b],
                                        k=int(self.reference_k),
                                        max_length=int(self.max_length))
            for length, top in enumerate(tops):
                samples[length].extend(top)
        return [np.asarray(s, dtype=np.float64) for s in samples]

    def _fit_normalizer_on_walks(self) -> LengthNormalizer:
        """Box-Cox per length on random walks over the history label graph."""
        from logguard.device import resolve_device

        model = self.transitions_
        n_labels, n_relations = model.n_labels, model.n_relations
        u = model.edge_key // n_labels // n_relations
        rel = model.edge_key // n_labels % n_relations
        v = model.edge_key % n_labels
        weights = model.edge_weights(u, rel, v, host_rarity=bool(self.host_rarity))
        device = resolve_device(self.device)
        continues = np.isin(v, u)  # the walk can go on from the edge's destination
        samples: list[list[np.ndarray]] = [[] for _ in range(int(self.max_length))]
        # half the walks start anywhere, half on edges that lead on, so long paths get samples
        for part, start in enumerate((model.edge_count, model.edge_count * continues)):
            sample = random_walks(u, v, model.edge_count, weights, n_labels,
                                  n_walks=int(self.n_walks) // 2, steps=int(self.max_length),
                                  seed=int(self.random_state) + part, start_weight=start,
                                  device=device)
            for length in range(1, int(self.max_length) + 1):
                samples[length - 1].append(sample.lengths(length))
        return LengthNormalizer.fit([np.concatenate(s) for s in samples],
                                    shared_lambda=bool(self.shared_lambda))

    # ------------------------------------------------------------------ scoring
    def _z_function(self):
        if not self.normalize:
            return lambda score, length: score
        lam = self.normalizer_.lam.tolist()
        mu = self.normalizer_.mu.tolist()
        sigma = self.normalizer_.sigma.tolist()

        def z_score(score: float, length: int) -> float:
            x = 1.0 + score
            la = lam[length - 1]
            transformed = math.log(x) if abs(la) < 1e-12 else (x ** la - 1.0) / la
            return (transformed - mu[length - 1]) / sigma[length - 1]

        return z_score

    def edge_weights(self, graph: EventGraph) -> np.ndarray:
        """``w(e) = -log R(e)`` of every compact edge of ``graph``."""
        model = self.transitions_
        return model.edge_weights(model.label_ids(graph.node_label[graph.edge_src]),
                                  model.relation_ids(graph.edge_relation),
                                  model.label_ids(graph.node_label[graph.edge_dst]),
                                  host_rarity=bool(self.host_rarity))

    def graph_paths(self, events: pd.DataFrame, k: int) -> tuple[EventGraph, list[Path]]:
        """The graph of ``events`` and its top ``k`` paths over every ``(host, window)``.

        With ``dedupe`` the DP of each graph returns the best path of each of its ``k`` best
        end processes (``group`` of :func:`logguard.graph.topk.top_k_paths`: the label of
        the edge's end process); merged over the windows of a host, they give exactly the
        ``k`` best ``(host, end process)`` keys of :func:`distinct_end_processes`.
        """
        graph, paths = self._ranked_paths(events, k)
        return graph, paths[:k]

    def _ranked_paths(self, events: pd.DataFrame, k: int) -> tuple[EventGraph, list[Path]]:
        """The graph of ``events`` and the top ``k`` paths of each of its ``(host, window)``
        graphs, merged best first (one per host and end process with ``dedupe``)."""
        self._check_fitted()
        self._require_columns(events, REQUIRED_COLUMNS)
        graph = build_graph(events, self.window_seconds)
        weights = self.edge_weights(graph)
        z_score = self._z_function()
        extendable = np.zeros(graph.n_nodes, dtype=bool)
        extendable[graph.edge_src] = True
        group = None
        if self.dedupe:
            group = pd.factorize(graph.node_label[end_processes(graph)])[0]
        paths: list[Path] = []
        for part in graph.group_slices():
            for path in top_k_paths(graph.edge_src[part], graph.edge_dst[part], weights[part],
                                    k=k, max_length=int(self.max_length), z_score=z_score,
                                    extendable=extendable,
                                    group=None if group is None else group[part],
                                    min_seed_weight=float(self.min_seed_weight)):
                paths.append(Path(edges=tuple(part.start + e for e in path.edges),
                                  score=path.score, z=path.z))
        paths.sort(key=lambda p: -p.z)
        if self.dedupe:
            paths = distinct_end_processes(graph, paths)
        return graph, paths

    def score(self, events: pd.DataFrame) -> np.ndarray:
        """Per event: the largest z of the top ``top_k`` paths through its edge, 0 if none."""
        if len(events) == 0:
            self._check_fitted()
            return np.zeros(0)
        graph, paths = self.graph_paths(events, int(self.top_k))
        edge_score = np.full(graph.n_edges, -np.inf)
        for path in paths:
            for e in path.edges:
                edge_score[e] = max(edge_score[e], path.z)
        edge_score[~np.isfinite(edge_score)] = 0.0
        out = np.zeros(len(events))
        on_edge = graph.event_edge >= 0
        out[on_edge] = edge_score[graph.event_edge[on_edge]]
        return out

    def top_paths(self, events: pd.DataFrame, k: int) -> list[dict[str, Any]]:
        """The ``k`` most anomalous paths as JSON-able records (rank 1 = most anomalous)."""
        graph, paths = self.graph_paths(events, k)
        details = self._edge_details(graph)
        return [self._path_record(graph, details, path, rank)
                for rank, path in enumerate(paths, start=1)]

    def top_paths_by_host(self, events: pd.DataFrame, k: int) -> dict[str, list[dict[str, Any]]]:
        """Per host of ``events``, its ``k`` most anomalous paths as :meth:`top_paths` gives
        them for that host's events alone, from one graph over every host.

        The same because nothing crosses hosts: graphs are per ``(host, window)``, node keys
        are per host (a Sysmon process GUID names one process on one machine; other keys
        carry the host), edge weights depend on the history model only, and the merged
        ranking keeps each host's order (a stable sort by z, groups numbered host by host).
        One graph saves the fixed cost per call that dominates when many hosts each add a few
        events (the daemon's GID stage).
        """
        graph, paths = self._ranked_paths(events, k)
        details = self._edge_details(graph)
        by_host: dict[str, list[dict[str, Any]]] = {}
        for path in paths:
            ranked = by_host.setdefault(str(graph.group_host[graph.edge_group[path.edges[0]]]), [])
            if len(ranked) < k:
                ranked.append(self._path_record(graph, details, path, len(ranked) + 1))
        return by_host

    def explain(self, events: pd.DataFrame) -> list[str]:
        """Per event: the top path through it as a readable chain, else its edge's regularity."""
        if len(events) == 0:
            self._check_fitted()
            return []
        graph, paths = self.graph_paths(events, int(self.top_k))
        details = self._edge_details(graph)
        best: dict[int, Path] = {}
        for path in paths:
            for e in path.edges:
                if e not in best or path.z > best[e].z:
                    best[e] = path
        texts = []
        for e in graph.event_edge.tolist():
            if e < 0:
                texts.append("not an interaction edge (process end)")
            elif e in best:
                path = best[e]
                texts.append(f"path z={path.z:.2f}: {self._chain(graph, path)}; "
                             + "; ".join(self._edge_reason(details, i) for i in path.edges))
            else:
                texts.append(f"on no top path; {self._edge_reason(details, e)}")
        return texts

    # ------------------------------------------------------------------ explanations
    def _edge_details(self, graph: EventGraph) -> dict[str, np.ndarray]:
        model = self.transitions_
        u = model.label_ids(graph.node_label[graph.edge_src])
        v = model.label_ids(graph.node_label[graph.edge_dst])
        stats = model.edge_stats(u, model.relation_ids(graph.edge_relation), v)
        stats["regularity"] = stats["probability"] * stats["sender"] * stats["receiver"]
        stats["src_seen"], stats["dst_seen"] = u >= 0, v >= 0
        return stats

    def _edge_reason(self, details: dict[str, np.ndarray], e: int) -> str:
        model = self.transitions_
        if not details["src_seen"][e]:
            why = "process image never seen in history"
        elif not details["dst_seen"][e]:
            why = "object never seen in history"
        elif details["count"][e] == 0:
            why = "edge never seen in history"
        elif details["probability"][e] < RARE_PROBABILITY:
            why = f"rare for this process (M={details['probability'][e]:.3f})"
        else:
            why = f"common (M={details['probability'][e]:.3f})"
        if details["count"][e] > 0 and details["hosts"][e] * 2 < model.n_hosts:
            why += f", seen on {details['hosts'][e]} of {model.n_hosts} hosts"
        return f"edge {e}: R={details['regularity'][e]:.2e} ({why})"

    @staticmethod
    def _node_text(graph: EventGraph, node: int) -> str:
        name = str(graph.node_name[node]) if graph.node_name[node] is not None else "?"
        if graph.node_kind[node] != "process":
            return name
        base = name.replace("/", "\\").rsplit("\\", 1)[-1]
        command = graph.node_command_line[node]
        if isinstance(command, str) and command:
            arguments = command.split(base, 1)[-1].strip(' "') if base in command else command
            if arguments:
                base += " " + (arguments[:40] + "…" if len(arguments) > 40 else arguments)
        return base

    def _chain(self, graph: EventGraph, path: Path) -> str:
        nodes = [int(graph.edge_src[path.edges[0]])] + [int(graph.edge_dst[e]) for e in path.edges]
        return " → ".join(self._node_text(graph, n) for n in nodes)

    def _path_record(self, graph: EventGraph, details: dict[str, np.ndarray], path: Path,
                     rank: int) -> dict[str, Any]:
        nodes = [int(graph.edge_src[path.edges[0]])] + [int(graph.edge_dst[e]) for e in path.edges]
        node_records = []
        for n in nodes:
            key = str(graph.node_key[n])
            record = {"id": key, "kind": graph.node_kind[n], "name": _json(graph.node_name[n]),
                      "label": graph.node_label[n]}
            if graph.node_kind[n] == "process":
                record["process_guid"] = key[2:] if key.count("|") == 1 else None
                record["image"] = _json(graph.node_name[n])
                record["command_line"] = _json(graph.node_command_line[n])
            node_records.append(record)
        edge_records = [{
            "src": str(graph.node_key[graph.edge_src[e]]),
            "dst": str(graph.node_key[graph.edge_dst[e]]),
            "relation": str(graph.edge_relation[e]),
            "time": pd.Timestamp(int(graph.edge_time[e]), tz="UTC").isoformat(),
            "count": int(graph.edge_count[e]),
            "regularity": float(details["regularity"][e]),
            "why": self._edge_reason(details, e).split(": ", 1)[1],
        } for e in path.edges]
        return {"rank": rank, "z_score": float(path.z), "score": float(path.score),
                "length": path.length,
                "host": str(graph.group_host[graph.edge_group[path.edges[0]]]),
                "chain": self._chain(graph, path), "nodes": node_records, "edges": edge_records}

    # ------------------------------------------------------------------ persistence
    def _get_state(self) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
        arrays = {**self.transitions_.state(), **self.normalizer_.state()}
        return arrays, {"n_history_events": int(self.n_history_events_)}

    def _set_state(self, arrays: dict[str, np.ndarray], meta: dict[str, Any]) -> None:
        self.transitions_ = TransitionModel.from_state(arrays, self.node_scores)
        self.normalizer_ = LengthNormalizer.from_state(arrays)
        self.n_history_events_ = int(meta["n_history_events"])


def _json(value: Any) -> Any:
    return None if value is None or (isinstance(value, float) and math.isnan(value)) else value
