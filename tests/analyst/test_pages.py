"""The server-rendered pages escape every value, and the SVG layout reads left to right."""

from __future__ import annotations

import json

from hypothesis import given, settings
from hypothesis import strategies as st

from logguard.store.duckdb_store import open_duckdb
from logguard.web import WebApp, svg

HOSTILE = '<script>alert("x")</script>&"\'><img src=x onerror=alert(1)>'


def _get(app: WebApp, path: str) -> tuple[int, str]:
    response = app.handle("GET", path, {"host": "127.0.0.1"}, b"")
    return response.status, response.body.decode()


def test_hostile_values_are_escaped_on_every_page(analyst_db, planted):
    con = open_duckdb(analyst_db)
    try:
        con.execute("UPDATE alerts SET summary = ?, host = ?, entities = ? WHERE alert_id = ?",
                    [HOSTILE, HOSTILE, json.dumps({"image": HOSTILE}), planted.attack[0]])
        graph = {"nodes": [{"id": HOSTILE, "kind": HOSTILE, "label": HOSTILE},
                           {"id": "b", "kind": "file", "label": "b"}],
                 "edges": [{"src": HOSTILE, "dst": "b", "relation": HOSTILE, "time": HOSTILE}]}
        con.execute("UPDATE scenarios SET summary = ?, graph = ? WHERE scenario_id = ?",
                    [HOSTILE, json.dumps(graph), planted.attack_scenario])
        app = WebApp(con, con)
        for path in ("/", f"/alerts/{planted.attack[0]}", "/scenarios",
                     f"/scenarios/{planted.attack_scenario}"):
            status, html = _get(app, path)
            assert status == 200, path
            assert "<script>alert" not in html and "<img src=x" not in html, path
            assert "&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;" in html, path
        status, html = _get(app, f"/scenarios/{planted.attack_scenario}")
        assert html.count('class="node"') == 2
    finally:
        con.close()


node_ids = st.text(alphabet="abcdefgh", min_size=1, max_size=2)


@settings(max_examples=60, deadline=None)
@given(edges=st.lists(st.tuples(node_ids, node_ids, st.integers(0, 50)), max_size=25))
def test_layout_gives_each_node_its_own_cell_and_acyclic_edges_point_right(edges):
    ids = sorted({n for s, d, _ in edges for n in (s, d)} | {"lonely"})
    graph = {"nodes": [{"id": i, "kind": "process", "label": i} for i in ids],
             "edges": [{"src": s, "dst": d, "relation": "r", "time": f"{t:03d}"}
                       for s, d, t in edges]}
    positions, nodes, drawn = svg.layout(graph)
    assert sorted(positions) == ids and len(set(positions.values())) == len(ids)
    assert len(nodes) == len(ids) and len(drawn) == len(edges)
    forward = {(s, d) for s, d, _ in edges if s < d}  # an ordering makes these acyclic
    acyclic = {"nodes": graph["nodes"], "edges": [e for e in graph["edges"]
                                                  if (e["src"], e["dst"]) in forward]}
    positions, _, _ = svg.layout(acyclic)
    assert all(positions[s][0] < positions[d][0] for s, d in forward)
    assert svg.render(graph).startswith("<svg")
