"""digital_pre_orders: keys bought as pre-orders, waiting for the supplier to deliver them

Revision ID: 0029_digital
Revises: 0024_digital_keys
Create Date: 2026-12-06 22:30:00

See ``webapp/models/digital.py``. Self-contained: the coordinator may rechain down_revision.
"""

import sqlalchemy as sa
from alembic import op

revision = "0029_digital"
down_revision = "0028_mail"
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        "digital_pre_orders",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column(
            "store_id", sa.Integer(), sa.ForeignKey("stores.id", ondelete="CASCADE"), nullable=False
        ),
        sa.Column(
            "account_id",
            sa.Integer(),
            sa.ForeignKey("accounts.id", ondelete="CASCADE"),
            nullable=False,
        ),
        sa.Column(
            "order_item_id",
            sa.Integer(),
            sa.ForeignKey("order_items.id", ondelete="CASCADE"),
            nullable=False,
        ),
        sa.Column("supplier_order_ref", sa.String(64), nullable=False),
        sa.Column("code_id", sa.String(255), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("checked_at", sa.DateTime()),
        sa.Column("resolved_at", sa.DateTime()),
        sa.UniqueConstraint("account_id", "code_id", name="uq_digital_pre_orders_code"),
    )
    op.create_index("ix_digital_pre_orders_order_item_id", "digital_pre_orders", ["order_item_id"])
    op.create_index(
        "ix_digital_pre_orders_waiting",
        "digital_pre_orders",
        ["account_id", "id"],
        postgresql_where=sa.text("resolved_at IS NULL"),
        sqlite_where=sa.text("resolved_at IS NULL"),
    )


def downgrade():
    op.drop_table("digital_pre_orders")
