"""The analyst web app: a stdlib HTTP server with the JSON API and server-rendered pages.

``WebApp(reader, writer=None, token=None)`` (:mod:`logguard.web.app`) is served by
``logguard ui`` and mounted in-process by the daemon, which adds its own routes.
"""

from logguard.web.app import HttpError, Request, Response, WebApp

__all__ = ["HttpError", "Request", "Response", "WebApp"]
