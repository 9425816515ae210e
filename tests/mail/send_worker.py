"""One sender process of the two-worker test (spawned: it shares only the database and the
SMTP server with the test)."""

from __future__ import annotations

import os


def work(uri: str, redis_url: str, smtp_url: str, store_id: int, barrier, out) -> None:
    os.environ["MERCATO_ENV"] = "test"
    from webapp import create_app
    from webapp.extensions import db

    app = create_app(
        {
            "SQLALCHEMY_DATABASE_URI": uri,
            "REDIS_URL": redis_url,
            "MERCATO_SMTP_URL": smtp_url,
            "MERCATO_MAIL_FROM": "shop@acme.test",
        }
    )
    with app.app_context():
        try:
            from tests.mail import helpers  # noqa: F401 - the test kind
            from webapp.mail import sender

            sender.BATCH = 5  # small claims, so the two senders interleave
            barrier.wait(timeout=60)
            out.put(("ok", sender.send_due(store_id)))
        except Exception as exc:  # noqa: BLE001
            out.put(("error", repr(exc)))
        finally:
            db.session.remove()
