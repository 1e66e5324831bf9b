"""The analyst commands against the fixture store, and through the API while another process
holds the file."""

from __future__ import annotations

import csv
import io
import json
import os
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from logguard.cli import main

REPO_ROOT = Path(__file__).resolve().parents[2]


def run_cli(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    code = main(list(args))
    out, err = capsys.readouterr()
    return code, out, err


def test_alerts_table_json_and_csv(capsys, analyst_db, planted):
    code, out, _ = run_cli(capsys, "alerts", "--db", str(analyst_db), "--top", "5")
    lines = out.splitlines()
    assert code == 0 and lines[0].split()[:7] == ["RANK", "SCORE", "TIME", "HOST", "USER",
                                                  "SUMMARY", "SCENARIO"]
    assert lines[1].split()[:2] == ["1", "97.5"] and planted.attack[0][:12] in lines[1]
    assert len(lines) == 6
    code, out, _ = run_cli(capsys, "alerts", "--db", str(analyst_db), "--format", "json",
                           "--host", "WS-FIN-07", "--since", "1d")
    assert [a["alert_id"] for a in json.loads(out)] == list(planted.attack[:3])
    code, out, _ = run_cli(capsys, "alerts", "--db", str(analyst_db), "--format", "csv",
                           "--user", "' OR 1=1 --")
    assert list(csv.reader(io.StringIO(out)))[1:] == []
    code, _, err = run_cli(capsys, "alerts", "--db", str(analyst_db), "--since", "soon")
    assert code == 2 and "--since 'soon'" in err


def test_scenarios_scenario_show_and_explain(capsys, analyst_db, planted):
    code, out, _ = run_cli(capsys, "scenarios", "--db", str(analyst_db))
    assert code == 0 and out.splitlines()[1].startswith("1 ")
    assert planted.attack_scenario[:12] in out
    code, out, _ = run_cli(capsys, "scenario", "show", planted.attack_scenario[:8],
                           "--db", str(analyst_db))
    steps = out.split("steps (time order):")[1].split("attack graph:")[0]
    assert [line.split()[0] for line in steps.strip().splitlines()] == ["1.", "2.", "3.", "4."]
    assert "WINWORD.EXE -> powershell.exe" in steps.splitlines()[1]
    assert "rundll32.exe [process] --network_connect--> 185.220.101.7:443 [socket]" in out
    code, out, _ = run_cli(capsys, "explain", planted.attack[0][:8], "--db", str(analyst_db))
    assert code == 0 and "parent_image=C:\\Program Files\\Office\\WINWORD.EXE" in out
    assert "similar past alerts:" in out and "ATT&CK: T1566.001, T1059.001" in out


def test_unknown_or_short_ids_exit_2_naming_the_id(capsys, analyst_db):
    for command in (["explain", "0123456789ab"], ["scenario", "show", "0123456789ab"],
                    ["feedback", "0123456789ab", "benign"]):
        code, _, err = run_cli(capsys, *command, "--db", str(analyst_db))
        assert code == 2 and "'0123456789ab'" in err, (command, err)
    code, _, err = run_cli(capsys, "explain", "57c3", "--db", str(analyst_db))
    assert code == 2 and "at least 8 characters" in err


def test_feedback_suppress_list_and_revoke(capsys, analyst_db, planted):
    code, out, _ = run_cli(capsys, "feedback", planted.backup[2][:8], "benign", "--suppress", "14",
                           "--note", "nightly backup", "--db", str(analyst_db))
    assert code == 0 and f"recorded benign on alert {planted.backup[2]}" in out
    sid = out.split("suppression ", 1)[1].split()[0]
    code, out, _ = run_cli(capsys, "suppressions", "--db", str(analyst_db), "--format", "json")
    assert [s["suppression_id"] for s in json.loads(out)] == [sid]
    code, out, _ = run_cli(capsys, "suppressions", "--db", str(analyst_db), "--revoke", sid[:8])
    assert code == 0 and out.startswith(f"revoked suppression {sid}")
    code, out, _ = run_cli(capsys, "suppressions", "--db", str(analyst_db))
    assert out.strip() == "no suppressions"
    code, _, err = run_cli(capsys, "feedback", planted.attack[0], "true-positive", "--suppress",
                           "3", "--db", str(analyst_db))
    assert code == 2 and "suppress_days needs a false-positive or benign verdict" in err


def test_neither_db_nor_api_is_a_clear_error(capsys):
    code, _, err = run_cli(capsys, "alerts")
    assert code == 2 and "--db PATH" in err and "--api URL" in err


@pytest.mark.timeout(60)
def test_locked_store_goes_through_the_api_of_the_process_holding_it(capsys, analyst_db,
                                                                     planted):
    server = subprocess.Popen(
        [sys.executable, "-m", "logguard", "ui", "--db", str(analyst_db), "--port", "0"],
        cwd=REPO_ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        env={**os.environ, "LOGGUARD_API_TOKEN": ""})
    try:
        line = server.stdout.readline()
        assert "serving" in line, server.stderr.read()
        url = line.split(" at ", 1)[1].split()[0].rstrip("/")
        code, _, err = run_cli(capsys, "feedback", planted.attack[0], "true-positive",
                               "--db", str(analyst_db))
        assert code == 3 and "locked by another process" in err
        assert "--api" in err and "stop that process" in err
        code, out, _ = run_cli(capsys, "feedback", planted.attack[0][:8], "true-positive",
                               "--note", "via api", "--db", str(analyst_db), "--api", url)
        assert code == 0 and f"recorded true-positive on alert {planted.attack[0]}" in out
        code, out, _ = run_cli(capsys, "alerts", "--db", str(analyst_db), "--api", url,
                               "--format", "json", "--top", "1")
        assert json.loads(out)[0]["status"] == "true-positive"
        code, _, err = run_cli(capsys, "explain", "0123456789ab", "--api", url)
        assert code == 2 and "'0123456789ab'" in err
        with urllib.request.urlopen(f"{url}/api/alerts/{planted.attack[0]}", timeout=10) as r:
            assert json.loads(r.read())["feedback"][0]["note"] == "via api"
    finally:
        server.terminate()
        server.wait(timeout=15)
    assert server.returncode == 0
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:  # the file is free again once the server has exited
        code, out, _ = run_cli(capsys, "alerts", "--db", str(analyst_db), "--top", "1",
                               "--status", "true-positive", "--format", "json")
        if code == 0:
            break
        time.sleep(0.2)
    assert [a["alert_id"] for a in json.loads(out)] == [planted.attack[0]]
