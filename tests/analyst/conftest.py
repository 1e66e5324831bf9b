"""A realistic analyst store: what the daemon leaves in DuckDB after a day with one attack.

Written with the store contract (``ensure_alert_tables`` + ``insert_alerts`` + plain INSERTs
for scenarios), with ids from the same stable-id functions the daemon uses:

* the planted attack on ``WS-FIN-07`` / ``CORP\\alice``: a Word macro starting PowerShell
  (APE event alert with entity pairs), a GID path alert powershell -> cmd -> rundll32 ->
  socket, a Run-key registry write (APE), and an IDS alert of the lateral move to ``DC-01``;
  CAR ranks these 1-4 and groups them into one scenario with its attack graph;
* a recurring benign backup job on ``WS-02`` (same stable entities, new pid/GUID each night)
  and 24 ordinary alerts on six hosts, one of them loud (96.0: above three of the four attack
  alerts) but with a low CAR rank, so the score order and CAR's order differ;
* a second scenario made of the backup alerts.
"""

from __future__ import annotations

import json
import shutil
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pyarrow as pa
import pytest

from logguard.store.alerts import (
    ALERTS_SCHEMA,
    OUTBOX_SCHEMA,
    ensure_alert_tables,
    event_alert_id,
    insert_alerts,
    path_alert_id,
    scenario_id,
)
from logguard.store.duckdb_store import open_duckdb

ATTACK_HOST = "WS-FIN-07"
ATTACK_USER = "CORP\\alice"
NOW = datetime.now(UTC).replace(microsecond=0)
ATTACK_START = NOW - timedelta(hours=2)


@dataclass(frozen=True)
class Planted:
    """Ids of the fixture's interesting rows."""

    attack: tuple[str, ...]  # CAR rank 1..4, in time order
    attack_scenario: str
    backup: tuple[str, ...]  # oldest first
    backup_scenario: str
    loud_benign: str  # second-highest score, low CAR rank
    n_alerts: int


def _process_entities(host: str, user: str, guid: str, image: str, command_line: str,
                      parent_image: str, action: str, object_type: str, object_name: str,
                      pid: int) -> str:
    return json.dumps({"host": host, "user": user, "process_guid": guid, "process_id": pid,
                       "image": image, "command_line": command_line,
                       "parent_image": parent_image, "action": action,
                       "object_type": object_type, "object_name": object_name})


def _path(nodes: list[tuple[str, str, str]], edges: list[tuple[int, int, str, datetime, str]],
          z: float, host: str) -> dict:
    """A GID ``_path_record``-shaped path: nodes (key, kind, label), edges (i, j, relation)."""
    return {"rank": 1, "z_score": z, "score": -z, "length": len(edges), "host": host,
            "chain": " -> ".join(label for _, _, label in nodes),
            "nodes": [{"id": key, "kind": kind, "name": label, "label": label}
                      for key, kind, label in nodes],
            "edges": [{"src": nodes[i][0], "dst": nodes[j][0], "relation": relation,
                       "time": t.isoformat(), "count": 1, "regularity": 1e-6, "why": why}
                      for i, j, relation, t, why in edges]}


def _alert(alert_id: str, model: str, kind: str, time: datetime, host: str, user: str | None,
           score: float, summary: str, explanation: dict, entities: str, offset: int,
           source: str = "process", tags: tuple[str, ...] = ()) -> dict:
    return {"alert_id": alert_id, "source": source, "model": model, "model_version": "v1",
            "kind": kind, "event_time": time, "host": host, "user_name": user,
            "raw_score": round(score / 10, 3), "score": score, "threshold": 75.0,
            "summary": summary, "explanation": json.dumps(explanation), "entities": entities,
            "attack_tags": json.dumps(list(tags)), "kafka_topic": f"logguard.{source}",
            "kafka_partition": 0, "kafka_offset": offset}


