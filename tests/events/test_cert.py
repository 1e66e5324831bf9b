"""The CERT reader on hand-written r4.2 and r5.2 release folders."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from logguard.errors import InputError
from logguard.events.readers import iter_frames, read_frame
from logguard.events.readers.cert import domain_class

R42 = {
    "logon.csv": (
        "id,date,user,pc,activity\n"
        "{L1},01/04/2010 08:01:00,ABC0001,PC-1,Logon\n"
        "{L2},01/04/2010 17:30:00,ABC0001,PC-1,Logoff\n"
        "{L3},01/09/2010 23:10:00,ABC0001,PC-9,Logon\n"
    ),
    "device.csv": (
        "id,date,user,pc,activity\n"
        "{D1},01/09/2010 23:12:00,ABC0001,PC-9,Connect\n"
    ),
    "file.csv": (
        "id,date,user,pc,filename,content\n"
        '{F1},01/09/2010 23:14:00,ABC0001,PC-9,R:\\plans\\budget.XLS,"text, with a comma\n'
        'and a newline"\n'
    ),
    "email.csv": (
        "id,date,user,pc,to,cc,bcc,from,size,attachments,content\n"
        "{E1},01/04/2010 09:00:00,ABC0001,PC-1,a@dtaa.com;b@gmail.com,,,"
        "abc0001@dtaa.com,2048,2,hello\n"
        "{E2},01/04/2010 09:05:00,ABC0001,PC-1,c@dtaa.com,,,abc0001@dtaa.com,100,0,hi\n"
    ),
    "http.csv": (
        "id,date,user,pc,url,content\n"
        "{H1},01/04/2010 10:00:00,ABC0001,PC-1,http://www.monster.com/jobs/1,jobs\n"
        "{H2},01/09/2010 23:20:00,ABC0001,PC-9,http://wikileaks.org/upload,leak\n"
        '{H3},01/09/2010 23:21:00,ABC0001,PC-9,"http://cut.com/x,'
    ),
    "psychometric.csv": "employee_name,user_id,O,C,E,A,N\nA B,ABC0001,40,30,20,10,5\n",
    "LDAP/2010-01.csv": "employee_name,user_id,email,role,business_unit\nA B,ABC0001,x,IT,1\n",
    "answers/insiders.csv": (
        "dataset,scenario,details,user,start,end\n"
        "4.2,1,r4.2-1-ABC0001.csv,ABC0001,01/09/2010 23:10:00,01/09/2010 23:20:00\n"
    ),
    "answers/r4.2-1/r4.2-1-ABC0001.csv": (
        'logon,{L3},01/09/2010 23:10:00,ABC0001,PC-9,Logon\n'
        'http,{H2},01/09/2010 23:20:00,ABC0001,PC-9,http://wikileaks.org/upload,"a, b"\n'
    ),
}

R52 = {
    "device.csv": (
        "id,date,user,pc,file_tree,activity\n"
        "{D1},01/05/2010 10:00:00,XYZ0002,PC-2,R:\\;R:\\docs,Connect\n"
    ),
    "file.csv": (
        "id,date,user,pc,filename,activity,to_removable_media,from_removable_media,content\n"
        "{F1},01/05/2010 10:01:00,XYZ0002,PC-2,C:\\tools\\kl.exe,File Copy,False,True,MZ\n"
        "{F2},01/05/2010 10:02:00,XYZ0002,PC-2,C:\\a\\notes.doc,File Open,False,False,x\n"
    ),
    "email.csv": (
        "id,date,user,pc,to,cc,bcc,from,activity,size,attachments,content\n"
        "{E1},01/05/2010 10:03:00,XYZ0002,PC-2,p@dtaa.com,,,xyz0002@dtaa.com,View,10,"
        "C:\\a\\one.doc(123);C:\\a\\two.pdf(456),text\n"
    ),
    "http.csv": (
        "id,date,user,pc,url,activity,content\n"
        "{H1},01/05/2010 10:04:00,XYZ0002,PC-2,https://dropbox.com/s/1,WWW Upload,data\n"
        '{H2},01/05/2010 10:05:00,XYZ0002,PC-2,http://espn.com/,WWW Visit,"content cut'
    ),
    "logon.csv": "id,date,user,pc,activity\n",  # header only
}


def write_release(root: Path, files: dict[str, str]) -> Path:
    for name, text in files.items():
        target = root / name
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(text)
    return root


def test_r42_release_is_merged_in_time_order_with_features_and_labels(tmp_path, caplog):
    release = write_release(tmp_path, R42)
    with caplog.at_level(logging.WARNING):
        frame = read_frame(release, "cert")
    assert list(frame["event_id"]) == ["{L1}", "{E1}", "{E2}", "{H1}", "{L2}", "{L3}", "{D1}",
                                       "{F1}", "{H2}"]
    assert "http.csv: skipped 1 cut-short row" in caplog.text  # the truncated {H3}
    rows = frame.set_index("event_id")
    assert rows.loc["{L1}", "time"] == "2010-01-04T08:01:00"
    assert rows.loc["{F1}", "object"] == "xls" and rows.loc["{F1}", "subtype"] == "access"
    assert rows.loc["{E1}", "external_recipients"] == 1 and rows.loc["{E1}", "attachments"] == 2
    assert rows.loc["{E1}", "action"] == "email:send:external:attachment"
    assert rows.loc["{E2}", "action"] == "email:send:internal"
    assert rows.loc["{H1}", "object"] == "monster.com" and rows.loc["{H1}", "domain_class"] == "job"
    assert rows.loc["{H2}", "action"] == "http:visit:leak"
    assert rows.loc["{L3}", "action"] == "logon:logon:newpc"
    assert bool(rows.loc["{L3}", "off_hours"]) and not bool(rows.loc["{L1}", "off_hours"])
    assert bool(rows.loc["{L3}", "new_pc"]) and not bool(rows.loc["{L2}", "new_pc"])
    assert rows.loc["{L1}", "history"] == ""
    assert rows.loc["{E2}", "history"] == "logon:logon:newpc@8 email:send:external:attachment@9"
    assert list(rows["label"]) == [0, 0, 0, 0, 0, 1, 0, 0, 1]
    assert list(rows["scenario"]) == [0, 0, 0, 0, 0, 1, 0, 0, 1]


def test_r52_columns_header_only_and_missing_files(tmp_path):
    frame = read_frame(write_release(tmp_path, R52), "cert")
    assert "label" not in frame.columns  # no answers/ folder: no labels
    rows = frame.set_index("event_id")
    # the last record, cut inside its last field, is read as far as it goes
    assert list(rows.index) == ["{D1}", "{F1}", "{F2}", "{E1}", "{H1}", "{H2}"]
    assert rows.loc["{F1}", "action"] == "file:copy:removable:exe"
    assert rows.loc["{F2}", "action"] == "file:open"
    assert rows.loc["{E1}", "subtype"] == "view" and rows.loc["{E1}", "attachments"] == 2
    assert rows.loc["{H1}", "subtype"] == "upload"
    assert rows.loc["{H1}", "action"] == "http:upload:cloud"
    assert rows.loc["{D1}", "action"] == "device:connect"


def test_chunks_are_bounded_and_history_spans_chunks(tmp_path):
    release = write_release(tmp_path, R42)
    chunks = list(iter_frames(release, "cert", chunk_rows=2))
    assert [len(c) for c in chunks] == [2, 2, 2, 2, 1]
    whole = read_frame(release, "cert")
    assert [h for c in chunks for h in c["history"]] == list(whole["history"])


def test_folder_without_activity_files_gives_an_empty_frame(tmp_path):
    (tmp_path / "LDAP").mkdir()
    frame = read_frame(tmp_path, "cert")
    assert frame.empty and "history" in frame.columns


def test_a_single_activity_file_can_be_read(tmp_path):
    release = write_release(tmp_path, R42)
    frame = read_frame(release / "logon.csv", "cert")
    assert list(frame["subtype"]) == ["logon", "logoff", "logon"]
    with pytest.raises(InputError, match="not a CERT activity file"):
        read_frame(release / "psychometric.csv", "cert")


def test_header_missing_a_required_column_is_named(tmp_path):
    write_release(tmp_path, {"logon.csv": "id,date,pc,activity\n{L},01/01/2010 01:00:00,P,Logon\n"})
    with pytest.raises(InputError, match="'user'"):
        read_frame(tmp_path, "cert")


@pytest.mark.parametrize(("domain", "kind"), [("wikileaks.org", "leak"), ("careerbuilder.com",
                         "job"), ("dropbox.com", "cloud"), ("espn.com", "")])
def test_domain_classes(domain, kind):
    assert domain_class(domain) == kind


def test_a_byte_order_mark_before_the_header_is_ignored(tmp_path):
    (tmp_path / "logon.csv").write_bytes(
        "\ufeffid,date,user,pc,activity\n{L},01/05/2010 09:00:00,U1,PC-1,Logon\n".encode())
    frame = read_frame(tmp_path, "cert")
    assert list(frame["event_id"]) == ["{L}"] and frame["time"].iloc[0] == "2010-01-05T09:00:00"
