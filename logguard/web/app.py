"""A small HTTP app on the standard library: a router the daemon extends, bearer-token and
cookie authentication, CSRF checks, and JSON errors that never carry a traceback.

``WebApp(reader, writer=None, token=None)`` serves the analyst API and pages from a DuckDB
connection it does not own: each request reads through its own ``reader.cursor()`` (the
daemon owns the connection and keeps writing on it) and writes feedback through
``writer.cursor()``; without a writer the app is read-only. ``add_route(method, path,
handler)`` mounts more routes (the daemon's ``/healthz`` and ``/metrics``), ``serve(host,
port)`` starts a ``ThreadingHTTPServer`` in a thread, ``shutdown()`` stops it.

Security rules:

* bound to loopback by default; any other address needs a token, or ``serve`` refuses;
* while bound to loopback, a request whose ``Host`` is not a loopback name is refused
  (a DNS-rebinding page cannot reach the API through the analyst's browser);
* with a token, every request needs ``Authorization: Bearer <token>`` (``hmac.compare_digest``),
  except HTML pages, which may take it once as ``?token=``: the app answers with a redirect
  that sets a ``HttpOnly; SameSite=Strict`` session cookie (an HMAC of the token, never the
  token) and drops the token from the address;
* a state-changing request (POST, PUT, PATCH, DELETE) needs the bearer token, or the
  ``X-Logguard-CSRF`` header from the same origin (``Origin``, when sent, equal to this
  server's; ``Sec-Fetch-Site`` not cross-site). A cross-site page cannot set that header
  without a CORS pre-flight, which this app never grants.
"""

from __future__ import annotations

import hashlib
import hmac
import http.cookies
import ipaddress
import json
import logging
import re
import threading
import urllib.parse
from collections.abc import Callable
from dataclasses import dataclass, field
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import TYPE_CHECKING, Any

from logguard.analyst.backend import CSRF_HEADER, LocalBackend
from logguard.analyst.queries import UnknownIdError
from logguard.errors import ConfigError, InputError, LogguardError, StoreError

if TYPE_CHECKING:
    import duckdb

log = logging.getLogger(__name__)

SESSION_COOKIE = "logguard_session"
MAX_BODY_BYTES = 64 * 1024
UNSAFE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})
LOOPBACK_NAMES = frozenset({"localhost", "127.0.0.1", "::1"})
_PARAM = re.compile(r"\{(\w+)\}")


@dataclass
class Response:
    """What a handler returns: status, body bytes, content type and extra headers."""

    status: int
    body: bytes = b""
    content_type: str = "application/json"
    headers: list[tuple[str, str]] = field(default_factory=list)

    @classmethod
    def json(cls, payload: Any, status: int = 200) -> Response:
        return cls(status, json.dumps(payload, ensure_ascii=False, default=str).encode("utf-8"))

    @classmethod
    def error(cls, status: int, message: str) -> Response:
        return cls.json({"error": message, "status": status}, status)

    @classmethod
    def html(cls, text: str, status: int = 200) -> Response:
        return cls(status, text.encode("utf-8"), "text/html; charset=utf-8")

    @classmethod
    def text(cls, text: str, status: int = 200,
             content_type: str = "text/plain; charset=utf-8") -> Response:
        return cls(status, text.encode("utf-8"), content_type)


