"""CSV / JSON-lines / Parquet readers on the real IDS2017 files and on hand-made files."""

from pathlib import Path

import pandas as pd
import pytest

from logguard.cli._common import infer_format
from logguard.errors import InputError
from logguard.events.readers import iter_frames, iter_records, read_frame

DATA = Path(__file__).resolve().parents[3] / "shared" / "data"


def test_csv_reads_every_row_as_text_in_chunks():
    path = DATA / "ids2017" / "train.csv"
    chunks = list(iter_frames(path, "csv", chunk_rows=5000))
    assert [len(c) for c in chunks] == [5000, 5000, 5000, 3137]
    frame = pd.concat(chunks)
    assert frame["dstPort"].iloc[0] == "53"
    assert frame["count"].astype("int64").sum() == 2_085_733


def test_formats_round_trip_to_the_same_frame(tmp_path):
    frame = read_frame(DATA / "ids2017" / "test.csv", "csv")
    frame.to_json(tmp_path / "t.jsonl", orient="records", lines=True)
    frame.to_parquet(tmp_path / "t.parquet")
    for name, fmt in (("t.jsonl", "jsonl"), ("t.parquet", "parquet")):
        again = read_frame(tmp_path / name, fmt)
        pd.testing.assert_frame_equal(again.astype(str), frame.astype(str))


def test_records_skip_missing_values(tmp_path):
    (tmp_path / "a.csv").write_text("host,user\nh1,\nh2,u2\n")
    assert list(iter_records(tmp_path / "a.csv", "csv")) == [{"host": "h1"},
                                                             {"host": "h2", "user": "u2"}]


def test_jsonl_error_names_the_line(tmp_path):
    (tmp_path / "bad.jsonl").write_text('{"a": "1"}\n\nnot json\n')
    with pytest.raises(InputError, match=r"bad.jsonl:3: not JSON"):
        read_frame(tmp_path / "bad.jsonl", "jsonl")


def test_missing_column_is_named(tmp_path):
    with pytest.raises(InputError, match="'nope' not found"):
        read_frame(DATA / "ids2017" / "test.csv", "csv", columns=["srcIp", "nope"])


def test_missing_file_and_unknown_extension():
    with pytest.raises(InputError, match="does not exist"):
        read_frame(Path("/nonexistent/x.csv"), "csv")
    assert infer_format(Path("a.CSV.gz"), None) == "csv"
    with pytest.raises(InputError, match="pass --format"):
        infer_format(Path("a.txt"), None)
