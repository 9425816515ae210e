"""Error-inbox jobs: a person's retry."""

from __future__ import annotations

from jobs import app


def retry_messages(message_ids: list[int], by: str) -> dict:
    from webapp.extensions import db
    from webapp.inbox import retry

    with app().app_context():
        try:
            return retry.retry_ids(message_ids, by)
        finally:
            retry.clear_pending(message_ids)
            db.session.remove()
