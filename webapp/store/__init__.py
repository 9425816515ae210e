"""The store portal: /store/<code>/... (imports, products, settings, orders, accounts)."""

from __future__ import annotations

from flask import Blueprint

bp = Blueprint("store", __name__, url_prefix="/store/<code>")

from webapp.store import accounts, orders, routes  # noqa: E402, F401
