"""Error-inbox jobs: a person's retry, and the scheduled sweep of "retry" messages."""

from __future__ import annotations

from jobs import app


def retry_messages(message_ids: list[int], by: str) -> dict:
    from webapp.extensions import db, redis_connection
    from webapp.inbox import retry
    from webapp.inbox.routes import _pending_key

    with app().app_context():
        try:
            return retry.retry_ids(message_ids, by)
        finally:
            redis_connection().delete(*[_pending_key(i) for i in message_ids])
            db.session.remove()


def sweep_retries() -> dict:
    from webapp.extensions import db
    from webapp.inbox import retry

    with app().app_context():
        try:
            return retry.sweep()
        finally:
            db.session.remove()
