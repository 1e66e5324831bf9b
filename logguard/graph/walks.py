"""Vectorised random walks over a CSR graph in plain torch (no pyg-lib / torch-cluster).

All walks advance one step at a time as tensors: for walkers at nodes ``c`` the next edge is
drawn with probability proportional to its weight among ``c``'s out-edges, by one
``searchsorted`` of ``offset[c] + U * total[c]`` in the global cumulative weight array. A walker
at a node without out-edges stops. Used to sample reference paths from history for the
Box-Cox fit (GID §3.5).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch


@dataclass
class WalkSample:
    """``score[i, L-1]``: the summed edge weight of walk ``i`` after ``L`` steps (NaN if it
    stopped before)."""

    score: np.ndarray

    def lengths(self, length: int) -> np.ndarray:
        """The scores of the walks that made ``length`` steps."""
        column = self.score[:, length - 1]
        return column[~np.isnan(column)]


def random_walks(src: np.ndarray, dst: np.ndarray, weight: np.ndarray, score: np.ndarray,
                 n_nodes: int, *, n_walks: int, steps: int, seed: int,
                 start_weight: np.ndarray | None = None,
                 device: str | torch.device = "cpu") -> WalkSample:
    """``n_walks`` walks of up to ``steps`` edges.

    ``weight`` sets transition probabilities, ``start_weight`` (default ``weight``) the draw of
    the first edge, ``score`` is the per-edge value summed along each walk (e.g. ``-log R(e)``).
    """
    if len(src) == 0 or n_walks == 0:
        return WalkSample(np.full((n_walks, steps), np.nan))
    generator = torch.Generator(device="cpu").manual_seed(seed)
    order = np.argsort(src, kind="stable")
    src_t = torch.as_tensor(src[order], dtype=torch.int64, device=device)
    col = torch.as_tensor(dst[order], dtype=torch.int64, device=device)
    w = torch.as_tensor(weight[order], dtype=torch.float64, device=device)
    s = torch.as_tensor(score[order], dtype=torch.float64, device=device)
    rowptr = torch.zeros(n_nodes + 1, dtype=torch.int64, device=device)
    rowptr[1:] = torch.cumsum(torch.bincount(src_t, minlength=n_nodes), 0)
    cumulative = torch.cumsum(w, 0)
    before = torch.cat([torch.zeros(1, dtype=torch.float64, device=device), cumulative])
    row_offset = before[rowptr[:-1]]
    row_total = before[rowptr[1:]] - row_offset

    start = torch.as_tensor((weight if start_weight is None else start_weight)[order],
                            dtype=torch.float64)
    if float(start.sum()) <= 0:
        return WalkSample(np.full((n_walks, steps), np.nan))
    first = torch.multinomial(start / start.sum(), n_walks, replacement=True,
                              generator=generator).to(device)
    total = s[first].clone()
    out = torch.full((n_walks, steps), float("nan"), dtype=torch.float64, device=device)
    out[:, 0] = total
    current = col[first]
    alive = torch.ones(n_walks, dtype=torch.bool, device=device)
    for step in range(1, steps):
        alive &= row_total[current] > 0
        if not bool(alive.any()):
            break
        uniform = torch.rand(n_walks, dtype=torch.float64, generator=generator).to(device)
        target = row_offset[current] + uniform * row_total[current]
        edge = torch.searchsorted(cumulative, target, right=True)
        edge = torch.minimum(torch.maximum(edge, rowptr[current]), rowptr[current + 1] - 1)
        edge = torch.clamp(edge, 0, len(col) - 1)
        total = total + s[edge]
        out[:, step] = torch.where(alive, total, torch.full_like(total, float("nan")))
        current = torch.where(alive, col[edge], current)
    return WalkSample(out.cpu().numpy())
