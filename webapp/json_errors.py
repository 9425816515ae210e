"""The API's error shape, ``{"error": {"status": N, "message": "..."}}``, on its own.

It lives below the areas so that app-wide handlers (a Redis outage met under /api/)
answer in the API's shape without importing the API package.
"""

from __future__ import annotations

from typing import Any

from flask import Response, jsonify


def error_response(
    status: int, message: str, headers: dict[str, str] | None = None, **extra: Any
) -> Response:
    response = jsonify({"error": {"status": status, "message": message, **extra}})
    response.status_code = status
    for name, value in (headers or {}).items():
        response.headers[name] = value
    return response
