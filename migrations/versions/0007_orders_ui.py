"""orders pages: arrival index, per-user "orders seen at"

Revision ID: 0007_orders_ui
Revises: 0004_accounts_orders
Create Date: 2026-11-22 15:00:00.000000

* ``orders (store_id, created_at, id)``: the orders page lists a store's orders newest
  arrival first (created_at, then id) and pages on the id from this index alone; the
  notification bell counts a store's orders that arrived after a moment with one range
  scan of it instead of reading every order of the store.
* ``users.orders_seen_at``: when the user last opened the orders page (the bell counts
  what arrived since). Null until the first visit.
"""

from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = "0007_orders_ui"
down_revision = "0004_accounts_orders"
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table("orders", schema=None) as batch_op:
        batch_op.create_index(
            "ix_orders_store_created", ["store_id", "created_at", "id"], unique=False
        )
    with op.batch_alter_table("users", schema=None) as batch_op:
        batch_op.add_column(sa.Column("orders_seen_at", sa.DateTime(), nullable=True))


def downgrade():
    with op.batch_alter_table("users", schema=None) as batch_op:
        batch_op.drop_column("orders_seen_at")
    with op.batch_alter_table("orders", schema=None) as batch_op:
        batch_op.drop_index("ix_orders_store_created")