def build_store(path: Path) -> Planted:
    rows, car = [], {}
    t0 = ATTACK_START
    # --- the planted attack
    macro = event_alert_id("ape", "logguard.process", 0, 9001)
    rows.append(_alert(
        macro, "ape", "event", t0, ATTACK_HOST, ATTACK_USER, 97.5,
        "WINWORD.EXE started powershell.exe -enc ... on WS-FIN-07",
        {"text": "parent_image=WINWORD.EXE x image=powershell.exe never seen together",
         "pairs": [["parent_image", "C:\\Program Files\\Office\\WINWORD.EXE", "image",
                    "C:\\Windows\\System32\\powershell.exe", -4.82],
                   ["image", "C:\\Windows\\System32\\powershell.exe", "command_line",
                    "powershell.exe -nop -w hidden -enc SQBFAFgA", -3.9]]},
        _process_entities(ATTACK_HOST, ATTACK_USER, "{a1}", "C:\\Windows\\System32\\"
                          "powershell.exe", "powershell.exe -nop -w hidden -enc SQBFAFgA",
                          "C:\\Program Files\\Office\\WINWORD.EXE", "process_start", "process",
                          "powershell.exe", 4242), 9001, tags=("T1566.001", "T1059.001")))
    path_nodes = [("p|{a1}", "process", "powershell.exe"), ("p|{a2}", "process", "cmd.exe"),
                  ("p|{a3}", "process", "rundll32.exe"),
                  ("o|WS-FIN-07|socket|185.220.101.7:443", "socket", "185.220.101.7:443")]
    chain = path_alert_id("gid", ATTACK_HOST, [key for key, _, _ in path_nodes])
    gid_path = _path(path_nodes, [
        (0, 1, "process_start", t0 + timedelta(seconds=40), "never seen in history"),
        (1, 2, "process_start", t0 + timedelta(seconds=55), "cmd.exe rarely starts rundll32"),
        (2, 3, "network_connect", t0 + timedelta(seconds=70), "destination never seen")],
        z=6.3, host=ATTACK_HOST)
    rows.append(_alert(
        chain, "gid", "path", t0 + timedelta(seconds=70), ATTACK_HOST, ATTACK_USER, 95.0,
        "process path powershell.exe -> cmd.exe -> rundll32.exe -> 185.220.101.7:443",
        {"text": f"path z={gid_path['z_score']}: {gid_path['chain']}", "path": gid_path},
        json.dumps({"host": ATTACK_HOST, "user": ATTACK_USER,
                    "images": "powershell.exe>cmd.exe>rundll32.exe",
                    "object_name": "185.220.101.7:443"}), 9010, tags=("T1218.011",)))
    runkey = event_alert_id("ape", "logguard.process", 0, 9020)
    rows.append(_alert(
        runkey, "ape", "event", t0 + timedelta(minutes=3), ATTACK_HOST, ATTACK_USER, 91.0,
        "rundll32.exe set HKCU\\...\\Run\\updater on WS-FIN-07",
        {"text": "image=rundll32.exe x object_name=Run key: incompatible pair",
         "pairs": [["image", "C:\\Windows\\System32\\rundll32.exe", "object_name",
                    "HKCU\\Software\\Microsoft\\Windows\\CurrentVersion\\Run\\updater", -3.1]]},
        _process_entities(ATTACK_HOST, ATTACK_USER, "{a3}", "C:\\Windows\\System32\\"
                          "rundll32.exe", "rundll32.exe C:\\Users\\alice\\upd.dll,Start",
                          "C:\\Windows\\System32\\cmd.exe", "registry_set", "registry",
                          "HKCU\\Software\\Microsoft\\Windows\\CurrentVersion\\Run\\updater",
                          5150), 9020, tags=("T1547.001",)))
    lateral = event_alert_id("ids", "logguard.alert", 0, 501)
    rows.append(_alert(
        lateral, "ids", "ids", t0 + timedelta(minutes=9), "DC-01", ATTACK_USER, 88.0,
        "IDS: SMB lateral movement WS-FIN-07 -> DC-01",
        {"text": "third-party IDS alert ET POLICY SMB2 NT Create AndX Request For an "
                 "Executable File"},
        json.dumps({"name": "ET POLICY SMB Executable", "host": "DC-01", "ip": "10.0.7.21",
                    "short": "smb-exec", "detector": "suricata"}), 501, source="alert",
        tags=("T1021.002",)))
    attack = (macro, chain, runkey, lateral)
    car.update({a: (rank, 0.99 - rank / 100) for rank, a in enumerate(attack, start=1)})
    # --- the recurring benign backup job, one per night
    backup = []
    for night in range(3):
        offset = 7000 + night
        when = (NOW - timedelta(days=2 - night, hours=4)).replace(minute=0, second=0)
        alert_id = event_alert_id("ape", "logguard.process", 0, offset)
        backup.append(alert_id)
        rows.append(_alert(
            alert_id, "ape", "event", when, "WS-02", "CORP\\svc_backup", 79.0 + night,
            "backup.exe read C:\\Users\\* on WS-02",
            {"text": "image=backup.exe x object_name=C:\\Users rare",
             "pairs": [["image", "D:\\tools\\backup.exe", "object_name", "C:\\Users", -1.2]]},
            _process_entities("WS-02", "CORP\\svc_backup", f"{{b{night}}}", "D:\\tools\\"
                              "backup.exe", "backup.exe /full", "C:\\Windows\\System32\\"
                              "svchost.exe", "file_create", "file", "C:\\Users", 300 + night),
            offset))
    car.update({a: (10 + i, 0.5) for i, a in enumerate(backup)})
    # --- ordinary alerts on six hosts; the first is loud (96.0, second only to the attack's 97.5)
    for i in range(24):
        offset = 100 + i
        host, user = f"WS-{(i % 6) + 1:02d}", f"CORP\\user{i % 5}"
        alert_id = event_alert_id("ape", "logguard.process", 0, offset)
        score = 96.0 if i == 0 else 76.0 + (i * 7) % 19
        rows.append(_alert(
            alert_id, "ape", "event", NOW - timedelta(hours=1 + i * 3), host, user, score,
            f"unusual {['dns_query', 'image_load', 'file_create'][i % 3]} by app{i}.exe",
            {"text": "rare pair", "pairs": [["image", f"app{i}.exe", "object_name",
                                             f"obj{i}", -1.0]]},
            _process_entities(host, user, f"{{n{i}}}", f"C:\\apps\\app{i}.exe",
                              f"app{i}.exe --run", "C:\\Windows\\explorer.exe",
                              "image_load", "module", f"obj{i}", 1000 + i), offset))
        car[alert_id] = (20 + i, 0.3)
    loud = event_alert_id("ape", "logguard.process", 0, 100)
    table = pa.Table.from_pylist(rows, schema=ALERTS_SCHEMA)
    con = open_duckdb(path)
    try:
        ensure_alert_tables(con)
        insert_alerts(con, table, OUTBOX_SCHEMA.empty_table())
        for alert_id, (rank, car_score) in car.items():
            con.execute("UPDATE alerts SET car_rank = ?, car_score = ? WHERE alert_id = ?",
                        [rank, car_score, alert_id])
        attack_scenario = scenario_id(macro)
        con.execute("UPDATE alerts SET scenario_id = ? WHERE alert_id IN (?, ?, ?, ?)",
                    [attack_scenario, *attack])
        backup_scenario = scenario_id(backup[0])
        con.execute("UPDATE alerts SET scenario_id = ? WHERE alert_id IN (?, ?, ?)",
                    [backup_scenario, *backup])
        _insert_scenarios(con, attack, attack_scenario, backup, backup_scenario, gid_path)
    finally:
        con.close()
    return Planted(attack, attack_scenario, tuple(backup), backup_scenario, loud, len(rows))


