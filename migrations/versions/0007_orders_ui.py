"""orders pages: list, search and bell indexes; per-user "orders seen at"

Revision ID: 0007_orders_ui
Revises: 0006_feeds
Create Date: 2026-11-22 15:00:00.000000

bench/orders_pages.py measures the pages with 100,000 orders of one store.

* ``ix_orders_store_ordered`` becomes ``(store_id, ordered_at, id)`` (was without ``id``):
  the orders page lists newest order first with the id as tie-break and pages id-first,
  so a deep page is an index-only scan instead of a sort of the store's orders.
* ``ix_orders_store_created (store_id, created_at)``: the bell counts the orders that
  arrived after a moment with one short range scan.
* PostgreSQL only: ``ix_orders_search``, a trigram (pg_trgm) GIN index on the text a search
  looks into (``webapp.orders.queries.search_text``: channel order id, customer name and
  email, lower-cased), so "contains" searches read only the matching orders.  Where the
  pg_trgm extension cannot be created (no privilege), the index is skipped with a warning
  and searches scan the store's orders instead.
* ``users.orders_seen_at``: when the user last opened the orders page. Null until then.
"""

import logging

from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = "0007_orders_ui"
down_revision = "0006_feeds"
branch_labels = None
depends_on = None

log = logging.getLogger("alembic.runtime.migration")

# Exactly the expression webapp.orders.queries.search_text() renders.
SEARCH_TEXT = (
    "lower(coalesce(channel_order_id, '') || ' ' || coalesce(customer_name, '') || ' ' "
    "|| coalesce(customer_email, ''))"
)


def upgrade():
    with op.batch_alter_table("orders", schema=None) as batch_op:
        batch_op.drop_index("ix_orders_store_ordered")
    with op.batch_alter_table("orders", schema=None) as batch_op:
        batch_op.create_index(
            "ix_orders_store_ordered", ["store_id", "ordered_at", "id"], unique=False
        )
        batch_op.create_index("ix_orders_store_created", ["store_id", "created_at"], unique=False)
    with op.batch_alter_table("users", schema=None) as batch_op:
        batch_op.add_column(sa.Column("orders_seen_at", sa.DateTime(), nullable=True))

    bind = op.get_bind()
    if bind.dialect.name == "postgresql":
        try:
            with bind.begin_nested():
                bind.execute(sa.text("CREATE EXTENSION IF NOT EXISTS pg_trgm"))
        except sa.exc.DBAPIError as exc:
            log.warning("pg_trgm unavailable (%s): orders search runs without its index", exc)
            return
        op.execute(
            f"CREATE INDEX ix_orders_search ON orders USING gin (({SEARCH_TEXT}) gin_trgm_ops)"
        )


def downgrade():
    bind = op.get_bind()
    if bind.dialect.name == "postgresql":  # in this schema only, not one further down the path
        here = bind.exec_driver_sql("SELECT current_schema()").scalar()
        op.execute(
            f"DROP INDEX IF EXISTS {bind.dialect.identifier_preparer.quote(here)}.ix_orders_search"
        )
    else:
        op.execute("DROP INDEX IF EXISTS ix_orders_search")
    with op.batch_alter_table("users", schema=None) as batch_op:
        batch_op.drop_column("orders_seen_at")
    with op.batch_alter_table("orders", schema=None) as batch_op:
        batch_op.drop_index("ix_orders_store_created")
        batch_op.drop_index("ix_orders_store_ordered")
    with op.batch_alter_table("orders", schema=None) as batch_op:
        batch_op.create_index("ix_orders_store_ordered", ["store_id", "ordered_at"], unique=False)
