"""Authentication events derived from the process trace: schema, logons, the lateral move."""

import json
from pathlib import Path

import pytest
from jsonschema import Draft202012Validator

from logguard.sim import AttackChain, simulate_processes
from logguard.sim.auth import iter_auth_events

SCHEMA = Path(__file__).resolve().parents[2] / "schemas" / "auth.schema.json"
START = "2026-11-23T06:00:00Z"  # a Monday
HOURS = 8 * 3600
CHAIN = AttackChain("OFFICE-002.acme.local", "2026-11-23T10:15:00Z", name="apt",
                    tools={"lateral_movement": "psexec"})


@pytest.fixture(scope="module")
def events() -> list[dict]:
    return list(iter_auth_events(8, START, HOURS, seed=4, attacks=[CHAIN]))


def test_auth_events_are_valid_and_ordered(events):
    validator = Draft202012Validator(json.loads(SCHEMA.read_text()))
    assert len(events) > 50
    assert [e for e in events if not validator.is_valid(e)] == []
    times = [e["time"] for e in events]
    assert times == sorted(times)


def test_each_workstation_user_logs_on_once_a_day_before_working(events):
    frame = simulate_processes(8, START, HOURS, seed=4, attacks=[CHAIN])
    interactive = [e for e in events
                   if e["logon_type"] == "Interactive" and e["outcome"] == "Success"]
    workstations = {h.split(".")[0] for h in frame["host"] if not h.startswith("SRV")}
    assert sorted(e["src_computer"] for e in interactive) == sorted(workstations)
    for logon in interactive:
        host = f"{logon['src_computer']}.acme.local"
        user = logon["src_user"].split("@")[0]
        own = frame[(frame["host"] == host) & frame["user"].str.endswith("\\" + user)]
        assert logon["time"] < own["time"].min()


def test_network_logons_go_to_servers_and_the_lateral_move_is_ntlm(events):
    network = [e for e in events if e["logon_type"] == "Network"]
    assert {e["dst_computer"] for e in network} == {"SRV-001"}
    attack = [e for e in events if "attack_step" in e]
    assert len(attack) == 1
    move = attack[0]
    assert (move["attack_step"], move["attack_id"], move["auth_type"]) == (
        "lateral_movement", "apt", "NTLM")
    assert (move["src_computer"], move["dst_computer"]) == ("OFFICE-002", "SRV-001")
    assert all(e["auth_type"] == "Kerberos" for e in network if "attack_step" not in e)
