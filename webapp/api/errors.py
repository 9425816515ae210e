"""One error shape for the whole API: ``{"error": {"status": N, "message": "..."}}``.

Clients (scripts, integrations) parse errors mechanically, so every failure under
/api/ answers JSON, including the ones Flask raises before any API view runs
(unknown URL, wrong method, body too large).
"""

from __future__ import annotations

import logging
from typing import Any

from flask import Response, request
from werkzeug.exceptions import HTTPException, InternalServerError

from webapp.json_errors import error_response

log = logging.getLogger("mercato.api")

API_PREFIX = "/api/"

# Shorter sentences than Werkzeug's defaults, which speak of browsers and servers.
_MESSAGES = {
    400: "The request is malformed.",
    404: "Not found.",
    405: "This method is not allowed on this URL.",
    413: "The request body is larger than the server accepts.",
    500: "Internal error; the request was not completed.",
}

# Headers worth carrying over from a Werkzeug exception (Allow on 405, Retry-After on 429/503).
_KEPT_HEADERS = ("Allow", "Retry-After", "WWW-Authenticate")


class ApiError(Exception):
    """Raised by API code to answer ``status`` with ``message`` (and extra error fields)."""

    def __init__(
        self,
        status: int,
        message: str,
        *,
        headers: dict[str, str] | None = None,
        **extra: Any,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.headers = headers or {}
        self.extra = extra


def from_api_error(exc: ApiError) -> Response:
    return error_response(exc.status, exc.message, exc.headers, **exc.extra)


def from_http_exception(exc: HTTPException) -> Response:
    status = exc.code or 500
    # A description given on purpose (abort(400, "...")) beats the generic sentence.
    custom = exc.description and exc.description != type(exc).description
    message = exc.description if custom else _MESSAGES.get(status, exc.name)
    kept = {k: v for k, v in exc.get_headers() if k in _KEPT_HEADERS}
    return error_response(status, message, kept)


def from_internal_error(exc: InternalServerError) -> Response:
    original = getattr(exc, "original_exception", None)
    if original is not None:
        log.error("api error path=%s", request.path, exc_info=original)
    return error_response(500, _MESSAGES[500])


def routing_error_as_json() -> Response | None:
    """Answer JSON for an /api/ URL that matched no route, or no route for its method.

    Blueprint error handlers never see these (no blueprint matched), and an app-wide
    404 handler would collide with the HTML pages' own.  Flask stores the routing
    error on the request before any ``before_request`` function runs, so checking it
    here answers JSON for the API without touching how the rest of the site renders
    its errors.
    """
    exc = request.routing_exception
    if exc is None or not request.path.startswith(API_PREFIX):
        return None
    if isinstance(exc, HTTPException) and exc.code in (404, 405):
        return from_http_exception(exc)
    return None  # redirects (strict slashes) keep their normal behaviour
