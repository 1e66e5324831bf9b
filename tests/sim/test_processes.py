"""The process-trace simulator: determinism, schema validity, role structure, planted chains."""

import json
import os
import subprocess
import sys
from itertools import islice
from pathlib import Path

import pandas as pd
import pytest
from jsonschema import Draft202012Validator

from logguard.errors import InputError
from logguard.events.readers.sysmon import COLUMNS as SYSMON_COLUMNS
from logguard.events.readers.sysmon import SYSMON_ACTIONS
from logguard.sim import (
    ATTACK_STEPS,
    AttackChain,
    host_names,
    iter_process_events,
    simulate_processes,
)

SCHEMA = Path(__file__).resolve().parents[2] / "schemas" / "process.schema.json"
START = "2026-11-23T00:00:00Z"  # a Monday
DAY = 24 * 3600
OFFICE = "OFFICE-002.acme.local"


def _basename(images: pd.Series) -> pd.Series:
    return images.str.rsplit("\\", n=1).str[-1].str.lower()


@pytest.fixture(scope="module")
def day() -> pd.DataFrame:
    """One working day of 12 hosts (9 office, 2 developer, 1 server), no attack."""
    return simulate_processes(12, START, DAY, seed=3)


def test_same_seed_same_trace_other_seed_other_trace():
    first = simulate_processes(4, "2026-11-23T08:00:00Z", 3600, seed=11)
    again = simulate_processes(4, "2026-11-23T08:00:00Z", 3600, seed=11)
    other = simulate_processes(4, "2026-11-23T08:00:00Z", 3600, seed=12)
    assert len(first) > 1000
    pd.testing.assert_frame_equal(first, again)
    assert len(first) != len(other) or not first.equals(other)
    assert set(first["process_guid"]).isdisjoint(set(other["process_guid"]))


def test_trace_does_not_depend_on_the_interpreter_hash_seed():
    script = ("import hashlib; from logguard.sim import iter_process_rows; "
              "print(hashlib.sha256(repr(list(iter_process_rows("
              "3, '2026-11-23T09:00:00Z', 1800, seed=2))).encode()).hexdigest())")
    digests = {subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                              check=True, timeout=60, env={**os.environ, "PYTHONHASHSEED": seed},
                              cwd=Path(__file__).resolve().parents[2]).stdout
               for seed in ("1", "2")}
    assert len(digests) == 1 and len(next(iter(digests)).strip()) == 64


def test_every_event_is_valid_against_the_process_schema(day):
    validator = Draft202012Validator(json.loads(SCHEMA.read_text()))
    # every 7th event of the day; the stream test shows frame rows and streamed dicts agree
    events = [{k: v for k, v in row.items() if not pd.isna(v)}
              for row in day.iloc[::7].to_dict("records")]
    assert len(events) > 5000
    errors = [(e, next(iter(validator.iter_errors(e)))) for e in events
              if not validator.is_valid(e)]
    assert errors == []
    codes = {(e["action"], e["object_type"], e["event_code"]) for e in events}
    assert codes <= {(a, o, c) for c, (a, o) in SYSMON_ACTIONS.items()}
    assert {c for _, _, c in codes} == {1, 3, 5, 7, 10, 11, 13, 22}


def test_frame_has_the_sysmon_reader_layout_and_is_ordered_by_time(day):
    assert set(SYSMON_COLUMNS) - {"recording"} <= set(day.columns)
    assert day["time"].is_monotonic_increasing
    assert day["time"].str.match(r"^2026-11-23T\d\d:\d\d:\d\d\.\d{3}Z$").all()
    assert str(day["process_id"].dtype) == "Int64" and str(day["event_code"].dtype) == "Int64"
    assert day["attack_step"].isna().all()
    starts = day[day["action"] == "process_start"]
    assert starts["object_guid"].is_unique and starts["object_guid"].notna().all()


def test_stream_gives_the_frame_rows_as_dicts_without_empty_fields(day):
    head = list(islice(iter_process_events(12, START, DAY, seed=3), 500))
    for event, (_, row) in zip(head, day.head(500).iterrows(), strict=True):
        expected = {k: v for k, v in row.items() if not pd.isna(v)}
        assert event == expected
    assert all("attack_step" not in e for e in head)


