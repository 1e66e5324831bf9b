"""Server-rendered analyst pages: the ranked queue, an alert with its explanation and
feedback buttons, the scenario list, and a scenario with its attack graph as inline SVG.

No JavaScript build: ``/static/app.js`` (a few lines of vanilla JS) posts the feedback
buttons to the JSON API with the CSRF header. Every value is HTML-escaped; the pages send a
Content-Security-Policy that allows scripts and styles from this server only.
"""

from __future__ import annotations

import json
import urllib.parse
from html import escape
from typing import TYPE_CHECKING, Any

from logguard.analyst.queries import STATUSES
from logguard.store.alerts import VERDICTS
from logguard.web import svg
from logguard.web.api import queue_params
from logguard.web.app import Request, Response

if TYPE_CHECKING:
    from logguard.web.app import WebApp

APP_JS = """'use strict';
document.addEventListener('DOMContentLoaded', () => {
  const box = document.getElementById('feedback');
  if (!box) return;
  const status = document.getElementById('feedback-status');
  box.querySelectorAll('button[data-verdict]').forEach((button) => {
    button.addEventListener('click', async () => {
      const days = document.getElementById('suppress-days').value;
      const body = {verdict: button.dataset.verdict,
                    note: document.getElementById('note').value || null,
                    suppress_days: days ? Number(days) : null};
      status.textContent = 'saving…';
      const response = await fetch(box.dataset.endpoint, {
        method: 'POST', credentials: 'same-origin',
        headers: {'Content-Type': 'application/json', 'X-Logguard-CSRF': '1'},
        body: JSON.stringify(body)});
      const reply = await response.json();
      status.textContent = response.ok ? 'saved: ' + reply.verdict +
        (reply.suppression ? ' (suppressed until ' + reply.suppression.expires_at + ')' : '')
        : 'error: ' + reply.error;
      status.dataset.state = response.ok ? 'saved' : 'error';
      if (response.ok) document.getElementById('alert-status').textContent = reply.verdict;
    });
  });
});
"""

_BASE_CSS = """
body{font:14px/1.45 system-ui,sans-serif;margin:0;color:#111827;background:#f9fafb}
header{background:#111827;color:#f9fafb;padding:10px 24px;display:flex;gap:24px}
header a{color:#f9fafb;text-decoration:none;font-weight:600}
main{padding:16px 24px}
table{border-collapse:collapse;width:100%;background:#fff}
th,td{border-bottom:1px solid #e5e7eb;padding:5px 8px;text-align:left;vertical-align:top}
th{background:#f3f4f6}
tr.top td{font-weight:600}
form.filters{display:flex;flex-wrap:wrap;gap:8px;margin-bottom:12px;align-items:end}
form.filters label{display:flex;flex-direction:column;font-size:12px}
.muted{color:#6b7280}
.steps{display:flex;gap:10px;overflow-x:auto;padding:8px 0;list-style:none;margin:0}
.steps li{background:#fff;border:1px solid #d1d5db;border-radius:6px;padding:6px 10px;
  min-width:170px}
.graph{overflow-x:auto;background:#fff;border:1px solid #e5e7eb;padding:8px}
.attack-graph{max-width:100%;height:auto}
.node-label{fill:#fff;font-size:11px}
.edge-label{fill:#111827;font-size:10px}
.legend{display:flex;gap:14px;list-style:none;padding:0}
.swatch{display:inline-block;width:12px;height:12px;margin-right:4px;border-radius:2px}
#feedback button{margin-right:6px;padding:6px 12px}
#feedback-status[data-state=error]{color:#dc2626}
pre{background:#fff;border:1px solid #e5e7eb;padding:8px;white-space:pre-wrap}
"""
APP_CSS = _BASE_CSS + "".join(
    f".swatch[data-kind={kind}]{{background:{fill}}}\n"
    for kind, (_, fill) in svg.NODE_STYLES.items())


def e(value: Any) -> str:
    """HTML-escape any value (``None`` -> an empty string)."""
    return escape("" if value is None else str(value), quote=True)


def _href(path: str, *segments: str) -> str:
    return e(path + "/".join(urllib.parse.quote(s, safe="") for s in segments))


def page(title: str, body: str) -> Response:
    return Response.html(
        f'<!doctype html><html lang="en"><head><meta charset="utf-8"><title>{e(title)} — '
        'logguard</title><link rel="stylesheet" href="/static/app.css">'
        '<script src="/static/app.js" defer></script></head><body><header>'
        '<a href="/">Alert queue</a><a href="/scenarios">Scenarios</a></header>'
        f'<main><h1>{e(title)}</h1>{body}</main></body></html>')


def _score(value: Any) -> str:
    return "" if value is None else f"{float(value):.1f}"


