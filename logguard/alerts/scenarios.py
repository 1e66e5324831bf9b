"""Attack scenarios: the connected high-scoring alert runs, stitched across hosts and entities.

CAR reconstructs attack scenarios from its top-ranked alerts and patterns (Lin et al., CIKM
2018). Here the ``top_runs`` best-scoring runs (a run = same-signature alerts of a host, one
step of activity, see ``logguard.alerts.temporal``; its score is its best alert's) are the
nodes. Two runs a, b with time spans [f_a, l_a], [f_b, l_b] and gap
g = max(f_a, f_b) − min(l_a, l_b) are linked when

* they share an entity (host or ip) and g ≤ ``horizon`` (one actor's chain on one host or
  address), or
* they have the same signature and overlap in time, g ≤ 0: one activity seen at once from
  several places, such as a scan sweeping hosts whose sensors each raise the same alert
  (the signature is an entity of the alert too; requiring overlap rather than the horizon
  keeps routine signatures of unrelated hosts apart).

Each connected component is a scenario: its steps are its runs merged by (signature, host) and
ordered by first time. Its score is the evidence its steps carry beyond
the selection threshold τ (the lowest score among the chosen runs)::

    score(scenario) = Σ_{steps k} (score_k − τ),   score_k = max score of the step's alerts

so a long chain of strong steps outranks one strong alert, while a component of many steps
that only just made the cut (score_k ≈ τ, e.g. one routine admin session whose every
signature is rare) does not outrank a shorter chain of clearly stronger steps, as a plain sum
of step scores would (it counts steps, since every chosen step scores about τ or more).

:func:`queue_scores` turns the scenarios back into the order an analyst reads: each alert's
score lifted toward its scenario's strength, less for a step that only co-fires with a better
step of its scenario.

Scenarios are plain dataclasses (``asdict`` gives a JSON-ready dict) so a store can keep them.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from logguard.alerts.records import MISSING


@dataclass
class ScenarioStep:
    signature: str
    host: str
    first_time: float
    last_time: float
    alerts: int
    score: float


@dataclass
class Scenario:
    id: int
    score: float
    steps: list[ScenarioStep]
    hosts: list[str]
    entities: list[str]
    first_time: float
    last_time: float
    alerts: int
    alert_indices: list[int] = field(default_factory=list, repr=False)

    def to_record(self) -> dict:
        """JSON-ready dict (without the alert indices, which the alert rows carry)."""
        return {
            "id": self.id, "score": self.score, "first_time": self.first_time,
            "last_time": self.last_time, "alerts": self.alerts, "hosts": self.hosts,
            "entities": self.entities,
            "steps": [vars(step) for step in self.steps],
        }


def _find(parent: list[int], node: int) -> int:
    while parent[node] != node:
        parent[node] = parent[parent[node]]
        node = parent[node]
    return node


def build_scenarios(scores: np.ndarray, run_of: np.ndarray, time: np.ndarray,
                    signature: list[str], host: list[str], ip: list[str], *,
                    top_runs: int = 200, horizon: float = 3600.0) -> list[Scenario]:
    """Scenarios from per-alert ``scores`` and attributes (lists of strings per alert).

    Returned best first, ``id`` 1, 2, ...; each alert belongs to at most one scenario.
    """
    if len(scores) == 0:
        return []
    run_score = np.full(int(run_of.max()) + 1, -np.inf)
    np.maximum.at(run_score, run_of, scores)
    chosen = np.argsort(-run_score, kind="stable")[:top_runs]
    chosen = chosen[np.isfinite(run_score[chosen])]
    members = {int(r): np.flatnonzero(run_of == r) for r in chosen}
    spans = {r: (float(time[idx].min()), float(time[idx].max())) for r, idx in members.items()}
    # a missing ip ("-") is no shared entity: alerts without one must not all link up
    entities = {r: {f"host:{host[idx[0]]}"} | {f"ip:{ip[i]}" for i in idx[:1000]
                                               if ip[i] != MISSING}
                for r, idx in members.items()}
    run_signature = {r: signature[idx[0]] for r, idx in members.items()}
    runs = list(members)
    parent = list(range(len(runs)))
    for i, a in enumerate(runs):
        for j in range(i + 1, len(runs)):
            b = runs[j]
            gap = max(spans[a][0], spans[b][0]) - min(spans[a][1], spans[b][1])
            if (gap <= horizon and entities[a] & entities[b]) or (
                    gap <= 0 and run_signature[a] == run_signature[b]):
                parent[_find(parent, i)] = _find(parent, j)
    components: dict[int, list[int]] = {}
    for i, run in enumerate(runs):
        components.setdefault(_find(parent, i), []).append(run)
    threshold = float(run_score[chosen].min()) if len(chosen) else 0.0
    scenarios = [_scenario(component, members, spans, entities, run_score, signature, host,
                           threshold) for component in components.values()]
    scenarios.sort(key=lambda s: (-s.score, s.first_time))
    for number, scenario in enumerate(scenarios, start=1):
        scenario.id = number
    return scenarios


def _scenario(runs: list[int], members: dict[int, np.ndarray],
              spans: dict[int, tuple[float, float]], entities: dict[int, set[str]],
              run_score: np.ndarray, signature: list[str], host: list[str],
              threshold: float) -> Scenario:
    steps: dict[tuple[str, str], ScenarioStep] = {}
    for run in runs:
        first_alert = int(members[run][0])
        key = (signature[first_alert], host[first_alert])
        step = steps.get(key)
        if step is None:
            steps[key] = ScenarioStep(key[0], key[1], spans[run][0], spans[run][1],
                                      len(members[run]), float(run_score[run]))
        else:
            step.first_time = min(step.first_time, spans[run][0])
            step.last_time = max(step.last_time, spans[run][1])
            step.alerts += len(members[run])
            step.score = max(step.score, float(run_score[run]))
    ordered = sorted(steps.values(), key=lambda s: (s.first_time, -s.score))
    indices = sorted(int(i) for run in runs for i in members[run])
    all_entities = set().union(*(entities[r] for r in runs))
    return Scenario(
        id=0, score=float(sum(s.score - threshold for s in ordered)), steps=ordered,
        hosts=sorted({s.host for s in ordered}),
        entities=sorted(e for e in all_entities if not e.startswith("host:")),
        first_time=min(s.first_time for s in ordered),
        last_time=max(s.last_time for s in ordered),
        alerts=len(indices), alert_indices=indices)


def queue_scores(scores: np.ndarray, scenarios: list[Scenario], time: np.ndarray,
                 signature: np.ndarray, host: np.ndarray, *, weight: float = 0.05,
                 burst: float = 2.0, redundancy: float = 0.5) -> np.ndarray:
    """The score an analyst's queue is ordered by: an alert's own score t_j, lifted by the
    scenario it belongs to, less for steps that only repeat a better step of that scenario.

    CAR ranks alerts *and* reconstructs scenarios; an alert that is a step of a strong scenario
    is more likely a true attack than an equally scored alert that stands alone (the chain is
    the evidence, Lin et al., CIKM 2018). With κ = ``weight``, S_c the score of scenario c
    (module docstring) and S_max the best scenario score::

        q_j = (1 − κ) t_j + κ · (S_c / S_max) · (1 − ρ r_k)   if alert j is in step k of c
        q_j = (1 − κ) t_j                                    if j is in no scenario

    Redundancy r_k ∈ [0, 1]. One action trips several sensors at once: one sudo raises a Wazuh
    alert and a handful of AMiner alerts within a second, one scan trips the same signature on
    every host it sweeps. Without a discount such a burst lifts a dozen (signature, host) steps
    of one action together and fills the top of the queue with near-duplicates, crowding out
    the scenario's distinct actions and the strongest alerts elsewhere. So the steps of a
    scenario are taken best first (step score = its best alert's t, ties by first time) and

        r_k = |{τ ∈ T_k : ∃ τ' ∈ ∪_{j ∈ B_k} T_j, |τ − τ'| ≤ b}| / |T_k|

    with T_k the distinct times of step k's alerts, B_k the better steps that share its host or
    its signature (the two links of a burst, as in :func:`build_scenarios`) and b = ``burst``
    seconds: the share of step k's moments at which a better step was already firing. A
    scenario's best step, and any step that happens at its own moment, gets the full lift; a
    step that only co-fires with better ones gets 1 − ρ of it (ρ = ``redundancy``), so a burst
    still rises above unrelated alerts, only less than the scenario's distinct steps.

    q is a convex combination of values in [0, 1], so it stays in [0, 1]; κ = 0 gives t back.
    The lift is small on purpose (κ = 0.05, about the spread of t among the top groups): it
    reorders alerts of similar score by their context and never buries a strong lone alert.
    """
    scores = np.asarray(scores, dtype=np.float64)
    if weight == 0 or not scenarios:
        return scores.copy()
    lift = np.zeros(len(scores))
    best = max(s.score for s in scenarios)
    for scenario in scenarios:
        strength = scenario.score / best if best > 0 else 0.0
        if strength <= 0:
            continue
        indices = np.asarray(scenario.alert_indices, dtype=np.int64)
        keys = list(zip(signature[indices].tolist(), host[indices].tolist(), strict=True))
        steps: dict[tuple, list[int]] = {}
        for position, key in enumerate(keys):
            steps.setdefault(key, []).append(position)
        ranked = []
        for key, positions in steps.items():
            members = indices[positions]
            ranked.append((-float(scores[members].max()), float(time[members].min()), key,
                           members))
        ranked.sort(key=lambda step: step[:2])
        seen: list[tuple[tuple, np.ndarray]] = []
        for _, _, key, members in ranked:
            moments = np.unique(time[members])
            earlier = [m for other, m in seen if other[0] == key[0] or other[1] == key[1]]
            share = 0.0
            if earlier:
                firing = np.sort(np.concatenate(earlier))
                # a moment is redundant when some earlier step fired within ±burst of it
                within = (np.searchsorted(firing, moments + burst, side="right")
                          > np.searchsorted(firing, moments - burst, side="left"))
                share = float(np.mean(within))
            lift[members] = strength * (1.0 - redundancy * share)
            seen.append((key, moments))
    return (1.0 - weight) * scores + weight * lift
