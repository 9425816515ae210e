"""E-mail jobs: a store's due e-mail sent (after the commit that recorded it, or at a retry's
time), and the periodic sweep (webapp.mail.sender)."""

from __future__ import annotations

from jobs import app


def send_due(store_id: int) -> dict:
    from webapp.extensions import db
    from webapp.mail.sender import send_due as send

    with app().app_context():
        try:
            return send(store_id, trigger="schedule")
        finally:
            db.session.remove()
