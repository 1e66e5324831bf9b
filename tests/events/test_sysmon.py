"""The Sysmon reader on real OTRF recordings: counts per EventID, the start-edge mapping, skips."""

import json
import logging
import tarfile
import zipfile
from collections import Counter
from pathlib import Path

import pytest

from logguard.events.readers import iter_frames, read_frame
from logguard.events.readers.sysmon import SYSMON_ACTIONS

ATOMIC = Path(__file__).resolve().parents[3] / "shared" / "data" / "otrf" / "atomic"
ESENTUTL = ATOMIC / "windows" / "credential_access" / "host" / "cmd_sam_copy_esentutl.zip"
RUNAS_TGZ = ATOMIC / "windows" / "privilege_escalation" / "host" / "empire_invoke_runas.tar.gz"


def _raw_sysmon_counts(lines) -> Counter:
    """EventID counts of the Sysmon channel, computed straight from the raw JSON."""
    counts: Counter = Counter()
    for line in lines:
        record = json.loads(line)
        data = record.get("event_data")
        channel = record.get("Channel") if data is None else record.get("log_name")
        code = record.get("EventID") if data is None else record.get("event_id")
        if channel == "Microsoft-Windows-Sysmon/Operational" and code in SYSMON_ACTIONS:
            counts[code] += 1
    return counts


def test_zip_recording_counts_per_event_id_match_the_raw_json():
    with zipfile.ZipFile(ESENTUTL) as archive:
        expected = _raw_sysmon_counts(archive.open(archive.infolist()[0]))
    frame = read_frame(ESENTUTL, "sysmon")
    assert dict(Counter(frame["event_code"].tolist())) == dict(expected)
    assert expected == {10: 245, 13: 208, 12: 77, 7: 55, 11: 4, 5: 2, 18: 2, 1: 1}
    assert set(frame["recording"]) == {ESENTUTL.name}


def test_winlogbeat_tar_gz_recording_is_read_in_bounded_chunks():
    with tarfile.open(RUNAS_TGZ, "r|gz") as archive:
        member = next(m for m in archive if m.isfile())
        expected = _raw_sysmon_counts(
            line for line in archive.extractfile(member) if line.strip())
    chunks = list(iter_frames(RUNAS_TGZ, "sysmon", chunk_rows=500))
    assert max(len(c) for c in chunks) == 500
    counts = Counter(code for c in chunks for code in c["event_code"].tolist())
    assert counts == expected and sum(expected.values()) == 1432
    assert all(c["host"].notna().all() and c["time"].str.endswith("Z").all() for c in chunks)


def test_process_start_is_a_parent_to_child_edge():
    frame = read_frame(ESENTUTL, "sysmon")
    start = frame[frame["event_code"] == 1].iloc[0]
    assert start["action"] == "process_start" and start["object_type"] == "process"
    assert start["image"] == "C:\\Windows\\System32\\cmd.exe"
    assert start["process_guid"] == "{39e4a257-15ba-5f8d-e204-000000000700}"
    assert start["object_name"] == "C:\\Windows\\System32\\esentutl.exe"
    assert start["object_guid"] == "{39e4a257-15ef-5f8d-e704-000000000700}"
    assert start["object_command_line"].startswith("esentutl.exe  /y /vss")
    assert start["time"] == "2020-10-19T04:28:31.089Z"
    access = frame[frame["event_code"] == 10].iloc[0]
    assert access["image"].lower().endswith("svchost.exe") and access["object_guid"]


def test_directory_walk_skips_metadata_and_non_windows_recordings(caplog):
    root = ATOMIC / "linux"
    with caplog.at_level(logging.INFO, logger="logguard.events.readers.sysmon"):
        assert read_frame(root, "sysmon").empty
    notes = [r.getMessage() for r in caplog.records]
    assert sum("not a Windows event recording" in n for n in notes) == 2


@pytest.mark.timeout(60)
def test_directory_walk_reads_every_windows_recording(tmp_path, caplog):
    (tmp_path / "_metadata").mkdir()
    (tmp_path / "_metadata" / "SDWIN-1.yaml").write_text("title: x\n")
    for source in (ESENTUTL, RUNAS_TGZ):
        (tmp_path / source.name).write_bytes(source.read_bytes())
    with caplog.at_level(logging.INFO, logger="logguard.events.readers.sysmon"):
        frame = read_frame(tmp_path, "sysmon")
    assert Counter(frame["recording"]) == {ESENTUTL.name: 594, RUNAS_TGZ.name: 1432}
    assert any("SDWIN-1.yaml (not an event recording)" in r.getMessage() for r in caplog.records)
