"""The JSON API end to end over a real socket on 127.0.0.1: reads, feedback, suppressions,
OpenAPI coverage, authentication, CSRF, and error bodies."""

from __future__ import annotations

import json
import re
import urllib.error
import urllib.parse
import urllib.request

import pytest

from logguard.errors import ConfigError
from logguard.store.duckdb_store import open_duckdb
from logguard.web import Response, WebApp
from logguard.web.openapi import OPENAPI

TOKEN = "s3cret-token-for-tests-0123456789"


def call(url: str, method: str = "GET", body: object = None,
         headers: dict[str, str] | None = None) -> tuple[int, dict, dict]:
    """(status, JSON body, headers) of one request; HTTP errors are returned, not raised."""
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(url, data=data, method=method, headers=headers or {})
    opener = urllib.request.build_opener(_NoRedirect)
    try:
        with opener.open(request, timeout=10) as response:
            raw, status, got = response.read(), response.status, dict(response.headers)
    except urllib.error.HTTPError as exc:
        raw, status, got = exc.read(), exc.code, dict(exc.headers)
    is_json = got.get("Content-Type", "").startswith("application/json")
    return status, (json.loads(raw) if is_json and raw else {"raw": raw}), got


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args, **kwargs):
        return None


@pytest.fixture
def served(analyst_db):
    con = open_duckdb(analyst_db)
    apps = []

    def start(token: str | None = None, writer: bool = True) -> WebApp:
        app = WebApp(con, con if writer else None, token=token)
        app.serve("127.0.0.1", 0)
        apps.append(app)
        return app

    yield start
    for app in apps:
        app.shutdown()
    con.close()


def test_queue_detail_and_scenarios(served, planted):
    base = served().url
    status, body, headers = call(f"{base}/api/alerts?top=4&order=car")
    assert status == 200 and headers["Content-Type"] == "application/json"
    assert [a["alert_id"] for a in body["alerts"]] == list(planted.attack)
    status, body, _ = call(f"{base}/api/alerts?top=1")  # default: calibrated score first
    assert [a["alert_id"] for a in body["alerts"]] == [planted.attack[0]]
    status, body, _ = call(f"{base}/api/alerts?status=all&top=100&min_score=95")
    assert body["count"] == 3  # 97.5, 95 and the loud benign 96
    status, body, _ = call(f"{base}/api/alerts/{planted.attack[1][:9]}")
    assert status == 200 and body["alert_id"] == planted.attack[1]
    assert body["explanation"]["path"]["z_score"] == 6.3
    status, body, _ = call(f"{base}/api/scenarios")
    assert [s["scenario_id"] for s in body["scenarios"]] == [planted.attack_scenario,
                                                              planted.backup_scenario]
    status, body, _ = call(f"{base}/api/scenarios/{planted.attack_scenario}")
    assert body["steps"][0]["signature"] == "WINWORD.EXE -> powershell.exe"


@pytest.mark.parametrize("value", ["' OR 1=1 --", "x'); DROP TABLE alerts; --", "%' OR '%'='"])
def test_sql_looking_values_return_nothing_and_break_nothing(served, planted, value):
    base = served().url
    quoted = urllib.parse.quote(value)
    for name in ("host", "user"):
        status, body, _ = call(f"{base}/api/alerts?{name}={quoted}")
        assert (status, body["alerts"]) == (200, [])
    status, body, _ = call(f"{base}/api/alerts/{urllib.parse.quote(value, safe='')}")
    assert status == 404 and value in body["error"]
    status, body, _ = call(f"{base}/api/alerts?since={quoted}")
    assert status == 400 and "--since" in body["error"]
    status, body, _ = call(f"{base}/api/alerts?top=100&status=all")
    assert body["count"] == planted.n_alerts


def test_feedback_suppression_and_undo_over_http(served, planted, analyst_db):
    base = served().url
    csrf = {"X-Logguard-CSRF": "1", "Content-Type": "application/json"}
    status, body, _ = call(f"{base}/api/alerts/{planted.backup[2]}/feedback", "POST",
                           {"verdict": "benign", "note": "backup", "suppress_days": 7}, csrf)
    assert status == 201 and body["suppression"]["model"] == "ape"
    sid = body["suppression"]["suppression_id"]
    status, body, _ = call(f"{base}/api/suppressions")
    assert [s["suppression_id"] for s in body["suppressions"]] == [sid]
    status, body, _ = call(f"{base}/api/suppressions/{sid}", "DELETE", headers=csrf)
    assert status == 200 and body["active"] is False
    assert call(f"{base}/api/suppressions")[1]["suppressions"] == []
    assert call(f"{base}/api/suppressions?include_inactive=true")[1]["count"] == 1
    status, body, _ = call(f"{base}/api/alerts/{planted.backup[2]}")
    assert body["status"] == "benign" and body["feedback"][0]["note"] == "backup"


