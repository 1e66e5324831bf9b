"""Graph building from process events and the history abstraction of entities."""

import numpy as np
import pandas as pd
import pytest

from logguard.graph.abstraction import abstract_label
from logguard.graph.build import build_graph


@pytest.mark.parametrize(("kind", "name", "label"), [
    ("process", r"C:\Users\alice\AppData\Local\Temp\x.exe",
     r"process:c:\users\*\appdata\local\temp\x.exe"),
    ("process", r"C:\ProgramData\Microsoft\Windows Defender\Platform\4.18.2008.9-0\MsMpEng.exe",
     r"process:c:\programdata\microsoft\windows defender\platform\#.#.#.#-#\msmpeng.exe"),
    ("file", r"C:\Users\bob\Documents\report 2020.docx", r"file:c:\users\*\*.docx"),
    ("file", r"C:\Windows\Temp\tmp1234.tmp", r"file:c:\windows\temp\*.tmp"),
    ("file", r"C:\ProgramData\{0123abcd-0123-4567-89ab-0123456789ab}\Logs\x.log",
     r"file:c:\programdata\<guid>\*.log"),
    ("file", r"C:\a.{0123abcd-0123-4567-89ab-0123456789ab}", r"file:c:\*.<guid>"),
    ("file", r"a\a", r"file:a\*."),  # a folder named like the file is still a folder
    ("socket", "10.0.0.5:443", "socket:private-v4:443"),
    ("socket", "8.8.8.8:53", "socket:public-v4:53"),
    ("socket", "[::1]:50000", "socket:loopback-v6:ephemeral"),
    ("registry", r"HKU\S-1-5-21-1-2-3-1106\Software\Microsoft\Windows\CurrentVersion\Run",
     r"registry:hku\<sid>\software\microsoft"),
    ("registry", r"\REGISTRY\MACHINE\SYSTEM\ControlSet001\Services\EventLog",
     r"registry:hklm\system\controlset#\services"),
    ("domain", "login.live.com", "domain:live.com"),
    ("module", None, "module:?"),
])
def test_abstraction_drops_instance_details(kind, name, label):
    assert abstract_label(kind, name) == label


def _events(rows):
    columns = ["time", "host", "process_guid", "image", "command_line", "action", "object_type",
               "object_name", "object_guid", "object_command_line"]
    return pd.DataFrame(rows, columns=columns)


def test_compact_graph_merges_parallel_edges_and_links_start_edges_to_children():
    rows = [
        ("2024-01-01T10:00:00Z", "h1", "{P}", r"C:\w\winword.exe", "winword", "process_start",
         "process", r"C:\w\powershell.exe", "{C}", "powershell -enc AAA"),
        ("2024-01-01T10:00:01Z", "h1", "{C}", r"C:\w\powershell.exe", None, "network_connect",
         "socket", "10.0.0.5:443", None, None),
        ("2024-01-01T10:00:02Z", "h1", "{C}", r"C:\w\powershell.exe", None, "network_connect",
         "socket", "10.0.0.5:443", None, None),
        ("2024-01-01T10:00:03Z", "h1", "{C}", r"C:\w\powershell.exe", None, "process_end",
         "process", r"C:\w\powershell.exe", "{C}", None),
        ("2024-01-01T12:30:00Z", "h1", "{C}", r"C:\w\powershell.exe", None, "network_connect",
         "socket", "10.0.0.5:443", None, None),
    ]
    graph = build_graph(_events(rows), window_seconds=3600)
    assert graph.n_edges == 3  # start, connect (merged x2), connect in a later window
    assert graph.edge_count.tolist() == [1, 2, 1]
    assert len(graph.group_slices()) == 2 and graph.group_host.tolist() == ["h1", "h1"]
    assert graph.event_edge.tolist() == [0, 1, 1, -1, 2]
    child = graph.edge_dst[0]
    assert graph.edge_src[1] == child and graph.node_key[child] == "p|{c}"
    assert graph.node_command_line[child] == "powershell -enc AAA"
    assert graph.node_label[child] == r"process:c:\w\powershell.exe"
    assert graph.edge_relation.tolist() == ["process_start", "network_connect", "network_connect"]
    assert np.all(np.diff(graph.edge_time[graph.group_slices()[0]]) >= 0)


def test_graph_converts_to_torch_geometric_data():
    rows = [("2024-01-01T10:00:00Z", "h1", "{P}", "a.exe", None, "file_create", "file", "x.txt",
             None, None)]
    data = build_graph(_events(rows), 60).to_pyg()
    assert data.edge_index.tolist() == [[0], [1]] and data.num_nodes == 2
    assert data.relation_names == ["file_create"]


def test_the_all_zero_guid_names_no_process_instance():
    zero = "{00000000-0000-0000-0000-000000000000}"
    rows = [("2024-01-01T10:00:00Z", host, zero, "<unknown process>", None, "dns_query", "domain",
             "example.com", None, None) for host in ("h1", "h2")]
    graph = build_graph(_events(rows), 3600)
    sources = {graph.node_key[s] for s in graph.edge_src}
    assert len(sources) == 2 and all(zero not in key for key in sources)


def test_a_process_or_object_never_named_gets_the_unknown_label():
    rows = [("2024-01-01T10:00:00Z", "h1", "{A}", None, None, "file_write", "file", None, None,
             None),
            ("2024-01-01T10:00:01Z", "h1", "{B}", r"C:\w\b.exe", None, "file_write", "file",
             r"C:\w\x.txt", None, None)]
    graph = build_graph(_events(rows), 3600)
    labels = dict(zip(graph.node_key.tolist(), graph.node_label.tolist(), strict=True))
    assert labels == {"p|{a}": "process:?", "p|{b}": r"process:c:\w\b.exe",
                      "o|h1|file|None": "file:?", r"o|h1|file|C:\w\x.txt": r"file:c:\w\*.txt"}
    assert graph.node_name[graph.edge_src[0]] is None
    assert graph.node_command_line.tolist() == [None] * 4
