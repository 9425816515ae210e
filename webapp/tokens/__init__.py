"""A user's personal API tokens at /account/tokens (list, create, revoke)."""

from __future__ import annotations

from flask import Blueprint

bp = Blueprint("tokens", __name__, url_prefix="/account")

from webapp.tokens import routes  # noqa: E402, F401
