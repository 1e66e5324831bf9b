"""CAR's content model: entity embeddings of alert attributes and alert-alert similarity.

Embedding. Every attribute value is an entity of its attribute's type (APE's typed entities,
Chen et al., IJCAI 2016). Entities that occur in the same alerts get close vectors. We factorise
the positive pointwise mutual information (PPMI) matrix of entity co-occurrence inside alerts
by a truncated SVD, v_e = U_e √Σ: by Levy & Goldberg (NeurIPS 2014) this is the optimum that
negative-sampling / NCE training of dot-product embeddings reaches (shifted PMI), obtained
exactly and deterministically in one step instead of by SGD. Each alert content class (a
distinct attribute tuple) counts log(1 + n) times, so a flood of identical alerts does not
drown the rest.

Similarity (methods.md §4.3; the reading note of CAR): for alerts i, j with attributes
a^1..a^m, S_ij = (1/m) Σ_k max(0, cos(v_{a_i^k}, v_{a_j^k})), kept for each content class's
``neighbours`` most similar classes (symmetrised), computed between classes, never between
the individual alerts: S = C K Cᵀ with C the alert -> class membership, so S·t costs O(n).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp
from scipy.sparse.linalg import svds


def content_classes(codes: list[np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    """Distinct attribute tuples: (class of each alert, the class tuples as rows)."""
    stacked = np.stack(codes, axis=1)
    classes, class_of = np.unique(stacked, axis=0, return_inverse=True)
    return class_of.reshape(-1), classes


def entity_embeddings(classes: np.ndarray, class_sizes: np.ndarray, dim: int = 16) -> list[
        np.ndarray]:
    """Per attribute, a (values x dim) matrix of unit-norm PPMI-SVD embeddings (see module)."""
    m = classes.shape[1]
    offsets = np.concatenate([[0], np.cumsum(classes.max(axis=0) + 1)])
    entity = classes + offsets[:-1]
    weight = np.log1p(class_sizes.astype(np.float64))
    rows, cols, vals = [], [], []
    for a in range(m):
        for b in range(m):
            if a != b:
                rows.append(entity[:, a])
                cols.append(entity[:, b])
                vals.append(weight)
    size = int(offsets[-1])
    cooc = sp.coo_matrix((np.concatenate(vals), (np.concatenate(rows), np.concatenate(cols))),
                         shape=(size, size)).tocsr()
    row_sum = np.asarray(cooc.sum(axis=1)).ravel()
    total = row_sum.sum()
    coo = cooc.tocoo()
    pmi = np.log(coo.data * total / (row_sum[coo.row] * row_sum[coo.col]))
    ppmi = sp.csr_matrix((np.maximum(pmi, 0.0), (coo.row, coo.col)), shape=(size, size))
    k = min(dim, size - 2)
    if k < 1:
        vectors = np.eye(size)
    else:
        u, s, _ = svds(ppmi, k=k, random_state=0)
        vectors = u * np.sqrt(s)
    norms = np.linalg.norm(vectors, axis=1, keepdims=True)
    vectors = vectors / np.where(norms > 0, norms, 1.0)
    return [vectors[offsets[a]:offsets[a + 1]] for a in range(m)]


def class_similarity(classes: np.ndarray, vectors: list[np.ndarray], neighbours: int = 10,
                     chunk: int = 512) -> sp.csr_matrix:
    """Symmetric sparse K: each class linked to its ``neighbours`` most similar classes."""
    n, m = classes.shape
    cosines = [np.maximum(v @ v.T, 0.0) for v in vectors]
    rows, cols, vals = [], [], []
    keep = min(neighbours + 1, n)
    for start in range(0, n, chunk):
        block = classes[start:start + chunk]
        sim = sum(cosines[a][block[:, a]][:, classes[:, a]] for a in range(m)) / m
        top = np.argpartition(-sim, keep - 1, axis=1)[:, :keep]
        rows.append(np.repeat(np.arange(start, start + len(block)), keep))
        cols.append(top.ravel())
        vals.append(np.take_along_axis(sim, top, axis=1).ravel())
    knn = sp.csr_matrix((np.concatenate(vals), (np.concatenate(rows), np.concatenate(cols))),
                        shape=(n, n))
    return knn.maximum(knn.T).tocsr()


@dataclass
class ContentSimilarity:
    """S = C K Cᵀ over alerts, applied without materialising it."""

    class_of: np.ndarray
    kernel: sp.csr_matrix

    def apply(self, values: np.ndarray) -> np.ndarray:
        """S · values."""
        per_class = np.bincount(self.class_of, weights=values, minlength=self.kernel.shape[0])
        return (self.kernel @ per_class)[self.class_of]

    def degrees(self) -> np.ndarray:
        return self.apply(np.ones(len(self.class_of)))
