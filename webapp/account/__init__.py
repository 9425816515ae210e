"""A user's own settings: personal API tokens (filled in by the API work)."""

from __future__ import annotations

from flask import Blueprint

bp = Blueprint("account", __name__, url_prefix="/account")

from webapp.account import routes  # noqa: E402, F401
