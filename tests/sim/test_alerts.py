"""IDS alerts raised on the simulated trace: schema, every detectable attack step, the noise."""

import json
from collections import Counter
from pathlib import Path

from jsonschema import Draft202012Validator

from logguard.sim import AttackChain, iter_alert_events

SCHEMA = Path(__file__).resolve().parents[2] / "schemas" / "alert.schema.json"
TOOLS = {"phishing_macro": "cmd", "download": "certutil", "persistence": "run_key",
         "credential_access": "procdump", "lateral_movement": "psexec", "exfiltration": "rclone"}


def test_alerts_flag_the_chain_amid_valid_ordered_noise():
    chain = AttackChain("OFFICE-002.acme.local", "2026-11-23T10:15:00Z", tools=TOOLS, name="apt")
    alerts = list(iter_alert_events(8, "2026-11-23T00:00:00Z", 24 * 3600, seed=4,
                                    attacks=[chain]))
    validator = Draft202012Validator(json.loads(SCHEMA.read_text()))
    assert [a for a in alerts if not validator.is_valid(a)] == []
    times = [a["time"] for a in alerts]
    assert times == sorted(times)
    attack = [a for a in alerts if "attack_step" in a]
    noise = [a for a in alerts if "attack_step" not in a]
    assert {a["attack_step"] for a in attack} == {
        "phishing_macro", "download", "persistence", "credential_access", "lateral_movement",
        "exfiltration"}
    assert {a["short"] for a in attack} >= {"office-shell", "ps-encoded", "lolbin-download",
                                            "run-key", "lsass-access", "upload-tool"}
    assert {a["host"] for a in attack} == {"OFFICE-002", "SRV-001"}
    assert len(noise) > 3 * len(attack)
    assert {"ps-bypass", "service-config"} <= set(Counter(a["short"] for a in noise))
    assert all(a["short"] not in {"lsass-access", "office-shell", "upload-tool"} for a in noise)
