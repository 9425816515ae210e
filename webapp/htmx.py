"""Answering htmx: whether a request is htmx's, and the fragment that answers it.

One URL serves a full page or, to htmx, the partial that page includes (the page includes
the partial, the polling endpoint renders the same partial), so caches are told the answer
varies with the ``HX-Request`` header. Every area's routes answer htmx through here.
"""

from __future__ import annotations

from flask import Response, make_response, render_template, request


def partial_response(template: str, **context) -> Response:
    """A fragment for HTMX; the same URL serves a full page otherwise (Vary tells caches)."""
    response = make_response(render_template(template, **context))
    response.headers["Vary"] = "HX-Request"
    return response


def is_htmx() -> bool:
    return request.headers.get("HX-Request") == "true"