class HttpError(Exception):
    """Raised by a handler to answer with ``status`` and a JSON message."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


@dataclass
class Request:
    """One parsed request as a handler sees it."""

    app: WebApp
    method: str
    path: str
    query: dict[str, list[str]]
    headers: dict[str, str]  # lower-case names
    body: bytes
    params: dict[str, str] = field(default_factory=dict)
    authenticated_by: str | None = None  # "bearer" | "cookie" | None (no token configured)
    cursors: list = field(default_factory=list)  # closed when the request is answered

    def arg(self, name: str) -> str | None:
        """The first value of query parameter ``name``."""
        values = self.query.get(name)
        return values[0] if values else None

    def json_body(self) -> dict[str, Any]:
        """The body as a JSON object; anything else is a 400 naming the problem."""
        if not self.body:
            raise HttpError(400, "the request needs a JSON object body")
        try:
            value = json.loads(self.body)
        except ValueError as exc:
            raise HttpError(400, f"the body is not valid JSON: {exc}") from None
        if not isinstance(value, dict):
            raise HttpError(400, "the body must be a JSON object")
        return value

    def reader(self) -> LocalBackend:
        """The analyst reads on a fresh cursor of the app's reader connection."""
        self.cursors.append(self.app.cursor(write=False))
        return LocalBackend(self.cursors[-1])

    def writer(self) -> LocalBackend:
        """The analyst writes on a fresh cursor of the writer; 403 on a read-only app."""
        self.cursors.append(self.app.cursor(write=True))
        return LocalBackend(self.cursors[-1])


Handler = Callable[[Request], Response]


@dataclass
class _Route:
    method: str
    template: str
    pattern: re.Pattern[str]
    handler: Handler
    public: bool


def _compile(template: str) -> re.Pattern[str]:
    parts = _PARAM.split(template)
    regex = "".join(re.escape(p) if i % 2 == 0 else f"(?P<{p}>[^/]+)"
                    for i, p in enumerate(parts))
    return re.compile(f"^{regex}$")


def is_loopback(host: str) -> bool:
    """True for ``localhost`` and loopback IP addresses."""
    name = host.strip("[]").lower()
    if name in LOOPBACK_NAMES:
        return True
    try:
        return ipaddress.ip_address(name).is_loopback
    except ValueError:
        return False


def _host_name(host_header: str) -> str:
    """``Host`` header -> host name without the port (IPv6 brackets kept off)."""
    if host_header.startswith("["):
        return host_header[1:].split("]", 1)[0]
    return host_header.rsplit(":", 1)[0] if host_header.count(":") == 1 else host_header


