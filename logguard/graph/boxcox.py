"""Box-Cox normalisation of path scores per path length (GID §3.5).

Longer paths collect larger log scores ``l(P) = sum_k -log R(e_k)`` mechanically. For each
length ``L`` a Box-Cox power transform ``BC_lambda(x) = (x^lambda - 1) / lambda`` (``log x``
for ``lambda = 0``) is fitted by maximum likelihood (``scipy.stats.boxcox``) on ``x = 1 + l``
of reference paths of that length sampled from normal history, and the mean ``mu_L`` and
standard deviation ``sigma_L`` of the transformed sample are kept. At detection
``z(P) = (BC_lambda_L(1 + l(P)) - mu_L) / sigma_L``: paths of every length share one
distribution, approximately N(0, 1) under normal behaviour, and are ranked by ``z``
(Dong et al., arXiv 1608.02639: "normalize the anomaly scores so that the scores of paths of
different lengths have the same distribution").

A length with fewer than :data:`MIN_SAMPLES` reference paths borrows the parameters of the
nearest shorter fitted length.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import special, stats

MIN_SAMPLES = 20
MIN_SIGMA = 1e-6


@dataclass
class LengthNormalizer:
    """``lam[L-1], mu[L-1], sigma[L-1]`` for ``L = 1 .. max_length``."""

    lam: np.ndarray
    mu: np.ndarray
    sigma: np.ndarray

    @classmethod
    def fit(cls, samples: list[np.ndarray]) -> LengthNormalizer:
        """``samples[L-1]``: reference log scores of paths of length ``L``."""
        n = len(samples)
        lam, mu, sigma = np.ones(n), np.zeros(n), np.ones(n)
        fitted = np.zeros(n, dtype=bool)
        for i, sample in enumerate(samples):
            x = 1.0 + np.asarray(sample, dtype=np.float64)
            if len(x) < MIN_SAMPLES:
                continue
            if np.ptp(x) > 0:
                transformed, lam[i] = stats.boxcox(x)
            else:
                transformed, lam[i] = x, 1.0
            mu[i], sigma[i] = transformed.mean(), max(transformed.std(), MIN_SIGMA)
            fitted[i] = True
        for i in range(n):  # borrow from the nearest shorter fitted length
            if not fitted[i]:
                donors = np.flatnonzero(fitted[:i]) if i else np.array([], dtype=int)
                if len(donors) == 0:
                    donors = np.flatnonzero(fitted)
                if len(donors):
                    j = donors[-1] if donors[-1] < i else donors[0]
                    lam[i], mu[i], sigma[i] = lam[j], mu[j], sigma[j]
        return cls(lam=lam, mu=mu, sigma=sigma)

    @property
    def max_length(self) -> int:
        return len(self.lam)

    def z_scores(self, scores: np.ndarray, lengths: np.ndarray) -> np.ndarray:
        """``z`` of paths with log scores ``scores`` and lengths ``lengths`` (1-based)."""
        i = np.asarray(lengths, dtype=np.int64) - 1
        transformed = special.boxcox(1.0 + np.asarray(scores, dtype=np.float64), self.lam[i])
        return (transformed - self.mu[i]) / self.sigma[i]

    def state(self) -> dict[str, np.ndarray]:
        return {"bc_lambda": self.lam, "bc_mu": self.mu, "bc_sigma": self.sigma}

    @classmethod
    def from_state(cls, arrays: dict[str, np.ndarray]) -> LengthNormalizer:
        return cls(lam=arrays["bc_lambda"], mu=arrays["bc_mu"], sigma=arrays["bc_sigma"])
