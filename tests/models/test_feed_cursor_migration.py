"""Migration 0018: each feed keeps its own cursor.  The account's ``last_sync_at`` moves onto
its order-import feed, and back onto the account on the downgrade."""

from __future__ import annotations

from datetime import datetime

import pytest
from flask_migrate import downgrade, upgrade
from sqlalchemy import inspect, text

from tests.conftest import redis_url
from tests.models.revisions import before, migration_database
from webapp import create_app
from webapp.extensions import db
from webapp.models.base import utcnow

BEFORE = before("0018_feed_cursor")
SCHEMA = "mig0018_cursor"


@pytest.fixture(params=["sqlite", "postgresql"])
def database(request, tmp_path):
    yield from migration_database(request.param, tmp_path, SCHEMA)


def times(sql: str) -> dict:
    """id -> time as text (SQLite answers raw SQL with text, PostgreSQL with datetimes)."""
    return {k: None if v is None else str(v) for k, v in db.session.execute(text(sql)).all()}


def test_the_cursor_moves_to_the_order_feed_and_back(database):
    app = create_app({"SQLALCHEMY_DATABASE_URI": database, "REDIS_URL": redis_url()})
    synced = datetime(2026, 12, 1, 8, 30, 0)
    with app.app_context():
        upgrade(revision=BEFORE)
        now = utcnow().replace(microsecond=0)
        db.session.execute(
            text(
                "INSERT INTO stores (id, code, name, default_language, is_active, created_at, "
                "updated_at) VALUES (1, 'acme', 'Acme', 'fr', true, :now, :now)"
            ),
            {"now": now},
        )
        for account_id, last_sync in ((1, synced), (2, None)):
            db.session.execute(
                text(
                    "INSERT INTO accounts (id, store_id, connector, name, settings, is_live, "
                    "last_sync_at, created_at, updated_at) VALUES (:id, 1, 'lengow', 'L', '{}', "
                    "false, :sync, :now, :now)"
                ),
                {"id": account_id, "sync": last_sync, "now": now},
            )
        feeds = {
            11: (1, "import_orders"),
            12: (1, "recheck_parked_orders"),
            13: (2, "import_orders"),
        }
        for feed_id, (account_id, kind) in feeds.items():
            db.session.execute(
                text(
                    "INSERT INTO feeds (id, store_id, account_id, kind, direction, enabled, "
                    "created_at, updated_at) VALUES (:id, 1, :a, :k, 'in', true, :now, :now)"
                ),
                {"id": feed_id, "a": account_id, "k": kind, "now": now},
            )
        db.session.commit()

        upgrade(revision="0018_feed_cursor")
        cursors = times("SELECT id, last_sync_at FROM feeds")
        assert cursors == {11: str(synced), 12: None, 13: None}
        columns = {c["name"] for c in inspect(db.engine).get_columns("accounts")}
        assert "last_sync_at" not in columns  # one cursor, the feed's

        # A poll after the upgrade moves the feed's cursor; the downgrade keeps it.
        later = datetime(2026, 12, 2, 9, 0, 0)
        db.session.execute(text("UPDATE feeds SET last_sync_at = :t WHERE id = 13"), {"t": later})
        db.session.commit()
        downgrade(revision=BEFORE)
        back = times("SELECT id, last_sync_at FROM accounts")
        assert back == {1: str(synced), 2: str(later)}
        columns = {c["name"] for c in inspect(db.engine).get_columns("feeds")}
        assert "last_sync_at" not in columns
        db.session.remove()
        db.engine.dispose()
