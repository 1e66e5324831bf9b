"""Seeded process traces of a simulated enterprise, with attack chains planted on request.

A discrete-event simulation. Every process is a generator of its own events in time order;
one heap merges the generators of all hosts, so events come out globally ordered by time
while memory holds only the processes alive now (the stream form never builds the whole
trace). A process, once started, loads some of its modules, then acts as a Poisson process of
rate ``rate_per_min`` × its host's habit factor × ``activity``; programs that follow the
users' day are thinned by the role's hourly profile (shifted by the host's ``hour_shift``,
damped at weekends), scheduled maintenance runs at night. Each action is a file written, a
DNS query followed by a connection to the answer (or a direct connection to an internal
peer), a registry value set, a process accessed or a child started, drawn from the host's
:class:`~logguard.sim.enterprise.Habit` for that program; a child is a new generator.

Determinism: every process draws from its own ``random.Random``, seeded by its parent, so the
trace is a pure function of ``(n_hosts, start, duration, seed, activity)``; planting attack
chains adds their events and leaves every normal event unchanged.

Usage::

    frame = simulate_processes(50, "2026-11-23T00:00:00Z", timedelta(hours=24), seed=7,
                               attacks=[AttackChain("OFFICE-003.acme.local",
                                                    "2026-11-23T10:30:00Z")])
    frame[frame.attack_step.notna()]            # the planted chain, labelled per step
    for event in iter_process_events(...): ...  # the same events as dicts, streamed
"""

from __future__ import annotations

import bisect
import gc
import heapq
import itertools
import random
import string
from collections.abc import Generator, Iterator, Sequence
from datetime import datetime, timedelta
from functools import cache
from typing import Any

from logguard.errors import InputError
from logguard.sim.attacks import AttackChain, Plan, chain_events, validate_chains
from logguard.sim.catalog import (
    ACCOUNTS,
    FLAT,
    INTERACTIVE,
    NIGHT,
    NIGHT_HOURS,
    PROGRAMS,
    ROLES,
    SERVICES,
    SYSTEM,
)
from logguard.sim.enterprise import Host, build_enterprise, public_ip
from logguard.sim.trace import (
    ACCESS,
    COLUMNS,
    CONNECT,
    DAY,
    DNS,
    FILE,
    HOUR,
    LOAD,
    MS,
    REGISTRY,
    SECOND,
    Proc,
    end_event,
    event,
    iso_time,
    process_guid,
    start_event,
    to_ns,
)

# A process generator yields (time ns, row or None, a child generator to start or None).
Step = tuple[int, tuple | None, "Generator[Step, None, None] | None"]
ProcessGen = Generator[Step, None, None]

# Image of the parent of residents that are not started by services.exe (before the window).
_RESIDENT_PARENTS = {
    "services": "C:\\Windows\\System32\\wininit.exe",
    "lsass": "C:\\Windows\\System32\\wininit.exe",
    "explorer_office": "C:\\Windows\\System32\\userinit.exe",
    "explorer_dev": "C:\\Windows\\System32\\userinit.exe",
    "wmiprvse": "C:\\Windows\\System32\\svchost.exe",
}