def test_every_process_that_acts_was_started_in_the_trace_or_is_a_resident(day):
    started = set(day.loc[day["action"] == "process_start", "object_guid"])
    residents = day.loc[~day["process_guid"].isin(started)]
    # residents run before the window: services, Schedule, Defender, WmiPrvSE, explorer/server app
    per_host = residents.groupby("host")["process_guid"].nunique()
    assert per_host.max() <= 6
    assert set(_basename(residents["image"])) <= {
        "services.exe", "svchost.exe", "msmpeng.exe", "wmiprvse.exe", "explorer.exe",
        "sqlservr.exe", "w3wp.exe"}
    # a started process's own rows name the parent that started it
    own = day[day["process_guid"].isin(started) & (day["action"] != "process_start")]
    parent_of = dict(zip(day.loc[day["action"] == "process_start", "object_guid"],
                         day.loc[day["action"] == "process_start", "process_guid"], strict=True))
    assert (own["parent_guid"] == own["process_guid"].map(parent_of)).all()


def test_roles_have_their_own_process_trees(day):
    starts = day[day["action"] == "process_start"].assign(
        parent=lambda f: _basename(f["image"]), child=lambda f: _basename(f["object_name"]),
        role=lambda f: f["host"].str.split("-").str[0])
    edges = starts.groupby("role")[["parent", "child"]].apply(
        lambda f: set(zip(f["parent"], f["child"], strict=True)))
    word_parents = {p for p, c in edges["OFFICE"] if c == "winword.exe"}
    assert word_parents == {"explorer.exe", "outlook.exe"}
    assert ("explorer.exe", "outlook.exe") in edges["OFFICE"]
    assert not any(c in {"code.exe", "git.exe", "msbuild.exe"} for _, c in edges["OFFICE"])
    assert {("powershell.exe", "git.exe"), ("explorer.exe", "code.exe")} <= edges["DEV"]
    assert {c for p, c in edges["SRV"] if p == "services.exe"} == {"svchost.exe"}
    assert ("svchost.exe", "powershell.exe") in edges["SRV"]  # the nightly maintenance task
    assert not any(c in {"winword.exe", "outlook.exe", "chrome.exe"} for _, c in edges["SRV"])
    assert {p for p, c in edges["OFFICE"] | edges["DEV"] if c == "svchost.exe"} == {"services.exe"}


def test_office_users_work_by_day_and_servers_back_up_at_night(day):
    starts = day[day["action"] == "process_start"]
    hour = starts["time"].str[11:13].astype(int)
    office_apps = (starts["host"].str.startswith("OFFICE")
                   & (_basename(starts["image"]) == "explorer.exe"))
    assert office_apps.sum() > 100
    assert hour[office_apps].between(7, 18).mean() > 0.9
    backups = starts["object_command_line"].str.contains("backup.ps1", na=False)
    assert backups.sum() > 5 and hour[backups].between(1, 3).all()


def test_hosts_have_their_own_habits(day):
    office = day[day["host"].str.startswith("OFFICE")]
    queries = office[office["action"] == "dns_query"]
    domains = queries.groupby("host")["object_name"].apply(frozenset)
    users = office.loc[office["user"].str.startswith("ACME\\"), ["host", "user"]].drop_duplicates()
    assert domains.nunique() == len(domains) > 5
    assert users["host"].is_unique and users["user"].is_unique
    files = office[(office["action"] == "file_create")
                   & office["object_name"].str.startswith("C:\\Users\\")]
    owner = files["object_name"].str.split("\\").str[2]
    assert len(files) > 1000 and (owner == files["user"].str.split("\\").str[1]).all()


