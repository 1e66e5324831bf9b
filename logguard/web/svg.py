"""A scenario's attack graph as inline SVG: nodes by kind, time running left to right.

Layout: layered left to right along the edges: a node's column is the length of the longest
chain of edges reaching it (sources in column 0; cycles are capped), so every chain of
activity reads left to right. A node takes the row of its parent (its earliest in-edge
from the column before) when that cell is free, else the next free row below, and nodes of
a column are placed in the order they first appear in time. Edges are
arrows labelled with their relation, bent when both ends share a column.
Every text is XML-escaped. Each node is a
``<g class="node" data-kind=... data-node-id=...>`` with its full label in ``<title>``.
"""

from __future__ import annotations

from html import escape
from typing import Any

NODE_STYLES = {  # kind -> (shape, fill)
    "host": ("rect", "#4b5563"),
    "process": ("round", "#2563eb"),
    "file": ("rect", "#059669"),
    "socket": ("ellipse", "#d97706"),
    "registry": ("rect", "#7c3aed"),
    "user": ("ellipse", "#0d9488"),
    "alert": ("diamond", "#dc2626"),
}
OTHER_STYLE = ("rect", "#6b7280")
NODE_W, NODE_H = 150, 34
COL_GAP, ROW_GAP, MARGIN = 90, 26, 30
LABEL_CHARS = 20
MAX_NODES = 120
MAX_COLUMNS = 40


def _e(value: Any) -> str:
    return escape("" if value is None else str(value), quote=True)


def _short(text: str) -> str:
    return text if len(text) <= LABEL_CHARS else text[: LABEL_CHARS - 1] + "…"


def layout(graph: dict) -> tuple[dict[str, tuple[float, float]], list[dict], list[dict]]:
    """(node id -> centre (x, y), the drawn nodes, the drawn edges)."""
    unique = {str(n["id"]): n for n in graph.get("nodes", []) if n.get("id") is not None}
    nodes = list(unique.values())[:MAX_NODES]
    ids = {str(n["id"]) for n in nodes}
    edges = [e for e in graph.get("edges", [])
             if str(e.get("src")) in ids and str(e.get("dst")) in ids]
    ordered = sorted(edges, key=lambda e: str(e.get("time") or ""))
    seen: dict[str, int] = {}  # node -> order of first appearance in time
    for edge in ordered:
        seen.setdefault(str(edge["src"]), len(seen))
        seen.setdefault(str(edge["dst"]), len(seen))
    column_of = {str(n["id"]): 0 for n in nodes}
    cap = min(len(nodes), MAX_COLUMNS) - 1  # a cycle stops growing here
    for _ in range(len(nodes)):  # longest-path layering by relaxation
        changed = False
        for edge in ordered:
            src, dst = str(edge["src"]), str(edge["dst"])
            if src != dst and column_of[dst] < min(column_of[src] + 1, cap):
                column_of[dst], changed = min(column_of[src] + 1, cap), True
        if not changed:
            break
    parent: dict[str, str] = {}
    for edge in ordered:
        src, dst = str(edge["src"]), str(edge["dst"])
        if column_of[src] == column_of[dst] - 1:
            parent.setdefault(dst, src)
    taken: set[tuple[int, int]] = set()  # (column, row) cells holding a node
    row_of: dict[str, int] = {}
    for node in sorted(nodes, key=lambda n: (column_of[str(n["id"])],
                                             seen.get(str(n["id"]), len(seen)))):
        node_id, column = str(node["id"]), column_of[str(node["id"])]
        row = row_of.get(parent.get(node_id, ""), 0)
        while (column, row) in taken:
            row += 1
        taken.add((column, row))
        row_of[node_id] = row
    positions = {node_id: (MARGIN + NODE_W / 2 + column_of[node_id] * (NODE_W + COL_GAP),
                           MARGIN + NODE_H / 2 + row * (NODE_H + ROW_GAP))
                 for node_id, row in row_of.items()}
    return positions, nodes, edges