class HostState:
    """A host while the simulation runs: its resident processes and live Outlook instances."""

    def __init__(self, host: Host, peers: dict[str, list[str]], seed: int) -> None:
        self.host = host
        self.peers = peers
        self.seed = seed
        self.residents: dict[str, Proc] = {}
        self.outlooks: list[Proc] = []

    def account(self, kind: str) -> str:
        return self.host.user if kind == INTERACTIVE else ACCOUNTS[kind]

    def new_process(self, rng: random.Random, t_ns: int, image: str, command_line: str,
                    user: str, parent: Proc | None, end_ns: float) -> Proc:
        guid = process_guid(self.host.machine_id, t_ns, rng.getrandbits(64))
        proc = Proc(guid, 1000 + 4 * int(rng.random() * 5750), image, command_line, user, parent,
                    t_ns, end_ns)
        if proc.name == "outlook.exe":
            self.outlooks = [p for p in self.outlooks if p.end_ns > t_ns] + [proc]
        return proc

    def fill(self, template: str, rng: random.Random) -> str:
        """A template of the catalogue with this host's names (see :mod:`logguard.sim.catalog`)."""
        names = _placeholders(template)
        if not names:
            return template
        host = self.host
        values = {}
        for name in names:
            if name == "user":
                values[name] = host.short_user
            elif name == "sid":
                values[name] = host.sid
            elif name == "rand":
                values[name] = f"{rng.getrandbits(32):08x}"
            else:
                options = {"doc": host.docs, "proj": host.projects, "svc": SERVICES}[name]
                values[name] = pick(rng, options)
        return template.format_map(values)

    def live_outlook(self, t_ns: int) -> Proc | None:
        alive = [p for p in self.outlooks if p.start_ns <= t_ns < p.end_ns - 5 * 60 * SECOND]
        return alive[-1] if alive else None


@cache
def _placeholders(template: str) -> tuple[str, ...]:
    """Field names of a template, in order (a set's order would vary with the hash seed)."""
    names = (name for _, name, _, _ in string.Formatter().parse(template) if name)
    return tuple(dict.fromkeys(names))


def pick(rng: random.Random, options: Sequence[Any]) -> Any:
    """A uniform choice (``rng.choice`` without its slower bit-exact rejection sampling)."""
    return options[int(rng.random() * len(options))]


def pick_weighted(rng: random.Random, options: Sequence[Any], cum_weights: Sequence[float]) -> Any:
    """A choice with the given cumulative weights."""
    return options[bisect.bisect(cum_weights, rng.random() * cum_weights[-1])]


