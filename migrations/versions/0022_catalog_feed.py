"""catalog feeds the hubs read: secret tokens per account, and the fetch records

Revision ID: 0022_catalog_feed
Revises: 0021_stock
Create Date: 2026-12-06 19:55:00

* ``catalog_feeds``: one row per account with a feed URL: the token's SHA-256 (unique, the
  public route's look-up) and the token encrypted (shown back to its store), the format of
  the URL without a suffix, and when and by whom it was last rotated.
* ``catalog_feed_fetches``: every fetch (when, IP, user agent, status, rows, bytes, gzip,
  duration), read newest first per account.
* ``ix_products_store_updated`` and ``ix_marketplace_products_store_updated``: the feed's
  ETag and Last-Modified take max(updated_at) of a store's catalog from the index's end (one
  index probe each) instead of reading every row of a big store on every fetch.
"""

import sqlalchemy as sa
from alembic import op

revision = "0022_catalog_feed"
down_revision = "0021_stock"
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        "catalog_feeds",
        sa.Column(
            "account_id",
            sa.Integer(),
            sa.ForeignKey("accounts.id", ondelete="CASCADE"),
            primary_key=True,
        ),
        sa.Column(
            "store_id", sa.Integer(), sa.ForeignKey("stores.id", ondelete="CASCADE"), nullable=False
        ),
        sa.Column("token_hash", sa.String(64), nullable=False, unique=True),
        sa.Column("token_encrypted", sa.Text(), nullable=False),
        sa.Column("format", sa.String(8), nullable=False, server_default="csv"),
        sa.Column("language", sa.String(2)),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("rotated_at", sa.DateTime()),
        sa.Column("rotated_by", sa.String(255)),
    )
    op.create_table(
        "catalog_feed_fetches",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column(
            "account_id",
            sa.Integer(),
            sa.ForeignKey("accounts.id", ondelete="CASCADE"),
            nullable=False,
        ),
        sa.Column("fetched_at", sa.DateTime(), nullable=False),
        sa.Column("ip", sa.String(64)),
        sa.Column("user_agent", sa.String(255)),
        sa.Column("format", sa.String(8), nullable=False),
        sa.Column("status", sa.Integer(), nullable=False),
        sa.Column("complete", sa.Boolean(), nullable=False),
        sa.Column("gzip", sa.Boolean(), nullable=False),
        sa.Column("rows", sa.Integer(), nullable=False),
        sa.Column("bytes", sa.BigInteger(), nullable=False),
        sa.Column("duration_ms", sa.Integer(), nullable=False),
    )
    op.create_index(
        "ix_catalog_feed_fetches_account_fetched",
        "catalog_feed_fetches",
        ["account_id", "fetched_at"],
    )
    op.create_index("ix_products_store_updated", "products", ["store_id", "updated_at"])
    op.create_index(
        "ix_marketplace_products_store_updated", "marketplace_products", ["store_id", "updated_at"]
    )


def downgrade():
    op.drop_index("ix_marketplace_products_store_updated", table_name="marketplace_products")
    op.drop_index("ix_products_store_updated", table_name="products")
    op.drop_index("ix_catalog_feed_fetches_account_fetched", table_name="catalog_feed_fetches")
    op.drop_table("catalog_feed_fetches")
    op.drop_table("catalog_feeds")
