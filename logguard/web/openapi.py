"""The OpenAPI 3.1 description of the analyst JSON API (served at ``/openapi.json``).

Hand-written; ``tests/analyst/test_api.py`` requests every path documented here against a
live server, so a route that is renamed or dropped fails the tests.
"""

from __future__ import annotations

from typing import Any


def _ref(name: str) -> dict[str, str]:
    return {"$ref": f"#/components/schemas/{name}"}


def _json(schema: dict[str, Any], description: str) -> dict[str, Any]:
    return {"description": description, "content": {"application/json": {"schema": schema}}}


_ERRORS = {
    "400": _json(_ref("Error"), "Bad parameter or body; the message names it"),
    "401": _json(_ref("Error"), "Token required (when the server has one)"),
    "404": _json(_ref("Error"), "No such id"),
}
_QUERY = [
    {"name": "top", "in": "query", "schema": {"type": "integer", "minimum": 1,
                                              "maximum": 10000, "default": 50}},
    {"name": "since", "in": "query", "schema": {"type": "string"},
     "description": "24h, 30m, 7d, 2w, or an ISO 8601 time", "example": "24h"},
    {"name": "host", "in": "query", "schema": {"type": "string"},
     "description": "exact host name (case-insensitive)"},
    {"name": "user", "in": "query", "schema": {"type": "string"},
     "description": "exact user name (case-insensitive)"},
    {"name": "min_score", "in": "query", "schema": {"type": "number", "minimum": 0,
                                                    "maximum": 100}},
    {"name": "order", "in": "query", "schema": {"type": "string", "enum": ["score", "car"]},
     "description": "score (default: calibrated score, then CAR rank) or car (CAR rank first)"},
    {"name": "status", "in": "query", "schema": {"type": "string"},
     "description": "comma-separated statuses (new, true-positive, false-positive, benign, "
                    "suppressed) or all; default: every status but suppressed"},
]


def _id(name: str) -> dict[str, Any]:
    return {"name": name, "in": "path", "required": True, "schema": {"type": "string"},
            "description": "full id, or a unique prefix of at least 8 characters"}


_ALERT_PROPS = {
    "rank": {"type": "integer"}, "alert_id": {"type": "string"}, "source": {"type": "string"},
    "model": {"type": "string"}, "model_version": {"type": ["string", "null"]},
    "kind": {"type": "string", "enum": ["event", "path", "activity", "ids"]},
    "event_time": {"type": "string", "format": "date-time"},
    "host": {"type": ["string", "null"]}, "user": {"type": ["string", "null"]},
    "raw_score": {"type": "number"}, "score": {"type": "number"},
    "threshold": {"type": ["number", "null"]}, "summary": {"type": "string"},
    "car_score": {"type": ["number", "null"]}, "car_rank": {"type": ["integer", "null"]},
    "scenario_id": {"type": ["string", "null"]},
    "status": {"type": "string",
               "enum": ["new", "true-positive", "false-positive", "benign", "suppressed"]},
    "occurrences": {"type": "integer", "minimum": 1,
                    "description": "events of the same model and pattern grouped into it"},
    "last_event_time": {"type": "string", "format": "date-time"},
}

