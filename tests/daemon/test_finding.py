"""OCSF Detection Findings of alerts and scenarios, validated against the output JSON Schema."""

from __future__ import annotations

import csv
import gzip
import json
from datetime import UTC, datetime
from pathlib import Path

import jsonschema
import pytest

from logguard.daemon.attack import attacks_from_tags
from logguard.daemon.finding import (
    alert_finding,
    cef_severity,
    encode_finding,
    entity_evidences,
    epoch_ms,
    scenario_finding,
    severity_of,
)
from logguard.store.alerts import (
    ALERTS_SCHEMA,
    event_alert_id,
    path_alert_id,
    scenario_id,
    scenario_message_id,
)

REPO_ROOT = Path(__file__).resolve().parents[2]
SCHEMA = json.loads((REPO_ROOT / "schemas" / "output" / "finding.schema.json").read_text())
VALIDATOR = jsonschema.Draft202012Validator(SCHEMA)
AIT_FOX = REPO_ROOT.parent / "shared" / "data" / "ait-ads" / "fox_alerts.csv.gz"
# AIT-ADS attack steps (event_label) -> ATT&CK technique, for the IDS alerts of the fox network
AIT_TECHNIQUES = {
    "service_scan": "T1046", "dirb": "attack.t1595.003", "wpscan": "T1595.002",
    "webshell_cmd": "attack.t1505.003", "online_cracking": "T1110",
    "crack_passwords": "T1110.002", "attacker_change_user": "T1078",
    "escalated_sudo_command": "T1548", "dnsteal": "T1048",
}


def event_alert(**changes: object) -> dict:
    alert = {
        "alert_id": event_alert_id("ape", "events.process", 2, 41),
        "source": "process", "model": "ape", "model_version": "2026-11-20T08:00:00Z",
        "kind": "event", "event_time": datetime(2026, 11, 23, 10, 0, 5, 250000, tzinfo=UTC),
        "host": "ws-7", "user_name": "CORP\\alice", "raw_score": 17.25, "score": 93.5,
        "threshold": 80.0, "summary": "powershell.exe started by winword.exe on ws-7",
        "explanation": json.dumps(["pair (image, parent_image) seen 0 times in training"]),
        "entities": json.dumps({"host": "ws-7", "user": "CORP\\alice",
                                "image": "C:\\Windows\\System32\\WindowsPowerShell\\v1.0\\"
                                         "powershell.exe",
                                "parent_image": "C:\\Program Files\\Office\\winword.exe",
                                "command_line": "powershell -enc SQBFAFgA",
                                "action": "process_start"}),
        "attack_tags": json.dumps(["attack.t1059.001"]),
        "kafka_topic": "events.process", "kafka_partition": 2, "kafka_offset": 41,
        "pattern_key": "0f3c5d7e9a1b2c4d6e8f0a1b",
    }
    alert.update(changes)
    return alert


def path_alert() -> dict:
    nodes = ["winword.exe", "cmd.exe", "esentutl.exe"]
    return event_alert(
        alert_id=path_alert_id("gid", "ws-7", nodes), model="gid", kind="path",
        event_time="2026-11-23T10:07:00Z", raw_score=41.0, score=71.0, threshold=65.0,
        summary="winword.exe -> cmd.exe -> esentutl.exe on ws-7",
        # the layout the daemon writes for GID path alerts (logguard.daemon.service)
        explanation=json.dumps({"text": "winword.exe -> cmd.exe -> esentutl.exe",
                                "path": {"z_score": 4.2, "nodes": [],
                                         "edges": [{"src": 0, "dst": 1,
                                                    "time": "2026-11-23T10:03:00Z"},
                                                   {"src": 1, "dst": 2,
                                                    "time": 1795428420.0}]}}),
        entities=json.dumps({"host": "ws-7", "process": ["g-1", "g-2", "g-3"],
                             "image": nodes}),
        attack_tags=json.dumps(["T1003.002", "execution"]),
        kafka_offset=57)


def ait_ids_alerts() -> list[dict]:
    """The first alert of each attack step of AIT-ADS ``fox``, as stored ``ids`` alerts."""
    first: dict[str, dict] = {}
    with gzip.open(AIT_FOX, "rt", encoding="utf-8", newline="") as handle:
        for offset, row in enumerate(csv.DictReader(handle)):
            label = row["event_label"]
            if label in AIT_TECHNIQUES and label not in first:
                first[label] = event_alert(
                    alert_id=event_alert_id("car", "events.alert", 0, offset), source="alert",
                    model="car", kind="ids", event_time=float(row["time"]), host=row["host"],
                    user_name=None, raw_score=3.5, score=60.0 + len(first),
                    summary=row["name"], explanation=json.dumps(row["name"]),
                    entities=json.dumps({"host": row["host"], "ip": row["ip"],
                                         "alert_code": row["short"]}),
                    attack_tags=json.dumps([AIT_TECHNIQUES[label]]),
                    kafka_topic="events.alert", kafka_partition=0, kafka_offset=offset)
                if len(first) == len(AIT_TECHNIQUES):
                    break
    return list(first.values())


