"""feeds, scheduled_jobs, and the feed of each run

Revision ID: 0006_feeds
Revises: 0005_order_acks_modes
Create Date: 2026-11-22 15:00:00

Existing stores and accounts get their default feeds and schedules here, from a copy of
the defaults frozen at this revision (webapp.feeds.defaults holds the living ones;
``flask feeds reconcile`` also creates whatever is missing).
"""

from datetime import UTC, datetime

import sqlalchemy as sa
from alembic import op

revision = "0006_feeds"
down_revision = "0005_order_acks_modes"
branch_labels = None
depends_on = None

# kind -> (direction, enabled at creation, interval seconds, cron expression)
_ORDER_FEEDS = {
    "import_orders": ("in", True, 300, None),
    "recheck_parked_orders": ("in", True, 3600, None),
    "shipping_confirmation": ("out", False, 900, None),
}
_CONNECTOR_FEEDS = {"lengow": _ORDER_FEEDS, "letzshop": _ORDER_FEEDS}
_STORE_FEEDS = {"import_products": ("in", False, None, "0 4 * * *")}
_GLOBAL_JOBS = {
    "sync_retry_failed": (600, None),
    "sweep_abandoned_runs": (60, None),
    "reconcile_schedules": (300, None),
}


def upgrade():
    op.create_table(
        "feeds",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("store_id", sa.Integer(), nullable=False),
        sa.Column("account_id", sa.Integer(), nullable=True),
        sa.Column("kind", sa.String(length=32), nullable=False),
        sa.Column("direction", sa.String(length=3), nullable=False),
        sa.Column("enabled", sa.Boolean(), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("updated_at", sa.DateTime(), nullable=False),
        sa.CheckConstraint("direction IN ('in', 'out')", name=op.f("ck_feeds_direction")),
        sa.ForeignKeyConstraint(
            ["account_id"],
            ["accounts.id"],
            name=op.f("fk_feeds_account_id_accounts"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["store_id"], ["stores.id"], name=op.f("fk_feeds_store_id_stores"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_feeds")),
    )
    with op.batch_alter_table("feeds", schema=None) as batch_op:
        batch_op.create_index("ix_feeds_store", ["store_id", "id"], unique=False)
        batch_op.create_index("uq_feeds_account_kind", ["account_id", "kind"], unique=True)
        batch_op.create_index(
            "uq_feeds_store_kind_no_account",
            ["store_id", "kind"],
            unique=True,
            sqlite_where=sa.text("account_id IS NULL"),
            postgresql_where=sa.text("account_id IS NULL"),
        )

    op.create_table(
        "scheduled_jobs",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("feed_id", sa.Integer(), nullable=True),
        sa.Column("store_id", sa.Integer(), nullable=True),
        sa.Column("job_type", sa.String(length=64), nullable=False),
        sa.Column("is_enabled", sa.Boolean(), nullable=False),
        sa.Column("interval_seconds", sa.Integer(), nullable=True),
        sa.Column("cron_expression", sa.String(length=120), nullable=True),
        sa.Column("last_run_at", sa.DateTime(), nullable=True),
        sa.Column("last_run_status", sa.String(length=32), nullable=True),
        sa.Column("next_run_at", sa.DateTime(), nullable=True),
        sa.Column("max_retries", sa.Integer(), nullable=False),
        sa.Column("retry_delay_seconds", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("updated_at", sa.DateTime(), nullable=False),
        sa.CheckConstraint(
            "(interval_seconds IS NULL) <> (cron_expression IS NULL)",
            name=op.f("ck_scheduled_jobs_one_schedule"),
        ),
        sa.ForeignKeyConstraint(
            ["feed_id"],
            ["feeds.id"],
            name=op.f("fk_scheduled_jobs_feed_id_feeds"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["store_id"],
            ["stores.id"],
            name=op.f("fk_scheduled_jobs_store_id_stores"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_scheduled_jobs")),
    )
    with op.batch_alter_table("scheduled_jobs", schema=None) as batch_op:
        batch_op.create_index("uq_scheduled_jobs_feed", ["feed_id"], unique=True)
        batch_op.create_index(
            "uq_scheduled_jobs_global_type",
            ["job_type"],
            unique=True,
            sqlite_where=sa.text("feed_id IS NULL"),
            postgresql_where=sa.text("feed_id IS NULL"),
        )

    with op.batch_alter_table("marketplace_import_jobs", schema=None) as batch_op:
        batch_op.add_column(sa.Column("feed_id", sa.Integer(), nullable=True))
        batch_op.create_foreign_key(
            batch_op.f("fk_marketplace_import_jobs_feed_id_feeds"),
            "feeds",
            ["feed_id"],
            ["id"],
            ondelete="SET NULL",
        )
        batch_op.create_index("ix_runs_feed", ["feed_id", "id"], unique=False)
        batch_op.create_index("ix_runs_store_feed", ["store_id", "feed_id", "id"], unique=False)
        batch_op.create_index(
            "uq_runs_feed_active",
            ["feed_id"],
            unique=True,
            sqlite_where=sa.text("status IN ('pending', 'processing')"),
            postgresql_where=sa.text("status IN ('pending', 'processing')"),
        )

    _backfill()


def _backfill():
    conn = op.get_bind()
    now = datetime.now(UTC).replace(tzinfo=None)
    feeds = sa.table(
        "feeds",
        sa.column("id", sa.Integer),
        sa.column("store_id", sa.Integer),
        sa.column("account_id", sa.Integer),
        sa.column("kind", sa.String),
        sa.column("direction", sa.String),
        sa.column("enabled", sa.Boolean),
        sa.column("created_at", sa.DateTime),
        sa.column("updated_at", sa.DateTime),
    )
    jobs = sa.table(
        "scheduled_jobs",
        sa.column("feed_id", sa.Integer),
        sa.column("store_id", sa.Integer),
        sa.column("job_type", sa.String),
        sa.column("is_enabled", sa.Boolean),
        sa.column("interval_seconds", sa.Integer),
        sa.column("cron_expression", sa.String),
        sa.column("max_retries", sa.Integer),
        sa.column("retry_delay_seconds", sa.Integer),
        sa.column("created_at", sa.DateTime),
        sa.column("updated_at", sa.DateTime),
    )

    def add(store_id, account_id, kind, spec):
        direction, enabled, interval, cron = spec
        feed_id = conn.execute(
            sa.insert(feeds)
            .values(
                store_id=store_id,
                account_id=account_id,
                kind=kind,
                direction=direction,
                enabled=enabled,
                created_at=now,
                updated_at=now,
            )
            .returning(feeds.c.id)
        ).scalar_one()
        conn.execute(
            sa.insert(jobs).values(
                feed_id=feed_id,
                store_id=store_id,
                job_type="feed",
                is_enabled=True,
                interval_seconds=interval,
                cron_expression=cron,
                max_retries=3,
                retry_delay_seconds=60,
                created_at=now,
                updated_at=now,
            )
        )

    for (store_id,) in conn.execute(sa.text("SELECT id FROM stores ORDER BY id")).all():
        for kind, spec in _STORE_FEEDS.items():
            add(store_id, None, kind, spec)
    accounts = conn.execute(
        sa.text("SELECT id, store_id, connector FROM accounts ORDER BY id")
    ).all()
    for account_id, store_id, connector in accounts:
        for kind, spec in _CONNECTOR_FEEDS.get(connector, {}).items():
            add(store_id, account_id, kind, spec)
    for job_type, (interval, cron) in _GLOBAL_JOBS.items():
        conn.execute(
            sa.insert(jobs).values(
                feed_id=None,
                store_id=None,
                job_type=job_type,
                is_enabled=True,
                interval_seconds=interval,
                cron_expression=cron,
                max_retries=3,
                retry_delay_seconds=60,
                created_at=now,
                updated_at=now,
            )
        )


def downgrade():
    with op.batch_alter_table("marketplace_import_jobs", schema=None) as batch_op:
        batch_op.drop_index("uq_runs_feed_active")
        batch_op.drop_index("ix_runs_store_feed")
        batch_op.drop_index("ix_runs_feed")
        batch_op.drop_constraint(
            batch_op.f("fk_marketplace_import_jobs_feed_id_feeds"), type_="foreignkey"
        )
        batch_op.drop_column("feed_id")
    op.drop_table("scheduled_jobs")
    op.drop_table("feeds")