def _activity_share(state: HostState, rhythm: str, t_ns: int) -> float:
    """The share of the peak rate a program of this rhythm has at time ``t_ns`` on this host."""
    hour = (t_ns // HOUR) % 24
    if rhythm == NIGHT:
        return 1.0 if hour in NIGHT_HOURS else 0.0
    role = ROLES[state.host.role]
    share = role.hourly[(hour - state.host.hour_shift) % 24]
    weekday = (t_ns // DAY + 3) % 7  # 1970-01-01 was a Thursday
    return share * role.weekend if weekday >= 5 else share


def _life(state: HostState, key: str, proc: Proc, rng: random.Random, t0: int,
          activity: float, fresh: bool) -> ProcessGen:
    """Events of one process from ``t0`` on; ``fresh``: it starts now (loads modules, ends)."""
    program = PROGRAMS[key]
    habit = state.host.habits[key]
    host = state.host.name
    t = t0
    if fresh and program.modules:
        for module in rng.sample(program.modules, rng.randint(len(program.modules) // 2,
                                                              len(program.modules))):
            t += rng.randint(1, 40) * MS
            yield t, event(t, host, proc, LOAD, module), None
    rate_per_ns = program.rate_per_min * habit.rate_factor * activity / (60 * SECOND)
    while rate_per_ns > 0 and habit.kinds:
        t += int(rng.expovariate(rate_per_ns)) + 1
        if t >= proc.end_ns:
            break
        if program.rhythm != FLAT and rng.random() >= _activity_share(state, program.rhythm, t):
            continue
        kind = pick_weighted(rng, habit.kinds, habit.kind_cum)
        if kind == "file":
            yield t, event(t, host, proc, FILE, state.fill(pick(rng, program.files), rng)), None
        elif kind == "registry":
            key_path = state.fill(pick(rng, program.registry), rng)
            yield t, event(t, host, proc, REGISTRY, key_path), None
        elif kind == "access":
            yield t, event(t, host, proc, ACCESS, pick(rng, program.accesses)), None
        elif kind == "net":
            domain = pick(rng, habit.domains)
            if domain.startswith("@"):
                address = pick(rng, state.peers[domain] or [state.host.ip])
            else:
                yield t, event(t, host, proc, DNS, domain), None
                t += rng.randint(2, 60) * MS
                address = public_ip(state.seed, domain)
            yield t, event(t, host, proc, CONNECT, f"{address}:{program.port}"), None
        else:
            child_key = pick_weighted(rng, habit.children, habit.child_cum)
            child, child_gen = _spawn(state, child_key, proc, rng, t, activity)
            yield t, start_event(t, host, proc, child), child_gen
    if fresh and proc.end_ns != float("inf"):
        end = max(int(proc.end_ns), t)  # a connection may finish just after the planned end
        yield end, end_event(end, host, proc), None


def _spawn(state: HostState, key: str, parent: Proc, rng: random.Random, t_ns: int,
           activity: float) -> tuple[Proc, ProcessGen]:
    """A new process of program ``key`` started by ``parent`` at ``t_ns``, and its generator."""
    program = PROGRAMS[key]
    child_rng = random.Random(rng.getrandbits(64))
    lifetime = max(SECOND, int(child_rng.expovariate(1.0 / (program.lifetime_s or 3600)) * SECOND))
    child = state.new_process(child_rng, t_ns, state.fill(program.image, child_rng),
                              state.fill(pick(child_rng, program.command_lines), child_rng),
                              state.account(program.account), parent, t_ns + lifetime)
    return child, _life(state, key, child, child_rng, t_ns, activity, fresh=True)


def _residents(state: HostState, start_ns: int, activity: float) -> list[ProcessGen]:
    """The processes already running when the simulation starts, and their generators."""
    host = state.host
    keys = list(ROLES[host.role].residents) + ([host.server_app] if host.server_app else [])
    rng = random.Random(f"residents:{state.seed}:{host.name}")
    boot = start_ns - rng.randint(1, 72) * HOUR
    gens = []
    for key in keys:
        program = PROGRAMS[key]
        parent_image = _RESIDENT_PARENTS.get(key)
        parent = state.residents.get("services")
        if parent_image is not None:
            parent = Proc(process_guid(host.machine_id, boot, rng.getrandbits(64)),
                          rng.randrange(300, 900, 4), parent_image, parent_image,
                          ACCOUNTS[SYSTEM], None, boot, float("inf"))
        own_rng = random.Random(rng.getrandbits(64))
        proc = state.new_process(own_rng, boot + rng.randint(5, 600) * SECOND, program.image,
                                 state.fill(program.command_lines[0], own_rng),
                                 state.account(program.account), parent, float("inf"))
        state.residents[key] = proc
        gens.append(_life(state, key, proc, own_rng, start_ns, activity, fresh=False))
    return gens


def _merge(generators: Sequence[ProcessGen], end_ns: int) -> Iterator[tuple]:
    """Rows of all generators in time order, up to ``end_ns`` (exclusive)."""
    heap: list[tuple[int, int, Step, ProcessGen]] = []
    order = itertools.count()

    def schedule(gen: ProcessGen) -> None:
        step = next(gen, None)
        if step is not None:
            heapq.heappush(heap, (step[0], next(order), step, gen))

    for gen in generators:
        schedule(gen)
    while heap:
        t, _, (_, row, child), gen = heapq.heappop(heap)
        if t >= end_ns:
            return
        if row is not None:
            yield row
        if child is not None:
            schedule(child)
        schedule(gen)


def iter_process_rows(n_hosts: int, start: datetime | str, duration: timedelta | float,
                      seed: int = 0, attacks: Sequence[AttackChain] = (),
                      activity: float = 1.0) -> Iterator[tuple]:
    """The simulated events as row tuples (layout :data:`~logguard.sim.trace.COLUMNS`, time in ns).

    Arguments are checked before the first row: ``n_hosts`` ≥ 1, ``duration`` > 0 (seconds or
    a ``timedelta``), ``activity`` > 0 (a factor on every rate), and each attack chain names a
    simulated host and starts inside the window (see :func:`logguard.sim.attacks.validate_chains`).
    """
    if n_hosts < 1:
        raise InputError(f"n_hosts must be at least 1, got {n_hosts}")
    seconds = duration.total_seconds() if isinstance(duration, timedelta) else float(duration)
    if seconds <= 0:
        raise InputError(f"duration must be positive, got {duration!r}")
    if activity <= 0:
        raise InputError(f"activity must be positive, got {activity}")
    start_ns = to_ns(start)
    end_ns = start_ns + int(seconds * SECOND)
    hosts = build_enterprise(n_hosts, seed)
    plans = validate_chains(attacks, hosts, start_ns, end_ns)
    return _rows(hosts, start_ns, end_ns, seed, plans, activity)


def _rows(hosts: list[Host], start_ns: int, end_ns: int, seed: int,
          plans: list[Plan], activity: float) -> Iterator[tuple]:
    peers = {"@servers": [h.ip for h in hosts if h.role == "server"]}
    states = {h.name: HostState(h, peers, seed) for h in hosts}
    generators: list[ProcessGen] = []
    for state in states.values():
        generators.extend(_residents(state, start_ns, activity))
    for index, plan in enumerate(plans):
        rng = random.Random(f"attack:{seed}:{index}")
        generators.append(chain_events(plan, states, rng, seed))
    yield from _merge(generators, end_ns)


def iter_process_events(n_hosts: int, start: datetime | str, duration: timedelta | float,
                        seed: int = 0, attacks: Sequence[AttackChain] = (),
                        activity: float = 1.0) -> Iterator[dict[str, Any]]:
    """The simulated events as dicts, streamed in time order (for producing to Kafka).

    Keys are :data:`~logguard.sim.trace.COLUMNS`; ``time`` is ISO 8601 UTC; a field without a
    value is left out, so normal events have no ``attack_step`` / ``attack_id`` key.
    """
    return _as_dicts(iter_process_rows(n_hosts, start, duration, seed, attacks, activity))


def _as_dicts(rows: Iterator[tuple]) -> Iterator[dict[str, Any]]:
    """Rows as dicts without empty fields, the time as ISO text (formatted once per second)."""
    second, prefix = -1, ""
    for row in rows:
        event = {name: value for name, value in zip(COLUMNS, row, strict=True) if value is not None}
        if row[0] // SECOND != second:
            second = row[0] // SECOND
            prefix = iso_time(second * SECOND)[:-5]
        event["time"] = f"{prefix}.{row[0] % SECOND // MS:03d}Z"
        yield event


def simulate_processes(n_hosts: int, start: datetime | str, duration: timedelta | float,
                       seed: int = 0, attacks: Sequence[AttackChain] = (),
                       activity: float = 1.0):
    """The whole simulated trace as a ``pandas.DataFrame`` ordered by time.

    Columns: :data:`~logguard.sim.trace.COLUMNS`. ``time`` is ISO 8601 UTC text with
    milliseconds, as the Sysmon reader writes it; ``process_id``, ``object_process_id`` and
    ``event_code`` are nullable integers; ``attack_step`` / ``attack_id`` are the ground truth
    (missing on normal events). Text columns have pandas' ``str`` dtype.
    """
    import numpy as np
    import pandas as pd

    rows = iter_process_rows(n_hosts, start, duration, seed, attacks, activity)
    # Millions of live row tuples make every cyclic-GC pass walk them all (half the run time);
    # rows hold no reference cycles, so collection is paused while they accumulate.
    collecting = gc.isenabled()
    gc.disable()
    try:
        columns = list(zip(*rows, strict=True)) or [() for _ in COLUMNS]
    finally:
        if collecting:
            gc.enable()
    data: dict[str, Any] = {}
    for name, values in zip(COLUMNS, columns, strict=True):
        if name == "time":
            stamps = np.asarray(values, dtype="int64").astype("datetime64[ns]")
            data[name] = pd.array(np.char.add(np.datetime_as_string(stamps, unit="ms"), "Z"),
                                  dtype="str")
        elif name in ("process_id", "object_process_id", "event_code"):
            data[name] = pd.array(values, dtype="Int64")
        else:
            data[name] = pd.array(values, dtype="str")
    return pd.DataFrame(data)