def test_feedback_bad_bodies_name_the_problem(served, planted):
    base = served().url
    url, csrf = f"{base}/api/alerts/{planted.attack[0]}/feedback", {"X-Logguard-CSRF": "1"}
    assert call(url, "POST", {"verdict": "evil"}, csrf)[1]["error"].startswith("verdict 'evil'")
    assert "unknown field 'severity'" in call(url, "POST", {"verdict": "benign",
                                                           "severity": 3}, csrf)[1]["error"]
    status, body, _ = call(url, "POST", ["benign"], csrf)
    assert status == 400 and body["error"] == "the body must be a JSON object"
    request = urllib.request.Request(url, data=b"{not json", method="POST", headers=csrf)
    with pytest.raises(urllib.error.HTTPError) as caught:
        urllib.request.urlopen(request, timeout=10)
    error = json.loads(caught.value.read())
    assert caught.value.code == 400 and "not valid JSON" in error["error"]
    assert "Traceback" not in json.dumps(error)
    status, body, _ = call(f"{base}/api/alerts?colour=red")
    assert status == 400 and "unknown query parameter 'colour'" in body["error"]
    status, body, _ = call(f"{base}/api/alerts", "DELETE", headers=csrf)
    assert status == 405 and "use GET" in body["error"]


def test_post_without_token_needs_the_csrf_header_from_the_same_origin(served, planted):
    base = served().url
    url = f"{base}/api/alerts/{planted.attack[0]}/feedback"
    status, body, _ = call(url, "POST", {"verdict": "benign"})
    assert status == 403 and "X-Logguard-CSRF" in body["error"]
    status, body, _ = call(url, "POST", {"verdict": "benign"},
                           {"X-Logguard-CSRF": "1", "Origin": "http://evil.example"})
    assert status == 403 and "cross-origin" in body["error"]
    status, _, _ = call(url, "POST", {"verdict": "benign"},
                        {"X-Logguard-CSRF": "1", "Origin": base})
    assert status == 201


def test_a_token_guards_every_request(served, planted):
    base = served(token=TOKEN).url
    status, body, _ = call(f"{base}/api/alerts")
    assert status == 401 and "Bearer" in body["error"]
    assert call(f"{base}/api/alerts", headers={"Authorization": "Bearer wrong"})[0] == 401
    assert call(f"{base}/api/alerts?token={TOKEN}")[0] == 401  # API: header only
    assert call(f"{base}/", headers={"Authorization": f"Bearer {TOKEN}"})[0] == 200
    status, body, _ = call(f"{base}/api/alerts", headers={"Authorization": f"Bearer {TOKEN}"})
    assert (status, body["count"]) == (200, planted.n_alerts)
    # a page takes the token once, answers with a session cookie and drops the token
    status, _, headers = call(f"{base}/scenarios?token={TOKEN}")
    assert status == 303 and headers["Location"] == "/scenarios"
    cookie = headers["Set-Cookie"]
    assert "HttpOnly" in cookie and "SameSite=Strict" in cookie and TOKEN not in cookie
    session = {"Cookie": cookie.split(";", 1)[0]}
    assert call(f"{base}/scenarios", headers=session)[0] == 200
    url = f"{base}/api/alerts/{planted.attack[0]}/feedback"
    assert call(url, "POST", {"verdict": "true-positive"}, session)[0] == 403  # no CSRF header
    assert call(url, "POST", {"verdict": "true-positive"},
                {**session, "X-Logguard-CSRF": "1"})[0] == 201
    assert call(url, "POST", {"verdict": "true-positive"},
                {"Authorization": f"Bearer {TOKEN}"})[0] == 201


def test_non_loopback_bind_needs_a_token_and_rebinding_hosts_are_refused(served, analyst_db):
    con = open_duckdb(analyst_db, read_only=False)
    try:
        with pytest.raises(ConfigError, match=r"non-loopback address '0\.0\.0\.0' without a token"):
            WebApp(con).serve("0.0.0.0", 0)  # refused before binding
        with pytest.raises(ConfigError, match="at least 16 characters"):
            WebApp(con, token="short")
    finally:
        con.close()
    base = served().url
    status, body, _ = call(f"{base}/api/alerts", headers={"Host": "attacker.example:8700"})
    assert status == 403 and "loopback Host" in body["error"]


def test_read_only_app_refuses_feedback(served, planted):
    base = served(writer=False).url
    status, body, _ = call(f"{base}/api/alerts/{planted.attack[0]}/feedback", "POST",
                           {"verdict": "benign"}, {"X-Logguard-CSRF": "1"})
    assert status == 403 and "read-only" in body["error"]


def test_every_documented_path_answers_and_every_api_route_is_documented(served, planted):
    app = served()
    app.add_route("GET", "/healthz", lambda request: Response.json({"ok": True}), public=True)
    ids = {"alert_id": planted.attack[0], "scenario_id": planted.attack_scenario}
    csrf = {"X-Logguard-CSRF": "1"}
    made = call(f"{app.url}/api/alerts/{planted.backup[0]}/feedback", "POST",
                {"verdict": "benign", "suppress_days": 1}, csrf)[1]
    ids["suppression_id"] = made["suppression"]["suppression_id"]
    bodies = {"post": {"verdict": "true-positive"}}
    for path, operations in OPENAPI["paths"].items():
        url = app.url + re.sub(r"\{(\w+)\}", lambda m: ids[m.group(1)], path)
        for method in operations:
            status, body, _ = call(url, method.upper(), bodies.get(method), csrf)
            documented = {int(code) for code in operations[method]["responses"]}
            assert status in documented and status < 300, (method, path, status, body)
    served_api = {(m, p) for m, p in app.routes() if p.startswith("/api/") or p == "/openapi.json"}
    documented = {(m.upper(), p) for p, ops in OPENAPI["paths"].items() for m in ops}
    assert served_api == documented
    assert call(f"{app.url}/healthz")[1] == {"ok": True}
    assert OPENAPI["openapi"] == "3.1.0"
    assert call(f"{app.url}/openapi.json")[1]["paths"].keys() == OPENAPI["paths"].keys()
