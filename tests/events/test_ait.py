"""The AIT-ADS alert reader on a real shared file and on broken files."""

from pathlib import Path

import pytest

from logguard.errors import InputError
from logguard.events.readers import iter_frames, read_frame
from logguard.events.schema import load_schema

DATA = Path(__file__).resolve().parents[3] / "shared" / "data" / "ait-ads"
FIRST_TIME, FIRST_NAME, FIRST_HOST = 1642723347.0, "Wazuh: ClamAV database update", "mail"


def test_reads_a_real_file_in_chunks_with_schema_fields_and_labels():
    chunks = list(iter_frames(DATA / "russellmitchell_alerts.csv.gz", "ait", chunk_rows=20_000))
    assert [len(c) for c in chunks] == [20_000, 20_000, 5_544]
    frame = read_frame(DATA / "russellmitchell_alerts.csv.gz", "ait")
    schema_fields = {f.name for f in load_schema("alert").fields}
    assert {"time", "name", "ip", "host", "short"} <= schema_fields
    assert list(frame.columns) == ["time", "name", "ip", "host", "short", "time_label",
                                   "event_label"]
    assert frame["time"].dtype == "float64"
    first = frame.iloc[0]
    assert (first["time"], first["name"], first["host"]) == (FIRST_TIME, FIRST_NAME, FIRST_HOST)
    assert (frame["event_label"] != "-").sum() == 10_962
    assert frame["event_label"].value_counts()["wpscan"] == 6_355
    assert frame["host"].nunique() == 11


def test_a_file_without_alert_columns_is_refused_naming_them(tmp_path):
    path = tmp_path / "x_alerts.csv"
    path.write_text("time,name,ip\n1642213952,a,1.2.3.4\n")
    with pytest.raises(InputError, match=r"'host', 'short' missing"):
        read_frame(path, "ait")


def test_a_bad_time_names_the_row_and_the_field(tmp_path):
    path = tmp_path / "x_alerts.csv"
    path.write_text("time,name,ip,host,short\n1642213952,a,1.2.3.4,h,s\nyesterday,b,1.2.3.4,h,s\n")
    with pytest.raises(InputError, match=r"row 2: field 'time' is 'yesterday'"):
        read_frame(path, "ait")
