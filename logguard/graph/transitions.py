"""Historical transition model and edge regularity (GID §3.4, NoDoze's M, IN and OUT).

From the history graph over *abstract* labels (:mod:`logguard.graph.abstraction`), where an
abstract edge ``(u, rel, v)`` counts the ``(host, window)`` graphs it appeared in:

* transition probability ``M(u->v | rel) = c(u, rel, v) / sum_w c(u, rel, w)``; an unseen edge
  gets ``M = floor`` (never 0, or a path's score would collapse);
* sender and receiver scores by a random walk over the history graph, HITS/SALSA style:
  ``s <- normalise(M r)``, ``r <- normalise(M^T s)`` until ``||delta||_1 < 1e-6`` (at most
  ``iterations``), scaled so that ``max = 1`` and floored at ``floor`` (an unseen label gets
  ``floor``);
* edge regularity ``R(e) = s(u) M(u->v | rel) r(v)`` and its weight ``w(e) = -log R(e) >= 0``;
  with ``node_scores="none"`` ``s = r = 1`` for every label, seen or not, and ``R(e) = M``: the
  plain random-walk path probability. An edge with a never-seen endpoint is an unseen edge and
  costs the floor once (``-log floor``), like any other unseen edge; charging the floor again
  for each unseen endpoint made a new file or registry label under a known process weigh as
  much as two or three novel steps, and such labels are common in normal windows.

A path's regularity is ``prod_k R(e_k)`` and its log score ``l(P) = sum_k w(e_k)``
(Dong et al., arXiv 1608.02639; NoDoze's ``RS(P) = prod IN M OUT``, Hassan et al., NDSS 2019).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy import sparse

NODE_SCORES = ("walk", "none")
START_RELATION = "process_start"


@dataclass
class TransitionModel:
    """Counts of abstract edges and the node scores learned from them."""

    labels: np.ndarray  # abstract label per label id
    relations: np.ndarray  # relation name per relation id
    edge_key: np.ndarray  # sorted int64 keys (u * R + rel) * V + v of seen edges
    edge_count: np.ndarray  # graphs (host, window) the edge appeared in
    edge_hosts: np.ndarray  # hosts the edge appeared on
    out_count: np.ndarray  # sum_w c(u, rel, w) per (u * R + rel)
    sender: np.ndarray
    receiver: np.ndarray
    n_hosts: int
    floor: float
    node_scores: str
    start_hosts: np.ndarray  # per label: hosts on which a process start created it

    @classmethod
    def fit(cls, src_labels: np.ndarray, relations: np.ndarray, dst_labels: np.ndarray,
            graph_ids: np.ndarray, hosts: np.ndarray, *, floor: float, node_scores: str,
            iterations: int = 100) -> TransitionModel:
        """Count the abstract edges of compact history edges (one row per compact edge)."""
        label_codes, labels = pd.factorize(np.concatenate([src_labels, dst_labels]), sort=True)
        n = len(src_labels)
        u, v = label_codes[:n].astype(np.int64), label_codes[n:].astype(np.int64)
        rel_codes, relation_names = pd.factorize(relations, sort=True)
        n_labels, n_relations = len(labels), max(len(relation_names), 1)
        keys = (u * n_relations + rel_codes) * n_labels + v
        frame = pd.DataFrame({"key": keys, "graph": graph_ids, "host": hosts})
        per_key = frame.groupby("key", sort=True).agg(count=("graph", "nunique"),
                                                      hosts=("host", "nunique"))
        edge_key = per_key.index.to_numpy(np.int64)
        edge_count = per_key["count"].to_numpy(np.float64)
        out_index = edge_key // n_labels
        out_count = np.bincount(out_index, weights=edge_count,
                                minlength=n_labels * n_relations)
        starts = np.asarray(relations, dtype=object) == START_RELATION
        per_child = pd.Series(hosts[starts]).groupby(v[starts]).nunique()
        start_hosts = np.zeros(n_labels)
        start_hosts[per_child.index.to_numpy(np.int64)] = per_child.to_numpy(np.float64)
        model = cls(labels=np.asarray(labels, dtype=object),
                    relations=np.asarray(relation_names, dtype=object), edge_key=edge_key,
                    edge_count=edge_count, edge_hosts=per_key["hosts"].to_numpy(np.int64),
                    out_count=out_count, sender=np.ones(n_labels), receiver=np.ones(n_labels),
                    n_hosts=int(pd.Series(hosts).nunique()), floor=floor,
                    node_scores=node_scores, start_hosts=start_hosts)
        if node_scores == "walk":
            model.sender, model.receiver = model._sender_receiver(iterations)
        return model

    # ------------------------------------------------------------------ pieces
    @property
    def n_labels(self) -> int:
        return len(self.labels)

    @property
    def n_relations(self) -> int:
        return max(len(self.relations), 1)

    def _probabilities(self) -> np.ndarray:
        """``M(u->v | rel)`` of every seen edge, in ``edge_key`` order."""
        return self.edge_count / self.out_count[self.edge_key // self.n_labels]

    def _sender_receiver(self, iterations: int) -> tuple[np.ndarray, np.ndarray]:
        """HITS-style fixed point of ``s = M r``, ``r = M^T s`` on the label graph."""
        u = self.edge_key // self.n_labels // self.n_relations
        v = self.edge_key % self.n_labels
        matrix = sparse.csr_matrix((self._probabilities(), (u, v)),
                                   shape=(self.n_labels, self.n_labels))
        s = np.ones(self.n_labels)
        r = np.ones(self.n_labels)
        for _ in range(iterations):
            s_new = matrix @ r
            s_new /= max(s_new.max(), 1e-300)
            r_new = matrix.T @ s_new
            r_new /= max(r_new.max(), 1e-300)
            delta = np.abs(s_new - s).sum() + np.abs(r_new - r).sum()
            s, r = s_new, r_new
            if delta < 1e-6:
                break
        return np.maximum(s, self.floor), np.maximum(r, self.floor)

    # ------------------------------------------------------------------ lookup
    def label_ids(self, labels: np.ndarray) -> np.ndarray:
        """Label ids of ``labels`` (-1 where the label was never seen)."""
        index = pd.Index(self.labels)
        return index.get_indexer(pd.Index(labels, dtype=object)).astype(np.int64)

    def relation_ids(self, relations: np.ndarray) -> np.ndarray:
        return pd.Index(self.relations).get_indexer(pd.Index(relations, dtype=object)).astype(
            np.int64)

    def edge_stats(self, u: np.ndarray, rel: np.ndarray, v: np.ndarray) -> dict[str, np.ndarray]:
        """Per edge: ``M`` (floored), history count, hosts, and the sender/receiver used."""
        seen_nodes = (u >= 0) & (rel >= 0) & (v >= 0)
        keys = np.where(seen_nodes, (u * self.n_relations + rel) * self.n_labels + v, -1)
        found = np.zeros(len(u), dtype=bool)
        position = np.zeros(len(u), dtype=np.int64)
        if len(self.edge_key):
            position = np.minimum(np.searchsorted(self.edge_key, keys), len(self.edge_key) - 1)
            found = seen_nodes & (self.edge_key[position] == keys)
        probability = np.full(len(u), self.floor)
        count = np.zeros(len(u))
        hosts = np.zeros(len(u), dtype=np.int64)
        if found.any():
            probability[found] = np.maximum(self._probabilities()[position[found]], self.floor)
            count[found] = self.edge_count[position[found]]
            hosts[found] = self.edge_hosts[position[found]]
        unseen = 1.0 if self.node_scores == "none" else self.floor
        sender = np.where(u >= 0, self.sender[np.maximum(u, 0)], unseen)
        receiver = np.where(v >= 0, self.receiver[np.maximum(v, 0)], unseen)
        return {"probability": probability, "count": count, "hosts": hosts,
                "sender": sender, "receiver": receiver}

    def edge_weights(self, u: np.ndarray, rel: np.ndarray, v: np.ndarray, *,
                     host_rarity: bool = False) -> np.ndarray:
        """``w(e) = -log(s(u) M(u->v|rel) r(v))`` per edge (label and relation ids).

        ``host_rarity``: a process start is also weighted by how rare its child image is
        across hosts, times ``|H(v)| / |H|``, the fraction of history hosts on which a process
        start created label ``v`` (ProvDetector's host rareness ``|H(e)|/|H|``, Wang et al.,
        NDSS 2020, applied to the child image; the issue's "rare across hosts"). A child never
        started in history adds nothing: the unseen edge already has ``M = floor``.
        """
        stats = self.edge_stats(u, rel, v)
        regularity = stats["probability"] * stats["sender"] * stats["receiver"]
        if host_rarity:
            start = np.flatnonzero(self.relations == START_RELATION)
            child = (rel == (start[0] if len(start) else -2)) & (v >= 0)
            child[child] &= self.start_hosts[v[child]] > 0
            regularity[child] *= self.start_hosts[v[child]] / max(self.n_hosts, 1)
        return -np.log(np.clip(regularity, 1e-300, 1.0))

    # ------------------------------------------------------------------ persistence
    def state(self) -> dict[str, np.ndarray]:
        return {
            "tm_labels": self.labels.astype(str),
            "tm_relations": self.relations.astype(str),
            "tm_edge_key": self.edge_key,
            "tm_edge_count": self.edge_count,
            "tm_edge_hosts": self.edge_hosts,
            "tm_out_count": self.out_count,
            "tm_sender": self.sender,
            "tm_receiver": self.receiver,
            "tm_start_hosts": self.start_hosts,
            "tm_scalars": np.array([self.n_hosts, self.floor]),
        }

    @classmethod
    def from_state(cls, arrays: dict[str, np.ndarray], node_scores: str) -> TransitionModel:
        scalars = arrays["tm_scalars"]
        return cls(labels=arrays["tm_labels"].astype(object),
                   relations=arrays["tm_relations"].astype(object),
                   edge_key=arrays["tm_edge_key"], edge_count=arrays["tm_edge_count"],
                   edge_hosts=arrays["tm_edge_hosts"], out_count=arrays["tm_out_count"],
                   sender=arrays["tm_sender"], receiver=arrays["tm_receiver"],
                   n_hosts=int(scalars[0]), floor=float(scalars[1]), node_scores=node_scores,
                   start_hosts=arrays["tm_start_hosts"])
