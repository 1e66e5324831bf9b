"""`logguard rank` end to end: a real AIT-ADS file and a hand-made CSV."""

from pathlib import Path

import orjson
import pandas as pd
import pytest

from logguard.cli import main

DATA = Path(__file__).resolve().parents[2] / "shared" / "data" / "ait-ads"


def test_rank_a_real_ait_file_keeps_every_alert_in_order(tmp_path, capsys):
    source = DATA / "russellmitchell_alerts.csv.gz"
    out, scenarios = tmp_path / "ranked.parquet", tmp_path / "scenarios.jsonl"
    assert main(["rank", "--input", str(source), "--format", "ait", "--output", str(out),
                 "--scenarios", str(scenarios)]) == 0
    ranked = pd.read_parquet(out)
    original = pd.read_csv(source, dtype=str, keep_default_na=False)
    assert len(ranked) == 45_544
    for column in ("name", "host", "ip", "time_label", "event_label"):
        assert ranked[column].astype(str).tolist() == original[column].tolist()
    assert sorted(ranked["rank"]) == list(range(1, len(ranked) + 1))
    best = ranked.loc[ranked["rank"] == 1, "car_score"].iloc[0]
    assert best == ranked["car_score"].max()
    records = [orjson.loads(line) for line in scenarios.read_bytes().splitlines()]
    assert records, "no scenario"
    first = records[0]
    assert {"id", "score", "steps", "hosts", "entities", "first_time", "last_time",
            "alerts"} <= set(first)
    assert first["id"] == 1 and first["score"] == max(r["score"] for r in records)
    assert [s["first_time"] for s in first["steps"]] == sorted(s["first_time"]
                                                               for s in first["steps"])
    in_first = ranked["scenario_id"] == 1
    assert in_first.sum() == first["alerts"]
    assert set(ranked.loc[in_first, "host"]) == set(first["hosts"])
    assert "45544 alerts" in capsys.readouterr().out


def test_rank_a_csv_with_iso_times_to_jsonl(tmp_path):
    rows = [("2024-05-01T10:00:00Z", "scan", "web", "10.0.0.9", "yes"),
            ("2024-05-01T10:01:00Z", "exploit", "web", "10.0.0.9", "yes"),
            ("2024-05-01T11:00:00Z", "update", "mail", "10.0.0.2", "no")]
    source = tmp_path / "alerts.csv"
    pd.DataFrame(rows, columns=["time", "name", "host", "ip", "truth"]).to_csv(source,
                                                                               index=False)
    out = tmp_path / "out.jsonl"
    assert main(["rank", "--input", str(source), "--output", str(out)]) == 0
    ranked = pd.read_json(out, lines=True, dtype={"truth": str})
    assert ranked["name"].tolist() == ["scan", "exploit", "update"]
    assert ranked["truth"].tolist() == ["yes", "yes", "no"]
    assert sorted(ranked["rank"]) == [1, 2, 3]


@pytest.mark.parametrize(("header", "message"), [
    ("time,name,ip\n1,a,b\n", "'host'"),
    ("time,name,host\nlater,a,h\n", "field 'time' is 'later'"),
])
def test_bad_alerts_are_an_input_error_naming_the_field(tmp_path, capsys, header, message):
    source = tmp_path / "bad.csv"
    source.write_text(header)
    assert main(["rank", "--input", str(source), "--output", str(tmp_path / "o.csv")]) == 2
    assert message in capsys.readouterr().err


def test_an_unknown_output_format_is_refused_before_reading(tmp_path, capsys):
    assert main(["rank", "--input", str(DATA / "shaw_alerts.csv.gz"), "--format", "ait",
                 "--output", str(tmp_path / "out.xlsx")]) == 2
    assert "cannot tell the output format" in capsys.readouterr().err