def assert_valid(finding: dict) -> None:
    errors = sorted(VALIDATOR.iter_errors(finding), key=lambda e: list(e.path))
    assert not errors, "; ".join(f"{list(e.path)}: {e.message}" for e in errors[:5])


def test_every_alert_column_is_read() -> None:
    assert set(event_alert()) == set(ALERTS_SCHEMA.names)


def test_event_alert_finding() -> None:
    alert = event_alert()
    finding = alert_finding(alert)
    assert_valid(finding)
    assert (finding["class_uid"], finding["category_uid"], finding["activity_id"],
            finding["type_uid"], finding["is_alert"]) == (2004, 2, 1, 200401, True)
    assert finding["time"] == 1795428005250
    assert (finding["severity_id"], finding["risk_score"], finding["risk_level_id"]) == (5, 94, 4)
    info = finding["finding_info"]
    assert info["uid"] == alert["alert_id"] == finding["metadata"]["uid"]
    assert info["title"] == alert["summary"]
    assert info["analytic"] == {"name": "ape", "type_id": 4, "type": "Learning (ML/DL)",
                                "uid": "process/ape", "version": "2026-11-20T08:00:00Z"}
    assert info["first_seen_time"] == info["last_seen_time"] == finding["time"]
    assert finding["attacks"] == [{
        "version": "v15",
        "technique": {"uid": "T1059", "name": "Command and Scripting Interpreter"},
        "sub_technique": {"uid": "T1059.001", "name": "PowerShell"},
        "tactic": {"uid": "TA0002", "name": "Execution"}}]
    (evidence,) = finding["evidences"]
    assert evidence["device"] == {"hostname": "ws-7"}
    assert evidence["user"] == {"name": "CORP\\alice"}
    assert evidence["process"]["file"]["name"] == "powershell.exe"
    assert evidence["process"]["parent_process"]["file"]["name"] == "winword.exe"
    assert evidence["process"]["cmd_line"] == "powershell -enc SQBFAFgA"
    assert evidence["data"] == {"action": "process_start"}
    assert {(o["name"], o["type_id"]) for o in finding["observables"]} == {
        ("evidences.device.hostname", 1), ("evidences.user.name", 4),
        ("evidences.process.file.path", 7), ("evidences.process.parent_process.file.path", 7),
        ("evidences.process.cmd_line", 13)}
    unmapped = finding["unmapped"]
    assert (unmapped["raw_score"], unmapped["score"], unmapped["threshold"]) == (17.25, 93.5, 80)
    assert unmapped["kafka"] == {"topic": "events.process", "partition": 2, "offset": 41}
    assert unmapped["explanation"] == ["pair (image, parent_image) seen 0 times in training"]


def test_path_alert_spans_its_edges_and_lists_each_step() -> None:
    finding = alert_finding(path_alert())
    assert_valid(finding)
    info = finding["finding_info"]
    assert info["types"] == ["Anomalous process path"]
    assert info["first_seen_time"] == epoch_ms("2026-11-23T10:03:00Z")
    assert info["last_seen_time"] == finding["time"] == epoch_ms("2026-11-23T10:07:00Z")
    assert info["desc"] == "winword.exe -> cmd.exe -> esentutl.exe"
    assert [(e["process"]["uid"], e["process"]["file"]["name"], e["device"]["hostname"])
            for e in finding["evidences"]] == [
        ("g-1", "winword.exe", "ws-7"), ("g-2", "cmd.exe", "ws-7"), ("g-3", "esentutl.exe", "ws-7")]
    assert [(a.get("sub_technique", {}).get("uid"), a["tactic"]["uid"])
            for a in finding["attacks"]] == [("T1003.002", "TA0006"), (None, "TA0002")]
    assert finding["severity_id"] == 4


def test_ids_alerts_from_real_ait_data_validate_and_carry_their_technique() -> None:
    alerts = ait_ids_alerts()
    assert len(alerts) == len(AIT_TECHNIQUES)
    for alert in alerts:
        finding = alert_finding(alert)
        assert_valid(finding)
        tag = json.loads(alert["attack_tags"])[0].upper().removeprefix("ATTACK.")
        techniques = {a.get("sub_technique", a.get("technique"))["uid"] for a in finding["attacks"]}
        assert techniques == {tag}
        assert all("name" in a["technique"] and "tactic" in a for a in finding["attacks"])
        (evidence,) = finding["evidences"]
        assert evidence["src_endpoint"]["ip"] == json.loads(alert["entities"])["ip"]
        assert evidence["data"]["alert_code"] == json.loads(alert["entities"])["alert_code"]


