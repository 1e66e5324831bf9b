"""APE: entity-embedding anomaly detection for heterogeneous categorical events.

Chen, Tang, Sun, Chen, Zhang, "Entity Embedding-based Anomaly Detection for Heterogeneous
Categorical Events", IJCAI 2016 (arXiv 1608.07502); exact forms from the first author's code
(``wyxingyuX/APE``), see ``reference/methods.md`` §2.

Model. Every entity a (of any type) has a vector v_a ∈ R^d in one table; every pair of entity
types (i < j) has a weight w_ij = softplus(ŵ_ij) ≥ 0. The event score is

    S(e) = Σ_{i<j} w_ij ⟨v_{a_i}, v_{a_j}⟩_J,     log P(e) ≈ S(e) + b,

with the bias b standing in for the log-partition function, and ⟨x, y⟩_J = xᵀJy with
J = diag(+1, …, +1, −1, …, −1): the last q = round(``negative_fraction`` · d) coordinates count
negatively (a pseudo-Euclidean inner product of signature (d − q, q); Pękalska & Duin, "The
Dissimilarity Representation for Pattern Recognition", 2005). With q = 0 this is the
paper's dot product. Why the default is q = d/2: under the Euclidean dot product the matrix
of all entity-entity compatibilities ⟨v_a, v_b⟩ is positive semi-definite, so compatibility
behaves like similarity (a ~ b and b ~ c pull a ~ c), and with w_ij ≥ 0 no pair of types can
express "these values exclude each other" other than by small dot products. An indefinite J
lets that matrix be any symmetric matrix of rank ≤ d with at most d − q positive and q
negative eigenvalues, which is what the paper's unconstrained reimplementations obtain by
letting w_ij turn negative, while every w_ij stays a non-negative interaction strength. On
IDS2017 (``bench/categorical.py``) it lifts ROC-AUC from 0.94 to 0.96 at the same cost.

Training: noise-contrastive estimation with context-dependent noise. For a real event e (drawn
with probability ∝ its sample weight) and every slot i, k noise events replace a_i by
a'_i ~ q_i ∝ p_i^0.75 (p_i the count-weighted unigram of type i): the expectation over a
uniformly chosen slot (the author code samples one slot per batch), computed exactly. With the
raw-unigram correction of the issue and the author code,

    y(e) = S(e) + b − log(k · p_i(a_i)),
    L = −(1/B) Σ_batch (1/m) Σ_i [ log σ(y(e)) + Σ_{noise e' at slot i} log σ(−y(e')) ],

the common factor P(e_{−i}) of an event and its noise cancels. At the optimum S(e) + b =
log P(a_i | e_{−i}) + ¼·log p_i(a_i) + const: a conditional likelihood with a mild preference
for frequent values. Unseen values map to their type's unknown id, which enters the noise
distribution like the rarest value of its type (pseudo-count = the smallest positive count),
so the model learns that unknown entities make an event noise-like.

Anomaly score = −S(e) (the bias is constant, so this ranks exactly as −log P̂(e)).
Explanation: the pairs whose contribution w_ij ⟨v_i, v_j⟩_J lies furthest below its training
average, and the unseen entities.

An epoch draws max(rows, 32,768) events, so the held-out loss is checked at a similar
granularity on small and large inputs. Training is deterministic under ``random_state`` on a
given device; early stopping watches the NCE loss on a held-out slice of the training events
(``validation_fraction`` of the weight, split binomially per row for integer weights) and keeps
the best epoch. When that loss has not improved for ``patience`` epochs, the learning rate is
cut to ``LR_DROP_FACTOR`` of itself, up to ``lr_drops`` times, before training stops (a
reduce-on-plateau schedule): the constant-rate iterate wanders around the optimum, and the
test ranking moved by ±0.01 ROC-AUC from one epoch to the next on IDS2017; the smaller steps
settle it (seed-to-seed spread on IDS2017 halved).
"""

from __future__ import annotations

import copy
import itertools
import logging
import math
import time
from dataclasses import dataclass
from typing import Any

import numpy as np

from logguard.device import resolve_device
from logguard.errors import InputError
from logguard.models.categorical import CategoricalDetector, join_parts

log = logging.getLogger(__name__)