def _insert_scenarios(con, attack, attack_scenario, backup, backup_scenario, gid_path) -> None:
    t0 = ATTACK_START
    steps = [  # deliberately stored out of time order: readers must sort them
        {"signature": "registry_set Run key", "host": ATTACK_HOST,
         "first_time": (t0 + timedelta(minutes=3)).timestamp(),
         "last_time": (t0 + timedelta(minutes=3)).timestamp(), "alerts": 1, "score": 91.0,
         "alert_ids": [attack[2]]},
        {"signature": "WINWORD.EXE -> powershell.exe", "host": ATTACK_HOST,
         "first_time": t0.timestamp(), "last_time": t0.timestamp(), "alerts": 1, "score": 97.5,
         "alert_ids": [attack[0]]},
        {"signature": "process path to 185.220.101.7", "host": ATTACK_HOST,
         "first_time": (t0 + timedelta(seconds=70)).timestamp(),
         "last_time": (t0 + timedelta(seconds=70)).timestamp(), "alerts": 1, "score": 95.0,
         "alert_ids": [attack[1]]},
        {"signature": "SMB lateral movement", "host": "DC-01",
         "first_time": (t0 + timedelta(minutes=9)).timestamp(),
         "last_time": (t0 + timedelta(minutes=9)).timestamp(), "alerts": 1, "score": 88.0,
         "alert_ids": [attack[3]]},
    ]
    word = ("p|{a0}", "process", "WINWORD.EXE")
    nodes = [{"id": "h|WS-FIN-07", "kind": "host", "label": ATTACK_HOST},
             {"id": "u|alice", "kind": "user", "label": ATTACK_USER},
             {"id": word[0], "kind": word[1], "label": word[2]},
             *({"id": n["id"], "kind": n["kind"], "label": n["label"]} for n in gid_path["nodes"]),
             {"id": "o|WS-FIN-07|registry|Run\\updater", "kind": "registry",
              "label": "HKCU\\...\\Run\\updater"},
             {"id": "o|WS-FIN-07|file|upd.dll", "kind": "file",
              "label": "C:\\Users\\alice\\upd.dll"},
             {"id": "h|DC-01", "kind": "host", "label": "DC-01"},
             {"id": f"a|{attack[3]}", "kind": "alert", "label": "SMB lateral movement"}]
    edges = [{"src": "u|alice", "dst": word[0], "relation": "runs", "time": t0.isoformat()},
             {"src": word[0], "dst": "p|{a1}", "relation": "process_start",
              "time": t0.isoformat()},
             *({k: e[k] for k in ("src", "dst", "relation", "time")} for e in gid_path["edges"]),
             {"src": "p|{a3}", "dst": "o|WS-FIN-07|file|upd.dll", "relation": "image_load",
              "time": (t0 + timedelta(seconds=80)).isoformat()},
             {"src": "p|{a3}", "dst": "o|WS-FIN-07|registry|Run\\updater",
              "relation": "registry_set", "time": (t0 + timedelta(minutes=3)).isoformat()},
             {"src": "h|WS-FIN-07", "dst": "h|DC-01", "relation": "smb_connect",
              "time": (t0 + timedelta(minutes=9)).isoformat()},
             {"src": "h|DC-01", "dst": f"a|{attack[3]}", "relation": "raised",
              "time": (t0 + timedelta(minutes=9)).isoformat()}]
    con.execute(
        "INSERT INTO scenarios (scenario_id, version, score, rank, alert_count, first_time, "
        "last_time, hosts, users, summary, steps, graph) VALUES (?, 3, 371.5, 1, 4, ?, ?, ?, ?, "
        "?, ?, ?)",
        [attack_scenario, t0, t0 + timedelta(minutes=9), json.dumps([ATTACK_HOST, "DC-01"]),
         json.dumps([ATTACK_USER]), "Office macro -> PowerShell -> rundll32 C2 -> Run key -> "
         "SMB to DC-01", json.dumps(steps), json.dumps({"nodes": nodes, "edges": edges})])
    con.execute(
        "INSERT INTO scenarios (scenario_id, version, score, rank, alert_count, first_time, "
        "last_time, hosts, users, summary, steps, graph) VALUES (?, 1, 81.0, 2, 3, ?, ?, ?, ?, "
        "?, ?, ?)",
        [backup_scenario, NOW - timedelta(days=2, hours=4), NOW - timedelta(hours=4), "WS-02",
         "CORP\\svc_backup", "nightly backup.exe reads of C:\\Users",
         json.dumps([{"signature": "backup.exe file_create", "host": "WS-02",
                      "first_time": (NOW - timedelta(days=2, hours=4)).isoformat(),
                      "last_time": (NOW - timedelta(hours=4)).isoformat(), "alerts": 3,
                      "score": 81.0, "alert_ids": list(backup)}]),
         json.dumps({"nodes": [], "edges": []})])


@pytest.fixture(scope="session")
def analyst_template(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Planted]:
    path = tmp_path_factory.mktemp("analyst") / "template.duckdb"
    return path, build_store(path)


@pytest.fixture
def analyst_db(analyst_template: tuple[Path, Planted], tmp_path: Path) -> Path:
    """A fresh copy of the fixture store for one test."""
    target = tmp_path / "store.duckdb"
    shutil.copyfile(analyst_template[0], target)
    return target


@pytest.fixture
def planted(analyst_template: tuple[Path, Planted]) -> Planted:
    return analyst_template[1]