def _shape(kind: str, x: float, y: float) -> str:
    shape, fill = NODE_STYLES.get(kind, OTHER_STYLE)
    w, h = NODE_W, NODE_H
    if shape == "ellipse":
        return f'<ellipse cx="{x:.1f}" cy="{y:.1f}" rx="{w / 2}" ry="{h / 2}" fill="{fill}"/>'
    if shape == "diamond":
        points = f"{x:.1f},{y - h / 2 - 6:.1f} {x + w / 2:.1f},{y:.1f} " \
                 f"{x:.1f},{y + h / 2 + 6:.1f} {x - w / 2:.1f},{y:.1f}"
        return f'<polygon points="{points}" fill="{fill}"/>'
    radius = 12 if shape == "round" else 3
    return (f'<rect x="{x - w / 2:.1f}" y="{y - h / 2:.1f}" width="{w}" height="{h}" '
            f'rx="{radius}" fill="{fill}"/>')


def render(graph: dict) -> str:
    """The graph as an ``<svg>`` element (an empty-graph note when it has no nodes)."""
    positions, nodes, edges = layout(graph)
    if not nodes:
        return '<p class="muted">No attack graph recorded for this scenario.</p>'
    width = max(x for x, _ in positions.values()) + NODE_W / 2 + MARGIN + COL_GAP  # bends
    height = max(y for _, y in positions.values()) + NODE_H / 2 + MARGIN
    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" class="attack-graph" '
             f'width="{width:.0f}" height="{height:.0f}" viewBox="0 0 {width:.0f} {height:.0f}" '
             'role="img" aria-label="attack graph">',
             '<defs><marker id="arrow" viewBox="0 0 10 10" refX="10" refY="5" markerWidth="8" '
             'markerHeight="8" orient="auto-start-reverse"><path d="M0,0 L10,5 L0,10 z" '
             'fill="#374151"/></marker></defs>']
    for edge in edges:
        (x1, y1), (x2, y2) = positions[str(edge["src"])], positions[str(edge["dst"])]
        if x1 == x2:  # same column: bend out to the right
            sx, sy, tx, ty = x1 + NODE_W / 2, y1, x2 + NODE_W / 2, y2
            cx, cy = sx + COL_GAP * 0.7, (sy + ty) / 2
        else:
            direction = 1 if x2 > x1 else -1
            sx, sy = x1 + direction * NODE_W / 2, y1
            tx, ty = x2 - direction * NODE_W / 2, y2
            cx, cy = (sx + tx) / 2, (sy + ty) / 2
        lx, ly = (sx + 2 * cx + tx) / 4, (sy + 2 * cy + ty) / 4 - 4
        relation = _e(edge.get("relation"))
        parts.append(
            f'<g class="edge" data-src="{_e(edge["src"])}" data-dst="{_e(edge["dst"])}">'
            f'<title>{relation} at {_e(edge.get("time"))}</title>'
            f'<path d="M{sx:.1f},{sy:.1f} Q{cx:.1f},{cy:.1f} {tx:.1f},{ty:.1f}" fill="none" '
            f'stroke="#374151" stroke-width="1.4" marker-end="url(#arrow)"/>'
            f'<text x="{lx:.1f}" y="{ly:.1f}" class="edge-label" text-anchor="middle">'
            f'{_e(_short(str(edge.get("relation") or "")))}</text></g>')
    for node in nodes:
        node_id, kind = str(node["id"]), str(node.get("kind") or "other")
        x, y = positions[node_id]
        label = str(node.get("label") or node_id)
        parts.append(
            f'<g class="node" data-kind="{_e(kind)}" data-node-id="{_e(node_id)}">'
            f'<title>{_e(kind)}: {_e(label)}</title>{_shape(kind, x, y)}'
            f'<text x="{x:.1f}" y="{y + 4:.1f}" class="node-label" text-anchor="middle">'
            f'{_e(_short(label))}</text></g>')
    parts.append("</svg>")
    return "".join(parts)


def legend(graph: dict) -> str:
    """HTML legend of the node kinds present."""
    kinds = sorted({str(n.get("kind") or "other") for n in graph.get("nodes", [])})
    items = "".join(
        f'<li><span class="swatch" data-kind="{_e(k)}"></span>{_e(k)}</li>' for k in kinds)
    return f'<ul class="legend">{items}</ul>'