class WebApp:
    """Router + security + server around the analyst API and pages (see the module doc)."""

    def __init__(self, reader: duckdb.DuckDBPyConnection,
                 writer: duckdb.DuckDBPyConnection | None = None,
                 token: str | None = None) -> None:
        from logguard.web import api, pages

        if token is not None and len(token) < 16:
            raise ConfigError("the API token must be at least 16 characters")
        self.reader, self.writer, self.token = reader, writer, token
        self._session = (hmac.new(token.encode("utf-8"), b"logguard-session", hashlib.sha256)
                         .hexdigest() if token else None)
        self._routes: list[_Route] = []
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None
        self.bound_loopback = True
        api.install(self)
        pages.install(self)

    # ------------------------------------------------------------------ routing
    def add_route(self, method: str, path: str, handler: Handler, *, public: bool = False) -> None:
        """Mount ``handler`` at ``path`` (``{name}`` segments become ``request.params``).
        ``public`` routes (e.g. ``/healthz``) skip authentication."""
        self._routes.append(_Route(method.upper(), path, _compile(path), handler, public))

    def routes(self) -> list[tuple[str, str]]:
        """(method, path template) of every mounted route."""
        return [(r.method, r.template) for r in self._routes]

    def cursor(self, *, write: bool) -> duckdb.DuckDBPyConnection:
        if write and self.writer is None:
            raise HttpError(403, "this server is read-only: feedback is disabled")
        return (self.writer if write else self.reader).cursor()

    # ------------------------------------------------------------------ handling
    def handle(self, method: str, target: str, headers: dict[str, str], body: bytes) -> Response:
        """Answer one request; never raises, never leaks a traceback."""
        try:
            return self._dispatch(method, target, headers, body)
        except HttpError as exc:
            return Response.error(exc.status, str(exc))
        except UnknownIdError as exc:
            return Response.error(404, str(exc))
        except (InputError, ConfigError) as exc:
            return Response.error(400, str(exc))
        except StoreError as exc:
            return Response.error(503, str(exc))
        except LogguardError as exc:
            return Response.error(500, str(exc))
        except Exception:
            log.exception("unhandled error answering %s %s", method, target.split("?", 1)[0])
            return Response.error(500, "internal error (logged by the server)")

    def _dispatch(self, method: str, target: str, headers: dict[str, str],
                  body: bytes) -> Response:
        split = urllib.parse.urlsplit(target)
        path = urllib.parse.unquote(split.path) or "/"
        query = urllib.parse.parse_qs(split.query, keep_blank_values=True)
        if self.bound_loopback and not is_loopback(_host_name(headers.get("host", ""))):
            raise HttpError(403, "this server answers only to a loopback Host name "
                            "(127.0.0.1 or localhost)")
        route, params, allowed = self._match(method, split.path)
        if route is None:
            if allowed:
                raise HttpError(405, f"{method} is not allowed on {path}; use "
                                f"{', '.join(sorted(allowed))}")
            raise HttpError(404, f"no such path: {path}")
        request = Request(self, method, path, query, headers, body, params)
        if not route.public:
            redirect = self._authenticate(request)
            if redirect is not None:
                return redirect
            if method in UNSAFE_METHODS:
                self._check_csrf(request)
        try:
            return route.handler(request)
        finally:
            for cursor in request.cursors:
                cursor.close()

    def _match(self, method: str, raw_path: str) -> tuple[_Route | None, dict[str, str], set]:
        allowed = set()
        for route in self._routes:
            found = route.pattern.match(raw_path)
            if found is None:
                continue
            if route.method == method or (method == "HEAD" and route.method == "GET"):
                params = {k: urllib.parse.unquote(v) for k, v in found.groupdict().items()}
                return route, params, allowed
            allowed.add(route.method)
        return None, {}, allowed

    def _authenticate(self, request: Request) -> Response | None:
        if self.token is None:
            return None
        scheme, _, given = request.headers.get("authorization", "").partition(" ")
        if scheme.lower() == "bearer" and hmac.compare_digest(given.strip().encode("utf-8"),
                                                              self.token.encode("utf-8")):
            request.authenticated_by = "bearer"
            return None
        cookie = http.cookies.SimpleCookie()
        try:
            cookie.load(request.headers.get("cookie", ""))
        except http.cookies.CookieError:
            cookie = http.cookies.SimpleCookie()
        session = cookie.get(SESSION_COOKIE)
        if session is not None and hmac.compare_digest(session.value.encode("utf-8"),
                                                       self._session.encode("utf-8")):
            request.authenticated_by = "cookie"
            return None
        offered = request.arg("token")
        is_page = request.method == "GET" and not request.path.startswith("/api/")
        if is_page and offered is not None and hmac.compare_digest(
                offered.encode("utf-8"), self.token.encode("utf-8")):
            rest = [(k, v) for k, vs in request.query.items() if k != "token" for v in vs]
            location = urllib.parse.quote(request.path) + (
                "?" + urllib.parse.urlencode(rest) if rest else "")
            return Response(303, b"", "text/plain", [
                ("Location", location),
                ("Set-Cookie", f"{SESSION_COOKIE}={self._session}; HttpOnly; SameSite=Strict; "
                               "Path=/")])
        raise HttpError(401, "authentication required: send 'Authorization: Bearer <token>' "
                        "(pages also accept ?token=<token> once)")

    def _check_csrf(self, request: Request) -> None:
        if request.authenticated_by == "bearer":
            return
        if CSRF_HEADER.lower() not in request.headers:
            raise HttpError(403, f"a {request.method} needs the bearer token or the "
                            f"{CSRF_HEADER} header from this server's own pages")
        origin = request.headers.get("origin")
        own = request.headers.get("host", "")
        if origin is not None and urllib.parse.urlsplit(origin).netloc != own:
            raise HttpError(403, f"cross-origin {request.method} refused (Origin {origin})")
        if request.headers.get("sec-fetch-site", "same-origin") not in ("same-origin", "none"):
            raise HttpError(403, f"cross-site {request.method} refused")

    # ------------------------------------------------------------------ serving
    def serve(self, host: str = "127.0.0.1", port: int = 8700) -> tuple[str, int]:
        """Start serving in a background thread; returns the bound (host, port). Refuses a
        non-loopback address without a token (ConfigError)."""
        if self._server is not None:
            raise ConfigError("this app is already serving")
        self.bound_loopback = is_loopback(host)
        if not self.bound_loopback and self.token is None:
            raise ConfigError(f"refusing to serve on non-loopback address {host!r} without a "
                              "token: set one (logguard ui --token-env NAME) or bind 127.0.0.1")
        try:
            self._server = ThreadingHTTPServer((host, port), _handler_class(self))
        except OSError as exc:
            raise ConfigError(f"cannot listen on {host}:{port}: {exc.strerror or exc}") from None
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever,
                                        name="logguard-web", daemon=True)
        self._thread.start()
        bound_host, bound_port = self._server.server_address[:2]
        return str(bound_host), int(bound_port)

    @property
    def url(self) -> str:
        """Base URL of the running server."""
        if self._server is None:
            raise ConfigError("the app is not serving")
        host, port = self._server.server_address[:2]
        return f"http://{'[' + host + ']' if ':' in str(host) else host}:{port}"

    def shutdown(self) -> None:
        """Stop serving and wait for the server thread (idempotent)."""
        if self._server is None:
            return
        self._server.shutdown()
        self._server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=10)
        self._server, self._thread = None, None


