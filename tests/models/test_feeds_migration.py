"""Migration 0006: existing stores and accounts get their feeds and schedules."""

from __future__ import annotations

from flask_migrate import downgrade, upgrade
from sqlalchemy import text

from tests.conftest import redis_url
from webapp import create_app
from webapp.extensions import db


def test_upgrade_backfills_feeds_and_downgrade_removes_them(tmp_path):
    app = create_app(
        {"SQLALCHEMY_DATABASE_URI": f"sqlite:///{tmp_path / 'm.sqlite3'}", "REDIS_URL": redis_url()}
    )
    with app.app_context():
        upgrade(revision="0004_accounts_orders")
        now = "2026-11-22 10:00:00"
        db.session.execute(
            text(
                "INSERT INTO stores (id, code, name, default_language, is_active, created_at, "
                "updated_at) VALUES (1, 'acme', 'Acme', 'fr', 1, :now, :now)"
            ),
            {"now": now},
        )
        for account_id, connector in ((1, "lengow"), (2, "letzshop")):
            db.session.execute(
                text(
                    "INSERT INTO accounts (id, store_id, connector, name, settings, is_live, "
                    "created_at, updated_at) VALUES (:id, 1, :c, :c, '{}', 0, :now, :now)"
                ),
                {"id": account_id, "c": connector, "now": now},
            )
        db.session.commit()

        upgrade()
        feeds = db.session.execute(
            text(
                "SELECT f.account_id, f.kind, f.direction, f.enabled, j.interval_seconds, "
                "j.cron_expression FROM feeds f JOIN scheduled_jobs j ON j.feed_id = f.id "
                "ORDER BY f.id"
            )
        ).all()
        assert [tuple(row) for row in feeds] == [
            (None, "import_products", "in", 0, None, "0 4 * * *"),
            (1, "import_orders", "in", 1, 300, None),
            (1, "recheck_parked_orders", "in", 1, 3600, None),
            (1, "shipping_confirmation", "out", 0, 900, None),
            (2, "import_orders", "in", 1, 300, None),
            (2, "recheck_parked_orders", "in", 1, 3600, None),
            (2, "shipping_confirmation", "out", 0, 900, None),
        ]
        globals_ = db.session.execute(
            text("SELECT job_type, interval_seconds FROM scheduled_jobs WHERE feed_id IS NULL")
        ).all()
        assert dict(globals_) == {
            "sync_retry_failed": 600,
            "sweep_abandoned_runs": 60,
            "reconcile_schedules": 300,
        }
        # What the migration froze matches what new accounts get today, but the kinds built
        # since (issue 15: the catalog export and the pull feed's stock check of a hub that
        # pulls the catalog), which the reconcile (ensure_all) adds to existing accounts.
        from webapp.feeds.defaults import kinds_for, schedules
        from webapp.models import Account

        for account in db.session.query(Account):
            kinds = [row[1] for row in feeds if row[0] == account.id]
            later = [k for k in kinds_for(account) if k not in kinds]
            assert later == ["stock_check", "catalog_export"]
            assert kinds == [k for k in kinds_for(account) if k not in later]
            for kind in kinds:
                default = schedules()[kind]
                row = next(r for r in feeds if r[0] == account.id and r[1] == kind)
                assert (row[4], row[5]) == (default.interval_seconds, default.cron_expression)
                assert bool(row[3]) == default.enabled
        db.session.commit()

        downgrade(revision="0004_accounts_orders")
        tables = db.session.execute(
            text("SELECT name FROM sqlite_master WHERE type = 'table'")
        ).scalars()
        assert not {"feeds", "scheduled_jobs"} & set(tables)
        columns = [
            r[1] for r in db.session.execute(text("PRAGMA table_info(marketplace_import_jobs)"))
        ]
        assert "feed_id" not in columns
        db.session.remove()
        db.engine.dispose()
