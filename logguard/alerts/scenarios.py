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
