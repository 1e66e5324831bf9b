"""CAR's joint ranking of alerts and alert patterns by a fixed point that provably converges.

Three terms (Lin et al., CIKM 2018, as read in methods.md §4.2-4.3) plus a prior:

* (α) a pattern's score u_l stays close to its temporal dependency strength p_l ∈ [0, 1];
* (β) alerts with similar content get similar scores t (content similarity S);
* (γ) an alert and the patterns it belongs to agree (alert-pattern incidence F);
* (δ) an alert stays close to its prior t⁰_j ∈ [0, 1] (the upstream detector's score, or the
  temporal surprisal of the alert when there is none).

Each update sets a node to the minimiser of its own quadratic with its neighbours fixed (the
random-walk-normalised form of the objective of methods.md §4.3, as in label propagation,
Zhou et al., NeurIPS 2004)::

    u ← (α p + γ P_G t) / (α + γ)
    t ← (β P_S t + γ_j P_F u + δ t⁰) / (β + γ_j + δ)

with P_S = D_S⁻¹ S (mean score of the content neighbours), P_F = D_F⁻¹ F (mean score of the
alert's patterns), P_G = D_G⁻¹ Fᵀ (mean score of a pattern's alerts), all row-stochastic, and
γ_j = γ for alerts that belong to a pattern, 0 for those that do not.

Convergence. Substituting the u-step into the t-step gives t ← A(t) with, in the sup norm,
‖A(t) - A(t')‖∞ ≤ ρ ‖t - t'‖∞ since row-stochastic matrices have sup-norm 1, where::

    ρ = max( (β + γ²/(α + γ)) / (β + γ + δ),  β / (β + δ) )

(the second term only when some alert is in no pattern). ρ < 1 holds whenever δ > 0, or
α > 0 and γ > 0 with every alert in a pattern. Then A is a contraction: by Banach's theorem the
fixed point exists, is unique, and the iteration reaches it from any start at rate ρᵏ. We stop
once ‖tₖ₊₁ - tₖ‖∞ ≤ tol (1 - ρ) / ρ, which guarantees ‖tₖ₊₁ - t*‖∞ ≤ tol. Scores stay in
[0, 1] because every update is a convex combination of values in [0, 1].
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp

from logguard.errors import ConfigError


@dataclass(frozen=True)
class RankingWeights:
    """α (temporal), β (content), γ (alert-pattern agreement), δ (prior)."""

    alpha: float = 1.0
    beta: float = 0.5
    gamma: float = 2.0
    delta: float = 1.0

    def contraction(self, every_alert_in_a_pattern: bool) -> float:
        """ρ of the module docstring; the iteration converges iff it is below 1."""
        a, b, g, d = self.alpha, self.beta, self.gamma, self.delta
        if min(a, b, g, d) < 0:
            raise ConfigError(f"ranking weights must be >= 0, got {self}")
        rho = (b + (g * g / (a + g) if a + g > 0 else 0.0)) / (b + g + d) if b + g + d else 1.0
        if not every_alert_in_a_pattern:
            rho = max(rho, b / (b + d) if b + d > 0 else 0.0)
        return rho


@dataclass
class RankingResult:
    alert_scores: np.ndarray
    pattern_scores: np.ndarray
    iterations: int
    contraction: float


def row_normalise(matrix: sp.csr_matrix) -> tuple[sp.csr_matrix, np.ndarray]:
    """(D⁻¹ M, the row sums); empty rows stay zero."""
    sums = np.asarray(matrix.sum(axis=1)).ravel()
    inverse = np.divide(1.0, sums, out=np.zeros_like(sums), where=sums > 0)
    return sp.diags(inverse) @ matrix, sums


def co_rank(smooth: Callable[[np.ndarray], np.ndarray], incidence: sp.csr_matrix,
            pattern_strength: np.ndarray, prior: np.ndarray,
            weights: RankingWeights = RankingWeights(), *, group_of: np.ndarray | None = None,
            start: np.ndarray | None = None, tol: float = 1e-6,
            max_iterations: int = 10_000) -> RankingResult:
    """Solve the fixed point above.

    ``smooth(t)`` returns P_S t (a row-stochastic average of content neighbours' scores);
    ``incidence`` is F, (alerts x patterns), or (groups x patterns) with ``group_of`` giving
    each alert's group when alerts of one group share their row of F (the alerts of one run):
    F = G F_group with G the alert -> group membership, applied without materialising it.
    ``pattern_strength`` p and ``prior`` t⁰ are in [0, 1]; ``start`` warm-starts t.
    """
    incidence = incidence.tocsr()
    if group_of is None:
        group_of = np.arange(incidence.shape[0])
    group_to_pattern, group_degree = row_normalise(incidence)
    group_sizes = np.bincount(group_of, minlength=incidence.shape[0]).astype(np.float64)
    pattern_alerts = incidence.T @ group_sizes
    pattern_inverse = np.divide(1.0, pattern_alerts, out=np.zeros_like(pattern_alerts),
                                where=pattern_alerts > 0)
    pattern_sum = incidence.T.tocsr()
    in_pattern = (group_degree > 0)[group_of]

    def pattern_mean(alert_scores: np.ndarray) -> np.ndarray:
        """P_G t: each pattern's mean over its alerts."""
        per_group = np.bincount(group_of, weights=alert_scores, minlength=incidence.shape[0])
        return (pattern_sum @ per_group) * pattern_inverse

    rho = weights.contraction(bool(in_pattern.all()))
    if rho >= 1.0:
        raise ConfigError(f"ranking weights {weights} give contraction factor {rho:.3f} >= 1: "
                          "the fixed point would not converge (use delta > 0)")
    a, b, g, d = weights.alpha, weights.beta, weights.gamma, weights.delta
    gamma_j = np.where(in_pattern, g, 0.0)
    t = prior.astype(np.float64).copy() if start is None else start.astype(np.float64).copy()
    stop = tol * (1.0 - rho) / rho if rho > 0 else np.inf

    def pattern_step(alert_scores: np.ndarray) -> np.ndarray:
        if a + g == 0:  # no term ties a pattern to anything: it keeps its strength
            return pattern_strength.astype(np.float64)
        return (a * pattern_strength + g * pattern_mean(alert_scores)) / (a + g)

    iterations = 0
    while iterations < max_iterations:
        iterations += 1
        u = pattern_step(t)
        patterns_of_alert = (group_to_pattern @ u)[group_of]
        new_t = (b * smooth(t) + gamma_j * patterns_of_alert + d * prior) / (b + gamma_j + d)
        step = float(np.max(np.abs(new_t - t))) if len(t) else 0.0
        t = new_t
        if step <= stop:
            break
    u = pattern_step(t)
    return RankingResult(alert_scores=t, pattern_scores=u, iterations=iterations, contraction=rho)
