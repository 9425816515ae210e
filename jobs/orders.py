"""Order jobs: the outbound step (acknowledgements) an order import enqueues after commit."""

from __future__ import annotations

from jobs import app


def send_outbound(account_id: int) -> dict | None:
    """Send the account's owed outbound calls (dry runs in test mode); a failure schedules
    this job again for when its backoff ends."""
    from webapp.extensions import db
    from webapp.models import Account
    from webapp.outbound import enqueue_send, send_owed

    with app().app_context():
        try:
            account = db.session.get(Account, account_id)
            if account is None or account.is_retired:
                return None
            summary = send_owed(account, trigger="schedule")
            if summary["retry_at"] is not None:
                enqueue_send(account_id, at=summary["retry_at"])
            return {**summary, "retry_at": summary["retry_at"] and summary["retry_at"].isoformat()}
        finally:
            db.session.remove()
