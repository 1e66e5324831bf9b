"""Where the analyst commands read and write: the DuckDB file, or a running daemon's API.

DuckDB lets one process hold a file; while the daemon runs, no other process can open it,
not even read-only. So :func:`open_backend` opens the file (read-only for reads, read-write
for feedback) and, when a daemon holds it, goes through the daemon's HTTP API instead
(``--api URL``, bearer token from ``LOGGUARD_API_TOKEN``); with neither possible the error
names both ways. Both backends answer the same calls with the same JSON-ready dicts.
"""

from __future__ import annotations

import contextlib
import json
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from logguard.analyst import feedback, queries
from logguard.errors import ConfigError, InputError, StoreError

if TYPE_CHECKING:
    import duckdb

API_TOKEN_ENV = "LOGGUARD_API_TOKEN"
CSRF_HEADER = "X-Logguard-CSRF"
API_TIMEOUT_S = 30.0


class AnalystBackend(Protocol):
    """The calls behind every analyst command and API route."""

    def alerts(self, params: dict[str, Any]) -> list[dict]: ...
    def alert(self, alert_id: str) -> dict: ...
    def scenarios(self, top: int) -> list[dict]: ...
    def scenario(self, scenario_id: str) -> dict: ...
    def feedback(self, alert_id: str, verdict: str, note: str | None,
                 suppress_days: float | None) -> dict: ...
    def suppressions(self, include_inactive: bool) -> list[dict]: ...
    def revoke(self, suppression_id: str) -> dict: ...


class LocalBackend:
    """The calls answered from a DuckDB connection or cursor."""

    def __init__(self, con: duckdb.DuckDBPyConnection) -> None:
        self.con = con

    def alerts(self, params: dict[str, Any]) -> list[dict]:
        return queries.alert_queue(self.con, queries.AlertFilter.from_strings(**params))

    def alert(self, alert_id: str) -> dict:
        return queries.alert_detail(self.con, alert_id)

    def scenarios(self, top: int) -> list[dict]:
        return queries.list_scenarios(self.con, top)

    def scenario(self, scenario_id: str) -> dict:
        return queries.scenario_detail(self.con, scenario_id)

    def feedback(self, alert_id: str, verdict: str, note: str | None,
                 suppress_days: float | None) -> dict:
        return feedback.record_feedback(self.con, alert_id, verdict, note=note,
                                        suppress_days=suppress_days)

    def suppressions(self, include_inactive: bool) -> list[dict]:
        return queries.list_suppressions(self.con, include_inactive=include_inactive)

    def revoke(self, suppression_id: str) -> dict:
        return feedback.revoke_suppression(self.con, suppression_id)


class ApiBackend:
    """The same calls over a logguard web API (the daemon's, or ``logguard ui``'s)."""

    def __init__(self, base_url: str, token: str | None = None) -> None:
        parsed = urllib.parse.urlsplit(base_url)
        if parsed.scheme not in ("http", "https") or not parsed.netloc:
            raise InputError(f"--api {base_url!r} is not an http(s) URL "
                             "(e.g. http://127.0.0.1:8700)")
        self.base_url = base_url.rstrip("/")
        self.token = token

    def _call(self, method: str, path: str, query: dict[str, Any] | None = None,
              body: dict[str, Any] | None = None) -> Any:
        url = self.base_url + path
        if query:
            url += "?" + urllib.parse.urlencode({k: v for k, v in query.items()
                                                 if v not in (None, "")})
        headers = {"Accept": "application/json", CSRF_HEADER: "1"}
        if self.token:
            headers["Authorization"] = f"Bearer {self.token}"
        data = None
        if body is not None:
            data = json.dumps(body).encode("utf-8")
            headers["Content-Type"] = "application/json"
        request = urllib.request.Request(url, data=data, method=method, headers=headers)
        try:
            with urllib.request.urlopen(request, timeout=API_TIMEOUT_S) as response:
                return json.loads(response.read() or b"null")
        except urllib.error.HTTPError as exc:
            message = _error_message(exc)
            if exc.code == 401:
                raise ConfigError(f"the API at {self.base_url} refused the request ({message}): "
                                  f"set {API_TOKEN_ENV} to its token") from None
            if 400 <= exc.code < 500:
                raise InputError(message) from None
            raise StoreError(f"the API at {self.base_url} failed: {message}") from None
        except (urllib.error.URLError, OSError) as exc:
            reason = getattr(exc, "reason", exc)
            raise StoreError(
                f"cannot reach the logguard API at {self.base_url}: {reason}") from None

    @staticmethod
    def _id(value: str) -> str:
        return urllib.parse.quote(value, safe="")

    def alerts(self, params: dict[str, Any]) -> list[dict]:
        return self._call("GET", "/api/alerts", query=params)["alerts"]

    def alert(self, alert_id: str) -> dict:
        return self._call("GET", f"/api/alerts/{self._id(alert_id)}")

    def scenarios(self, top: int) -> list[dict]:
        return self._call("GET", "/api/scenarios", query={"top": top})["scenarios"]

    def scenario(self, scenario_id: str) -> dict:
        return self._call("GET", f"/api/scenarios/{self._id(scenario_id)}")

    def feedback(self, alert_id: str, verdict: str, note: str | None,
                 suppress_days: float | None) -> dict:
        return self._call("POST", f"/api/alerts/{self._id(alert_id)}/feedback",
                          body={"verdict": verdict, "note": note,
                                "suppress_days": suppress_days})

    def suppressions(self, include_inactive: bool) -> list[dict]:
        query = {"include_inactive": "true"} if include_inactive else None
        return self._call("GET", "/api/suppressions", query=query)["suppressions"]

    def revoke(self, suppression_id: str) -> dict:
        return self._call("DELETE", f"/api/suppressions/{self._id(suppression_id)}")


def _error_message(exc: urllib.error.HTTPError) -> str:
    try:
        payload = json.loads(exc.read() or b"{}")
    except ValueError:
        payload = {}
    return str(payload.get("error") or f"HTTP {exc.code} {exc.reason}")


def _is_lock_error(exc: StoreError) -> bool:
    return "locked by another process" in str(exc)


@contextlib.contextmanager
def open_backend(db: Path | None, api: str | None, token: str | None, *,
                 write: bool = False) -> Iterator[AnalystBackend]:
    """The backend for one command: the DuckDB file when it can be opened (read-only unless
    ``write``), else the API at ``api``; an error naming both ways when neither works."""
    from logguard.store.alerts import ensure_alert_tables
    from logguard.store.duckdb_store import open_duckdb

    if db is None and api is None:
        raise InputError("give --db PATH (the DuckDB file) or --api URL (a running daemon's "
                         "web address, e.g. http://127.0.0.1:8700)")
    if db is None:
        yield ApiBackend(api, token)
        return
    try:
        con = open_duckdb(db, read_only=not write)
    except StoreError as exc:
        if not _is_lock_error(exc):
            raise
        if api is None:
            raise StoreError(
                f"{exc}. Two ways on: pass --api URL (the daemon's web address, e.g. "
                f"--api http://127.0.0.1:8700, with its token in {API_TOKEN_ENV}) to go through "
                "the process that holds the file, or stop that process and run this again"
            ) from None
        yield ApiBackend(api, token)
        return
    try:
        if write:
            ensure_alert_tables(con)
        yield LocalBackend(con)
    finally:
        con.close()
