"""CAR's temporal model: alert sequences, a prefix tree of alert-type contexts, and a
hierarchical Pitman-Yor predictive distribution in its interpolated Kneser-Ney form.

Sequences (methods.md §4.3). Alerts are grouped by a sequence key (the host) and ordered by
time; a gap longer than ``session_gap`` seconds starts a new session. Alerts of one signature
that recur within a step of activity form one *run* (one scan that yields 400 k alerts is one
step), and the temporal model sees each session as the sequence of its run symbols s_1 s_2 ...

Runs. An alert with signature s at time τ continues run r when r is one of the last
``step_window`` = w runs of its session, r's symbol is s and r's last alert is at most
``session_gap`` before τ (a step is activity without a quiet gap, like a session); otherwise
it opens a new run. With w = 1 only consecutive repeats merge (A A A -> A). Real sensors
interleave: one web scan trips two or three signatures in turn (A B A B A C B ...), and one
sudo fires a Wazuh and several AMiner alerts. With w = 1 such a burst is thousands of runs
A, B, A, B, ..., so every context of length depth - 1 holds the burst itself and the prefix
tree never sees what came before it (the long-term dependency scan -> exploit -> escalation
is cut). With w = depth the burst is the runs A, B, C in order of first appearance, a context
holds the last depth - 1 *distinct* steps, and the patterns are chains of distinct steps.
The default stays w = 1: on the AIT-ADS networks w = depth raises group AP on all four
networks (most on three) but costs top-20 attack steps on two (bench/alerts.py, the
``car_step_window`` row).

Predictive distribution (Teh 2006, the hierarchical Pitman-Yor language model, with one table
per distinct symbol, t_us = min(1, c_us), i.e. interpolated Kneser-Ney)::

    P(s | u) = max(c_us - d_|u|, 0) / (θ + c_u.) + (θ + d_|u| T_u) / (θ + c_u.) · P(s | π(u))

where u is the context (at most ``depth - 1`` previous run symbols), π(u) drops its oldest
symbol (closer alerts matter more), c_us counts s after u, c_u. = Σ_s c_us, T_u is the number
of distinct symbols seen after u, and below the empty context is the uniform base 1/(V + 1)
(V symbols seen, one slot for "new"). Discounts grow with depth (d_0 = 0.5 ... 0.9).

Two hierarchies share the root restaurant G_∅ (:func:`backoff_chain`): the *shared* one,
G_∅ -> G_(s_k-1) -> G_(s_k-2 s_k-1) -> ..., pooled over all sequence keys, and a *keyed* one,
G_∅ -> G_key -> G_(key, s_k-1) -> ..., one per host (a host's own habits, backed off to the
whole network's).

Two scores come out:

* the *surprisal* of each run under the counts seen *before* it (prequential, so it is what a
  streaming system knows at arrival time): the mean of -log P over the two hierarchies,
  -½ log(P_keyed(s_k | u) · P_shared(s_k | u)). A signature new to the network, or new to
  this host, after a long history is surprising; routine noise is not;
* the *dependency strength* of every pattern l = s_1...s_n (n = 2..depth, a path of the prefix
  tree that occurred), the length-normalised mutual dependency of its steps under the final
  counts::

      p_l = (1/(n-1)) Σ_{k=2..n} log [ P(s_k | s_1..s_{k-1}) / P(s_k | ∅) ]

  high when the steps predict each other far better than chance (a multi-step chain).

The counts only grow, so new alerts update the model without a refit (:meth:`observe`).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from logguard.errors import ConfigError


@dataclass
class ContextCounts:
    """Counts of the symbols that followed one context (one node of the prefix tree)."""

    next_counts: dict[int, int] = field(default_factory=dict)
    total: int = 0


@dataclass
class PrefixTree:
    """Context -> counts of next symbols: the nodes of both hierarchies, contexts of length
    0..depth-1 (keyed contexts start with the ``("key", key)`` marker)."""

    depth: int = 4
    concentration: float = 1.0
    discounts: tuple[float, ...] = (0.5, 0.7, 0.8, 0.9)
    nodes: dict[tuple, ContextCounts] = field(default_factory=dict)
    symbols: set[int] = field(default_factory=set)

    def add(self, chain: list[tuple], symbol: int) -> None:
        """Count ``symbol`` after every context of ``chain`` (see :func:`backoff_chain`)."""
        self.symbols.add(symbol)
        for context in chain:
            node = self.nodes.get(context)
            if node is None:
                node = self.nodes[context] = ContextCounts()
            node.next_counts[symbol] = node.next_counts.get(symbol, 0) + 1
            node.total += 1

    def probability(self, chain: list[tuple], symbol: int) -> float:
        """P(symbol | the last context of ``chain``) by the HPY / Kneser-Ney recursion above,
        backing off along ``chain`` (most general context first)."""
        prob = 1.0 / (len(self.symbols) + 1)
        for level, context in enumerate(chain):
            node = self.nodes.get(context)
            if node is None or node.total == 0:
                continue
            discount = self.discounts[min(level, len(self.discounts) - 1)]
            count = node.next_counts.get(symbol, 0)
            denominator = self.concentration + node.total
            prob = (max(count - discount, 0.0)
                    + (self.concentration + discount * len(node.next_counts)) * prob) / denominator
        return prob


def backoff_chain(context: tuple[int, ...], key: int | None = None) -> list[tuple]:
    """Contexts from the most general to ``context``, each dropping the oldest symbol of the
    next: ``[(), (s_k-1,), (s_k-2, s_k-1), ...]``. With a sequence ``key`` the chain is
    keyed below the root: ``[(), (key,), (key, s_k-1), ...]`` (a host's own restaurants)."""
    prefix: tuple = () if key is None else (("key", key),)
    chain: list[tuple] = [()]
    if key is not None:
        chain.append(prefix)
    chain.extend(prefix + context[start:] for start in range(len(context) - 1, -1, -1))
    return chain


@dataclass
class SequenceState:
    """Where one sequence key stands: its session, last alert time and recent runs."""

    session: int
    last_time: float
    recent_runs: list[int]  # ids of the session's last max(depth, step_window) runs, oldest first


@dataclass
class Runs:
    """Runs found so far: per run its key, session, symbol, surprisal and context runs."""

    key: list[int] = field(default_factory=list)
    session: list[int] = field(default_factory=list)
    symbol: list[int] = field(default_factory=list)
    surprisal: list[float] = field(default_factory=list)
    first_time: list[float] = field(default_factory=list)
    last_time: list[float] = field(default_factory=list)
    size: list[int] = field(default_factory=list)
    previous: list[tuple[int, ...]] = field(default_factory=list)  # earlier runs in its session

    def __len__(self) -> int:
        return len(self.symbol)


@dataclass
class TemporalModel:
    """Sessions, runs, prefix-tree counts and prequential surprisal, updated alert by alert."""

    session_gap: float = 1800.0
    step_window: int = 1
    tree: PrefixTree = field(default_factory=PrefixTree)
    runs: Runs = field(default_factory=Runs)
    states: dict[int, SequenceState] = field(default_factory=dict)
    sessions: int = 0

    def __post_init__(self) -> None:
        if self.step_window < 1:
            raise ConfigError(f"step_window must be >= 1 (1 merges only consecutive repeats), "
                              f"got {self.step_window}")

    def observe(self, keys: np.ndarray, times: np.ndarray, symbols: np.ndarray) -> np.ndarray:
        """Add alerts (any order; processed by time) and return each alert's run id."""
        order = np.lexsort((np.arange(len(times)), times))
        run_of = np.empty(len(times), dtype=np.int64)
        key_list, time_list, symbol_list = keys[order].tolist(), times[order].tolist(), \
            symbols[order].tolist()
        runs, depth = self.runs, self.tree.depth
        for position, key, when, symbol in zip(order.tolist(), key_list, time_list, symbol_list,
                                               strict=True):
            state = self.states.get(key)
            if state is None or when - state.last_time > self.session_gap:
                state = self.states[key] = SequenceState(self.sessions, when, [])
                self.sessions += 1
            state.last_time = when
            recent = state.recent_runs
            run = next((r for r in reversed(recent[-self.step_window:])
                        if runs.symbol[r] == symbol
                        and when - runs.last_time[r] <= self.session_gap), -1)
            if run >= 0:
                runs.size[run] += 1
                runs.last_time[run] = when
            else:
                context = tuple(runs.symbol[r] for r in recent[-(depth - 1):]) if depth > 1 else ()
                run = len(runs)
                keyed, shared = backoff_chain(context, key), backoff_chain(context)
                runs.surprisal.append(-0.5 * math.log(self.tree.probability(keyed, symbol)
                                                      * self.tree.probability(shared, symbol)))
                self.tree.add(keyed, symbol)
                self.tree.add(shared[1:], symbol)
                runs.key.append(key)
                runs.session.append(state.session)
                runs.symbol.append(symbol)
                runs.first_time.append(when)
                runs.last_time.append(when)
                runs.size.append(1)
                runs.previous.append(tuple(recent[-(depth - 1):]) if depth > 1 else ())
                recent.append(run)
                del recent[:-max(depth, self.step_window)]
            run_of[position] = run
        return run_of

    def dependency_strength(self, pattern: tuple[int, ...]) -> float:
        """p_l of a pattern (two or more symbols) under the current counts."""
        total = 0.0
        for k in range(1, len(pattern)):
            symbol = pattern[k]
            total += math.log(self.tree.probability(backoff_chain(pattern[:k]), symbol)
                              / self.tree.probability([()], symbol))
        return total / (len(pattern) - 1)

    def patterns(self, first_run: int = 0) -> tuple[dict[tuple[int, ...], int], list[int],
                                                     list[int]]:
        """Patterns (n-grams of run symbols, n = 2..depth) of the runs from ``first_run`` on.

        Returns the pattern ids and the (run, pattern) incidence as two parallel lists: a run
        belongs to every occurrence of a pattern that covers it.
        """
        ids: dict[tuple[int, ...], int] = {}
        incidence_runs: list[int] = []
        incidence_patterns: list[int] = []
        symbols = self.runs.symbol
        for run in range(first_run, len(self.runs)):
            previous = self.runs.previous[run]
            for n in range(2, len(previous) + 2):
                members = (*previous[len(previous) - n + 1:], run)
                pattern = tuple(symbols[r] for r in members)
                pattern_id = ids.setdefault(pattern, len(ids))
                incidence_runs.extend(members)
                incidence_patterns.extend([pattern_id] * n)
        return ids, incidence_runs, incidence_patterns
