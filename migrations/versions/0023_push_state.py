"""push_states: what a marketplace last acknowledged of each SKU, per account

Revision ID: 0023_push_state
Revises: 0022_catalog_feed
Create Date: 2026-12-06 20:00:00

* ``push_states`` (account_id, sku) -> the last acknowledged quantity and price, sale price
  and currency, with when each was acknowledged. A stock or price push sends only the SKUs
  whose value differs from it (``webapp.pushes``); a successful outbound call moves it.
  Self-contained: the coordinator may rechain ``down_revision``.
"""

import sqlalchemy as sa
from alembic import op

revision = "0023_push_state"
down_revision = "0022_catalog_feed"
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        "push_states",
        sa.Column(
            "account_id",
            sa.Integer(),
            sa.ForeignKey("accounts.id", ondelete="CASCADE"),
            primary_key=True,
        ),
        sa.Column("sku", sa.String(255), primary_key=True),
        sa.Column("quantity", sa.Integer()),
        sa.Column("stock_acked_at", sa.DateTime()),
        sa.Column("price", sa.Numeric(14, 4)),
        sa.Column("sale_price", sa.Numeric(14, 4)),
        sa.Column("currency", sa.String(3)),
        sa.Column("price_acked_at", sa.DateTime()),
    )


def downgrade():
    op.drop_table("push_states")
