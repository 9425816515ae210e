"""The store portal's own pages: /store/<code>/marketplace, imports, settings. (The store's
products, orders and accounts pages are their areas' blueprints, under the same prefix.)"""

from __future__ import annotations

from flask import Blueprint

bp = Blueprint("store", __name__, url_prefix="/store/<code>")

from webapp.store import routes, shipments, stock_file  # noqa: E402, F401
