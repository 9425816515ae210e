"""feeds whose flow is not built: disabled, and their past executions no longer "completed"

Revision ID: 0017_feeds_not_built
Revises: 0012_translation_range_check
Create Date: 2026-11-23 09:00:00

Until this revision a feed whose flow is not built (stock and price exports, the stock
check, the catalog export, shipping confirmations, the supplier catalog) could be enabled
and run: each execution ended "completed" with an info message, and monitoring counted it
as a success although nothing was read or sent.  Here:

* every such feed that is enabled is disabled, each one named in the migration's log
  (``flask db upgrade`` prints it); the app now refuses to enable or run them, and the
  reconcile never schedules them (it also turns off any that a later hand edit enables);
* their past executions become ``failed`` with ``kind = 'not_built'`` and an error message
  saying nothing was sent.  Monitoring counts a ``not_built`` run neither as a success nor
  as a failure.

The table of built flows is frozen here (``webapp.models.feeds.BUILT_FLOWS`` is the living
one).  The downgrade gives the executions their status and kind back; the feeds stay
disabled (turning them on again would only bring the false successes back).
"""

import logging
from datetime import UTC, datetime

import sqlalchemy as sa
from alembic import op

revision = "0017_feeds_not_built"
down_revision = "0016_going_live"
branch_labels = None
depends_on = None

log = logging.getLogger("alembic.runtime.migration")

# kind -> whose feed runs it ("store": no account, "account"), as built at this revision.
_BUILT = {
    "import_products": "store",
    "update_products": "store",
    "import_orders": "account",
    "update_orders": "account",
    "recheck_parked_orders": "account",
}
_LABELS = {
    "import_products": "Import products",
    "update_products": "Update products",
    "import_orders": "Import new orders",
    "update_orders": "Update orders",
    "recheck_parked_orders": "Recheck parked orders",
    "supplier_catalog": "Sync supplier catalog",
    "stock_export": "Stock level export",
    "stock_check": "Stock check",
    "price_export": "Price export",
    "shipping_confirmation": "Shipping confirmation",
    "catalog_export": "Catalog export",
}
NOT_BUILT = "not_built"

feeds = sa.table(
    "feeds",
    sa.column("id", sa.Integer),
    sa.column("store_id", sa.Integer),
    sa.column("account_id", sa.Integer),
    sa.column("kind", sa.String),
    sa.column("enabled", sa.Boolean),
    sa.column("updated_at", sa.DateTime),
)
runs = sa.table(
    "marketplace_import_jobs",
    sa.column("id", sa.Integer),
    sa.column("feed_id", sa.Integer),
    sa.column("kind", sa.String),
    sa.column("status", sa.String),
    sa.column("phase", sa.String),
    sa.column("error_message", sa.Text),
    sa.column("completed_at", sa.DateTime),
)
messages = sa.table(
    "marketplace_import_errors",
    sa.column("import_job_id", sa.Integer),
    sa.column("error_type", sa.String),
)


def _built(kind: str, account_id) -> bool:
    owner = _BUILT.get(kind)
    return owner is not None and (owner == "account") == (account_id is not None)


def _not_built_feeds(conn) -> list:
    rows = conn.execute(
        sa.select(feeds.c.id, feeds.c.store_id, feeds.c.account_id, feeds.c.kind, feeds.c.enabled)
    ).all()
    return [row for row in rows if not _built(row.kind, row.account_id)]


def upgrade():
    conn = op.get_bind()
    now = datetime.now(UTC).replace(tzinfo=None)
    stubs = _not_built_feeds(conn)
    for feed in stubs:
        label = _LABELS.get(feed.kind, feed.kind)
        if feed.enabled:
            conn.execute(
                feeds.update().where(feeds.c.id == feed.id).values(enabled=False, updated_at=now)
            )
            log.warning(
                "0017: disabled feed #%s (%s, store %s, account %s): its flow is not built, "
                "so it cannot be enabled or run",
                feed.id,
                label,
                feed.store_id,
                feed.account_id,
            )
        # Its executions said "completed" though nothing was read or sent.
        result = conn.execute(
            runs.update()
            .where(
                runs.c.feed_id == feed.id,
                runs.c.status.in_(("completed", "completed_with_errors")),
            )
            .values(
                kind=NOT_BUILT,
                status="failed",
                phase=None,
                error_message=(
                    f"{label} is not built: this execution read and sent nothing "
                    "(it was shown as completed before migration 0017)."
                ),
            )
        )
        if result.rowcount:
            log.warning(
                "0017: %s execution(s) of feed #%s (%s) marked failed, not built",
                result.rowcount,
                feed.id,
                label,
            )
    # Executions whose feed is gone but which said "not available yet" (the stub's message).
    said = sa.select(messages.c.import_job_id).where(messages.c.error_type == "not_available")
    conn.execute(
        runs.update()
        .where(
            runs.c.id.in_(said),
            runs.c.kind != NOT_BUILT,
            runs.c.status.in_(("completed", "completed_with_errors")),
        )
        .values(
            kind=NOT_BUILT,
            status="failed",
            phase=None,
            error_message="This flow is not built: this execution read and sent nothing.",
        )
    )


def downgrade():
    """Only the executions this revision changed (an execution the app itself refused later
    stays failed)."""
    conn = op.get_bind()
    feed_kind = sa.select(feeds.c.kind).where(feeds.c.id == runs.c.feed_id).scalar_subquery()
    said = sa.select(messages.c.import_job_id).where(messages.c.error_type == "not_available")
    conn.execute(
        runs.update()
        .where(
            runs.c.kind == NOT_BUILT,
            sa.or_(runs.c.error_message.like("%before migration 0017%"), runs.c.id.in_(said)),
        )
        .values(
            kind=sa.func.coalesce(feed_kind, runs.c.kind),
            status="completed",
            error_message=None,
        )
    )
