"""Plain-text renderings of the analyst reads for the terminal (tables, scenarios, explanations).

Every function takes the JSON-ready dicts of :mod:`logguard.analyst.queries` (from the store
or from the API) and returns text; control characters in values are shown escaped, so a
hostile field value cannot move the cursor or clear the terminal.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Sequence
from typing import Any

QUEUE_COLUMNS = ("rank", "score", "time", "host", "user", "summary", "scenario")
SUMMARY_WIDTH = 60


def clean(value: Any) -> str:
    """A value as one printable line: ``None`` -> ``-``, control characters escaped."""
    if value is None or value == "":
        return "-"
    text = value if isinstance(value, str) else str(value)
    return "".join(ch if ch.isprintable() else ch.encode("unicode_escape").decode("ascii")
                   for ch in text)


def _cut(text: str, width: int) -> str:
    return text if len(text) <= width else text[: width - 1] + "…"


def table(headers: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
    """A left-aligned fixed-width table with a header line."""
    cells = [[clean(c) for c in row] for row in rows]
    widths = [max([len(h)] + [len(r[i]) for r in cells]) for i, h in enumerate(headers)]
    lines = ["  ".join(h.upper().ljust(w) for h, w in zip(headers, widths, strict=True))]
    lines += ["  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)) for r in cells]
    return "\n".join(line.rstrip() for line in lines)


def _queue_row(alert: dict) -> list[Any]:
    return [alert["rank"], f"{alert['score']:.1f}", alert["event_time"], alert["host"],
            alert["user"], alert["summary"], (alert.get("scenario_id") or "")[:8]]


def queue(alerts: list[dict], fmt: str) -> str:
    """The ranked queue as ``table``, ``json`` (every field) or ``csv`` (the queue columns
    plus alert_id, full scenario id and status)."""
    if fmt == "json":
        return json.dumps(alerts, indent=2, ensure_ascii=False)
    if fmt == "csv":
        out = io.StringIO()
        writer = csv.writer(out, lineterminator="\n")
        writer.writerow([*QUEUE_COLUMNS, "alert_id", "status", "occurrences"])
        for a in alerts:
            writer.writerow([a["rank"], a["score"], a["event_time"], a["host"], a["user"],
                             a["summary"], a.get("scenario_id") or "", a["alert_id"],
                             a["status"], a.get("occurrences", 1)])
        return out.getvalue().rstrip("\n")
    if not alerts:
        return "no alerts match"
    rows = [[*_queue_row(a)[:5], _cut(clean(a["summary"]), SUMMARY_WIDTH), _queue_row(a)[6],
             a["alert_id"][:12], a["status"], _seen(a)] for a in alerts]
    return table([*QUEUE_COLUMNS, "alert", "status", "seen"], rows)


def _seen(alert: dict) -> str:
    """``1x``, or ``7x to <last time>`` for an alert whose pattern repeated."""
    count = int(alert.get("occurrences") or 1)
    return "1x" if count == 1 else f"{count}x to {alert.get('last_event_time')}"


def scenarios(rows: list[dict]) -> str:
    """The scenario list as a table."""
    if not rows:
        return "no scenarios yet"
    return table(["rank", "scenario", "score", "alerts", "first", "last", "hosts", "summary"],
                 [[r["rank"], r["scenario_id"][:12], f"{r['score']:.1f}", r["alert_count"],
                   r["first_time"], r["last_time"], ",".join(r["hosts"]),
                   _cut(clean(r["summary"]), SUMMARY_WIDTH)] for r in rows])


def graph_text(graph: dict) -> list[str]:
    """The attack graph as lines: nodes by kind, then edges in time order."""
    nodes = {str(n.get("id")): n for n in graph.get("nodes", [])}
    if not nodes:
        return ["  (no graph recorded)"]

    def name(node_id: Any) -> str:
        node = nodes.get(str(node_id), {})
        return f"{clean(node.get('label') or node_id)} [{clean(node.get('kind', '?'))}]"

    lines = []
    kinds: dict[str, list[str]] = {}
    for node in nodes.values():
        kinds.setdefault(str(node.get("kind", "?")), []).append(clean(node.get("label")))
    for kind in sorted(kinds):
        lines.append(f"  {kind}: {', '.join(sorted(kinds[kind]))}")
    lines.append("  edges (time order):")
    for edge in sorted(graph.get("edges", []), key=lambda e: str(e.get("time") or "")):
        lines.append(f"    {clean(edge.get('time'))}  {name(edge.get('src'))} "
                     f"--{clean(edge.get('relation'))}--> {name(edge.get('dst'))}")
    return lines


def scenario(detail: dict) -> str:
    """``logguard scenario show``: header, steps in time order, the graph, the alerts."""
    lines = [f"scenario {detail['scenario_id']}  (rank {clean(detail['rank'])}, "
             f"score {detail['score']:.1f}, {detail['alert_count']} alerts, "
             f"version {detail['version']})",
             f"  {clean(detail['summary'])}",
             f"  {detail['first_time']} .. {detail['last_time']}  hosts: "
             f"{', '.join(map(clean, detail['hosts'])) or '-'}  users: "
             f"{', '.join(map(clean, detail['users'])) or '-'}", "", "steps (time order):"]
    for number, step in enumerate(detail["steps"], start=1):
        lines.append(f"  {number}. {step['first_time']}  {clean(step.get('host'))}  "
                     f"{clean(step.get('signature'))}  ({step.get('alerts', '?')} alerts, "
                     f"score {float(step.get('score') or 0):.1f})")
    lines += ["", "attack graph:", *graph_text(detail["graph"]), "", "alerts:"]
    lines += [f"  {a['event_time']}  {a['alert_id'][:12]}  {a['score']:5.1f}  "
              f"{clean(a['summary'])}" for a in detail["alerts"]]
    return "\n".join(lines)


def _explanation_lines(explanation: dict) -> list[str]:
    lines = []
    if explanation.get("text"):
        lines.append(f"  {clean(explanation['text'])}")
    pairs = explanation.get("pairs") or []
    if pairs:
        lines.append("  entity pairs that made it unusual (lowest contribution first):")
        for pair in pairs:
            if isinstance(pair, list) and len(pair) >= 5:
                lines.append(f"    {clean(pair[0])}={clean(pair[1])}  x  "
                             f"{clean(pair[2])}={clean(pair[3])}  (pair score {pair[4]})")
    path = explanation.get("path") or {}
    if path.get("edges"):
        lines.append(f"  the process path that made it unusual "
                     f"(z-score {path.get('z_score', '?')}):")
        labels = {str(n.get("id")): n.get("label") or n.get("name") for n in path.get("nodes", [])}
        for edge in path["edges"]:
            lines.append(f"    {clean(edge.get('time'))}  {clean(labels.get(str(edge.get('src'))))}"
                         f" --{clean(edge.get('relation'))}--> "
                         f"{clean(labels.get(str(edge.get('dst'))))}"
                         + (f"  ({clean(edge['why'])})" if edge.get("why") else ""))
    return lines or ["  (no explanation recorded)"]


def explanation(detail: dict) -> str:
    """``logguard explain``: the alert, its entities, what made it unusual, similar alerts."""
    lines = [f"alert {detail['alert_id']}  {detail['model']} {clean(detail['model_version'])} "
             f"({detail['kind']})  score {detail['score']:.1f} (threshold "
             f"{clean(detail['threshold'])}, raw {detail['raw_score']:.4g})  status "
             f"{detail['status']}",
             f"  {clean(detail['summary'])}",
             f"  time {detail['event_time']}  host {clean(detail['host'])}  user "
             f"{clean(detail['user'])}  scenario {clean(detail.get('scenario_id'))}"]
    if int(detail.get("occurrences") or 1) > 1:
        lines.append(f"  the same pattern repeated: seen {_seen(detail)}")
    if detail.get("attack_tags"):
        lines.append(f"  ATT&CK: {', '.join(map(clean, detail['attack_tags']))}")
    lines += ["", "entities:"]
    lines += [f"  {clean(k)} = {clean(v)}" for k, v in detail["entities"].items()] or ["  -"]
    lines += ["", "why it is unusual:", *_explanation_lines(detail["explanation"]), "",
              "similar past alerts:"]
    lines += [f"  {s['event_time']}  {s['alert_id'][:12]}  {s['model']}  {s['score']:5.1f}  "
              f"shared {s['shared']}  verdict {clean(s.get('verdict'))}  {clean(s['summary'])}"
              for s in detail["similar"]] or ["  none"]
    if detail.get("feedback"):
        lines += ["", "verdicts:"]
        lines += [f"  {f['created_at']}  {f['verdict']}  {clean(f.get('note'))}"
                  for f in detail["feedback"]]
    return "\n".join(lines)


def suppressions(rows: list[dict]) -> str:
    """The suppression list as a table."""
    if not rows:
        return "no suppressions"
    return table(["suppression", "model", "pattern", "expires", "active", "note"],
                 [[r["suppression_id"], r["model"],
                   _cut(json.dumps(r["pattern"], ensure_ascii=False), 70), r["expires_at"],
                   "yes" if r["active"] else "no", r.get("note")] for r in rows])