def _filter_form(params: dict[str, Any]) -> str:
    def field(name: str, label: str, placeholder: str = "") -> str:
        return (f'<label>{e(label)}<input name="{name}" value="{e(params.get(name) or "")}" '
                f'placeholder="{e(placeholder)}"></label>')

    options = "".join(
        f'<option value="{s}"{" selected" if params.get("status") == s else ""}>'
        f'{s or "all but suppressed"}</option>' for s in ("", "all", *STATUSES))
    return ('<form class="filters" method="get" action="/">'
            + field("top", "top", "50") + field("since", "since", "24h, 7d or ISO time")
            + field("host", "host") + field("user", "user")
            + field("min_score", "min score", "0-100")
            + f'<label>status<select name="status">{options}</select></label>'
            '<button type="submit">Filter</button></form>')


def queue_page(request: Request) -> Response:
    params = queue_params(request)
    alerts = request.reader().alerts(params)
    rows = "".join(
        f'<tr class="alert-row{" top" if a["rank"] == 1 else ""}" '
        f'data-alert-id="{e(a["alert_id"])}">'
        f'<td>{a["rank"]}</td><td>{_score(a["score"])}</td><td>{e(a["event_time"])}</td>'
        f'<td>{e(a["host"])}</td><td>{e(a["user"])}</td>'
        f'<td><a href="{_href("/alerts/", a["alert_id"])}">{e(a["summary"])}</a></td>'
        '<td>' + (f'<a href="{_href("/scenarios/", a["scenario_id"])}">'
                  f'{e(a["scenario_id"][:8])}</a>' if a.get("scenario_id") else "")
        + f'</td><td>{e(a["status"])}</td><td>{int(a.get("occurrences") or 1)}</td></tr>'
        for a in alerts)
    body = (_filter_form(params) + f'<p class="muted">{len(alerts)} alerts, most suspicious '
            'first (CAR rank, then calibrated score).</p><table id="queue"><thead><tr>'
            '<th>rank</th><th>score</th><th>time</th><th>host</th><th>user</th><th>summary</th>'
            '<th>scenario</th><th>status</th><th title="events of the same pattern grouped '
            f'into the alert">seen</th></tr></thead><tbody>{rows}</tbody></table>')
    return page("Alert queue", body)


def _explanation_html(explanation: dict) -> str:
    parts = []
    if explanation.get("text"):
        parts.append(f'<p class="explanation-text">{e(explanation["text"])}</p>')
    pairs = [p for p in explanation.get("pairs") or [] if isinstance(p, list) and len(p) >= 5]
    if pairs:
        rows = "".join(f"<tr><td>{e(p[0])}</td><td>{e(p[1])}</td><td>{e(p[2])}</td>"
                       f"<td>{e(p[3])}</td><td>{e(p[4])}</td></tr>" for p in pairs)
        parts.append('<h3>Entity pairs that made it unusual</h3><table id="pairs"><tr>'
                     '<th>type</th><th>value</th><th>type</th><th>value</th><th>pair score</th>'
                     f"</tr>{rows}</table>")
    path = explanation.get("path") or {}
    if path.get("nodes"):
        parts.append(f'<h3>Process path (z-score {e(path.get("z_score"))})</h3>'
                     f'<div class="graph">{svg.render(path)}</div>')
        labels = {str(n.get("id")): n.get("label") for n in path["nodes"]}
        rows = "".join(
            f"<tr><td>{e(x.get('time'))}</td><td>{e(labels.get(str(x.get('src'))))}</td>"
            f"<td>{e(x.get('relation'))}</td><td>{e(labels.get(str(x.get('dst'))))}</td>"
            f"<td>{e(x.get('why'))}</td></tr>" for x in path.get("edges", []))
        parts.append('<table id="path"><tr><th>time</th><th>from</th><th>relation</th>'
                     f"<th>to</th><th>why</th></tr>{rows}</table>")
    return "".join(parts) or '<p class="muted">No explanation recorded.</p>'


