"""orders "to ship": the order lines with something left to ship

Revision ID: 0020_orders_to_ship
Revises: 0019_fulfilment
Create Date: 2026-12-06 19:15:00

* ``ix_order_items_to_ship``: ``order_items (order_id)`` where the line has something left
  to ship (quantity - shipped - cancelled > 0), a partial index. The orders list's "to ship"
  filter joins the store's orders in a shippable status to these lines; without it, its count
  read every line of every order (a sequential scan of ``order_items``, which grows with
  the whole order history), with it only the open lines, from the index alone. The
  condition is written as the query writes it (``webapp.orders.queries.to_ship_condition``):
  a partial index serves only a query whose WHERE contains its terms.
"""

import sqlalchemy as sa
from alembic import op

revision = "0020_orders_to_ship"
down_revision = "0019_fulfilment"
branch_labels = None
depends_on = None

OPEN_LINE = "quantity - shipped_quantity - cancelled_quantity > 0"


def upgrade():
    op.create_index(
        "ix_order_items_to_ship",
        "order_items",
        ["order_id"],
        postgresql_where=sa.text(OPEN_LINE),
        sqlite_where=sa.text(OPEN_LINE),
    )


def downgrade():
    op.drop_index("ix_order_items_to_ship", table_name="order_items")
