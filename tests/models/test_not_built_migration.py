"""Migration 0017: enabled feeds whose flow is not built are disabled, and their past
"completed" executions become failed/not_built (so monitoring stops counting them as
successes); the downgrade gives the executions back their status."""

from __future__ import annotations

from datetime import timedelta

import pytest
from flask_migrate import downgrade, upgrade
from sqlalchemy import text

from tests.conftest import redis_url
from tests.models.revisions import before, migration_database
from webapp import create_app
from webapp.extensions import db
from webapp.models.base import utcnow

BEFORE = before("0017_feeds_not_built")
SCHEMA = "mig0017_pages"


@pytest.fixture(params=["sqlite", "postgresql"])
def database(request, tmp_path):
    yield from migration_database(request.param, tmp_path, SCHEMA)


def test_upgrade_disables_stub_feeds_and_unmarks_their_successes(database, caplog):
    app = create_app({"SQLALCHEMY_DATABASE_URI": database, "REDIS_URL": redis_url()})
    with app.app_context():
        upgrade(revision=BEFORE)
        now = utcnow().replace(microsecond=0)
        done = now - timedelta(minutes=5)
        db.session.execute(
            text(
                "INSERT INTO stores (id, code, name, default_language, is_active, created_at, "
                "updated_at) VALUES (1, 'acme', 'Acme', 'fr', true, :now, :now)"
            ),
            {"now": now},
        )
        db.session.execute(
            text(
                "INSERT INTO accounts (id, store_id, connector, name, settings, is_live, "
                "created_at, updated_at) VALUES (1, 1, 'letzshop', 'L', '{}', false, :now, :now)"
            ),
            {"now": now},
        )
        feeds = {
            # id: (account, kind, direction, enabled)
            11: (1, "import_orders", "in", True),
            12: (1, "shipping_confirmation", "out", True),
            13: (1, "stock_export", "out", False),
            14: (None, "import_products", "in", False),
        }
        for feed_id, (account_id, kind, direction, enabled) in feeds.items():
            db.session.execute(
                text(
                    "INSERT INTO feeds (id, store_id, account_id, kind, direction, enabled, "
                    "created_at, updated_at) VALUES (:id, 1, :a, :k, :d, :e, :now, :now)"
                ),
                {
                    "id": feed_id,
                    "a": account_id,
                    "k": kind,
                    "d": direction,
                    "e": enabled,
                    "now": now,
                },  # fmt: skip
            )
        runs = {
            # id: (feed, kind, status)
            21: (11, "order_import", "completed"),
            22: (12, "shipping_confirmation", "completed"),
            23: (13, "stock_export", "completed"),
            24: (13, "stock_export", "failed"),
        }
        for run_id, (feed_id, kind, status) in runs.items():
            db.session.execute(
                text(
                    "INSERT INTO marketplace_import_jobs (id, kind, store_id, account_id, "
                    "trigger, feed_id, marketplace, language, batch_size, status, progress, "
                    "imported_count, updated_count, unchanged_count, error_count, "
                    "warning_count, total_processed, parked_count, started_at, completed_at, "
                    "created_at, updated_at) VALUES (:id, :kind, 1, 1, 'schedule', :feed, "
                    "'letzshop', 'fr', 1000, :status, 100, 0, 0, 0, 0, 0, 0, 0, :done, :done, "
                    ":done, :done)"
                ),
                {"id": run_id, "kind": kind, "feed": feed_id, "status": status, "done": done},
            )
            if kind != "order_import":
                db.session.execute(
                    text(
                        "INSERT INTO marketplace_import_errors (import_job_id, severity, "
                        "error_type, error_message, created_at) VALUES (:id, 'info', "
                        "'not_available', 'not available yet', :done)"
                    ),
                    {"id": run_id, "done": done},
                )
        db.session.commit()

        caplog.clear()
        upgrade()
        enabled = dict(db.session.execute(text("SELECT id, enabled FROM feeds")).all())
        assert {k: bool(v) for k, v in enabled.items()} == {
            11: True,
            12: False,
            13: False,
            14: False,
        }
        # What `flask db upgrade` prints (the app's logging writes to stderr).
        said = "\n".join(
            r.getMessage() for r in caplog.records if r.name == "alembic.runtime.migration"
        )
        assert "disabled feed #12 (Shipping confirmation" in said
        assert "disabled feed #13" not in said  # it was off already
        assert "1 execution(s) of feed #13 (Stock level export) marked failed" in said
        after = {
            r.id: (r.kind, r.status)
            for r in db.session.execute(
                text("SELECT id, kind, status FROM marketplace_import_jobs")
            )
        }
        assert after == {
            21: ("order_import", "completed"),
            22: ("not_built", "failed"),
            23: ("not_built", "failed"),
            24: ("stock_export", "failed"),
        }
        message = db.session.scalar(
            text("SELECT error_message FROM marketplace_import_jobs WHERE id = 22")
        )
        assert "not built" in message and "read and sent nothing" in message

        from webapp.monitoring import figures

        # The stub's "successes" are gone from monitoring; the real failure still counts.
        assert figures.error_rate(now)[1:] == (2, 1)
        db.session.commit()

        downgrade(revision=BEFORE)
        back = {
            r.id: (r.kind, r.status)
            for r in db.session.execute(
                text("SELECT id, kind, status FROM marketplace_import_jobs")
            )
        }
        assert back == {
            21: ("order_import", "completed"),
            22: ("shipping_confirmation", "completed"),
            23: ("stock_export", "completed"),
            24: ("stock_export", "failed"),
        }
        db.session.commit()
        db.session.remove()
        db.engine.dispose()
