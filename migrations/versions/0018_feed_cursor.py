"""each feed keeps its own cursor: accounts.last_sync_at moves onto the order-import feed

Revision ID: 0018_feed_cursor
Revises: 0017_feeds_not_built
Create Date: 2026-12-06 16:00:00

The order poll's cursor (its last successful sync) lived on the account, although stock,
prices and the catalog will each need their own.  ``feeds.last_sync_at`` is the feed's
cursor; the upgrade copies each account's value onto its ``import_orders`` feed and drops
the account's column.  The downgrade copies the order-import feed's cursor back onto the
account.
"""

import sqlalchemy as sa
from alembic import op

revision = "0018_feed_cursor"
down_revision = "0017_feeds_not_built"
branch_labels = None
depends_on = None


def upgrade():
    op.add_column("feeds", sa.Column("last_sync_at", sa.DateTime(), nullable=True))
    op.execute(
        "UPDATE feeds SET last_sync_at = (SELECT accounts.last_sync_at FROM accounts "
        "WHERE accounts.id = feeds.account_id) "
        "WHERE kind = 'import_orders' AND account_id IS NOT NULL"
    )
    # A plain DROP COLUMN (SQLite >= 3.35): a batch copy of accounts would trip its foreign keys.
    op.drop_column("accounts", "last_sync_at")


def downgrade():
    op.add_column("accounts", sa.Column("last_sync_at", sa.DateTime(), nullable=True))
    op.execute(
        "UPDATE accounts SET last_sync_at = (SELECT feeds.last_sync_at FROM feeds "
        "WHERE feeds.account_id = accounts.id AND feeds.kind = 'import_orders')"
    )
    op.drop_column("feeds", "last_sync_at")
