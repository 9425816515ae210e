"""fulfilment: shipments, order actions, fulfilment events, quantities of order lines

Revision ID: 0019_fulfilment
Revises: 0018_feed_cursor
Create Date: 2026-12-08 10:00:00

``shipments`` (one per order and tracking) and their ``shipment_lines``; ``order_actions``
(ship, accept, refuse, cancel, refund... with their lines, arguments, state and the outbound
call that sends each); ``fulfilment_events`` (quantities shipped or cancelled, for the stock);
``order_items`` gain ``shipped_quantity``, ``cancelled_quantity`` and ``refunded_quantity``
(0 for the lines already booked). The downgrade drops them all.
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0019_fulfilment"
down_revision = "0018_feed_cursor"
branch_labels = None
depends_on = None

JSON = sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql")
QUANTITIES = ("shipped_quantity", "cancelled_quantity", "refunded_quantity")


def upgrade():
    # Plain ADD COLUMN on both back-ends (a batch copy of order_items would rebuild its
    # partial indexes and trip the foreign keys pointing at it).
    for name in QUANTITIES:
        op.add_column(
            "order_items", sa.Column(name, sa.Integer(), nullable=False, server_default="0")
        )
    op.create_table(
        "shipments",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("order_id", sa.Integer(), nullable=False),
        sa.Column("carrier", sa.String(length=64), nullable=True),
        sa.Column("carrier_name", sa.String(length=255), nullable=True),
        sa.Column("tracking_number", sa.String(length=255), nullable=True),
        sa.Column("tracking_url", sa.Text(), nullable=True),
        sa.Column("tracking_key", sa.Text(), nullable=False),
        sa.Column("shipped_at", sa.DateTime(), nullable=False),
        sa.Column("created_by", sa.String(length=255), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("updated_at", sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["order_id"], ["orders.id"], name="fk_shipments_order_id_orders", ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name="pk_shipments"),
        sa.UniqueConstraint("order_id", "tracking_key", name="uq_shipments_order_tracking"),
    )
    op.create_index("ix_shipments_order_id", "shipments", ["order_id"])
    op.create_table(
        "shipment_lines",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("shipment_id", sa.Integer(), nullable=False),
        sa.Column("order_item_id", sa.Integer(), nullable=False),
        sa.Column("quantity", sa.Integer(), nullable=False),
        sa.CheckConstraint("quantity > 0", name="ck_shipment_lines_quantity_positive"),
        sa.ForeignKeyConstraint(
            ["shipment_id"],
            ["shipments.id"],
            name="fk_shipment_lines_shipment_id_shipments",
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["order_item_id"],
            ["order_items.id"],
            name="fk_shipment_lines_order_item_id_order_items",
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name="pk_shipment_lines"),
    )
    op.create_index("ix_shipment_lines_shipment_id", "shipment_lines", ["shipment_id"])
    op.create_index("ix_shipment_lines_order_item_id", "shipment_lines", ["order_item_id"])
    op.create_table(
        "order_actions",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("store_id", sa.Integer(), nullable=False),
        sa.Column("order_id", sa.Integer(), nullable=False),
        sa.Column("account_id", sa.Integer(), nullable=False),
        sa.Column("type", sa.String(length=64), nullable=False),
        sa.Column("lines", JSON, nullable=False),
        sa.Column("arguments", JSON, nullable=False),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("outbound_call_id", sa.Integer(), nullable=True),
        sa.Column("shipment_id", sa.Integer(), nullable=True),
        sa.Column("created_by", sa.String(length=255), nullable=False),
        sa.Column("sent_at", sa.DateTime(), nullable=True),
        sa.Column("processed_at", sa.DateTime(), nullable=True),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("updated_at", sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["store_id"], ["stores.id"], name="fk_order_actions_store_id_stores", ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["order_id"], ["orders.id"], name="fk_order_actions_order_id_orders", ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["account_id"],
            ["accounts.id"],
            name="fk_order_actions_account_id_accounts",
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["outbound_call_id"],
            ["outbound_calls.id"],
            name="fk_order_actions_outbound_call_id_outbound_calls",
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["shipment_id"],
            ["shipments.id"],
            name="fk_order_actions_shipment_id_shipments",
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name="pk_order_actions"),
    )
    op.create_index("ix_order_actions_order_id", "order_actions", ["order_id"])
    op.create_index("ix_order_actions_outbound_call_id", "order_actions", ["outbound_call_id"])
    op.create_index("ix_order_actions_shipment_id", "order_actions", ["shipment_id"])
    op.create_index("ix_order_actions_account_state", "order_actions", ["account_id", "state"])
    op.create_table(
        "fulfilment_events",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("order_item_id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("quantity", sa.Integer(), nullable=False),
        sa.Column("at", sa.DateTime(), nullable=False),
        sa.Column("order_action_id", sa.Integer(), nullable=True),
        sa.CheckConstraint("quantity > 0", name="ck_fulfilment_events_quantity_positive"),
        sa.ForeignKeyConstraint(
            ["order_item_id"],
            ["order_items.id"],
            name="fk_fulfilment_events_order_item_id_order_items",
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["order_action_id"],
            ["order_actions.id"],
            name="fk_fulfilment_events_order_action_id_order_actions",
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name="pk_fulfilment_events"),
    )
    op.create_index("ix_fulfilment_events_order_item_id", "fulfilment_events", ["order_item_id"])
    op.create_index(
        "ix_fulfilment_events_order_action_id", "fulfilment_events", ["order_action_id"]
    )


def downgrade():
    op.drop_table("fulfilment_events")
    op.drop_table("order_actions")
    op.drop_table("shipment_lines")
    op.drop_table("shipments")
    for name in reversed(QUANTITIES):
        op.drop_column("order_items", name)
