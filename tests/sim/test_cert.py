"""The CERT-layout simulator: published layout, the three scenarios, and matching answers."""

from __future__ import annotations

import csv

import pytest

from logguard.events.readers import read_frame
from logguard.sim.cert import COLUMNS, simulate_cert


@pytest.fixture(scope="module")
def release(tmp_path_factory):
    folder = tmp_path_factory.mktemp("r52")
    insiders = simulate_cert(folder, n_users=20, days=40, seed=1, layout="r5.2")
    return folder, insiders, read_frame(folder, "cert")


def test_files_have_the_published_headers(release):
    folder, _, _ = release
    for kind, columns in COLUMNS["r5.2"].items():
        with (folder / f"{kind}.csv").open(newline="") as handle:
            assert tuple(next(csv.reader(handle))) == columns
    assert sorted(p.name for p in (folder / "LDAP").iterdir()) == ["2010-01.csv", "2010-02.csv"]
    assert (folder / "psychometric.csv").read_text().startswith("employee_name,user_id,O,C,E,A,N")


def test_answers_label_each_scenario_with_its_signature(release):
    folder, insiders, frame = release
    assert sorted(insiders) == [1, 2, 3]
    malicious = frame[frame["label"] == 1]
    by_scenario = {s: set(malicious.loc[malicious["scenario"] == s, "action"]) for s in (1, 2, 3)}
    assert {"http:upload:leak", "file:copy:removable", "device:connect"} <= by_scenario[1]
    assert malicious.loc[malicious["scenario"] == 1, "off_hours"].all()
    assert {"http:visit:job", "file:copy:removable"} <= by_scenario[2]
    assert {"file:copy:removable:exe", "email:send:internal:mass",
            "logon:logon:newpc"} <= by_scenario[3]
    answered = sum(1 for p in (folder / "answers").rglob("r4.2-*.csv")
                   for _ in p.open(newline="") if _.strip())
    assert answered >= len(malicious)  # every labelled event is listed in answers/


def test_insiders_who_leave_stop_and_disappear_from_ldap(release):
    folder, insiders, frame = release
    thief = insiders[2][0]
    last_theft = frame.loc[(frame["user"] == thief) & (frame["scenario"] == 2), "time"].max()
    assert frame.loc[frame["user"] == thief, "time"].max() == last_theft
    february = (folder / "LDAP" / "2010-02.csv").read_text()
    assert thief in (folder / "LDAP" / "2010-01.csv").read_text()
    assert (thief in february) == (last_theft >= "2010-02-01")


def test_same_seed_same_release_and_r42_layout(tmp_path):
    simulate_cert(tmp_path / "a", n_users=6, days=10, seed=5, scenarios=(1,), layout="r4.2")
    simulate_cert(tmp_path / "b", n_users=6, days=10, seed=5, scenarios=(1,), layout="r4.2")
    for kind in COLUMNS["r4.2"]:
        assert (tmp_path / "a" / f"{kind}.csv").read_bytes() == \
            (tmp_path / "b" / f"{kind}.csv").read_bytes()
    frame = read_frame(tmp_path / "a", "cert")
    assert set(frame["subtype"][frame["activity"] == "http"]) == {"visit"}  # r4.2: no activity


def test_unknown_scenario_is_rejected(tmp_path):
    with pytest.raises(ValueError, match="unknown scenario 4"):
        simulate_cert(tmp_path, n_users=6, days=5, scenarios=(4,))