OPENAPI: dict[str, Any] = {
    "openapi": "3.1.0",
    "info": {"title": "logguard analyst API", "version": "1",
             "description": "The ranked alert queue, attack scenarios, explanations and "
                            "analyst feedback. Bound to loopback by default; with a token, "
                            "send Authorization: Bearer <token>. POST/DELETE need the token or "
                            "the X-Logguard-CSRF header from the same origin."},
    "components": {
        "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}},
        "schemas": {
            "Error": {"type": "object", "required": ["error", "status"],
                      "properties": {"error": {"type": "string"}, "status": {"type": "integer"}}},
            "Alert": {"type": "object", "properties": _ALERT_PROPS},
            "AlertDetail": {"type": "object", "properties": {
                **_ALERT_PROPS,
                "explanation": {"type": "object", "description":
                                "{text, pairs: [[type_a, value_a, type_b, value_b, weight]]} "
                                "for event alerts; {text, path: {nodes, edges}} for path alerts"},
                "entities": {"type": "object", "additionalProperties": True},
                "attack_tags": {"type": "array", "items": {"type": "string"}},
                "feedback": {"type": "array", "items": {"type": "object"}},
                "suppressions": {"type": "array", "items": {"type": "object"}},
                "similar": {"type": "array", "items": {"type": "object"}}}},
            "Scenario": {"type": "object", "properties": {
                "scenario_id": {"type": "string"}, "version": {"type": "integer"},
                "score": {"type": "number"}, "rank": {"type": ["integer", "null"]},
                "alert_count": {"type": "integer"}, "first_time": {"type": "string"},
                "last_time": {"type": "string"},
                "hosts": {"type": "array", "items": {"type": "string"}},
                "users": {"type": "array", "items": {"type": "string"}},
                "summary": {"type": ["string", "null"]}}},
            "ScenarioDetail": {"allOf": [_ref("Scenario"), {"type": "object", "properties": {
                "steps": {"type": "array", "items": {"type": "object"}},
                "graph": {"type": "object", "properties": {
                    "nodes": {"type": "array", "items": {"type": "object"}},
                    "edges": {"type": "array", "items": {"type": "object"}}}},
                "alerts": {"type": "array", "items": _ref("Alert")}}}]},
            "Feedback": {"type": "object", "required": ["verdict"], "additionalProperties": False,
                         "properties": {
                             "verdict": {"type": "string", "enum": ["true-positive",
                                                                    "false-positive", "benign"]},
                             "note": {"type": ["string", "null"], "maxLength": 2000},
                             "suppress_days": {"type": ["number", "null"], "exclusiveMinimum": 0,
                                               "maximum": 365}}},
            "FeedbackResult": {"type": "object", "properties": {
                "feedback_id": {"type": "string"}, "alert_id": {"type": "string"},
                "verdict": {"type": "string"},
                "suppression": {"type": ["object", "null"]}}},
            "Suppression": {"type": "object", "properties": {
                "suppression_id": {"type": "string"}, "model": {"type": "string"},
                "pattern": {"type": "object", "additionalProperties": {"type": "string"}},
                "from_alert_id": {"type": ["string", "null"]}, "note": {"type": ["string", "null"]},
                "created_at": {"type": "string"}, "expires_at": {"type": ["string", "null"]},
                "revoked_at": {"type": ["string", "null"]}, "active": {"type": "boolean"}}},
        },
    },
    "security": [{}, {"bearer": []}],
    "paths": {
        "/api/alerts": {"get": {
            "summary": "The ranked alert queue", "parameters": _QUERY,
            "responses": {"200": _json({"type": "object", "properties": {
                "count": {"type": "integer"},
                "alerts": {"type": "array", "items": _ref("Alert")}}}, "Alerts, rank 1 first"),
                **_ERRORS}}},
        "/api/alerts/{alert_id}": {"get": {
            "summary": "One alert with its explanation and similar past alerts",
            "parameters": [_id("alert_id")],
            "responses": {"200": _json(_ref("AlertDetail"), "The alert"), **_ERRORS}}},
        "/api/alerts/{alert_id}/feedback": {"post": {
            "summary": "Record a verdict; benign/false-positive may suppress the pattern",
            "parameters": [_id("alert_id")],
            "requestBody": {"required": True, "content": {"application/json": {
                "schema": _ref("Feedback")}}},
            "responses": {"201": _json(_ref("FeedbackResult"), "Stored"),
                          "403": _json(_ref("Error"), "CSRF check failed or read-only server"),
                          **_ERRORS}}},
        "/api/scenarios": {"get": {
            "summary": "Attack scenarios, best first",
            "parameters": [_QUERY[0]],
            "responses": {"200": _json({"type": "object", "properties": {
                "count": {"type": "integer"},
                "scenarios": {"type": "array", "items": _ref("Scenario")}}}, "Scenarios"),
                **_ERRORS}}},
        "/api/scenarios/{scenario_id}": {"get": {
            "summary": "One scenario: steps in time order, attack graph, alerts",
            "parameters": [_id("scenario_id")],
            "responses": {"200": _json(_ref("ScenarioDetail"), "The scenario"), **_ERRORS}}},
        "/api/suppressions": {"get": {
            "summary": "Active suppressions (all with include_inactive=true)",
            "parameters": [{"name": "include_inactive", "in": "query",
                            "schema": {"type": "boolean", "default": False}}],
            "responses": {"200": _json({"type": "object", "properties": {
                "count": {"type": "integer"},
                "suppressions": {"type": "array", "items": _ref("Suppression")}}},
                "Suppressions"), **_ERRORS}}},
        "/api/suppressions/{suppression_id}": {"delete": {
            "summary": "Revoke (undo) a suppression", "parameters": [_id("suppression_id")],
            "responses": {"200": _json(_ref("Suppression"), "The revoked suppression"),
                          "403": _json(_ref("Error"), "CSRF check failed or read-only server"),
                          **_ERRORS}}},
        "/openapi.json": {"get": {
            "summary": "This document",
            "responses": {"200": {"description": "OpenAPI 3.1 JSON"}}}},
    },
}