@pytest.mark.parametrize("tools", [
    {"phishing_macro": "cmd", "download": "powershell", "persistence": "run_key",
     "credential_access": "procdump", "lateral_movement": "psexec", "exfiltration": "rclone"},
    {"phishing_macro": "direct", "download": "certutil", "persistence": "schtasks",
     "credential_access": "mimikatz", "lateral_movement": "wmic", "exfiltration": "curl"},
])
def test_planted_chain_is_labelled_ordered_and_linked_by_guids(tools):
    chain = AttackChain(OFFICE, "2026-11-23T10:15:00Z", tools=tools, name="apt")
    clean = simulate_processes(6, "2026-11-23T09:00:00Z", 4 * 3600, seed=5)
    frame = simulate_processes(6, "2026-11-23T09:00:00Z", 4 * 3600, seed=5, attacks=[chain])
    attack = frame[frame["attack_step"].notna()]
    # normal events are exactly those of the trace without the attack
    normal = frame[frame["attack_step"].isna()].reset_index(drop=True)
    pd.testing.assert_frame_equal(normal, clean)
    assert set(attack["attack_id"]) == {"apt"}
    steps = attack["attack_step"].drop_duplicates().tolist()
    assert steps == list(ATTACK_STEPS)
    assert attack["time"].is_monotonic_increasing and attack["time"].iloc[0] >= "2026-11-23T10:15"
    # linked: every attacker process acting after the first was started earlier in the chain
    starts = attack[attack["action"] == "process_start"]
    started_at = dict(zip(starts["object_guid"], starts.index, strict=True))
    roots = []
    for index, row in attack.iterrows():
        if row["process_guid"] in started_at:
            assert started_at[row["process_guid"]] < index
        else:
            roots.append(row["process_guid"])
    root_images = set(_basename(attack.loc[attack["process_guid"].isin(roots), "image"]))
    assert root_images <= {"outlook.exe", "explorer.exe", "services.exe", "wmiprvse.exe"}
    # the phishing edge, lsass access with its guid, the move to the target, the upload
    edges = set(zip(_basename(starts["image"]), _basename(starts["object_name"]), strict=True))
    assert ("outlook.exe", "winword.exe") in edges
    shell = "cmd.exe" if tools["phishing_macro"] == "cmd" else "powershell.exe"
    assert ("winword.exe", shell) in edges
    access = attack[attack["action"] == "process_access"]
    assert (access["object_name"] == "C:\\Windows\\System32\\lsass.exe").all() and len(access) >= 1
    office_machine = frame.loc[frame["host"] == OFFICE, "process_guid"].iloc[0][:9]
    assert access["object_guid"].nunique() == 1 and access["object_guid"].notna().all()
    assert access["object_guid"].iloc[0].startswith(office_machine)
    moved = attack[attack["attack_step"].isin(["lateral_movement", "exfiltration"])]
    assert set(moved["host"]) == {OFFICE, "SRV-001.acme.local"}
    exfiltration = attack[attack["attack_step"] == "exfiltration"]
    assert (exfiltration["host"] == "SRV-001.acme.local").all()
    upload = exfiltration[exfiltration["action"] == "network_connect"]
    assert len(upload) == 1 and not upload["object_name"].iloc[0].startswith("10.")
    assert attack["command_line"].str.contains("-enc ", regex=False).any() or \
        attack["object_command_line"].str.contains("-enc ", regex=False).any()


def test_chain_without_phishing_starts_from_a_hidden_shell_on_a_server():
    chain = AttackChain("SRV-001.acme.local", "2026-11-23T03:00:00Z",
                        steps=("credential_access", "download"), tools={"download": "bitsadmin"})
    frame = simulate_processes(6, "2026-11-23T02:00:00Z", 3 * 3600, seed=5, attacks=[chain])
    attack = frame[frame["attack_step"].notna()]
    assert attack["attack_step"].drop_duplicates().tolist() == ["download", "credential_access"]
    first = attack.iloc[0]
    assert first["action"] == "process_start" and _basename(pd.Series([first["image"]]))[0] in {
        "sqlservr.exe", "w3wp.exe"}
    assert attack["object_command_line"].str.startswith("bitsadmin.exe", na=False).any()


@pytest.mark.parametrize(("chain", "message"), [
    (AttackChain("NOPE.acme.local", START), "host 'NOPE.acme.local' is not simulated"),
    (AttackChain(OFFICE, "2026-11-25T00:00:00Z"), "outside the simulated window"),
    (AttackChain("SRV-001.acme.local", START), "phishing_macro needs a workstation"),
    (AttackChain(OFFICE, START, steps=("phish",)), "unknown step(s) ['phish']"),
    (AttackChain(OFFICE, START, tools={"download": "wget"}), "tools['download'] = 'wget'"),
    (AttackChain(OFFICE, START, target_host=OFFICE), "target_host 'OFFICE-002.acme.local'"),
])
def test_bad_attack_chains_are_refused_naming_the_field(chain, message):
    with pytest.raises(InputError) as error:
        iter_process_events(6, START, 3600, seed=1, attacks=[chain])
    assert message in str(error.value)


def test_bad_arguments_are_refused():
    with pytest.raises(InputError, match="n_hosts"):
        simulate_processes(0, START, 60)
    with pytest.raises(InputError, match="duration"):
        simulate_processes(3, START, 0)
    with pytest.raises(InputError, match="not ISO 8601"):
        simulate_processes(3, "yesterday", 60)


def test_host_names_depend_only_on_the_size():
    assert host_names(12)[:2] == ["OFFICE-001.acme.local", "OFFICE-002.acme.local"]
    assert sum(n.startswith("SRV") for n in host_names(40)) == 4
    assert sum(n.startswith("DEV") for n in host_names(40)) == 10
    assert host_names(1) == ["OFFICE-001.acme.local"]
