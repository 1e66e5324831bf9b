"""Every read the analyst CLI and the web API make, as parameterised SQL over the alert tables.

Nothing a user types is ever part of the SQL text: filter values, ids and entity values are
bound parameters; the SQL text is assembled only from fixed fragments (and one ``?`` per list
item). Results are plain JSON-ready dicts (times as ISO 8601 UTC text).

The queue order (``order``): ``score`` (default) is the calibrated score descending (its
exponential tail keeps novel events ordered), then CAR's rank, newest first; ``car`` is CAR's
rank first (alerts CAR has not ranked yet last), then the score. ``rank`` in a result is the
position in that order after filtering (1 = the first alert to read). The default is the score
because it ranked the demo's planted intrusion best: over the demo's 707 model alerts (32 on
planted events, ``logguard demo``, 8 hosts) the score order gave average precision 0.994, CAR's
order 0.968 (0.495 before CAR's scores were weighted by the alerts' own surprisal, see
:mod:`logguard.daemon.correlate`); both put 15 planted alerts in the top 15.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from logguard.analyst.patterns import parse_entities, pattern_of
from logguard.errors import InputError, StoreError
from logguard.store.alerts import VERDICTS

if TYPE_CHECKING:
    import duckdb

STATUSES = ("new", *VERDICTS, "suppressed")
DEFAULT_STATUSES = ("new", "true-positive", "false-positive", "benign")
MIN_PREFIX = 8
MAX_TOP = 10_000
SIMILAR_LIMIT = 5
_RELATIVE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([smhdw])\s*$", re.IGNORECASE)
_UNITS = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days", "w": "weeks"}


class UnknownIdError(InputError):
    """No alert, scenario or suppression has the id (or unique prefix) given (exit 2; HTTP 404)."""


def _iso(column: str) -> str:
    """SQL for a TIMESTAMPTZ column as ISO 8601 UTC text (column names are our constants)."""
    return f"strftime(timezone('UTC', {column}), '%Y-%m-%dT%H:%M:%SZ')"


ALERT_COLUMNS = (
    "alert_id", "source", "model", "model_version", "kind", f"{_iso('event_time')} AS event_time",
    "host", "user_name", "raw_score", "score", "threshold", "summary", "car_score", "car_rank",
    "scenario_id", "status", f"{_iso('created_at')} AS created_at",
    f"{_iso('updated_at')} AS updated_at", "coalesce(occurrences, 1) AS occurrences",
    f"{_iso('coalesce(last_event_time, event_time)')} AS last_event_time",
)
DETAIL_COLUMNS = (*ALERT_COLUMNS, "explanation", "entities", "attack_tags", "kafka_topic",
                  "kafka_partition", "kafka_offset")
SCENARIO_COLUMNS = (
    "scenario_id", "version", "score", "rank", "alert_count",
    f"{_iso('first_time')} AS first_time", f"{_iso('last_time')} AS last_time", "hosts",
    "users", "summary", f"{_iso('updated_at')} AS updated_at",
)
QUEUE_ORDERS = {
    "score": "score DESC, car_rank IS NULL, car_rank, event_time DESC, alert_id",
    "car": "car_rank IS NULL, car_rank, score DESC, event_time DESC, alert_id",
}
QUEUE_ORDER = QUEUE_ORDERS["score"]


def parse_since(value: str | None, now: datetime | None = None) -> datetime | None:
    """``24h`` / ``30m`` / ``7d`` / ``2w`` (before ``now``) or an ISO 8601 time -> aware UTC
    datetime; ``None`` -> ``None``. Anything else is an InputError naming the value."""
    if value is None or value == "":
        return None
    now = now or datetime.now(UTC)
    relative = _RELATIVE.match(value)
    if relative:
        amount, unit = float(relative.group(1)), relative.group(2).lower()
        return now - timedelta(**{_UNITS[unit]: amount})
    try:
        moment = datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
    except ValueError:
        raise InputError(f"--since {value!r} is neither a duration (24h, 30m, 7d, 2w) "
                         "nor an ISO 8601 time (2026-11-23T08:00:00Z)") from None
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def parse_statuses(value: str | list[str] | tuple[str, ...] | None) -> tuple[str, ...]:
    """``"new,benign"`` or a list -> validated statuses; ``None``/empty -> the default queue
    (every status but ``suppressed``); ``all`` -> every status."""
    if value is None or value == "" or value == []:
        return DEFAULT_STATUSES
    items = value.split(",") if isinstance(value, str) else [s for v in value for s in v.split(",")]
    items = [item.strip() for item in items if item.strip()]
    if items == ["all"]:
        return STATUSES
    unknown = [item for item in items if item not in STATUSES]
    if unknown:
        raise InputError(f"status {unknown[0]!r} is not one of: all, {', '.join(STATUSES)}")
    return tuple(dict.fromkeys(items))


@dataclass(frozen=True)
class AlertFilter:
    """The queue filters shared by ``logguard alerts`` and ``GET /api/alerts``."""

    top: int = 50
    since: datetime | None = None
    host: str | None = None
    user: str | None = None
    min_score: float | None = None
    statuses: tuple[str, ...] = field(default=DEFAULT_STATUSES)
    order: str = "score"

    def __post_init__(self) -> None:
        if self.order not in QUEUE_ORDERS:
            raise InputError(f"order must be one of {', '.join(QUEUE_ORDERS)}, got {self.order!r}")
        if not 1 <= int(self.top) <= MAX_TOP:
            raise InputError(f"top must be between 1 and {MAX_TOP}, got {self.top}")
        if self.min_score is not None and not 0 <= float(self.min_score) <= 100:
            raise InputError(f"min_score is a calibrated score between 0 and 100, "
                             f"got {self.min_score}")

    @classmethod
    def from_strings(cls, *, top: str | int | None = None, since: str | None = None,
                     host: str | None = None, user: str | None = None,
                     min_score: str | float | None = None,
                     status: str | list[str] | None = None,
                     order: str | None = None) -> AlertFilter:
        """Build from text values (query parameters or CLI strings); bad values name the field."""
        try:
            top_value = 50 if top in (None, "") else int(top)
        except ValueError:
            raise InputError(f"top must be a whole number, got {top!r}") from None
        try:
            score_value = None if min_score in (None, "") else float(min_score)
        except ValueError:
            raise InputError(f"min_score must be a number, got {min_score!r}") from None
        return cls(top=top_value, since=parse_since(since), host=host or None,
                   user=user or None, min_score=score_value, statuses=parse_statuses(status),
                   order=order or "score")


def fetch_rows(cursor: duckdb.DuckDBPyConnection, sql: str, params: list[Any]) -> list[dict]:
    import duckdb

    try:
        result = cursor.execute(sql, params)
    except duckdb.CatalogException as exc:
        raise StoreError(f"the store has no alert tables yet ({exc}); run `logguard daemon` or "
                         "`logguard demo` to fill it") from None
    names = [d[0] for d in result.description]
    return [dict(zip(names, row, strict=True)) for row in result.fetchall()]


def _json_value(text: str | None, default: Any) -> Any:
    if text is None or text == "":
        return default
    try:
        return json.loads(text)
    except (TypeError, ValueError):
        return default


def _as_list(text: str | None) -> list[str]:
    """A column holding a JSON list, or comma-separated text, as a list of strings."""
    value = _json_value(text, None)
    if isinstance(value, list):
        return [str(v) for v in value]
    return [part.strip() for part in (text or "").split(",") if part.strip()]


def _with_user(row: dict) -> dict:
    row["user"] = row.pop("user_name")
    return row


def alert_queue(cursor: duckdb.DuckDBPyConnection, flt: AlertFilter) -> list[dict]:
    """The ranked queue: alerts matching ``flt`` in CAR order, each with its ``rank``."""
    where, params = ["status IN (" + ", ".join("?" * len(flt.statuses)) + ")"], [*flt.statuses]
    if flt.since is not None:
        where.append("event_time >= ?")
        params.append(flt.since)
    if flt.host is not None:
        where.append("lower(host) = lower(?)")
        params.append(flt.host)
    if flt.user is not None:
        where.append("lower(user_name) = lower(?)")
        params.append(flt.user)
    if flt.min_score is not None:
        where.append("score >= ?")
        params.append(float(flt.min_score))
    sql = (f"SELECT {', '.join(ALERT_COLUMNS)} FROM alerts WHERE {' AND '.join(where)} "  # noqa: S608
           f"ORDER BY {QUEUE_ORDERS[flt.order]} LIMIT ?")
    rows = fetch_rows(cursor, sql, [*params, int(flt.top)])
    return [{"rank": rank, **_with_user(row)} for rank, row in enumerate(rows, start=1)]


def resolve_id(cursor: duckdb.DuckDBPyConnection, table: str, column: str, given: str,
             what: str) -> str:
    """The full id that ``given`` names: itself, or the one id it is a unique prefix of
    (``MIN_PREFIX`` characters at least). Otherwise an InputError naming ``given``."""
    given = given.strip()
    exact = fetch_rows(cursor, f"SELECT {column} FROM {table} WHERE {column} = ?", [given])  # noqa: S608
    if exact:
        return given
    if len(given) < MIN_PREFIX:
        raise UnknownIdError(f"no {what} with id {given!r} (an id prefix needs at least "
                         f"{MIN_PREFIX} characters)")
    found = fetch_rows(cursor, f"SELECT {column} FROM {table} WHERE starts_with({column}, ?) "  # noqa: S608
                  f"ORDER BY {column} LIMIT 3", [given])
    if not found:
        raise UnknownIdError(f"no {what} with id {given!r}")
    if len(found) > 1:
        raise InputError(f"{what} id prefix {given!r} is ambiguous: it starts "
                         f"{', '.join(r[column] for r in found[:2])}, ...; give more characters")
    return found[0][column]


def resolve_alert_id(cursor: duckdb.DuckDBPyConnection, given: str) -> str:
    """The alert id ``given`` names (full id or unique prefix of >= 8 characters)."""
    return resolve_id(cursor, "alerts", "alert_id", given, "alert")


def resolve_scenario_id(cursor: duckdb.DuckDBPyConnection, given: str) -> str:
    """The scenario id ``given`` names (full id or unique prefix of >= 8 characters)."""
    return resolve_id(cursor, "scenarios", "scenario_id", given, "scenario")


def resolve_suppression_id(cursor: duckdb.DuckDBPyConnection, given: str) -> str:
    """The suppression id ``given`` names (full id or unique prefix of >= 8 characters)."""
    return resolve_id(cursor, "suppressions", "suppression_id", given, "suppression")


def feedback_history(cursor: duckdb.DuckDBPyConnection, alert_id: str) -> list[dict]:
    """The verdicts recorded on one alert, oldest first."""
    sql = (f"SELECT feedback_id, verdict, note, analyst, {_iso('created_at')} "  # noqa: S608
           "AS created_at FROM feedback WHERE alert_id = ? "
           "ORDER BY feedback.created_at, feedback_id")
    return fetch_rows(cursor, sql,
                 [alert_id])


def similar_alerts(cursor: duckdb.DuckDBPyConnection, alert: dict,
                   limit: int = SIMILAR_LIMIT) -> list[dict]:
    """Past alerts most like ``alert``: ranked by ``shared`` = the number of its pattern
    entries (entities minus volatile ones, :mod:`logguard.analyst.patterns`) they have with
    the same value, plus one when they come from the same model; at least one entity shared,
    raised no later than ``alert``. Each carries its latest verdict, so an analyst sees how
    the same thing was judged before."""
    pattern = pattern_of(alert.get("entities"))
    if not pattern:
        return []
    overlap = " + ".join("coalesce((e ->> ?) = ?, false)::INTEGER" for _ in pattern)
    params: list[Any] = [v for item in pattern.items() for v in item]
    sql = (  # fixed fragments; one "?" pair per pattern entry
        "WITH candidates AS (SELECT *, CASE WHEN json_valid(entities) THEN entities::JSON END AS e "  # noqa: S608
        "FROM alerts WHERE alert_id <> ? AND event_time <= ?::TIMESTAMPTZ), "
        "latest AS (SELECT alert_id, arg_max(verdict, created_at) AS verdict FROM feedback "
        "GROUP BY alert_id), "
        f"scored AS (SELECT alert_id, model, score, event_time, host, user_name, summary, status, "
        f"({overlap}) AS entity_overlap, (model = ?)::INTEGER AS same_model FROM candidates) "
        f"SELECT s.alert_id, s.model, s.score, {_iso('s.event_time')} AS event_time, s.host, "
        "s.user_name, s.summary, s.status, s.entity_overlap, s.same_model = 1 AS same_model, "
        "s.entity_overlap + s.same_model AS shared, l.verdict "
        "FROM scored s LEFT JOIN latest l USING (alert_id) WHERE s.entity_overlap > 0 "
        "ORDER BY shared DESC, s.event_time DESC, s.alert_id LIMIT ?")
    rows = fetch_rows(cursor, sql, [alert["alert_id"], alert["event_time"], *params, alert["model"],
                               int(limit)])
    return [_with_user(row) for row in rows]


def alert_detail(cursor: duckdb.DuckDBPyConnection, given_id: str) -> dict:
    """One alert with its parsed explanation, entities, ATT&CK tags, verdict history,
    suppressions made from it and similar past alerts. Unknown id -> InputError."""
    alert_id = resolve_alert_id(cursor, given_id)
    row = _with_user(fetch_rows(cursor, f"SELECT {', '.join(DETAIL_COLUMNS)} FROM alerts "  # noqa: S608
                           "WHERE alert_id = ?", [alert_id])[0])
    raw_explanation = row["explanation"]
    explanation = _json_value(raw_explanation, None)
    if not isinstance(explanation, dict):
        explanation = {"text": raw_explanation or ""}
    row["explanation"] = explanation
    row["entities"] = parse_entities(row["entities"])
    tags = _json_value(row["attack_tags"], [])
    row["attack_tags"] = tags if isinstance(tags, list) else []
    row["feedback"] = feedback_history(cursor, alert_id)
    row["suppressions"] = fetch_rows(
        cursor, f"SELECT suppression_id, {_iso('expires_at')} AS expires_at, "  # noqa: S608
        f"{_iso('revoked_at')} AS revoked_at FROM suppressions WHERE from_alert_id = ? "
        "ORDER BY suppressions.created_at", [alert_id])
    row["similar"] = similar_alerts(cursor, row)
    return row


def _scenario_row(row: dict) -> dict:
    row["hosts"] = _as_list(row["hosts"])
    row["users"] = _as_list(row["users"])
    return row


def list_scenarios(cursor: duckdb.DuckDBPyConnection, top: int = 50) -> list[dict]:
    """Scenarios best first (CAR rank, then score)."""
    if not 1 <= int(top) <= MAX_TOP:
        raise InputError(f"top must be between 1 and {MAX_TOP}, got {top}")
    rows = fetch_rows(cursor, f"SELECT {', '.join(SCENARIO_COLUMNS)} FROM scenarios "  # noqa: S608
                 "ORDER BY rank IS NULL, rank, score DESC, first_time, scenario_id LIMIT ?",
                 [int(top)])
    return [_scenario_row(row) for row in rows]


def _step_seconds(value: Any) -> float:
    """A step time (Unix seconds or ISO text) as Unix seconds, for ordering."""
    if isinstance(value, int | float):
        return float(value)
    try:
        moment = datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    except ValueError:
        return float("inf")
    return (moment if moment.tzinfo else moment.replace(tzinfo=UTC)).timestamp()


def step_time_text(value: Any) -> str:
    """A step time as ISO 8601 UTC text (``?`` when unreadable)."""
    seconds = _step_seconds(value)
    if seconds == float("inf"):
        return "?"
    return datetime.fromtimestamp(seconds, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def scenario_detail(cursor: duckdb.DuckDBPyConnection, given_id: str) -> dict:
    """One scenario: its steps in time order, its attack graph and its alerts in time order."""
    scenario = resolve_scenario_id(cursor, given_id)
    row = fetch_rows(cursor, f"SELECT {', '.join(SCENARIO_COLUMNS)}, steps, graph "  # noqa: S608
                "FROM scenarios WHERE scenario_id = ?", [scenario])[0]
    steps = _json_value(row["steps"], [])
    steps = [s for s in steps if isinstance(s, dict)] if isinstance(steps, list) else []
    steps.sort(key=lambda s: (_step_seconds(s.get("first_time")), -float(s.get("score") or 0)))
    for step in steps:
        step["first_time"] = step_time_text(step.get("first_time"))
        step["last_time"] = step_time_text(step.get("last_time"))
    row["steps"] = steps
    graph = _json_value(row["graph"], {})
    graph = graph if isinstance(graph, dict) else {}
    row["graph"] = {"nodes": [n for n in graph.get("nodes", []) if isinstance(n, dict)],
                    "edges": [e for e in graph.get("edges", []) if isinstance(e, dict)]}
    row["alerts"] = [_with_user(a) for a in fetch_rows(
        cursor, f"SELECT {', '.join(ALERT_COLUMNS)} FROM alerts WHERE scenario_id = ? "  # noqa: S608
        "ORDER BY event_time, alert_id", [scenario])]
    return _scenario_row(row)


def list_suppressions(cursor: duckdb.DuckDBPyConnection, *, include_inactive: bool = False,
                      now: datetime | None = None) -> list[dict]:
    """Suppressions, newest first, each with ``active`` (not revoked, not expired); expired
    and revoked ones only with ``include_inactive``."""
    now = now or datetime.now(UTC)
    rows = fetch_rows(
        cursor, "SELECT suppression_id, model, pattern, from_alert_id, note, "  # noqa: S608
        f"{_iso('created_at')} AS created_at, {_iso('expires_at')} AS expires_at, "
        f"{_iso('revoked_at')} AS revoked_at, "
        "(revoked_at IS NULL AND (expires_at IS NULL OR expires_at > ?)) AS active "
        "FROM suppressions ORDER BY suppressions.created_at DESC, suppression_id", [now])
    for row in rows:
        row["pattern"] = _json_value(row["pattern"], {})
    return rows if include_inactive else [row for row in rows if row["active"]]
