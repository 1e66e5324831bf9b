"""Authentication events (LANL style) of the simulated enterprise, derived from its process trace.

The authentications are the ones the process trace implies, so both sources tell one story
(and a planted chain's lateral movement shows in both, labelled alike):

* the first process of the interactive user on a workstation each day is preceded by an
  interactive logon there (``Kerberos`` / ``Interactive``, 1-5 s before);
* every connection to another host of the enterprise on an authenticated port (SMB 445,
  RPC 135, SQL 1433) is a network logon to that host by the connecting process's account
  (``SYSTEM`` and service accounts authenticate as the computer account ``HOST$``):
  ``Kerberos`` normally, ``NTLM`` for the attacker's tools (psexec, wmic), which
  authenticate by address with stolen credentials;
* about 1 % of interactive logons are preceded by a failed attempt (a mistyped password).

Rows follow ``schemas/auth.schema.json`` (``time``, ``src_user``, ``dst_user``,
``src_computer``, ``dst_computer``, ``auth_type``, ``logon_type``, ``orientation``,
``outcome``) plus the ``attack_step`` / ``attack_id`` labels of the process event behind them.
"""

from __future__ import annotations

import heapq
import itertools
import random
from collections.abc import Iterator, Sequence
from datetime import datetime, timedelta
from typing import Any

from logguard.sim.attacks import AttackChain
from logguard.sim.enterprise import DOMAIN, NETBIOS, build_enterprise
from logguard.sim.processes import iter_process_rows
from logguard.sim.trace import COLUMNS, DAY, MS, SECOND, iso_time

AUTH_COLUMNS = ("time", "src_user", "dst_user", "src_computer", "dst_computer", "auth_type",
                "logon_type", "orientation", "outcome", "attack_step", "attack_id")
AUTHENTICATED_PORTS = ("445", "135", "1433")
FAILED_LOGON_SHARE = 0.01
_COL = {name: i for i, name in enumerate(COLUMNS)}
_REORDER_NS = 60 * SECOND


def iter_auth_events(n_hosts: int, start: datetime | str, duration: timedelta | float,
                     seed: int = 0, attacks: Sequence[AttackChain] = (),
                     activity: float = 1.0) -> Iterator[dict[str, Any]]:
    """Authentication events as dicts in time order (same arguments as the process trace).

    A field without a value is left out, so normal events have no ``attack_step`` key.
    """
    rows = iter_process_rows(n_hosts, start, duration, seed, attacks, activity)
    hosts = {h.name: h for h in build_enterprise(n_hosts, seed)}
    by_ip = {h.ip: h.name for h in hosts.values()}
    rng = random.Random(f"auth:{seed}")
    logged_on: set[tuple[str, int]] = set()
    pending: list[tuple[int, int, dict[str, Any]]] = []  # logons are dated up to 25 s back
    order = itertools.count()
    for row in rows:
        t, host, user = row[_COL["time"]], row[_COL["host"]], row[_COL["user"]]
        while pending and pending[0][0] < t - _REORDER_NS:
            yield heapq.heappop(pending)[2]
        if user == hosts[host].user and (host, t // DAY) not in logged_on:
            logged_on.add((host, t // DAY))
            logon = t - rng.randint(1000, 5000) * MS
            if rng.random() < FAILED_LOGON_SHARE:
                failed = _event(logon - 20 * SECOND, user, host, host, "Kerberos", "Interactive",
                                "Fail", (None, None))
                heapq.heappush(pending, (logon - 20 * SECOND, next(order), failed))
            heapq.heappush(pending, (logon, next(order), _event(
                logon, user, host, host, "Kerberos", "Interactive", "Success", (None, None))))
        if row[_COL["action"]] != "network_connect":
            continue
        address, _, port = row[_COL["object_name"]].rpartition(":")
        target = by_ip.get(address)
        if target is None or target == host or port not in AUTHENTICATED_PORTS:
            continue
        labels = (row[_COL["attack_step"]], row[_COL["attack_id"]])
        account = user if user.startswith(f"{NETBIOS}\\") else f"{NETBIOS}\\{_short(host)}$"
        attacker_tool = labels[0] is not None and port in ("445", "135")
        when = t + rng.randint(1, 30) * MS
        heapq.heappush(pending, (when, next(order), _event(
            when, account, host, target, "NTLM" if attacker_tool else "Kerberos", "Network",
            "Success", labels)))
    while pending:
        yield heapq.heappop(pending)[2]


def _short(host: str) -> str:
    return host.removesuffix(f".{DOMAIN}")


def _event(t_ns: int, user: str, src: str, dst: str, auth_type: str, logon_type: str,
           outcome: str, labels: tuple[str | None, str | None]) -> dict[str, Any]:
    principal = f"{user.split(chr(92), 1)[1]}@{NETBIOS}"
    event = {"time": iso_time(t_ns), "src_user": principal, "dst_user": principal,
             "src_computer": _short(src), "dst_computer": _short(dst), "auth_type": auth_type,
             "logon_type": logon_type, "orientation": "LogOn", "outcome": outcome}
    if labels[0] is not None:
        event["attack_step"], event["attack_id"] = labels
    return event
