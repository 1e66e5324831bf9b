"""`logguard paths` end to end on a real OTRF recording."""

import json
from pathlib import Path

from logguard.cli import main

HOST = Path(__file__).resolve().parents[2] / "shared" / "data" / "otrf" / "atomic" / "windows"
TRAIN = [HOST / "defense_evasion" / "host" / "psh_mavinject_dll_notepad.zip",
         HOST / "discovery" / "host" / "cmd_seatbelt_group_user.zip",
         HOST / "execution" / "host" / "psh_python_webserver.zip"]
HELD_OUT = HOST / "credential_access" / "host" / "cmd_sam_copy_esentutl.zip"


def test_train_then_paths_writes_ranked_paths_with_nodes_and_edges(tmp_path, capsys):
    history = tmp_path / "history"
    (history / "_metadata").mkdir(parents=True)
    (history / "_metadata" / "SDWIN-0.yaml").write_text("title: not a recording\n")
    for path in TRAIN:
        (history / path.name).write_bytes(path.read_bytes())
    assert main(["train", "gid", "--input", str(history), "--format", "sysmon",
                 "--out", str(tmp_path / "gid")]) == 0
    assert "trained gid" in capsys.readouterr().out
    out = tmp_path / "paths.jsonl"
    code = main(["paths", "--model", str(tmp_path / "gid"), "--input", str(HELD_OUT),
                 "--format", "sysmon", "--top", "4", "--output", str(out)])
    assert code == 0
    paths = [json.loads(line) for line in out.read_text().splitlines()]
    assert [p["rank"] for p in paths] == [1, 2, 3, 4]
    for path in paths:
        assert {"z_score", "score", "length", "host", "nodes", "edges"} <= set(path)
        assert len(path["nodes"]) == path["length"] + 1 == len(path["edges"]) + 1
        assert all({"relation", "time"} <= set(edge) for edge in path["edges"])
    assert "esentutl" in json.dumps(paths[0]).lower()
    assert "4 paths" in capsys.readouterr().out


def test_paths_errors_are_clean(tmp_path, capsys):
    code = main(["paths", "--model", str(tmp_path / "none"), "--input", str(HELD_OUT),
                 "--format", "sysmon", "--output", str(tmp_path / "p.jsonl")])
    assert code == 5 and "not a logguard model directory" in capsys.readouterr().err
