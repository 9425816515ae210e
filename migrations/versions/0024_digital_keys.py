"""digital_keys and digital_key_reveals: a store's key pool and bought keys, each given once;
order_items.is_digital, supplier_product_id, key_state

Revision ID: 0024_digital_keys
Revises: 0023_push_state
Create Date: 2026-12-06 22:00:00

See ``webapp/models/keys.py``. Self-contained: the coordinator may rechain ``down_revision``.
"""

import sqlalchemy as sa
from alembic import op

revision = "0024_digital_keys"
down_revision = "0023_push_state"
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        "digital_keys",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column(
            "store_id", sa.Integer(), sa.ForeignKey("stores.id", ondelete="CASCADE"), nullable=False
        ),
        sa.Column("sku", sa.String(255)),
        sa.Column("supplier_product_id", sa.String(255)),
        sa.Column("source", sa.String(16), nullable=False),
        sa.Column("code_type", sa.String(8), nullable=False),
        sa.Column("code_encrypted", sa.Text(), nullable=False),
        sa.Column("image_filename", sa.String(255)),
        sa.Column("fingerprint", sa.String(64), nullable=False),
        sa.Column("expires_at", sa.DateTime()),
        sa.Column(
            "import_run_id",
            sa.Integer(),
            sa.ForeignKey("marketplace_import_jobs.id", ondelete="SET NULL"),
        ),
        sa.Column("supplier_order_ref", sa.String(64)),
        sa.Column(
            "order_item_id", sa.Integer(), sa.ForeignKey("order_items.id", ondelete="SET NULL")
        ),
        sa.Column("assigned_at", sa.DateTime()),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("updated_at", sa.DateTime(), nullable=False),
        sa.UniqueConstraint("store_id", "fingerprint", name="uq_digital_keys_store_fingerprint"),
    )
    op.create_index("ix_digital_keys_order_item_id", "digital_keys", ["order_item_id"])
    for name, column in (("sku", "sku"), ("supplier", "supplier_product_id")):
        op.create_index(
            f"ix_digital_keys_free_{name}",
            "digital_keys",
            ["store_id", column, "id"],
            postgresql_where=sa.text("assigned_at IS NULL"),
            sqlite_where=sa.text("assigned_at IS NULL"),
        )
    op.create_table(
        "digital_key_reveals",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column(
            "key_id",
            sa.Integer(),
            sa.ForeignKey("digital_keys.id", ondelete="CASCADE"),
            nullable=False,
        ),
        sa.Column("user_id", sa.Integer(), sa.ForeignKey("users.id", ondelete="SET NULL")),
        sa.Column("revealed_by", sa.String(255), nullable=False),
        sa.Column("revealed_at", sa.DateTime(), nullable=False),
    )
    op.create_index("ix_digital_key_reveals_key_id", "digital_key_reveals", ["key_id"])
    with op.batch_alter_table("order_items") as batch:
        batch.add_column(
            sa.Column("is_digital", sa.Boolean(), nullable=False, server_default=sa.false())
        )
        batch.add_column(sa.Column("supplier_product_id", sa.String(255)))
        batch.add_column(
            sa.Column("key_state", sa.String(16), nullable=False, server_default="none")
        )


def downgrade():
    with op.batch_alter_table("order_items") as batch:
        batch.drop_column("key_state")
        batch.drop_column("supplier_product_id")
        batch.drop_column("is_digital")
    op.drop_table("digital_key_reveals")
    op.drop_table("digital_keys")
