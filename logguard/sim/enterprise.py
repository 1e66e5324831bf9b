"""The simulated enterprise: its hosts, their users, addresses and personal habits.

:func:`build_enterprise` lays out ``n_hosts`` hosts (about 10 % servers, 25 % developer
machines, the rest office workstations; names depend only on ``n_hosts``) and draws, from the
seed, what makes each host its own: its user and SID, documents and projects, an hour shift of
its daily rhythm, and a :class:`Habit` per program: which children it starts (each optional
child is dropped with probability 0.25, the others re-weighted by a log-normal factor), which
of the program's domains it visits, and a log-normal factor on the activity rate.
"""

from __future__ import annotations

import random
import zlib
from dataclasses import dataclass, field
from itertools import accumulate

from logguard.sim.catalog import PROGRAMS, ROLES, SERVER_APPS

DOMAIN = "acme.local"
NETBIOS = "ACME"
_FIRST = ("anna", "ben", "carla", "dmitri", "elena", "farid", "grace", "hugo", "ines", "jonas",
          "kira", "liam", "maya", "noah", "olga", "pedro", "quinn", "rosa", "sven", "tara")
_LAST = ("smith", "garcia", "muller", "rossi", "novak", "khan", "dubois", "berg", "silva",
         "jensen", "costa", "ivanova", "meyer", "lopez", "walsh", "tanaka", "moreau", "fischer")
_TOPICS = ("budget", "minutes", "roadmap", "invoice", "contract", "report", "forecast", "payroll",
           "proposal", "review", "plan", "summary", "inventory", "audit", "onboarding")
_PROJECTS = ("billing-api", "webshop", "etl-jobs", "mobile-app", "infra", "auth-service",
             "data-lake", "reporting", "scheduler", "frontend")
_VERSIONS = ("2025", "2026", "q3", "q4", "v2", "final")
_PUBLIC_FIRST_OCTETS = (13, 20, 23, 34, 35, 40, 52, 104, 140, 151, 157, 185)


@dataclass(frozen=True)
class Habit:
    """How one host runs one program: its choices and their cumulative weights."""

    kinds: tuple[str, ...]
    kind_cum: tuple[float, ...]
    children: tuple[str, ...]
    child_cum: tuple[float, ...]
    domains: tuple[str, ...]
    rate_factor: float


@dataclass(frozen=True)
class Host:
    """One simulated Windows host."""

    name: str
    role: str
    ip: str
    machine_id: str  # first group of every process GUID on this host, as Sysmon writes it
    user: str  # DOMAIN\short name of its interactive user (servers: the administrator)
    sid: str
    docs: tuple[str, ...]
    projects: tuple[str, ...]
    hour_shift: int
    server_app: str | None
    habits: dict[str, Habit] = field(repr=False)

    @property
    def short_user(self) -> str:
        return self.user.split("\\", 1)[1]

    @property
    def workstation(self) -> bool:
        return self.role != "server"


def role_counts(n_hosts: int) -> dict[str, int]:
    """How many hosts of each role: ~10 % servers, ~25 % developers, the rest office."""
    servers = max(1, n_hosts // 10) if n_hosts >= 3 else 0
    developers = max(1, n_hosts // 4) if n_hosts >= 2 else 0
    return {"office": n_hosts - servers - developers, "developer": developers, "server": servers}


def host_names(n_hosts: int) -> list[str]:
    """The host names of an enterprise of ``n_hosts`` hosts (independent of the seed)."""
    prefix = {"office": "OFFICE", "developer": "DEV", "server": "SRV"}
    return [f"{prefix[role]}-{i + 1:03d}.{DOMAIN}"
            for role, count in role_counts(n_hosts).items() for i in range(count)]


def build_enterprise(n_hosts: int, seed: int) -> list[Host]:
    """Every host of the enterprise, with its habits drawn from ``seed``."""
    hosts: list[Host] = []
    used_users: set[str] = set()
    names = iter(host_names(n_hosts))
    for role_index, (role, count) in enumerate(role_counts(n_hosts).items()):
        for i in range(count):
            rng = random.Random(f"host:{seed}:{role}:{i}")
            user = _unique_user(rng, used_users) if role != "server" else f"adm_{i + 1:03d}"
            hosts.append(Host(
                name=next(names),
                role=role,
                ip=f"10.{20 + i // 240}.{role_index + 1}.{10 + i % 240}",
                machine_id=_machine_id(len(hosts), seed),
                user=f"{NETBIOS}\\{user}",
                sid=f"S-1-5-21-3541430928-2051711210-1391384369-{1104 + len(hosts)}",
                docs=tuple(f"{rng.choice(_TOPICS)}_{rng.choice(_VERSIONS)}"
                           for _ in range(rng.randint(6, 14))),
                projects=tuple(rng.sample(_PROJECTS, rng.randint(1, 3))),
                hour_shift=rng.choice((-1, 0, 0, 1)),
                server_app=SERVER_APPS[i % len(SERVER_APPS)] if role == "server" else None,
                habits=_habits(rng, role, i),
            ))
    return hosts


def _machine_id(index: int, seed: int) -> str:
    """Distinct per host for one seed: an odd multiplier is a bijection modulo 2**32."""
    return f"{(index * 0x9E3779B1 + seed * 0x85EBCA6B + 0x1F2E3D4C) & 0xFFFFFFFF:08x}"


def _unique_user(rng: random.Random, used: set[str]) -> str:
    base = f"{rng.choice(_FIRST)[0]}{rng.choice(_LAST)}"
    name, n = base, 1
    while name in used:
        n += 1
        name = f"{base}{n}"
    used.add(name)
    return name


def _reachable(role: str, index: int) -> list[str]:
    """Program keys a host of this role can run: its residents and all their descendants."""
    keys = list(ROLES[role].residents)
    if role == "server":
        keys.append(SERVER_APPS[index % len(SERVER_APPS)])
    seen: list[str] = []
    while keys:
        key = keys.pop()
        if key not in seen:
            seen.append(key)
            keys.extend(child for child, _ in PROGRAMS[key].children)
    return sorted(seen)


def _habits(rng: random.Random, role: str, index: int) -> dict[str, Habit]:
    habits: dict[str, Habit] = {}
    for key in _reachable(role, index):
        program = PROGRAMS[key]
        children = [(c, w * rng.lognormvariate(0, 0.5)) for c, w in program.children]
        kept = [cw for n, cw in enumerate(children) if n == 0 or rng.random() >= 0.25]
        domains = [d for n, d in enumerate(program.domains) if n == 0 or rng.random() < 0.6]
        available = {"file": program.files, "net": domains, "registry": program.registry,
                     "access": program.accesses, "child": kept}
        kinds = [(k, w) for k, w in program.weights.items() if available[k]]
        habits[key] = Habit(
            kinds=tuple(k for k, _ in kinds),
            kind_cum=tuple(accumulate(w for _, w in kinds)),
            children=tuple(c for c, _ in kept),
            child_cum=tuple(accumulate(w for _, w in kept)),
            domains=tuple(domains),
            rate_factor=rng.lognormvariate(0, 0.3),
        )
    return habits


def public_ip(seed: int, name: str) -> str:
    """A stable public-looking IPv4 address for a domain name (the simulated DNS answer)."""
    digest = zlib.crc32(f"{seed}:{name}".encode())
    first = _PUBLIC_FIRST_OCTETS[digest % len(_PUBLIC_FIRST_OCTETS)]
    return f"{first}.{(digest >> 8) & 0xFF}.{(digest >> 16) & 0xFF}.{1 + (digest >> 24) % 254}"
