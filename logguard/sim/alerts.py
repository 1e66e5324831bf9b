"""Third-party IDS alerts (Wazuh / Suricata style) raised on the simulated process trace.

Simple signature rules, each a predicate on one process event, fire as a host IDS (Wazuh on
Sysmon) or a network IDS (Suricata) would. They fire on every matching event of a planted
chain and, with the rule's ``noise`` probability, on matching normal events: the false
positives an analyst wades through (nightly ``-ExecutionPolicy Bypass`` backups, service
configuration changes, scheduled-task files, browsing to social media). No rule matches a
phishing macro's Outlook or Word events, persistence by ``schtasks`` is only as loud as the
routine task noise: detection is incomplete by design.

Rows follow ``schemas/alert.schema.json`` (``time``, ``name``, ``ip``, ``host``, ``short``,
``severity``, ``detector``) plus the ``attack_step`` / ``attack_id`` labels of the event behind
the alert; an alert is raised 0.1-3 s after its event.
"""

from __future__ import annotations

import heapq
import itertools
import random
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from logguard.sim.attacks import AttackChain
from logguard.sim.enterprise import DOMAIN, build_enterprise
from logguard.sim.processes import iter_process_rows
from logguard.sim.trace import COLUMNS, MS, iso_time

_COL = {name: i for i, name in enumerate(COLUMNS)}
_OFFICE_APPS = ("winword.exe", "excel.exe", "outlook.exe")
_SHELLS = ("cmd.exe", "powershell.exe")


def _base(path: str | None) -> str:
    return (path or "").rsplit("\\", 1)[-1].lower()


@dataclass(frozen=True)
class Rule:
    """One signature: when ``match(row)``, raise ``name`` (``noise``: share of normal matches)."""

    name: str
    short: str
    severity: int
    detector: str
    noise: float
    action: str
    match: Callable[[tuple], bool]


def _child_cmd(row: tuple) -> str:
    return row[_COL["object_command_line"]] or ""


RULES: tuple[Rule, ...] = (
    Rule("Office application started a command shell", "office-shell", 8, "wazuh", 1.0,
         "process_start", lambda r: _base(r[_COL["image"]]) in _OFFICE_APPS
         and _base(r[_COL["object_name"]]) in _SHELLS),
    Rule("Encoded PowerShell command line", "ps-encoded", 7, "wazuh", 1.0, "process_start",
         lambda r: " -enc " in _child_cmd(r)),
    Rule("PowerShell execution policy bypass", "ps-bypass", 4, "wazuh", 1.0, "process_start",
         lambda r: "-ExecutionPolicy Bypass" in _child_cmd(r)),
    Rule("ET POLICY Windows utility downloading a file", "lolbin-download", 6, "suricata", 1.0,
         "network_connect", lambda r: _base(r[_COL["image"]]) in ("certutil.exe", "bitsadmin.exe")),
    Rule("ET DNS Query for a suspicious TLD", "dns-tld", 3, "suricata", 1.0, "dns_query",
         lambda r: r[_COL["object_name"]].endswith((".info", ".io", ".top"))),
    Rule("ET POLICY Possible social media access", "social-media", 1, "suricata", 0.05,
         "dns_query", lambda r: "linkedin" in r[_COL["object_name"]]),
    Rule("Registry Run key modified", "run-key", 5, "wazuh", 1.0, "registry_set",
         lambda r: "\\CurrentVersion\\Run\\" in r[_COL["object_name"]]),
    Rule("Service configuration changed", "service-config", 3, "wazuh", 0.3, "registry_set",
         lambda r: "\\CurrentControlSet\\Services\\" in r[_COL["object_name"]]),
    Rule("Scheduled task file written", "schtask-file", 3, "wazuh", 0.1, "file_create",
         lambda r: "\\System32\\Tasks\\" in r[_COL["object_name"]]),
    Rule("Process accessed LSASS memory", "lsass-access", 9, "wazuh", 1.0, "process_access",
         lambda r: _base(r[_COL["object_name"]]) == "lsass.exe"),
    Rule("Password-protected archive created", "archive-password", 4, "wazuh", 1.0,
         "process_start", lambda r: _base(r[_COL["object_name"]]) == "7z.exe"
         and " -p" in _child_cmd(r)),
    Rule("ET POLICY File upload tool to an external host", "upload-tool", 6, "suricata", 1.0,
         "network_connect", lambda r: _base(r[_COL["image"]]) in ("rclone.exe", "curl.exe")),
)


def iter_alert_events(n_hosts: int, start: datetime | str, duration: timedelta | float,
                      seed: int = 0, attacks: Sequence[AttackChain] = (),
                      activity: float = 1.0) -> Iterator[dict[str, Any]]:
    """IDS alerts as dicts in time order (same arguments as the process trace)."""
    rules_by_action: dict[str, list[Rule]] = {}
    for rule in RULES:
        rules_by_action.setdefault(rule.action, []).append(rule)
    host_ip = {h.name: h.ip for h in build_enterprise(n_hosts, seed)}
    rng = random.Random(f"alerts:{seed}")
    pending: list[tuple[int, int, dict[str, Any]]] = []
    order = itertools.count()
    for row in iter_process_rows(n_hosts, start, duration, seed, attacks, activity):
        t = row[_COL["time"]]
        while pending and pending[0][0] < t:
            yield heapq.heappop(pending)[2]
        for rule in rules_by_action.get(row[_COL["action"]], ()):
            step = row[_COL["attack_step"]]
            if not rule.match(row) or (step is None and rng.random() >= rule.noise):
                continue
            when = t + rng.randint(100, 3000) * MS
            heapq.heappush(pending, (when, next(order), _alert(when, row, rule, host_ip)))
    while pending:
        yield heapq.heappop(pending)[2]


def _alert(t_ns: int, row: tuple, rule: Rule, host_ip: dict[str, str]) -> dict[str, Any]:
    host = row[_COL["host"]]
    ip = host_ip[host]
    if rule.action == "network_connect":
        ip = row[_COL["object_name"]].rpartition(":")[0]
    alert = {"time": iso_time(t_ns), "name": rule.name, "ip": ip,
             "host": host.removesuffix(f".{DOMAIN}"), "short": rule.short,
             "severity": rule.severity, "detector": rule.detector}
    if row[_COL["attack_step"]] is not None:
        alert["attack_step"] = row[_COL["attack_step"]]
        alert["attack_id"] = row[_COL["attack_id"]]
    return alert

