"""MITRE ATT&CK tags of an alert as OCSF ``attack`` objects (technique, sub-technique, tactic).

A tag is free text from a model or an IDS rule, in any of the spellings SIEM content uses:
``T1059.001``, ``attack.t1059.001`` (Sigma), ``TA0002``, ``attack.execution``, ``execution``, or
an object ``{"technique": "T1059.001", "tactic": "TA0002", "name": ...}``. Techniques are split
into technique and sub-technique (``T1059`` / ``T1059.001``); names and tactics are filled from
:data:`TECHNIQUES` and :data:`TACTICS` where known (ATT&CK Enterprise v15), and a technique with
several tactics gives one OCSF attack object per tactic, as OCSF 1.1+ asks (``tactic`` is
singular). An unknown technique keeps its id with no name; text that is no ATT&CK id is ignored
here (the finding keeps every raw tag in ``unmapped.attack_tags``).
"""

from __future__ import annotations

import re
from typing import Any

ATTACK_VERSION = "v15"

# tactic id -> (name, Sigma short name)
TACTICS: dict[str, tuple[str, str]] = {
    "TA0043": ("Reconnaissance", "reconnaissance"),
    "TA0042": ("Resource Development", "resource-development"),
    "TA0001": ("Initial Access", "initial-access"),
    "TA0002": ("Execution", "execution"),
    "TA0003": ("Persistence", "persistence"),
    "TA0004": ("Privilege Escalation", "privilege-escalation"),
    "TA0005": ("Defense Evasion", "defense-evasion"),
    "TA0006": ("Credential Access", "credential-access"),
    "TA0007": ("Discovery", "discovery"),
    "TA0008": ("Lateral Movement", "lateral-movement"),
    "TA0009": ("Collection", "collection"),
    "TA0011": ("Command and Control", "command-and-control"),
    "TA0010": ("Exfiltration", "exfiltration"),
    "TA0040": ("Impact", "impact"),
}
_TACTIC_BY_SHORT = {short: uid for uid, (_, short) in TACTICS.items()}

# technique id -> (name, tactic ids): the techniques the bundled data and simulator exercise
# (AIT-ADS kill chain, OTRF atomic recordings, CERT insider scenarios).
TECHNIQUES: dict[str, tuple[str, tuple[str, ...]]] = {
    "T1595": ("Active Scanning", ("TA0043",)),
    "T1595.002": ("Vulnerability Scanning", ("TA0043",)),
    "T1595.003": ("Wordlist Scanning", ("TA0043",)),
    "T1046": ("Network Service Discovery", ("TA0007",)),
    "T1190": ("Exploit Public-Facing Application", ("TA0001",)),
    "T1566": ("Phishing", ("TA0001",)),
    "T1078": ("Valid Accounts", ("TA0005", "TA0003", "TA0004", "TA0001")),
    "T1059": ("Command and Scripting Interpreter", ("TA0002",)),
    "T1059.001": ("PowerShell", ("TA0002",)),
    "T1059.003": ("Windows Command Shell", ("TA0002",)),
    "T1059.004": ("Unix Shell", ("TA0002",)),
    "T1047": ("Windows Management Instrumentation", ("TA0002",)),
    "T1053": ("Scheduled Task/Job", ("TA0002", "TA0003", "TA0004")),
    "T1053.005": ("Scheduled Task", ("TA0002", "TA0003", "TA0004")),
    "T1569.002": ("Service Execution", ("TA0002",)),
    "T1505": ("Server Software Component", ("TA0003",)),
    "T1505.003": ("Web Shell", ("TA0003",)),
    "T1547": ("Boot or Logon Autostart Execution", ("TA0003", "TA0004")),
    "T1547.001": ("Registry Run Keys / Startup Folder", ("TA0003", "TA0004")),
    "T1543.003": ("Windows Service", ("TA0003", "TA0004")),
    "T1068": ("Exploitation for Privilege Escalation", ("TA0004",)),
    "T1548": ("Abuse Elevation Control Mechanism", ("TA0004", "TA0005")),
    "T1055": ("Process Injection", ("TA0005", "TA0004")),
    "T1036": ("Masquerading", ("TA0005",)),
    "T1070": ("Indicator Removal", ("TA0005",)),
    "T1112": ("Modify Registry", ("TA0005",)),
    "T1218": ("System Binary Proxy Execution", ("TA0005",)),
    "T1003": ("OS Credential Dumping", ("TA0006",)),
    "T1003.001": ("LSASS Memory", ("TA0006",)),
    "T1003.002": ("Security Account Manager", ("TA0006",)),
    "T1110": ("Brute Force", ("TA0006",)),
    "T1110.002": ("Password Cracking", ("TA0006",)),
    "T1018": ("Remote System Discovery", ("TA0007",)),
    "T1057": ("Process Discovery", ("TA0007",)),
    "T1069": ("Permission Groups Discovery", ("TA0007",)),
    "T1082": ("System Information Discovery", ("TA0007",)),
    "T1087": ("Account Discovery", ("TA0007",)),
    "T1021": ("Remote Services", ("TA0008",)),
    "T1021.001": ("Remote Desktop Protocol", ("TA0008",)),
    "T1021.002": ("SMB/Windows Admin Shares", ("TA0008",)),
    "T1021.006": ("Windows Remote Management", ("TA0008",)),
    "T1091": ("Replication Through Removable Media", ("TA0008", "TA0001")),
    "T1005": ("Data from Local System", ("TA0009",)),
    "T1114": ("Email Collection", ("TA0009",)),
    "T1071": ("Application Layer Protocol", ("TA0011",)),
    "T1071.004": ("DNS", ("TA0011",)),
    "T1105": ("Ingress Tool Transfer", ("TA0011",)),
    "T1048": ("Exfiltration Over Alternative Protocol", ("TA0010",)),
    "T1052": ("Exfiltration Over Physical Medium", ("TA0010",)),
    "T1052.001": ("Exfiltration over USB", ("TA0010",)),
    "T1567": ("Exfiltration Over Web Service", ("TA0010",)),
    "T1489": ("Service Stop", ("TA0040",)),
}

