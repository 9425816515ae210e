"""The error inbox and its bell: what needs a person, grouped by cause, with retry/resolve."""

from __future__ import annotations

from flask import Blueprint

bp = Blueprint("inbox", __name__)

from webapp.inbox import routes  # noqa: E402,F401