def alert_page(request: Request) -> Response:
    a = request.reader().alert(request.params["alert_id"])
    entities = "".join(f"<tr><th>{e(k)}</th><td>{e(v)}</td></tr>"
                       for k, v in a["entities"].items())
    similar = "".join(
        f'<tr><td><a href="{_href("/alerts/", s["alert_id"])}">{e(s["alert_id"][:12])}</a></td>'
        f'<td>{e(s["event_time"])}</td><td>{e(s["model"])}</td><td>{_score(s["score"])}</td>'
        f'<td>{e(s["shared"])}</td><td>{e(s["verdict"])}</td><td>{e(s["summary"])}</td></tr>'
        for s in a["similar"]) or '<tr><td colspan="7" class="muted">none</td></tr>'
    history = "".join(f"<li>{e(f['created_at'])}: {e(f['verdict'])} {e(f['note'] or '')}</li>"
                      for f in a["feedback"])
    buttons = "".join(f'<button type="button" data-verdict="{v}">{v}</button>' for v in VERDICTS)
    scenario = (f'<a href="{_href("/scenarios/", a["scenario_id"])}">{e(a["scenario_id"])}</a>'
                if a.get("scenario_id") else "—")
    writable = request.app.writer is not None
    feedback = (
        f'<div id="feedback" data-endpoint="{_href("/api/alerts/", a["alert_id"], "feedback")}">'
        f'{buttons}<label> note <input id="note" maxlength="2000"></label>'
        '<label> suppress for <input id="suppress-days" type="number" min="1" max="365" '
        'size="4"> days (benign / false-positive)</label> <span id="feedback-status"></span>'
        '</div>' if writable else '<p class="muted">This server is read-only.</p>')
    body = (
        f'<p>{e(a["summary"])}</p><table id="alert-facts">'
        f'<tr><th>alert</th><td>{e(a["alert_id"])}</td></tr>'
        f'<tr><th>score</th><td>{_score(a["score"])} (threshold {_score(a["threshold"])}, '
        f'raw {e(a["raw_score"])})</td></tr>'
        f'<tr><th>model</th><td>{e(a["model"])} {e(a["model_version"])} ({e(a["kind"])})</td></tr>'
        f'<tr><th>time</th><td>{e(a["event_time"])}</td></tr>'
        f'<tr><th>host / user</th><td>{e(a["host"])} / {e(a["user"])}</td></tr>'
        f'<tr><th>scenario</th><td>{scenario}</td></tr>'
        f'<tr><th>status</th><td id="alert-status">{e(a["status"])}</td></tr>'
        f'<tr><th>ATT&amp;CK</th><td>{e(", ".join(map(str, a["attack_tags"])))}</td></tr>'
        f'</table><h2>Verdict</h2>{feedback}<ul>{history}</ul>'
        f'<h2>Why it is unusual</h2>{_explanation_html(a["explanation"])}'
        f'<h2>Entities</h2><table id="entities">{entities}</table>'
        '<h2>Similar past alerts</h2><table id="similar"><tr><th>alert</th><th>time</th>'
        '<th>model</th><th>score</th><th>shared</th><th>verdict</th><th>summary</th></tr>'
        f'{similar}</table>')
    return page(f"Alert {a['alert_id'][:12]}", body)


def scenarios_page(request: Request) -> Response:
    rows = "".join(
        f'<tr><td>{e(s["rank"])}</td><td><a href="{_href("/scenarios/", s["scenario_id"])}">'
        f'{e(s["scenario_id"][:12])}</a></td><td>{_score(s["score"])}</td>'
        f'<td>{e(s["alert_count"])}</td><td>{e(s["first_time"])}</td><td>{e(s["last_time"])}</td>'
        f'<td>{e(", ".join(s["hosts"]))}</td><td>{e(s["summary"])}</td></tr>'
        for s in request.reader().scenarios(200))
    return page("Scenarios", '<table id="scenarios"><tr><th>rank</th><th>scenario</th>'
                '<th>score</th><th>alerts</th><th>first</th><th>last</th><th>hosts</th>'
                f'<th>summary</th></tr>{rows}</table>')


def scenario_page(request: Request) -> Response:
    s = request.reader().scenario(request.params["scenario_id"])
    steps = "".join(
        f'<li class="step"><b>{n}. {e(step.get("signature"))}</b><br>{e(step.get("host"))}<br>'
        f'<span class="muted">{e(step["first_time"])}</span><br>{e(step.get("alerts"))} alerts, '
        f'score {_score(step.get("score"))}</li>' for n, step in enumerate(s["steps"], start=1))
    alerts = "".join(
        f'<tr><td>{e(a["event_time"])}</td><td><a href="{_href("/alerts/", a["alert_id"])}">'
        f'{e(a["alert_id"][:12])}</a></td><td>{_score(a["score"])}</td><td>{e(a["host"])}</td>'
        f'<td>{e(a["summary"])}</td></tr>' for a in s["alerts"])
    body = (f'<p>{e(s["summary"])}</p><p class="muted">rank {e(s["rank"])}, score '
            f'{_score(s["score"])}, {e(s["alert_count"])} alerts, {e(s["first_time"])} .. '
            f'{e(s["last_time"])}, hosts {e(", ".join(s["hosts"]))}</p>'
            f'<h2>Steps (time order)</h2><ol class="steps">{steps}</ol>'
            f'<h2>Attack graph</h2>{svg.legend(s["graph"])}<div class="graph">'
            f'{svg.render(s["graph"])}</div><h2>Alerts</h2><table id="scenario-alerts"><tr>'
            '<th>time</th><th>alert</th><th>score</th><th>host</th><th>summary</th></tr>'
            f'{alerts}</table><details><summary>graph JSON</summary><pre>'
            f'{e(json.dumps(s["graph"], indent=1))}</pre></details>')
    return page(f"Scenario {s['scenario_id'][:12]}", body)


def install(app: WebApp) -> None:
    """Mount the pages and their static script and style sheet on ``app``."""
    app.add_route("GET", "/", queue_page)
    app.add_route("GET", "/alerts/{alert_id}", alert_page)
    app.add_route("GET", "/scenarios", scenarios_page)
    app.add_route("GET", "/scenarios/{scenario_id}", scenario_page)
    app.add_route("GET", "/static/app.js",
                  lambda request: Response.text(APP_JS, content_type="text/javascript"))
    app.add_route("GET", "/static/app.css",
                  lambda request: Response.text(APP_CSS, content_type="text/css"))
