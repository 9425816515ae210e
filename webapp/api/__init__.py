"""REST API under /api/v1 (JSON, bearer tokens).

Every endpoint requires ``Authorization: Bearer mct_...`` except the OpenAPI document;
every error, whoever raises it, is ``{"error": {"status": N, "message": "..."}}``.
The contract is webapp/api/openapi.py, and a test keeps it equal to the routes here.
"""

from __future__ import annotations

from flask import Blueprint, Response, current_app, g, request
from werkzeug.exceptions import HTTPException, InternalServerError, default_exceptions

from webapp.api.errors import (
    ApiError,
    from_api_error,
    from_http_exception,
    from_internal_error,
    routing_error_as_json,
)

bp = Blueprint("api", __name__, url_prefix="/api/v1")


@bp.before_app_request
def _json_routing_errors() -> Response | None:
    return routing_error_as_json()


@bp.before_request
def _authenticate() -> None:
    view = current_app.view_functions.get(request.endpoint or "")
    if getattr(view, "api_public", False):
        return
    from webapp.api.auth import authenticate

    authenticate()


@bp.after_request
def _api_headers(response: Response) -> Response:
    for name, value in getattr(g, "rate_limit_headers", {}).items():
        response.headers.setdefault(name, value)
    # Answers carry tenant data: no shared cache may keep them.
    response.headers.setdefault("Cache-Control", "no-store")
    return response


bp.register_error_handler(ApiError, from_api_error)
bp.register_error_handler(HTTPException, from_http_exception)
# Flask prefers a handler registered for a status code, even an app-wide one (say, the
# store pages' 413 flash-and-redirect), over a blueprint's handler for a class.  Claiming
# every code here keeps the API's answers JSON whatever the HTML side registers.
for _code in default_exceptions:
    if _code != 500:
        bp.register_error_handler(_code, from_http_exception)
bp.register_error_handler(InternalServerError, from_internal_error)

from webapp.api import (  # noqa: E402, F401  (register the routes)
    admin,
    bulk_shipping,
    catalog_feed,
    digital,
    feeds,
    inbox,
    keys,
    mail,
    openapi,
    orders,
    products,
    stock,
    store,
    stores,
)
