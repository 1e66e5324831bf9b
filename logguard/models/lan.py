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

Cost bounds. Training sees at most ``max_train_sequences`` rows (a uniform sample; the pool
is drawn from the same rows), so an epoch costs the same however long the timeline: one
simulated month of 1,000 users (472k activities) trains in about 200 s of CPU on one
thread. Scoring (:meth:`LAN.score`, ~50 us of CPU per activity) runs under
``torch.inference_mode``: the history column is split and dictionary-encoded in Arrow; the
model runs once per distinct history window of the frame; batches of :data:`SCORE_BATCH`
windows are shared among ``torch.get_num_threads()`` worker threads, each single-threaded;
the first LSTM layer's input transform is folded into the embedding and the LSTM stepped with
sigmoids only (:meth:`SequenceEncoder.lstm_for_scoring`), the attention pooling is folded for
its single query (:meth:`SequenceEncoder.encode_for_scoring`), the pool's embeddings,
pairwise graph weights and first GCN transform are computed once per model, and only the
target node of the second GCN layer is evaluated (:meth:`LANNet.score_forward`).
"""

from __future__ import annotations

import math
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any, ClassVar, Self

import numpy as np
import pandas as pd

from logguard.errors import InputError
from logguard.models.base import Detector
from logguard.models.encoding import check_sample_weight

if TYPE_CHECKING:
    import pyarrow as pa
    import torch

PAD, UNKNOWN = 0, 1
SPECIAL_TOKENS = ("<pad>", "<unknown>")
# rows per scoring batch: small enough to keep the (batch, k, dim) tensors in cache (measured
# on one thread: 1,024 rows is 1.7x faster per row than 8,192)
SCORE_BATCH = 1024
# fewer rows per worker thread cost more in thread start-up than they save
MIN_PARALLEL_BATCH = 128


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
                 max_train_sequences: int = 100_000, random_state: int = 0,
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

    def _targets(self, events: pd.DataFrame) -> np.ndarray:
        """The activity token of each row: the ``entities`` values joined by ``@``."""
        parts = [events[c].to_numpy().astype(str) for c in self.token_columns]
        joined = parts[0]
        for part in parts[1:]:
            joined = np.strings.add(np.strings.add(joined, "@"), part)
        return joined.astype(object)

    def _target_ids(self, events: pd.DataFrame) -> np.ndarray:
        """The vocabulary id of each row's activity token, joining the ``entities`` values of
        each distinct combination only once (CERT has ~10^2 distinct activity x hour pairs)."""
        combination = np.zeros(len(events), dtype=np.int64)
        for column in self.token_columns:
            codes, uniques = pd.factorize(events[column], use_na_sentinel=False)
            combination, _ = pd.factorize(combination * len(uniques) + codes)
        _, first, inverse = np.unique(combination, return_index=True, return_inverse=True)
        return self._token_ids(self._targets(events.iloc[first]))[inverse]

    def _history_tokens(self, events: pd.DataFrame) -> tuple[pa.Array, np.ndarray]:
        """The last ``window`` whitespace-separated history tokens of every row, flattened (an
        Arrow text array), and the per-row counts.

        One Arrow pass over the column: trim, then split from the right at most ``window``
        times, so a row's last ``window`` pieces are its last ``window`` tokens (the first
        piece of a longer row is its unsplit rest). A missing history has no tokens.
        """
        import pyarrow as pa
        import pyarrow.compute as pc

        try:
            text = pa.array(events[self.history_column], type=pa.large_string(),
                            from_pandas=True)
        except (pa.ArrowInvalid, pa.ArrowTypeError):
            raise InputError(f"column {self.history_column!r} must hold text: the previous "
                             "activity tokens separated by spaces") from None
        if isinstance(text, pa.ChunkedArray):
            text = text.combine_chunks()
        text = pc.utf8_trim_whitespace(text)
        pieces = pc.utf8_split_whitespace(text, max_splits=self.window, reverse=True)
        ends = pieces.offsets.to_numpy()[1:].astype(np.int64)
        present = pc.fill_null(pc.greater(pc.utf8_length(text), 0), False)
        counts = np.where(present.to_numpy(zero_copy_only=False),
                          np.minimum(np.diff(pieces.offsets.to_numpy()), self.window), 0)
        positions = np.arange(counts.sum()) + np.repeat(ends - np.cumsum(counts), counts)
        return pieces.values.take(pa.array(positions)), counts

    def _encode(self, events: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
        """(n,) target ids and (n, window) left-padded history ids; unseen tokens -> UNKNOWN.

        The history tokens are dictionary-encoded in Arrow, so each distinct token is looked
        up once, and scattered into the padded matrix at once.
        """
        import pyarrow.compute as pc

        flat, counts = self._history_tokens(events)
        encoded = pc.dictionary_encode(flat)
        ids = self._token_ids(encoded.dictionary.to_numpy(zero_copy_only=False))
        history = np.zeros((len(events), self.window), dtype=np.int64)
        rows = np.repeat(np.arange(len(events)), counts)
        columns = np.arange(len(flat)) - np.repeat(np.cumsum(counts) - self.window, counts)
        history[rows, columns] = ids[encoded.indices.to_numpy()]
        return self._target_ids(events), history

    def _token_ids(self, tokens: np.ndarray) -> np.ndarray:
        return np.fromiter(map(self.vocabulary_.__getitem__, tokens), dtype=np.int64,
                           count=len(tokens))

    def _set_tokens(self, tokens: list[str]) -> None:
        self.tokens_ = tokens
        self.vocabulary_ = _TokenIds((token, i) for i, token in enumerate(tokens))

    # ------------------------------------------------------------------ fit
    def fit(self, events: pd.DataFrame, sample_weight: np.ndarray | None = None) -> Self:
        import torch

        if len(events) == 0:
            raise InputError("cannot fit on an empty input: no events to learn from")
        self._check_columns(events)
        weights = check_sample_weight(sample_weight, len(events))
        labels = self._labels(events)
        history_tokens = self._history_tokens(events)[0].to_numpy(zero_copy_only=False)
        tokens = pd.unique(np.concatenate([self._targets(events), history_tokens]))
        self._set_tokens([*SPECIAL_TOKENS, *sorted(set(tokens) - set(SPECIAL_TOKENS))])
        targets, history = self._encode(events)

        rng = np.random.default_rng(self.random_state)
        rows = np.arange(len(targets))
        if len(targets) > self.max_train_sequences:
            rows = np.sort(rng.choice(len(targets), self.max_train_sequences, replace=False))
            targets, history, weights, labels = (targets[rows], history[rows], weights[rows],
                                                 labels[rows])
        normal = np.flatnonzero(labels == 0)
        _, first = np.unique(history[normal], axis=0, return_index=True)
        pool = normal[np.sort(first)]  # one training row per distinct normal sequence
        if len(pool) > self.pool_size:
            pool = pool[np.sort(rng.choice(len(pool), self.pool_size, replace=False))]
        self.pool_history_ = history[pool]
        self.pool_source_ = _sources(events, rows[pool])

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

        with torch.inference_mode():
            self.pool_z_ = _embed(self.net_, torch.from_numpy(self.pool_history_), SCORE_BATCH)
            self.pool_cache_ = self.net_.pool_cache(self.pool_z_)
            self.pool_unit_ = torch.nn.functional.normalize(self.pool_z_, dim=1)
            self.scoring_tables_ = self.net_.encoder.scoring_tables()

    # ------------------------------------------------------------------ score / explain
    def _forward(self, ids: torch.Tensor) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Next-activity softmax, neighbour pool ids and their cosines of one score batch.

        The inference path: :meth:`SequenceEncoder.encode_for_scoring` (the LSTM stepped with
        folded gate tables, the attention pooling folded for its single query), one matmul +
        top-k against the L2-normalised pool, and :meth:`LANNet.score_forward` on the k-node
        graphs; equal to the training forward within float32 rounding
        (``tests/models/test_lan.py``).
        """
        import torch

        count = min(self.neighbors - 1, len(self.pool_z_))
        z = self.net_.encoder.encode_for_scoring(ids, self.scoring_tables_)
        if count:
            unit = torch.nn.functional.normalize(z, dim=1)
            cosines, index = unit.matmul(self.pool_unit_.T).topk(count, dim=1)
        else:  # the LSTM-only ablation: nothing to retrieve
            cosines, index = z.new_zeros((len(z), 0)), torch.zeros((len(z), 0), dtype=torch.long)
        logits = self.net_.score_forward(z, index, self.pool_cache_)
        return torch.softmax(logits.double(), dim=1).numpy(), index.numpy(), cosines.numpy()

    def _forward_all(self, history: np.ndarray) -> tuple[np.ndarray, ...]:
        """:meth:`_forward` over all ``history`` rows, data-parallel.

        The rows are cut into batches of at most :data:`SCORE_BATCH` and the batches shared
        among ``torch.get_num_threads()`` worker threads, each running torch single-threaded
        (torch releases the GIL inside its ops), instead of splitting every small op across
        threads and synchronising them (measured on the shared 2-core machine: 1.5x the rate
        of one thread, where intra-op threads were slower than one thread). While the workers
        run, torch is set to one thread for the whole process; a frame of fewer than
        2 x :data:`MIN_PARALLEL_BATCH` rows is scored on the calling thread.
        """
        import torch

        threads = torch.get_num_threads()
        size = min(SCORE_BATCH, max(MIN_PARALLEL_BATCH, -(-len(history) // threads)))

        def forward(start: int) -> tuple[np.ndarray, ...]:
            with torch.inference_mode():
                return self._forward(torch.from_numpy(history[start:start + size]))

        starts = range(0, len(history), size)
        if threads == 1 or len(starts) == 1:
            parts = [forward(start) for start in starts]
        else:
            with _single_threaded_torch(), ThreadPoolExecutor(threads) as workers:
                parts = list(workers.map(forward, starts))
        return tuple(np.concatenate(arrays) for arrays in zip(*parts, strict=True))

    def _prepare(self, events: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
        self._check_fitted()
        self._check_columns(events)
        return self._encode(events)

    def score(self, events: pd.DataFrame) -> np.ndarray:
        """s = -p(actual next activity | the last ``window`` activities before it).

        The model is run once per distinct history window of the frame (real users repeat
        themselves: CERT's web browsing gives long runs of one token) and its softmax shared
        by every row with that window.
        """
        targets, history = self._prepare(events)
        if len(targets) == 0:
            return np.zeros(0, dtype=np.float64)
        distinct, inverse = _distinct_rows(history)
        softmax = self._forward_all(distinct)[0]
        p_target = softmax[inverse, targets]
        # an activity never seen in training has probability 0: no code of the model is it
        p_target[targets == UNKNOWN] = 0.0
        return -p_target

    def explain(self, events: pd.DataFrame, top: int = 3) -> list[str]:
        """Why each activity scored as it did, for an analyst.

        Per row: the actual activity with its probability and rank (or that training never
        saw it), the ``top`` activities the model expected instead, the last four activities
        it followed, and the two nearest normal training sequences the graph drew on, each
        with its cosine, whose it was and when (``user at time`` of the training event, when
        the training frame had those columns) and how it ended. For example::

            http:visit:job@8 was unlikely (p=3.29e-05, rank 75 of 103); expected
            http:visit@15 (0.17), ...; after email:send:internal@7 > http:visit@7 > ...;
            nearest normal sequences: ABC0123 at 2010-01-12T07:58 (cos 0.99) ending
            file:access@7 > file:access@8; ...
        """
        targets, history = self._prepare(events)
        actual = self._targets(events)
        flat, counts = self._history_tokens(events)
        flat = flat.to_numpy(zero_copy_only=False)
        ends = np.cumsum(counts)
        explanations: list[str] = []
        if len(targets) == 0:
            return explanations
        softmax, neighbours, cosines = self._forward_all(history)
        for at in range(len(targets)):
            recent = list(flat[max(ends[at] - counts[at], ends[at] - 4):ends[at]])
            explanations.append(self._explain_row(actual[at], targets[at], softmax[at], recent,
                                                  neighbours[at], cosines[at], top))
        return explanations

    def _explain_row(self, actual: str, target: int, softmax: np.ndarray, recent: list[str],
                     neighbours: np.ndarray, cosines: np.ndarray, top: int) -> str:
        if target == UNKNOWN:
            verdict = f"{actual} was never seen in training (p=0)"
        else:
            rank = int((softmax > softmax[target]).sum()) + 1
            verdict = (f"{actual} was unlikely (p={softmax[target]:.3g}, rank {rank} of "
                       f"{len(softmax) - len(SPECIAL_TOKENS)})")
        expected = ", ".join(f"{self.tokens_[i]} ({softmax[i]:.2f})"
                             for i in np.argsort(-softmax)[:top])
        text = f"{verdict}; expected {expected}; after {' > '.join(recent) or 'no history'}"
        if len(neighbours):
            shown = []
            for pool_id, cosine in list(zip(neighbours, cosines, strict=True))[:2]:
                whose = f"{self.pool_source_[pool_id]} " if self.pool_source_ else ""
                tail = " > ".join(self._sequence_tail(self.pool_history_[pool_id], 2))
                shown.append(f"{whose}(cos {cosine:.2f}) ending {tail or 'empty'}")
            text += f"; nearest normal sequences: {'; '.join(shown)}"
        return text

    def _sequence_tail(self, ids: np.ndarray, length: int) -> list[str]:
        return [self.tokens_[i] for i in ids[ids != PAD][-length:]]

    # ------------------------------------------------------------------ persistence
    def _get_state(self) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
        arrays = {f"net.{name}": tensor.detach().cpu().numpy()
                  for name, tensor in self.net_.state_dict().items()}
        arrays["pool_history"] = self.pool_history_
        return arrays, {"tokens": self.tokens_, "pool_source": self.pool_source_,
                        "training_summary": getattr(self, "training_summary_", {})}

    def _set_state(self, arrays: dict[str, np.ndarray], meta: dict[str, Any]) -> None:
        import torch

        self._set_tokens(list(meta["tokens"]))
        self.training_summary_ = meta.get("training_summary", {})
        self.net_ = _build_net(self, len(self.tokens_))
        self.net_.load_state_dict({name.removeprefix("net."): torch.from_numpy(value)
                                   for name, value in arrays.items() if name.startswith("net.")})
        self.net_.eval()
        self.pool_history_ = arrays["pool_history"]
        self.pool_source_ = list(meta.get("pool_source", []))
        self._refresh_pool()


@contextmanager
def _single_threaded_torch():
    """torch ops on one thread each (restored on exit): for data-parallel worker threads."""
    import torch

    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(previous)


def _distinct_rows(rows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The distinct rows of a 2-d integer array and, per row, the index of its distinct row."""
    packed = np.ascontiguousarray(rows).view(np.dtype((np.void, rows.shape[1] * rows.itemsize)))
    _, first, inverse = np.unique(packed[:, 0], return_index=True, return_inverse=True)
    return rows[first], inverse.reshape(-1)


class _TokenIds(dict):
    """token -> id; a token outside the vocabulary is UNKNOWN."""

    def __missing__(self, token: str) -> int:
        return UNKNOWN


def _sources(events: pd.DataFrame, rows: np.ndarray) -> list[str]:
    """``user at time`` of the training events at ``rows`` (empty when a column is missing)."""
    if not {"user", "time"} <= set(events.columns):
        return []
    users = events["user"].to_numpy()[rows]
    times = events["time"].to_numpy()[rows]
    return [f"{user} at {str(time)[:16]}" for user, time in zip(users, times, strict=True)]


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

        def scoring_tables(self) -> dict[str, Any]:
            """What :meth:`encode_for_scoring` reuses.

            Per LSTM layer the gate rows reordered to (i, f, o, g) with the g rows doubled
            (so one sigmoid serves all four gates: tanh(x) = 2 sigmoid(2x) - 1), the
            recurrent weight transposed, and the two biases summed; for the first layer the
            input transform folded into the embedding: one (vocabulary, 4 dim) table
            id -> W_ih x_id + b_ih + b_hh. Then the attention weights split per head.
            """
            dim, heads = model.dim, model.heads
            order = torch.cat([torch.arange(2 * dim), torch.arange(3 * dim, 4 * dim),
                               torch.arange(2 * dim, 3 * dim)])
            scale = torch.cat([torch.ones(3 * dim), torch.full((dim,), 2.0)])[:, None]
            inputs, biases, recurrent = [], [], []
            for layer in range(model.layers):
                inputs.append(getattr(self.lstm, f"weight_ih_l{layer}")[order] * scale)
                biases.append((getattr(self.lstm, f"bias_ih_l{layer}")
                               + getattr(self.lstm, f"bias_hh_l{layer}"))[order] * scale[:, 0])
                recurrent.append((getattr(self.lstm, f"weight_hh_l{layer}")[order] * scale).T
                                 .contiguous())
            w_q, w_k, w_v = self.attention.in_proj_weight.split(dim)
            b_q, _, b_v = self.attention.in_proj_bias.split(dim)
            return {"input_table": nn.functional.linear(self.embedding.weight, inputs[0],
                                                        biases[0]),
                    "lstm_input": inputs, "lstm_bias": biases, "lstm_recurrent": recurrent,
                    "w_q": w_q, "b_q": b_q, "w_k": w_k.reshape(heads, dim // heads, dim),
                    "w_v": w_v.reshape(heads, dim // heads, dim), "b_v": b_v}

        def lstm_for_scoring(self, ids: torch.Tensor,
                             tables: dict[str, Any]) -> torch.Tensor:
            """The LSTM's outputs (B, T, d) in inference, stepped with :meth:`scoring_tables`.

            From h_0 = c_0 = 0, per step t: (i, f, o, g~) = sigmoid(x_t + W_hh h_{t-1}) with
            x_t a row of the input table (first layer) or W_ih h_t of the layer below + b
            (g~ = sigmoid(2 g), so tanh(g) = 2 g~ - 1); c_t = f c_{t-1} + i (2 g~ - 1);
            h_t = o tanh(c_t) = o (2 sigmoid(2 c_t) - 1). The same function as ``nn.LSTM``
            (up to float32 rounding) at 0.6x its cost: no input matmul for the first layer,
            and sigmoids instead of the slower tanh.
            """
            dim = model.dim
            count, steps = ids.shape
            step_ids = ids.T.contiguous()
            gates, squashed = torch.empty(count, 4 * dim), torch.empty(count, dim)
            input_gate, forget, output, cell_input = gates.split(dim, 1)
            outputs = None
            for layer in range(model.layers):
                lower = None if outputs is None else nn.functional.linear(  # (T, B, 4d)
                    outputs.transpose(0, 1), tables["lstm_input"][layer],
                    tables["lstm_bias"][layer])
                recurrent = tables["lstm_recurrent"][layer]
                outputs = torch.empty(count, steps, dim)
                cell = torch.zeros(count, dim)
                for step in range(steps):
                    if lower is None:
                        torch.index_select(tables["input_table"], 0, step_ids[step], out=gates)
                    else:
                        gates.copy_(lower[step])
                    if step:
                        gates.addmm_(outputs[:, step - 1], recurrent)
                    gates.sigmoid_()
                    torch.mul(cell_input, 2, out=squashed).sub_(1).mul_(input_gate)
                    cell.mul_(forget).add_(squashed)
                    torch.mul(cell, 2, out=squashed).sigmoid_().mul_(2).sub_(1)
                    torch.mul(output, squashed, out=outputs[:, step])
            return outputs

        def encode_for_scoring(self, ids: torch.Tensor,
                               tables: dict[str, Any]) -> torch.Tensor:
            """:meth:`forward` in inference, with the attention folded for its one query.

            Per head h, with q_h = W_q,h h_n + b_q,h: the logits q_h . (W_k,h H_t + b_k,h) =
            (W_k,h^T q_h) . H_t + const (the constant cancels in the softmax), and the output
            sum_t a_t (W_v,h H_t + b_v,h) = W_v,h (sum_t a_t H_t) + b_v,h. So H is never
            projected: O(T d) per head instead of O(T d^2).
            """
            hidden = self.norm(self.lstm_for_scoring(ids, tables))  # (B, T, d)
            heads = model.heads
            head_dim = model.dim // heads
            query = nn.functional.linear(hidden[:, -1], tables["w_q"], tables["b_q"])
            query = query.reshape(len(ids), heads, head_dim) / math.sqrt(head_dim)
            keys = torch.einsum("bhk,hkd->bhd", query, tables["w_k"])
            logits = keys.matmul(hidden.transpose(1, 2))  # (B, heads, T)
            padding = ids == PAD
            padding[:, -1] = False
            logits = logits.masked_fill(padding[:, None], float("-inf"))
            mixed = torch.softmax(logits, dim=-1).matmul(hidden)  # (B, heads, d)
            values = torch.einsum("bhd,hkd->bhk", mixed, tables["w_v"])
            values = values.reshape(len(ids), -1) + tables["b_v"]
            return self.attention.out_proj(values)

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
            """What scoring reuses for every batch: the pool's pairwise P-perspective
            similarity, and one gather table per pool node holding its embedding, its first
            GCN transform and 1/|w_p * z| for each perspective p."""
            weighted = pool_z[:, None] * self.perspectives[None]  # (pool, P, d)
            inverse_norms = 1 / weighted.norm(dim=-1).clamp_min(1e-12)
            views = (weighted * inverse_norms[..., None]).reshape(len(pool_z), -1)
            similarity = views.matmul(views.T) / self.perspectives.shape[0]
            table = torch.cat([pool_z, self.gcn1(pool_z), inverse_norms], 1)
            return {"similarity": similarity, "table": table}

        def score_forward(self, z: torch.Tensor, index: torch.Tensor,
                          cache: dict[str, torch.Tensor]) -> torch.Tensor:
            """:meth:`forward` in eval mode for (z, pool neighbours ``index``), reusing the
            pool ``cache`` and computing the second GCN layer for the target node only."""
            dim, perspectives = z.shape[1], self.perspectives
            count, k = index.shape
            table = cache["table"]
            neighbour_z, neighbour_gcn1, inverse_norms = table.index_select(
                0, index.reshape(-1)).view(count, k, table.shape[1]).split(
                [dim, dim, len(perspectives)], dim=2)
            # cos(w_p*z, w_p*n) = sum_d (w_p*z / |w_p*z|)_d w_pd n_d / |w_p*n|
            weighted = z[:, None] * perspectives[None]
            query = weighted * perspectives[None] / weighted.norm(dim=-1, keepdim=True).clamp_min(
                1e-12)
            per_view = query.matmul(neighbour_z.transpose(1, 2))  # (B, P, k)
            to_neighbours = (per_view * inverse_norms.transpose(1, 2)).mean(1)
            pool = cache["similarity"]
            pairs = (index[:, :, None] * len(pool) + index[:, None, :]).reshape(-1)
            similarity = z.new_empty((count, k + 1, k + 1))
            similarity[:, 0, 0] = 1.0
            similarity[:, 1:, 1:] = pool.view(-1).index_select(0, pairs).view(count, k, k)
            similarity[:, 0, 1:] = to_neighbours
            similarity[:, 1:, 0] = to_neighbours
            adjacency = similarity * (similarity > model.epsilon).to(similarity.dtype)
            adjacency.diagonal(dim1=1, dim2=2).fill_(1.0)
            scale = adjacency.sum(-1).rsqrt()
            normalised = adjacency * scale[:, :, None] * scale[:, None, :]
            transformed = torch.cat([self.gcn1(z)[:, None], neighbour_gcn1], 1)
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
