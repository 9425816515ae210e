"""Who may see what: every store-scoped route goes through these helpers.

A store user asking for anything of another store gets 404, the same answer as
for something that does not exist, so ids cannot be probed.
"""

from __future__ import annotations

from functools import wraps

from flask import abort, g
from flask_login import current_user, login_required
from sqlalchemy import select

from webapp.extensions import db
from webapp.models import Run, Store


def store_or_404(code: str) -> Store:
    store = db.session.scalar(select(Store).where(Store.code == code))
    if store is None or not current_user.is_authenticated:
        abort(404)
    if not current_user.can_see_store(store.id):
        abort(404)
    g.store = store
    return store


def run_or_404(run_id: int, store: Store | None = None) -> Run:
    """A run the current user may see (of ``store`` when given)."""
    run = db.session.get(Run, run_id)
    if run is None or not current_user.can_see_store(run.store_id):
        abort(404)
    if store is not None and run.store_id != store.id:
        abort(404)
    return run


def admin_required(view):
    """Admins only; anyone else gets 404 (the page does not exist for them)."""

    @wraps(view)
    @login_required
    def wrapper(*args, **kwargs):
        if not current_user.is_admin:
            abort(404)
        return view(*args, **kwargs)

    return wrapper


def visible_store_ids() -> list[int] | None:
    """None for admins (every store), else the user's one store."""
    if current_user.is_admin:
        return None
    return [current_user.store_id]