def test_scenario_finding_updates_one_finding_with_its_alerts_in_time_order() -> None:
    alerts = [path_alert(), event_alert()]
    sid = scenario_id(alerts[1]["alert_id"])
    scenario = {
        "scenario_id": sid, "version": 3, "score": 7.75, "rank": 1, "alert_count": 2,
        "first_time": datetime(2026, 11, 23, 10, 0, 3, tzinfo=UTC),
        "last_time": datetime(2026, 11, 23, 10, 7, tzinfo=UTC),
        "hosts": json.dumps(["ws-7"]), "users": json.dumps(["CORP\\alice"]),
        "summary": "Office macro to credential dumping on ws-7",
        "steps": json.dumps([{"signature": "gid path", "first_time": 1795428420.0},
                             {"signature": "ape event", "first_time": 1795428005.25}]),
        "graph": None,
    }
    finding = scenario_finding(scenario, alerts)
    assert_valid(finding)
    assert (finding["activity_id"], finding["type_uid"]) == (2, 200402)
    info = finding["finding_info"]
    assert info["uid"] == sid
    assert finding["metadata"]["uid"] == scenario_message_id(sid, 3)
    order = [alerts[1]["alert_id"], alerts[0]["alert_id"]]
    assert [r["uid"] for r in info["related_events"]] == order
    assert [e["data"]["alert_id"] for e in finding["evidences"]] == order
    assert finding["unmapped"]["alert_ids"] == order
    assert [s["signature"] for s in finding["unmapped"]["steps"]] == ["ape event", "gid path"]
    assert info["first_seen_time"] == epoch_ms("2026-11-23T10:00:03Z")
    assert info["last_seen_time"] == finding["time"] == epoch_ms("2026-11-23T10:07:00Z")
    assert finding["risk_score"] == 94 and finding["unmapped"]["car_score"] == 7.75
    assert {a["tactic"]["uid"] for a in finding["attacks"]} == {"TA0002", "TA0006"}
    assert encode_finding(finding) == encode_finding(scenario_finding(scenario, alerts[::-1]))


def test_a_replayed_alert_gives_the_same_bytes() -> None:
    assert encode_finding(alert_finding(event_alert())) == encode_finding(
        alert_finding(event_alert()))
    assert encode_finding(alert_finding(event_alert())) != encode_finding(
        alert_finding(event_alert(score=93.6)))


@pytest.mark.parametrize(("score", "severity_id", "cef"), [
    (0.0, 2, 0), (39.99, 2, 3), (40.0, 3, 4), (69.9, 3, 6), (70.0, 4, 7), (89.99, 4, 8),
    (90.0, 5, 9), (100.0, 5, 10), (250.0, 5, 10), (-3.0, 2, 0), (float("nan"), 2, 0)])
def test_severity_bands(score: float, severity_id: int, cef: int) -> None:
    assert severity_of(score)["severity_id"] == severity_id
    assert cef_severity(score) == cef


def test_the_schema_rejects_what_logguard_never_emits() -> None:
    finding = alert_finding(event_alert())
    for path, bad in ((("type_uid",), 200402), (("finding_info", "uid"), ""),
                      (("attacks",), [{"version": "v15", "technique": {"uid": "1059"}}]),
                      (("unmapped", "score"), 140.0)):
        broken = json.loads(encode_finding(finding))
        target = broken
        for key in path[:-1]:
            target = target[key]
        target[path[-1]] = bad
        assert not VALIDATOR.is_valid(broken), path


def test_attack_tags_in_every_spelling() -> None:
    attacks = attacks_from_tags(["T1110", "attack.T1110", {"technique": "t1021.002",
                                 "tactic": "TA0008"}, "Credential Access", "TA9999",
                                 "not-a-tag", 42, "T1234"])
    assert attacks == [
        {"version": "v15", "technique": {"uid": "T1110", "name": "Brute Force"},
         "tactic": {"uid": "TA0006", "name": "Credential Access"}},
        {"version": "v15", "technique": {"uid": "T1021", "name": "Remote Services"},
         "sub_technique": {"uid": "T1021.002", "name": "SMB/Windows Admin Shares"},
         "tactic": {"uid": "TA0008", "name": "Lateral Movement"}},
        {"version": "v15", "tactic": {"uid": "TA0006", "name": "Credential Access"}},
        {"version": "v15", "tactic": {"uid": "TA9999"}},
        {"version": "v15", "technique": {"uid": "T1234"}},
    ]
    multi = attacks_from_tags(["T1078"])
    assert [a["tactic"]["uid"] for a in multi] == ["TA0005", "TA0003", "TA0004", "TA0001"]


def test_entities_of_an_authentication_event() -> None:
    evidences, observables = entity_evidences({
        "src_user": "U12@DOM1", "dst_user": "SYSTEM@C586", "src_computer": "C586",
        "dst_computer": "C1085", "dst_port": "445", "outcome": "Success"})
    assert evidences == [{"actor": {"user": {"name": "U12@DOM1"}}, "user": {"name": "SYSTEM@C586"},
                          "src_endpoint": {"hostname": "C586"},
                          "dst_endpoint": {"hostname": "C1085", "port": 445},
                          "data": {"outcome": "Success"}}]
    assert [o["value"] for o in observables] == ["U12@DOM1", "SYSTEM@C586", "C586", "C1085", "445"]