def _handler_class(app: WebApp) -> type[BaseHTTPRequestHandler]:
    class _Handler(BaseHTTPRequestHandler):
        server_version = "logguard"
        sys_version = ""

        def _respond(self, response: Response, head_only: bool = False) -> None:
            self.send_response(response.status)
            self.send_header("Content-Type", response.content_type)
            self.send_header("Content-Length", str(len(response.body)))
            self.send_header("Cache-Control", "no-store")
            self.send_header("X-Content-Type-Options", "nosniff")
            self.send_header("X-Frame-Options", "DENY")
            self.send_header("Referrer-Policy", "no-referrer")
            if response.content_type.startswith("text/html"):
                self.send_header("Content-Security-Policy",
                                 "default-src 'none'; script-src 'self'; style-src 'self'; "
                                 "img-src 'self'; connect-src 'self'; form-action 'self'; "
                                 "frame-ancestors 'none'; base-uri 'none'")
            for name, value in response.headers:
                self.send_header(name, value)
            self.end_headers()
            if not head_only:
                self.wfile.write(response.body)

        def _serve(self) -> None:
            headers = {k.lower(): v for k, v in self.headers.items()}
            try:
                length = int(headers.get("content-length", "0") or 0)
            except ValueError:
                length = -1
            if length < 0 or length > MAX_BODY_BYTES:
                self._respond(Response.error(413 if length > 0 else 400,
                                             f"the body must be 0..{MAX_BODY_BYTES} bytes"))
                return
            body = self.rfile.read(length) if length else b""
            response = app.handle(self.command, self.path, headers, body)
            self._respond(response, head_only=self.command == "HEAD")

        do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = do_HEAD = do_OPTIONS = _serve

        def send_error(self, code: int, message: str | None = None,
                       explain: str | None = None) -> None:
            phrase = HTTPStatus(code).phrase if code in HTTPStatus._value2member_map_ else ""
            self._respond(Response.error(code, message or phrase))

        def log_message(self, format: str, *args: Any) -> None:
            log.debug("%s %s", self.address_string(), (format % args).split("?", 1)[0])

    return _Handler