_TECHNIQUE_ID = re.compile(r"^(?:attack\.)?(t\d{4})(?:\.(\d{3}))?$", re.IGNORECASE)
_TACTIC_ID = re.compile(r"^(?:attack\.)?(ta\d{4})$", re.IGNORECASE)


def _tactic(uid: str) -> dict[str, str]:
    known = TACTICS.get(uid)
    return {"uid": uid, "name": known[0]} if known else {"uid": uid}


def _technique(uid: str) -> dict[str, str]:
    known = TECHNIQUES.get(uid)
    return {"uid": uid, "name": known[0]} if known else {"uid": uid}


def _parse_tactic(text: str) -> str | None:
    text = text.strip()
    match = _TACTIC_ID.match(text)
    if match:
        return match.group(1).upper()
    short = text.lower().removeprefix("attack.").replace("_", "-").replace(" ", "-")
    return _TACTIC_BY_SHORT.get(short)


def _parse_technique(text: str) -> tuple[str, str | None] | None:
    """(technique id, sub-technique id or None) of ``T1059`` / ``attack.t1059.001``."""
    match = _TECHNIQUE_ID.match(text.strip())
    if not match:
        return None
    technique = match.group(1).upper()
    return technique, f"{technique}.{match.group(2)}" if match.group(2) else None


def _attacks_for(technique: str | None, sub: str | None, tactic: str | None) -> list[dict]:
    base: dict[str, Any] = {"version": ATTACK_VERSION}
    if technique:
        base["technique"] = _technique(technique)
    if sub:
        base["sub_technique"] = _technique(sub)
    if tactic:
        return [{**base, "tactic": _tactic(tactic)}]
    known = TECHNIQUES.get(sub or "") or TECHNIQUES.get(technique or "")
    if known is None:
        return [base] if technique else []
    return [{**base, "tactic": _tactic(uid)} for uid in known[1]]


def _from_tag(tag: Any) -> list[dict]:
    if isinstance(tag, dict):
        technique_text = str(tag.get("technique") or tag.get("technique_uid") or "")
        tactic_text = str(tag.get("tactic") or tag.get("tactic_uid") or "")
        parsed = _parse_technique(technique_text) if technique_text else None
        tactic = _parse_tactic(tactic_text) if tactic_text else None
        return _attacks_for(*(parsed or (None, None)), tactic)
    if not isinstance(tag, str):
        return []
    parsed = _parse_technique(tag)
    if parsed:
        return _attacks_for(*parsed, None)
    tactic = _parse_tactic(tag)
    return _attacks_for(None, None, tactic) if tactic else []


def attacks_from_tags(tags: list[Any]) -> list[dict]:
    """OCSF ``attacks[]`` for a list of tags, deduplicated, in first-seen order."""
    attacks: list[dict] = []
    for tag in tags:
        for attack in _from_tag(tag):
            if attack not in attacks:
                attacks.append(attack)
    return attacks
