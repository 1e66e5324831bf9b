"""LAN: real-time, activity-level insider-threat detection with learned adaptive neighbours.

Cai et al., "LAN: Learning Adaptive Neighbors for Real-Time Insider Threat Detection", arXiv
2403.09209 (2024); released code github.com/Li1Neo/LAN (see ``methods.md`` §5 for the parts of
it that do not run as shipped). Each activity a is the token c = type(a) x hour(a) (here the
``entities`` columns joined by ``@``: by default the CERT reader's ``action`` and ``hour``), and
each event carries its user's previous activities (the reader's ``history`` column, kept
incrementally per user), so every event is scored from what happened *before* it:

1. sequence encoder: x = Emb(c_{n-w+1..n}) -> LSTM -> LayerNorm -> H; z = MHA(h_n, H, H), the
   last-position attention pooling of the paper;
2. adaptive neighbours: the k-1 normal training sequences most similar to z by cosine
   (a top-k over the L2-normalised pool, rebuilt with the current encoder every epoch);
3. graph structure learning over the k nodes (z and its neighbours), P-perspective weighted
   cosine A_ij = 1/P sum_p cos(w_p * z_i, w_p * z_j), thresholded A~ = A * 1[A > eps]
   (mask detached, diagonal 1);
4. a 2-layer GCN, h' = ReLU(D^-1/2 A~ D^-1/2 h W), and a softmax head on the target node
   predicting the next activity;
5. hybrid loss: soft cross-entropy with target one-hot(c_{n+1}) for normal activities and the
   inverted target (uniform 1/(C-1) on every other class) for labelled malicious ones, weighted
   1 + ``abnormal_weight`` * label, plus the graph regulariser
   ``smoothness`` * tr(Z^T L Z)/k^2 + ``sparsity`` * ||A~||_F^2 / k^2 (L = D - A~);
6. anomaly score s = -p(c_{n+1} | history): higher = the actual activity was less expected;
   an activity token never seen in training has p = 0 (the highest score, 0).

Differences from the released code, chosen for streaming speed and small data: neighbours enter
the graph as their pool embeddings (computed once per epoch, no gradient through them) instead
of being re-encoded in every batch; retrieval is an exact torch top-k instead of faiss HNSW;
AdamW at 1e-3 for a few epochs instead of 1e-5 for ten; the oversampling of malicious rows is
left to the sample weight.
"""

from __future__ import annotations

import math
from typing import Any, ClassVar, Self

import numpy as np
import pandas as pd

from logguard.errors import InputError
from logguard.models.base import Detector
from logguard.models.encoding import check_sample_weight

PAD, UNKNOWN = 0, 1
SPECIAL_TOKENS = ("<pad>", "<unknown>")
SCORE_BATCH = 8192


