"""The JSON API behind the analyst pages (documented in :mod:`logguard.web.openapi`).

Every handler reads or writes through :class:`~logguard.analyst.backend.LocalBackend` on a
fresh cursor, so the API answers exactly what the CLI prints. Unknown query parameters are a
400 naming them (a typo never silently widens a filter).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from logguard.web.app import HttpError, Request, Response

if TYPE_CHECKING:
    from logguard.web.app import WebApp

QUEUE_PARAMS = ("top", "since", "host", "user", "min_score", "order", "status")
FEEDBACK_FIELDS = ("verdict", "note", "suppress_days")


def _only(request: Request, allowed: tuple[str, ...]) -> None:
    unknown = sorted(set(request.query) - set(allowed))
    if unknown:
        raise HttpError(400, f"unknown query parameter {unknown[0]!r}; this path takes "
                        f"{', '.join(allowed) or 'none'}")


def queue_params(request: Request) -> dict[str, Any]:
    """The queue filters of a request (``status`` may repeat or be comma-separated)."""
    params: dict[str, Any] = {name: request.arg(name) for name in QUEUE_PARAMS[:-1]}
    statuses = request.query.get("status")
    params["status"] = ",".join(statuses) if statuses else None
    return params


def list_alerts(request: Request) -> Response:
    _only(request, QUEUE_PARAMS)
    alerts = request.reader().alerts(queue_params(request))
    return Response.json({"count": len(alerts), "alerts": alerts})


def get_alert(request: Request) -> Response:
    _only(request, ())
    return Response.json(request.reader().alert(request.params["alert_id"]))


def post_feedback(request: Request) -> Response:
    _only(request, ())
    body = request.json_body()
    unknown = sorted(set(body) - set(FEEDBACK_FIELDS))
    if unknown:
        raise HttpError(400, f"unknown field {unknown[0]!r}; the body takes "
                        f"{', '.join(FEEDBACK_FIELDS)}")
    verdict, note, days = body.get("verdict"), body.get("note"), body.get("suppress_days")
    if not isinstance(verdict, str):
        raise HttpError(400, "field 'verdict' is required: true-positive, false-positive or benign")
    if note is not None and not isinstance(note, str):
        raise HttpError(400, "field 'note' must be a string")
    if days is not None and (isinstance(days, bool) or not isinstance(days, int | float)):
        raise HttpError(400, "field 'suppress_days' must be a number of days")
    result = request.writer().feedback(request.params["alert_id"], verdict, note or None, days)
    return Response.json(result, status=201)


def list_scenarios(request: Request) -> Response:
    _only(request, ("top",))
    top = request.arg("top") or "50"
    if not top.isdigit():
        raise HttpError(400, f"top must be a whole number, got {top!r}")
    scenarios = request.reader().scenarios(int(top))
    return Response.json({"count": len(scenarios), "scenarios": scenarios})


def get_scenario(request: Request) -> Response:
    _only(request, ())
    return Response.json(request.reader().scenario(request.params["scenario_id"]))


def list_suppressions(request: Request) -> Response:
    _only(request, ("include_inactive",))
    flag = (request.arg("include_inactive") or "false").lower()
    if flag not in ("true", "false", "1", "0"):
        raise HttpError(400, f"include_inactive must be true or false, got {flag!r}")
    rows = request.reader().suppressions(flag in ("true", "1"))
    return Response.json({"count": len(rows), "suppressions": rows})


def delete_suppression(request: Request) -> Response:
    _only(request, ())
    return Response.json(request.writer().revoke(request.params["suppression_id"]))


def openapi_document(request: Request) -> Response:
    from logguard.web.openapi import OPENAPI

    return Response.json(OPENAPI)


def install(app: WebApp) -> None:
    """Mount the API routes on ``app``."""
    app.add_route("GET", "/api/alerts", list_alerts)
    app.add_route("GET", "/api/alerts/{alert_id}", get_alert)
    app.add_route("POST", "/api/alerts/{alert_id}/feedback", post_feedback)
    app.add_route("GET", "/api/scenarios", list_scenarios)
    app.add_route("GET", "/api/scenarios/{scenario_id}", get_scenario)
    app.add_route("GET", "/api/suppressions", list_suppressions)
    app.add_route("DELETE", "/api/suppressions/{suppression_id}", delete_suppression)
    app.add_route("GET", "/openapi.json", openapi_document)