NOISE_POWER = 0.75          # q_i ∝ p_i^0.75 (word2vec; the APE author code)
SCORE_CHUNK_ROWS = 4_096    # rows per scoring batch on the CPU
CUDA_SCORE_CHUNK_ROWS = 262_144  # rows per scoring batch on a GPU (~0.8 GB at m = 12, d = 32)
VALIDATION_MAX_ROWS = 2_048  # held-out rows used for the early-stopping loss
EXPLAINED_PAIRS = 2         # lowest-contributing pairs named per explanation
MIN_EPOCH_EVENTS = 32_768   # an epoch draws max(rows, this) events: small data gets real epochs
LR_DROP_FACTOR = 0.3        # the learning rate's cut when the held-out loss stalls


class APE(CategoricalDetector):
    """APE detector (see the module docstring for the model, the loss and the score)."""

    kind = "ape"

    def __init__(self, entities: list[str] | None = None, dim: int = 32,
                 negative_fraction: float = 0.5, negatives: int = 5, epochs: int = 100,
                 batch_size: int = 512, learning_rate: float = 0.003,
                 validation_fraction: float = 0.1, patience: int = 3, lr_drops: int = 2,
                 device: str = "auto", random_state: int = 0, progress: bool = True) -> None:
        self.entities = entities
        self.dim = dim
        self.negative_fraction = negative_fraction
        self.negatives = negatives
        self.epochs = epochs
        self.batch_size = batch_size
        self.learning_rate = learning_rate
        self.validation_fraction = validation_fraction
        self.patience = patience
        self.lr_drops = lr_drops
        self.device = device
        self.random_state = random_state
        self.progress = progress

    # ------------------------------------------------------------------ training
    def _fit_ids(self, ids: np.ndarray, weights: np.ndarray) -> None:
        import torch

        self._check_params()
        if ids.shape[1] < 2:
            raise InputError("APE needs at least 2 entity columns (it scores pairs of entities)")
        device = resolve_device(self.device)
        generator = torch.Generator(device="cpu").manual_seed(self.random_state)
        vocab = self.vocabulary_
        network = _APENetwork(vocab.size, ids.shape[1], self.dim,
                              round(self.negative_fraction * self.dim), generator).to(device)
        counts = _smoothed_counts(vocab.counts, vocab.offsets)
        sampler = _NoiseSampler(counts, vocab.offsets, device, self.random_state)
        log_noise = torch.as_tensor(np.log(self.negatives * sampler.unigram), device=device)

        train_w, val_w = _split_weights(weights, self.validation_fraction, self.random_state)
        validation = (_Validation.build(ids, val_w, sampler, self.negatives, self.random_state)
                      if val_w.sum() > 0 and train_w.sum() > 0 else None)
        if validation is None:
            train_w = weights
        rows = torch.as_tensor(ids, device=device)
        row_cdf = torch.as_tensor(np.cumsum(train_w) / train_w.sum(), device=device)
        steps = math.ceil(max(len(ids), MIN_EPOCH_EVENTS) / self.batch_size)

        optimizer = torch.optim.Adam(network.parameters(), lr=self.learning_rate)
        started = time.perf_counter()
        best_loss, best_state, best_epoch = math.inf, network.state_dict_copy(), 0
        drops_left, stalled_since = self.lr_drops, 0
        history: list[dict[str, float]] = []
        bar = _progress(self.epochs, self.progress)
        for epoch in range(1, self.epochs + 1):
            total = torch.zeros((), device=device)  # summed on the device: no sync per step
            for _ in range(steps):
                draw = torch.rand(self.batch_size, generator=sampler.generator, device=device,
                                  dtype=torch.float64)
                batch = rows[torch.searchsorted(row_cdf, draw, right=True).clamp_(max=len(ids) - 1)]
                loss = _nce_loss(network, batch, sampler, log_noise, self.negatives)
                optimizer.zero_grad()
                loss.backward()
                optimizer.step()
                total += loss.detach()
            record = {"epoch": epoch, "train_loss": float(total) / steps,
                      "learning_rate": optimizer.param_groups[0]["lr"]}
            if validation is not None:
                record["validation_loss"] = validation.loss(network, log_noise)
            history.append(record)
            bar.set_postfix({k: round(v, 4) for k, v in record.items() if k != "epoch"})
            bar.update()
            if validation is None:
                best_loss, best_epoch = record["train_loss"], epoch
            elif record["validation_loss"] < best_loss - 1e-4:
                best_loss, best_state, best_epoch = (record["validation_loss"],
                                                     network.state_dict_copy(), epoch)
            elif epoch - max(best_epoch, stalled_since) >= self.patience:
                if not drops_left:
                    break
                drops_left, stalled_since = drops_left - 1, epoch
                for group in optimizer.param_groups:
                    group["lr"] *= LR_DROP_FACTOR
        bar.close()
        if validation is not None:
            network.load_state_dict(best_state)
        self.network_ = network.to("cpu").eval()
        self.pair_baseline_ = self._mean_pair_contributions(ids, weights)
        self.training_summary_ = {
            "epochs_run": len(history), "best_epoch": best_epoch,
            "best_loss": round(best_loss, 6), "early_stopping": validation is not None,
            "train_seconds": round(time.perf_counter() - started, 3), "device": str(device),
            "history": history,
        }
        log.debug("APE trained: %s", {k: v for k, v in self.training_summary_.items()
                                      if k != "history"})

    def _check_params(self) -> None:
        positive = {"dim": self.dim, "negatives": self.negatives, "epochs": self.epochs,
                    "batch_size": self.batch_size, "patience": self.patience}
        for name, value in positive.items():
            if not isinstance(value, int) or value < 1:
                raise InputError(f"APE {name} must be a positive integer, got {value!r}")
        if not isinstance(self.lr_drops, int) or self.lr_drops < 0:
            raise InputError(f"APE lr_drops must be a non-negative integer, got {self.lr_drops!r}")
        if not self.learning_rate > 0:
            raise InputError(f"APE learning_rate must be > 0, got {self.learning_rate!r}")
        if not 0 <= self.negative_fraction <= 1:
            raise InputError("APE negative_fraction must be in [0, 1], "
                             f"got {self.negative_fraction!r}")
        if not 0 <= self.validation_fraction < 1:
            raise InputError("APE validation_fraction must be in [0, 1), "
                             f"got {self.validation_fraction!r}")

    # ------------------------------------------------------------------ scoring
    def _score_ids(self, ids: np.ndarray) -> np.ndarray:
        """−S(e) per row, on the GPU when there is one and ``device`` is not ``cpu`` (a copy of
        the network is kept there), else on the CPU in cache-sized chunks."""
        import torch

        network, rows_per_chunk = self._scoring_network()
        device = network.metric.device
        out = np.empty(len(ids), dtype=np.float64)
        with torch.inference_mode():
            for start in range(0, len(ids), rows_per_chunk):
                chunk = torch.from_numpy(ids[start:start + rows_per_chunk]).to(device)
                out[start:start + len(chunk)] = (-network(chunk)[0]).cpu().numpy()
        return out

    def _scoring_network(self) -> tuple[Any, int]:
        """(network, rows per chunk) for scoring. ``network_`` itself stays on the CPU (what
        is saved, explained and loaded anywhere); the CUDA copy is remade after a new fit or
        load, which replace ``network_``."""
        import torch

        if self.device == "cpu" or not torch.cuda.is_available():
            return self.network_, SCORE_CHUNK_ROWS
        cached = getattr(self, "_cuda_copy", None)
        if cached is None or cached[0] is not self.network_:
            device = resolve_device(self.device)  # "auto" or "cuda[:N]", CUDA present
            self._cuda_copy = (self.network_, copy.deepcopy(self.network_).to(device))
        return self._cuda_copy[1], CUDA_SCORE_CHUNK_ROWS

    def pair_contributions(self, ids: np.ndarray) -> np.ndarray:
        """(n, m(m−1)/2) contributions w_ij ⟨v_i, v_j⟩_J, pairs in ``triu_indices(m, 1)`` order."""
        import torch

        with torch.inference_mode():
            return self.network_.pair_contributions(torch.from_numpy(ids)).double().numpy()

    def _mean_pair_contributions(self, ids: np.ndarray, weights: np.ndarray) -> np.ndarray:
        """Weighted mean of each pair's contribution over the training events."""
        total = np.zeros(ids.shape[1] * (ids.shape[1] - 1) // 2)
        for start in range(0, len(ids), SCORE_CHUNK_ROWS):
            stop = start + SCORE_CHUNK_ROWS
            total += weights[start:stop] @ self.pair_contributions(ids[start:stop])
        return total / weights.sum()

    def _explain_ids(self, ids: np.ndarray, texts: list[np.ndarray]) -> list[str]:
        """The pairs furthest below their training average, and the unseen entities.

        A pair's "pair score" is w_ij ⟨v_i, v_j⟩_J minus its weighted mean over the training
        events: pairs of independent types then sit near 0 and incompatible pairs stand out.
        """
        columns = self.entity_columns_
        first, second = np.triu_indices(len(columns), 1)
        explanations: list[str] = []
        for start in range(0, len(ids), SCORE_CHUNK_ROWS):
            block = ids[start:start + SCORE_CHUNK_ROWS]
            contributions = self.pair_contributions(block) - self.pair_baseline_
            lowest = np.argsort(contributions, axis=1, kind="stable")[:, :EXPLAINED_PAIRS]
            for offset, pairs in enumerate(lowest):
                row = start + offset
                parts = [f"{columns[first[p]]}={texts[first[p]][row]} with "
                         f"{columns[second[p]]}={texts[second[p]][row]} "
                         f"(pair score {contributions[offset, p]:.2f})" for p in pairs]
                parts.append(self._unseen_text(row, ids, texts))
                explanations.append(join_parts(parts))
        return explanations

    # ------------------------------------------------------------------ state
    @property
    def pair_weights_(self) -> np.ndarray:
        """The learned w_ij ≥ 0, pairs in ``np.triu_indices(m, 1)`` order."""
        import torch

        with torch.inference_mode():
            return self.network_.pair_weights().double().numpy()

    def _model_arrays(self) -> dict[str, np.ndarray]:
        arrays = {name: tensor.detach().cpu().numpy()
                  for name, tensor in self.network_.state_dict().items()}
        arrays["pair_baseline"] = self.pair_baseline_
        return arrays

    def _model_meta(self) -> dict[str, Any]:
        return {"training": {k: v for k, v in getattr(self, "training_summary_", {}).items()
                             if k != "history"}}

    def _set_model_arrays(self, arrays: dict[str, np.ndarray], meta: dict[str, Any]) -> None:
        import torch

        table = arrays["embedding.weight"]
        dim = table.shape[1]
        if "metric" not in arrays:  # saved before the metric was a parameter: the dot product
            arrays = {**arrays, "metric": np.ones(dim, dtype=table.dtype)}
            self.negative_fraction = 0.0
        negative_dims = int((arrays["metric"] < 0).sum())
        network = _APENetwork(table.shape[0], self.vocabulary_.n_types, dim, negative_dims,
                              torch.Generator().manual_seed(0))
        network.load_state_dict({name: torch.from_numpy(arrays[name])
                                 for name in network.state_dict()})
        self.network_ = network.eval()
        self.pair_baseline_ = arrays["pair_baseline"]


# ---------------------------------------------------------------------- the network
def _network_class():  # the torch module is defined lazily: the CLI must start without torch
    import torch
    from torch import nn

    class APENetwork(nn.Module):
        """Embedding table, raw pair weights (softplus -> w_ij ≥ 0), the bias b and the
        diagonal of the metric J (+1 for the first d − q coordinates, −1 for the last q)."""

        def __init__(self, n_ids: int, n_types: int, dim: int, negative_dims: int,
                     generator: torch.Generator):
            super().__init__()
            self.n_types = n_types
            self.embedding = nn.Embedding(n_ids, dim)
            with torch.no_grad():
                self.embedding.weight.normal_(0.0, 1.0 / math.sqrt(dim), generator=generator)
            metric = torch.ones(dim)
            metric[dim - negative_dims:] = -1.0
            self.register_buffer("metric", metric)
            n_pairs = n_types * (n_types - 1) // 2
            # softplus(log(e - 1)) = 1: every pair starts with weight 1
            self.raw_pair_weights = nn.Parameter(torch.full((n_pairs,), math.log(math.e - 1)))
            self.bias = nn.Parameter(torch.zeros(()))
            first, second = torch.triu_indices(n_types, n_types, 1)
            self.register_buffer("pair_first", first, persistent=False)
            self.register_buffer("pair_second", second, persistent=False)

        def pair_weights(self) -> torch.Tensor:
            return nn.functional.softplus(self.raw_pair_weights)

        def weight_matrix(self) -> torch.Tensor:
            """Symmetric W with W_ij = W_ji = w_ij and a zero diagonal."""
            matrix = self.raw_pair_weights.new_zeros(self.n_types, self.n_types)
            matrix = matrix.index_put((self.pair_first, self.pair_second), self.pair_weights())
            return matrix + matrix.T

        def forward(self, ids: torch.Tensor) -> tuple[torch.Tensor, ...]:
            """S(e) for ids (n, m), with the slot-major vectors V and contexts U (m, n, d).

            U_i = J Σ_j W_ij v_{a_j} is the context of slot i, and S = ½ Σ_i v_{a_i}ᵀ U_i:
            one (m × m)·(m × n·d) matrix product for the whole batch.
            """
            vectors = self.embedding(ids.T)
            n_types, count, dim = vectors.shape
            contexts = (self.weight_matrix() @ vectors.reshape(n_types, -1)).view(
                n_types, count, dim) * self.metric
            return 0.5 * (contexts * vectors).sum(dim=(0, 2)), vectors, contexts

        def replaced_scores(self, scores, vectors, contexts, rows, slots, noise_ids):
            """S of event ``rows`` with the entity at ``slots`` replaced by ``noise_ids`` (r, k).

            Replacing a_i by a'_i changes only the pairs through slot i:
            S(e') = S(e) + (v_{a'_i} − v_{a_i})ᵀ U_i, so a noise event costs one dot product.
            """
            old = vectors[slots, rows].unsqueeze(1)
            context = contexts[slots, rows].unsqueeze(1)
            change = ((self.embedding(noise_ids) - old) * context).sum(-1)
            return scores[rows].unsqueeze(1) + change

        def pair_contributions(self, ids: torch.Tensor) -> torch.Tensor:
            vectors = self.embedding(ids)
            gram = (vectors * self.metric) @ vectors.transpose(-1, -2)
            return gram[..., self.pair_first, self.pair_second] * self.pair_weights()

        def state_dict_copy(self) -> dict[str, torch.Tensor]:
            return {k: v.detach().clone() for k, v in self.state_dict().items()}

    return APENetwork


def _APENetwork(n_ids: int, n_types: int, dim: int, negative_dims: int, generator):
    return _network_class()(n_ids, n_types, dim, negative_dims, generator)


def _nce_terms(network, real, noise_ids, log_noise):
    """Per event and slot i: −log σ(y(e)) − Σ_k log σ(−y(e'_k)), the e'_k replacing slot i.

    ``real`` is (n, m); ``noise_ids`` is (n·m, k), row-major over (event, slot). Every slot
    gets its own noise: the expectation over the uniformly chosen slot of the NCE objective,
    computed exactly instead of sampled (cheap, since a noise event costs one dot product).
    """
    import torch
    from torch.nn.functional import logsigmoid

    count, n_types = real.shape
    slots = torch.arange(n_types, device=real.device).repeat(count)
    rows = torch.arange(count, device=real.device).repeat_interleave(n_types)
    scores, vectors, contexts = network(real)
    noise_scores = network.replaced_scores(scores, vectors, contexts, rows, slots, noise_ids)
    real_y = scores[rows] + network.bias - log_noise[real.reshape(-1)]
    noise_y = noise_scores + network.bias - log_noise[noise_ids]
    terms = -logsigmoid(real_y) - logsigmoid(-noise_y).sum(dim=1)
    return terms.view(count, n_types)


def _nce_loss(network, batch, sampler: _NoiseSampler, log_noise, negatives: int):
    """The NCE loss of a batch of real events, ``negatives`` noise events per entity slot."""
    import torch

    count, n_types = batch.shape
    slots = torch.arange(n_types, device=batch.device).repeat(count)
    noise_ids = sampler.sample(slots.unsqueeze(1).expand(count * n_types, negatives))
    return _nce_terms(network, batch, noise_ids, log_noise).mean(dim=1).mean()


# ---------------------------------------------------------------------- noise and data splits
def _smoothed_counts(counts: np.ndarray, offsets: np.ndarray) -> np.ndarray:
    """Counts where the unknown id (and any zero-weight value) of a type gets the type's
    smallest positive count: a never-seen value is treated like the rarest seen one."""
    smoothed = counts.copy()
    for start, stop in itertools.pairwise(offsets):
        block = smoothed[start:stop]
        positive = block[block > 0]
        block[block <= 0] = positive.min() if positive.size else 1.0
    return smoothed


class _NoiseSampler:
    """Draws a'_i ~ q_i ∝ p_i^0.75 for a tensor of slots, on the training device.

    Each type's inclusive CDF is shifted by its type index into one sorted array, so one
    ``searchsorted`` of ``slot + U(0, 1)`` samples every slot's own type at once.
    """

    def __init__(self, counts: np.ndarray, offsets: np.ndarray, device, seed: int) -> None:
        import torch

        type_of = np.repeat(np.arange(len(offsets) - 1), np.diff(offsets))
        totals = np.add.reduceat(counts, offsets[:-1])
        self.unigram = counts / totals[type_of]
        powered = counts ** NOISE_POWER
        cumulative = np.cumsum(powered)
        starts = np.concatenate([[0.0], cumulative[offsets[1:-1] - 1]])
        type_cdf = (cumulative - starts[type_of]) / np.add.reduceat(powered, offsets[:-1])[type_of]
        type_cdf[offsets[1:] - 1] = 1.0
        self.cdf = torch.as_tensor(type_of + type_cdf, device=device)
        self.n_ids = len(counts)
        self.generator = torch.Generator(device=device).manual_seed(seed)

    def sample(self, slots):
        import torch

        uniform = torch.rand(slots.shape, generator=self.generator, device=slots.device,
                             dtype=torch.float64)
        return torch.searchsorted(self.cdf, slots + uniform, right=True).clamp_(max=self.n_ids - 1)


def _split_weights(weights: np.ndarray, fraction: float,
                   seed: int) -> tuple[np.ndarray, np.ndarray]:
    """(train, held-out) weights: a ``fraction`` of the events held out for early stopping.

    Integer weights (event counts) are split binomially per row, exactly as holding out that
    fraction of the expanded events would; other weights hold out whole rows.
    """
    if fraction <= 0:
        return weights, np.zeros_like(weights)
    rng = np.random.default_rng(seed)
    if np.all(weights == np.round(weights)) and weights.max() < 2**62:
        held = rng.binomial(weights.astype(np.int64), fraction).astype(np.float64)
    else:
        held = np.where(rng.random(len(weights)) < fraction, weights, 0.0)
    return weights - held, held


@dataclass
class _Validation:
    """Held-out events with fixed noise: k noise events for every entity slot of each row."""

    real: Any          # (r, m) ids
    noise_ids: Any     # (r·m, k): row-major over (row, slot), the replacing ids
    weights: Any       # (r,) normalised held-out weights

    @classmethod
    def build(cls, ids: np.ndarray, weights: np.ndarray, sampler: _NoiseSampler,
              negatives: int, seed: int) -> _Validation:
        import torch

        rows = np.flatnonzero(weights > 0)
        if len(rows) > VALIDATION_MAX_ROWS:
            rows = np.sort(np.random.default_rng(seed).choice(rows, VALIDATION_MAX_ROWS,
                                                              replace=False))
        device = sampler.cdf.device
        real = torch.as_tensor(ids[rows], device=device)
        slots = torch.arange(real.shape[1], device=device).repeat(len(rows))
        noise_ids = sampler.sample(slots.unsqueeze(1).expand(len(slots), negatives))
        return cls(real, noise_ids, torch.as_tensor(weights[rows] / weights[rows].sum(),
                                                    device=device))

    def loss(self, network, log_noise) -> float:
        import torch

        with torch.no_grad():
            terms = _nce_terms(network, self.real, self.noise_ids, log_noise)
            return float((terms.mean(dim=1) * self.weights).sum())


def _progress(epochs: int, enabled: bool):
    from tqdm.auto import tqdm

    return tqdm(total=epochs, desc="APE epochs", unit="epoch", disable=not enabled,
                leave=False, dynamic_ncols=True)
