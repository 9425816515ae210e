"""The real-time stock push's job (:mod:`webapp.stock.dirty` enqueues it after a commit)."""

from __future__ import annotations

from jobs import app


def realtime_push(account_id: int) -> dict:
    """Push what the account's movements marked, as an execution of its stock feed
    (:func:`webapp.pushes.realtime.push_account`)."""
    from webapp.extensions import db
    from webapp.pushes.realtime import push_account

    with app().app_context():
        try:
            return push_account(account_id)
        finally:
            db.session.remove()