class LAN(Detector):
    """Next-activity prediction with an LSTM encoder, retrieved neighbours and a learned graph.

    ``window`` past activities feed the encoder (``dim`` wide, ``layers`` LSTM layers, ``heads``
    attention heads); each graph has ``neighbors`` nodes (the event and ``neighbors - 1``
    retrieved from a pool of at most ``pool_size`` distinct normal training sequences;
    ``neighbors=1`` is the LSTM-only ablation); ``perspectives`` and ``epsilon`` shape the
    learned adjacency. ``label_column`` (0/1), when set, turns on the supervised half of the
    hybrid loss. Training draws at most ``max_train_sequences`` rows. The paper's values:
    window from the data pipeline, dim 128, 2 layers, 8 heads, 15 nodes, 4 perspectives,
    eps 0.5, batch 512; the defaults here are smaller (dim 64, 1 layer, 4 heads) for CPU
    streaming speed.
    """

    kind = "lan"
    default_entities: ClassVar[tuple[str, ...]] = ("action", "hour")

    def __init__(self, entities: list[str] | None = None, history_column: str = "history",
                 label_column: str | None = None, window: int = 16, dim: int = 64,
                 layers: int = 1, heads: int = 4, neighbors: int = 15, perspectives: int = 4,
                 epsilon: float = 0.5, pool_size: int = 4096, epochs: int = 4,
                 batch_size: int = 512, learning_rate: float = 1e-3, dropout: float = 0.3,
                 abnormal_weight: float = 10.0, smoothness: float = 0.2, sparsity: float = 0.1,
                 max_train_sequences: int = 200_000, random_state: int = 0,
                 device: str = "cpu", progress: bool = False) -> None:
        self.entities = entities
        self.history_column = history_column
        self.label_column = label_column
        self.window = window
        self.dim = dim
        self.layers = layers
        self.heads = heads
        self.neighbors = neighbors
        self.perspectives = perspectives
        self.epsilon = epsilon
        self.pool_size = pool_size
        self.epochs = epochs
        self.batch_size = batch_size
        self.learning_rate = learning_rate
        self.dropout = dropout
        self.abnormal_weight = abnormal_weight
        self.smoothness = smoothness
        self.sparsity = sparsity
        self.max_train_sequences = max_train_sequences
        self.random_state = random_state
        self.device = device
        self.progress = progress

    # ------------------------------------------------------------------ columns and tokens
    @property
    def token_columns(self) -> list[str]:
        return list(self.entities if self.entities is not None else self.default_entities)

    def _check_columns(self, events: pd.DataFrame) -> None:
        self._require_columns(events, [*self.token_columns, self.history_column])

    def _targets(self, events: pd.DataFrame) -> list[str]:
        parts = [events[c].astype(str).to_numpy() for c in self.token_columns]
        return ["@".join(values) for values in zip(*parts, strict=True)]

    def _histories(self, events: pd.DataFrame) -> list[list[str]]:
        return [text.split()[-self.window:] if isinstance(text, str) else []
                for text in events[self.history_column].to_numpy()]

    def _encode(self, events: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
        """(n,) target ids and (n, window) left-padded history ids; unseen tokens -> UNKNOWN."""
        index = self.token_index_
        targets = np.fromiter((index.get(t, UNKNOWN) for t in self._targets(events)),
                              dtype=np.int64, count=len(events))
        history = np.zeros((len(events), self.window), dtype=np.int64)
        for row, tokens in enumerate(self._histories(events)):
            if tokens:
                history[row, self.window - len(tokens):] = [index.get(t, UNKNOWN) for t in tokens]
        return targets, history

    # ------------------------------------------------------------------ fit
    def fit(self, events: pd.DataFrame, sample_weight: np.ndarray | None = None) -> Self:
        import torch

        if len(events) == 0:
            raise InputError("cannot fit on an empty input: no events to learn from")
        self._check_columns(events)
        weights = check_sample_weight(sample_weight, len(events))
        labels = self._labels(events)
        tokens = sorted(set(self._targets(events)).union(
            t for history in self._histories(events) for t in history))
        self.tokens_ = [*SPECIAL_TOKENS, *tokens]
        self.token_index_ = {t: i for i, t in enumerate(self.tokens_)}
        targets, history = self._encode(events)

        rng = np.random.default_rng(self.random_state)
        if len(targets) > self.max_train_sequences:
            keep = np.sort(rng.choice(len(targets), self.max_train_sequences, replace=False))
            targets, history, weights, labels = (targets[keep], history[keep], weights[keep],
                                                 labels[keep])
        normal = np.unique(history[labels == 0], axis=0)
        if len(normal) > self.pool_size:
            normal = normal[np.sort(rng.choice(len(normal), self.pool_size, replace=False))]
        self.pool_history_ = normal

        torch.manual_seed(self.random_state)
        self.net_ = _build_net(self, len(self.tokens_))
        device = self._torch_device()
        self.net_.to(device)
        self.training_summary_ = self._train(targets, history, weights, labels, device)
        self.net_.to("cpu").eval()
        self._refresh_pool()
        self.fitted_ = True
        return self

    def _labels(self, events: pd.DataFrame) -> np.ndarray:
        if self.label_column is None:
            return np.zeros(len(events), dtype=np.int64)
        self._require_columns(events, [self.label_column])
        labels = pd.to_numeric(events[self.label_column], errors="coerce").to_numpy()
        bad = ~np.isin(labels, (0, 1))
        if bad.any():
            row = int(np.flatnonzero(bad)[0])
            raise InputError(f"label column {self.label_column!r} must hold 0 or 1; row {row} "
                             f"has {events[self.label_column].iloc[row]!r}")
        return labels.astype(np.int64)

    def _torch_device(self):
        from logguard.device import resolve_device

        return resolve_device(self.device)

    def _train(self, targets, history, weights, labels, device) -> dict[str, Any]:
        import torch

        net = self.net_
        optimiser = torch.optim.AdamW(net.parameters(), lr=self.learning_rate)
        generator = torch.Generator().manual_seed(self.random_state)
        t_targets = torch.from_numpy(targets)
        t_history = torch.from_numpy(history)
        t_weights = torch.from_numpy(weights * (1.0 + self.abnormal_weight * labels)).float()
        t_labels = torch.from_numpy(labels)
        pool = torch.from_numpy(self.pool_history_).to(device)
        losses = []
        for _epoch in range(self.epochs):
            net.eval()
            with torch.no_grad():
                pool_z = _embed(net, pool, SCORE_BATCH)
            pool_unit = torch.nn.functional.normalize(pool_z, dim=1)
            net.train()
            order = torch.randperm(len(t_targets), generator=generator)
            total, seen = 0.0, 0
            for start in range(0, len(order), self.batch_size):
                batch = order[start:start + self.batch_size]
                ids = t_history[batch].to(device)
                z = net.encoder(ids)
                neighbours = _neighbours(z.detach(), pool_unit, pool_z, self.neighbors - 1)
                logits, adjacency, nodes = net(z, neighbours)
                loss = _hybrid_loss(logits, t_targets[batch].to(device),
                                    t_labels[batch].to(device), t_weights[batch].to(device))
                loss = loss + _graph_regulariser(adjacency, nodes, self.smoothness,
                                                 self.sparsity)
                optimiser.zero_grad()
                loss.backward()
                optimiser.step()
                total += float(loss.detach()) * len(batch)
                seen += len(batch)
            losses.append(total / max(seen, 1))
            if self.progress:
                import sys

                print(f"lan: epoch {len(losses)}/{self.epochs} loss {losses[-1]:.4f}",
                      file=sys.stderr)
        return {"epochs": len(losses), "final_loss": round(losses[-1], 6) if losses else None,
                "train_sequences": len(targets), "pool_sequences": len(pool),
                "vocabulary": len(self.tokens_), "malicious_rows": int(labels.sum())}

    def _refresh_pool(self) -> None:
        import torch

        with torch.no_grad():
            self.pool_z_ = _embed(self.net_, torch.from_numpy(self.pool_history_), SCORE_BATCH)
            self.pool_cache_ = self.net_.pool_cache(self.pool_z_)
        self.pool_unit_ = torch.nn.functional.normalize(self.pool_z_, dim=1)

    # ------------------------------------------------------------------ score / explain
    def _predict(self, events: pd.DataFrame):
        """Per row: target id, p(target), the softmax, history ids, neighbour ids and cosines."""
        import torch

        self._check_fitted()
        self._check_columns(events)
        targets, history = self._encode(events)
        probabilities, neighbour_ids, cosines = [], [], []
        with torch.no_grad():
            for start in range(0, len(targets), SCORE_BATCH):
                ids = torch.from_numpy(history[start:start + SCORE_BATCH])
                z = self.net_.encoder(ids)
                sims, idx = torch.nn.functional.normalize(z, dim=1).matmul(
                    self.pool_unit_.T).topk(min(self.neighbors - 1, len(self.pool_z_)), dim=1)
                logits = self.net_.score_forward(z, idx, self.pool_cache_)
                probabilities.append(torch.softmax(logits.double(), dim=1))
                neighbour_ids.append(idx)
                cosines.append(sims)
        if not probabilities:
            return targets, np.empty(0), None, history, None, None
        softmax = torch.cat(probabilities).numpy()
        # an activity never seen in training has probability 0: no code of the model is it
        p_target = np.where(targets == UNKNOWN, 0.0, softmax[np.arange(len(targets)), targets])
        return (targets, p_target, softmax, history, torch.cat(neighbour_ids).numpy(),
                torch.cat(cosines).numpy())

    def score(self, events: pd.DataFrame) -> np.ndarray:
        p_target = self._predict(events)[1]
        return (-np.asarray(p_target, dtype=np.float64)).reshape(-1)

    def explain(self, events: pd.DataFrame) -> list[str]:
        targets, p_target, softmax, _, neighbour_ids, cosines = self._predict(events)
        actual_tokens, histories = self._targets(events), self._histories(events)
        explanations = []
        for row in range(len(targets)):
            expected = int(np.argmax(softmax[row]))
            unseen = ", never seen in training" if targets[row] == UNKNOWN else ""
            recent = " > ".join(histories[row][-3:]) or "no history"
            text = (f"p({actual_tokens[row]}{unseen})={p_target[row]:.3g}, expected "
                    f"{self.tokens_[expected]} (p={softmax[row, expected]:.2f}); after {recent}")
            if neighbour_ids.shape[1]:
                nearest = [self.tokens_[i] for i in self.pool_history_[neighbour_ids[row, 0]]
                           if i != PAD][-2:]
                text += (f"; nearest normal sequence (cos {cosines[row, 0]:.2f}) ended "
                         f"{' > '.join(nearest) or 'empty'}")
            explanations.append(text)
        return explanations

    # ------------------------------------------------------------------ persistence
    def _get_state(self) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
        arrays = {f"net.{name}": tensor.detach().cpu().numpy()
                  for name, tensor in self.net_.state_dict().items()}
        arrays["pool_history"] = self.pool_history_
        return arrays, {"tokens": self.tokens_,
                        "training_summary": getattr(self, "training_summary_", {})}

    def _set_state(self, arrays: dict[str, np.ndarray], meta: dict[str, Any]) -> None:
        import torch

        self.tokens_ = list(meta["tokens"])
        self.token_index_ = {t: i for i, t in enumerate(self.tokens_)}
        self.training_summary_ = meta.get("training_summary", {})
        self.net_ = _build_net(self, len(self.tokens_))
        self.net_.load_state_dict({name.removeprefix("net."): torch.from_numpy(value)
                                   for name, value in arrays.items() if name.startswith("net.")})
        self.net_.eval()
        self.pool_history_ = arrays["pool_history"]
        self._refresh_pool()


# ---------------------------------------------------------------------- torch parts
def _build_net(model: LAN, vocabulary: int):
    """The LAN network for ``vocabulary`` activity tokens (torch imported lazily)."""
    import torch
    from torch import nn

    class SequenceEncoder(nn.Module):
        """Emb -> LSTM -> LayerNorm -> last-position multi-head attention pooling."""

        def __init__(self) -> None:
            super().__init__()
            self.embedding = nn.Embedding(vocabulary, model.dim, padding_idx=PAD)
            self.lstm = nn.LSTM(model.dim, model.dim, num_layers=model.layers, batch_first=True,
                                dropout=model.dropout if model.layers > 1 else 0.0)
            self.norm = nn.LayerNorm(model.dim)
            self.attention = nn.MultiheadAttention(model.dim, model.heads, batch_first=True)

        def forward(self, ids: torch.Tensor) -> torch.Tensor:
            hidden = self.norm(self.lstm(self.embedding(ids))[0])
            padding = ids == PAD
            padding[:, -1] = False  # the last step is the query and always attendable
            pooled, _ = self.attention(hidden[:, -1:], hidden, hidden, key_padding_mask=padding,
                                       need_weights=False)
            return pooled[:, 0]

    class LANNet(nn.Module):
        """Graph learner + 2-layer GCN + next-activity head over (target, neighbours)."""

        def __init__(self) -> None:
            super().__init__()
            self.encoder = SequenceEncoder()
            self.perspectives = nn.Parameter(torch.empty(model.perspectives, model.dim))
            nn.init.xavier_uniform_(self.perspectives)
            self.gcn1 = nn.Linear(model.dim, model.dim)
            self.gcn2 = nn.Linear(model.dim, model.dim)
            self.dropout = nn.Dropout(model.dropout)
            self.head = nn.Linear(model.dim, vocabulary)

        def adjacency(self, nodes: torch.Tensor) -> torch.Tensor:
            views = nn.functional.normalize(nodes[:, None] * self.perspectives[None, :, None],
                                            dim=-1)
            similarity = views.matmul(views.transpose(-1, -2)).mean(dim=1)
            kept = similarity * (similarity > model.epsilon).detach().to(similarity.dtype)
            eye = torch.eye(nodes.shape[1], dtype=nodes.dtype, device=nodes.device)
            return kept * (1 - eye) + eye

        def forward(self, z: torch.Tensor, neighbours: torch.Tensor):
            nodes = torch.cat([z[:, None], neighbours], dim=1)
            adjacency = self.adjacency(nodes)
            scale = adjacency.sum(-1).rsqrt()
            normalised = adjacency * scale[:, :, None] * scale[:, None, :]
            hidden = torch.relu(normalised.matmul(self.gcn1(nodes)))
            hidden = torch.relu(normalised.matmul(self.gcn2(self.dropout(hidden))))
            return self.head(hidden[:, 0]), adjacency, nodes

        def pool_cache(self, pool_z: torch.Tensor) -> dict[str, torch.Tensor]:
            """What scoring reuses for every batch: the pool's perspective views, their
            pairwise similarity, and the pool nodes' first GCN transform."""
            views = nn.functional.normalize(pool_z[:, None] * self.perspectives[None], dim=-1)
            views = views.reshape(len(pool_z), -1)  # (pool, P * dim): one dot = P cosines
            similarity = views.matmul(views.T) / self.perspectives.shape[0]
            return {"views": views, "similarity": similarity, "gcn1": self.gcn1(pool_z)}

        def score_forward(self, z: torch.Tensor, index: torch.Tensor,
                          cache: dict[str, torch.Tensor]) -> torch.Tensor:
            """:meth:`forward` in eval mode for (z, pool neighbours ``index``), reusing the
            pool ``cache`` and computing the second GCN layer for the target node only."""
            views = nn.functional.normalize(z[:, None] * self.perspectives[None], dim=-1)
            to_neighbours = cache["views"][index].bmm(views.reshape(len(z), -1, 1))[:, :, 0]
            to_neighbours = to_neighbours / self.perspectives.shape[0]
            similarity = torch.cat([
                torch.cat([torch.ones_like(z[:, :1]), to_neighbours], 1)[:, None],
                torch.cat([to_neighbours[:, :, None],
                           cache["similarity"][index[:, :, None], index[:, None, :]]], 2)], 1)
            kept = similarity * (similarity > model.epsilon).to(similarity.dtype)
            eye = torch.eye(similarity.shape[1], dtype=z.dtype, device=z.device)
            adjacency = kept * (1 - eye) + eye
            scale = adjacency.sum(-1).rsqrt()
            normalised = adjacency * scale[:, :, None] * scale[:, None, :]
            transformed = torch.cat([self.gcn1(z)[:, None], cache["gcn1"][index]], 1)
            hidden = torch.relu(normalised.matmul(transformed))
            pooled = normalised[:, :1].matmul(hidden)[:, 0]
            target = torch.relu(pooled.matmul(self.gcn2.weight.T)
                                + normalised[:, 0].sum(-1, keepdim=True) * self.gcn2.bias)
            return self.head(target)

    return LANNet()


def _embed(net, history, batch: int):
    import torch

    if len(history) == 0:
        return torch.zeros((0, net.head.in_features))
    return torch.cat([net.encoder(history[s:s + batch]) for s in range(0, len(history), batch)])


def _neighbours(z, pool_unit, pool_z, count: int):
    """Pool embeddings of the ``count`` most cosine-similar normal sequences of each row."""
    import torch

    if len(pool_z) == 0 or count <= 0:
        return torch.zeros((len(z), 0, z.shape[1]), dtype=z.dtype, device=z.device)
    unit = torch.nn.functional.normalize(z, dim=1)
    index = unit.matmul(pool_unit.T).topk(min(count, len(pool_z)), dim=1).indices
    return pool_z[index]


def _hybrid_loss(logits, targets, labels, weights):
    """Soft cross-entropy: one-hot target for normal rows, the inverted target for malicious."""
    import torch

    classes = logits.shape[1]
    one_hot = torch.nn.functional.one_hot(targets, classes).to(logits.dtype)
    inverted = (1.0 - one_hot) / (classes - 1)
    malicious = labels[:, None].to(logits.dtype)
    soft = one_hot * (1 - malicious) + inverted * malicious
    loss = -(soft * torch.log_softmax(logits, dim=1)).sum(dim=1)
    return (weights * loss).sum() / weights.sum().clamp_min(1e-12)


def _graph_regulariser(adjacency, nodes, smoothness: float, sparsity: float):
    """smoothness * tr(Z^T L Z)/k^2 + sparsity * ||A||_F^2/k^2, averaged over the graphs."""
    k = adjacency.shape[1]
    distances = (nodes[:, :, None] - nodes[:, None, :]).pow(2).sum(-1)
    laplacian_term = (adjacency * distances).sum((1, 2)) / 2
    frobenius = adjacency.pow(2).sum((1, 2))
    return (smoothness * laplacian_term + sparsity * frobenius).mean() / math.pow(k, 2)
