"""Admin pages: the stores (list, overview, create, edit), self-service import for any store,
platform monitoring, and the top bar's menus (webapp/admin/nav.py)."""

from __future__ import annotations

from flask import Blueprint

bp = Blueprint("admin", __name__, url_prefix="/admin")

from webapp.admin import nav, routes, store_pages  # noqa: E402, F401
