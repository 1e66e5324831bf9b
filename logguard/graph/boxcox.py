"""Box-Cox normalisation of path scores per path length (GID §3.5).

Longer paths collect larger log scores ``l(P) = sum_k -log R(e_k)`` mechanically. A Box-Cox
power transform ``BC_lambda(x) = (x^lambda - 1) / lambda`` (``log x`` for ``lambda = 0``) of
``x = 1 + l`` is fitted by maximum likelihood on reference paths of every length sampled from
normal history, and the mean ``mu_L`` and standard deviation ``sigma_L`` of the transformed
sample of each length ``L`` are kept. At detection
``z(P) = (BC_lambda(1 + l(P)) - mu_L) / sigma_L``: paths of every length share one
distribution, approximately N(0, 1) under normal behaviour, and are ranked by ``z``
(Dong et al., arXiv 1608.02639: "normalize the anomaly scores so that the scores of paths of
different lengths have the same distribution").

``shared_lambda=True`` (the default) fits one ``lambda`` for all lengths, by maximum
likelihood on the reference scores of every length pooled (``scipy.stats.boxcox_normmax``),
and keeps a mean and a standard deviation per length. The ranking compares the *tails* of
different lengths; with a separate ``lambda_L`` per length each tail is bent by its own power
(on OTRF history walks ``lambda_L`` ran from 1.29 at length 1 to 0.68 at length 5), so which
length wins far out is decided by the fitted curvature rather than by the data, and a single
odd edge at length 1 (``lambda > 1``) outranks whole chains. One ``lambda`` keeps the same
monotone scale for every length and normalises only location and spread. (Box and Cox's own
grouped estimator, one ``lambda`` with a mean and variance per group, weights lengths by their
sample sizes; random walks die out, so it lands on the length-1 ``lambda``: 1.26 on OTRF.)
``shared_lambda=False`` fits ``lambda_L`` per length (``scipy.stats.boxcox``).

A length with fewer than :data:`MIN_SAMPLES` reference paths borrows the parameters of the
nearest shorter fitted length.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import special, stats

MIN_SAMPLES = 20
MIN_SIGMA = 1e-6
LAMBDA_BOUNDS = (-3.0, 3.0)


@dataclass
class LengthNormalizer:
    """``lam[L-1], mu[L-1], sigma[L-1]`` for ``L = 1 .. max_length``."""

    lam: np.ndarray
    mu: np.ndarray
    sigma: np.ndarray

    @classmethod
    def fit(cls, samples: list[np.ndarray], shared_lambda: bool = True) -> LengthNormalizer:
        """``samples[L-1]``: reference log scores of paths of length ``L``."""
        n = len(samples)
        lam, mu, sigma = np.ones(n), np.zeros(n), np.ones(n)
        xs = [1.0 + np.asarray(sample, dtype=np.float64) for sample in samples]
        fitted = np.array([len(x) >= MIN_SAMPLES for x in xs], dtype=bool)
        if shared_lambda and fitted.any():
            lam[:] = _shared_lambda([x for x, ok in zip(xs, fitted, strict=True) if ok])
        for i, x in enumerate(xs):
            if not fitted[i]:
                continue
            if not shared_lambda:
                lam[i] = stats.boxcox_normmax(x, method="mle") if np.ptp(x) > 0 else 1.0
            transformed = special.boxcox(x, lam[i])
            mu[i], sigma[i] = transformed.mean(), max(transformed.std(), MIN_SIGMA)
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


def _shared_lambda(groups: list[np.ndarray]) -> float:
    """The maximum-likelihood Box-Cox ``lambda`` of all groups' values pooled."""
    pooled = np.concatenate(groups)
    if np.ptp(pooled) == 0:
        return 1.0
    return float(np.clip(stats.boxcox_normmax(pooled, method="mle"), *LAMBDA_BOUNDS))
