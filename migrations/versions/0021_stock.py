"""stock: warehouses, stock levels, stock movements, per-account stock rules, store settings

Revision ID: 0021_stock
Revises: 0020_orders_to_ship
Create Date: 2026-12-06 19:30:00

``warehouses`` (one default per store); ``stock_levels`` per (store, SKU, warehouse) with
``on_hand`` and ``reserved``; ``stock_movements``, every change with its reason and cause,
with partial unique indexes that make each order event move the stock once (the reservation
per order item, its closing by the order's status, the consumption per fulfilment event, the
restock per refund action and item); ``inventory_sync_configs`` (seed 001 4.3, one per
account); ``store_stock_settings``. Self-contained: only new tables. The downgrade drops them.
"""

import sqlalchemy as sa
from alembic import op

revision = "0021_stock"
down_revision = "0020_orders_to_ship"
branch_labels = None
depends_on = None


def _now():
    return sa.Column("created_at", sa.DateTime(), nullable=False)


def upgrade():
    op.create_table(
        "warehouses",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("store_id", sa.Integer(), nullable=False),
        sa.Column("code", sa.String(length=64), nullable=False),
        sa.Column("name", sa.String(length=255), nullable=False),
        sa.Column("is_default", sa.Boolean(), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("updated_at", sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["store_id"], ["stores.id"], name="fk_warehouses_store_id_stores", ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name="pk_warehouses"),
        sa.UniqueConstraint("store_id", "code", name="uq_warehouses_store_code"),
    )
    op.create_index(
        "ux_warehouses_store_default",
        "warehouses",
        ["store_id"],
        unique=True,
        postgresql_where=sa.text("is_default"),
        sqlite_where=sa.text("is_default"),
    )
    op.create_table(
        "stock_levels",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("store_id", sa.Integer(), nullable=False),
        # Code-point order on PostgreSQL whatever the database's collation: the stock is
        # streamed in SKU order and merge-joined by the catalog feed (binary on SQLite).
        sa.Column(
            "sku",
            sa.String(length=255).with_variant(sa.String(length=255, collation="C"), "postgresql"),
            nullable=False,
        ),
        sa.Column("warehouse_id", sa.Integer(), nullable=False),
        sa.Column("on_hand", sa.Integer(), nullable=False),
        sa.Column("reserved", sa.Integer(), nullable=False),
        sa.Column("updated_at", sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["store_id"], ["stores.id"], name="fk_stock_levels_store_id_stores", ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["warehouse_id"],
            ["warehouses.id"],
            name="fk_stock_levels_warehouse_id_warehouses",
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name="pk_stock_levels"),
        sa.UniqueConstraint("store_id", "sku", "warehouse_id", name="uq_stock_levels_store_sku"),
    )
    op.create_table(
        "stock_movements",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("store_id", sa.Integer(), nullable=False),
        sa.Column("sku", sa.String(length=255), nullable=False),
        sa.Column("warehouse_id", sa.Integer(), nullable=False),
        sa.Column("reason", sa.String(length=32), nullable=False),
        sa.Column("on_hand_delta", sa.Integer(), nullable=False),
        sa.Column("reserved_delta", sa.Integer(), nullable=False),
        sa.Column("order_item_id", sa.Integer(), nullable=True),
        sa.Column("fulfilment_event_id", sa.Integer(), nullable=True),
        sa.Column("order_action_id", sa.Integer(), nullable=True),
        sa.Column("run_id", sa.Integer(), nullable=True),
        sa.Column("user_id", sa.Integer(), nullable=True),
        sa.Column("actor", sa.String(length=255), nullable=True),
        sa.Column("note", sa.Text(), nullable=True),
        _now(),
        sa.ForeignKeyConstraint(
            ["store_id"],
            ["stores.id"],
            name="fk_stock_movements_store_id_stores",
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["warehouse_id"],
            ["warehouses.id"],
            name="fk_stock_movements_warehouse_id_warehouses",
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["order_item_id"],
            ["order_items.id"],
            name="fk_stock_movements_order_item_id_order_items",
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["fulfilment_event_id"],
            ["fulfilment_events.id"],
            name="fk_stock_movements_fulfilment_event_id_fulfilment_events",
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["order_action_id"],
            ["order_actions.id"],
            name="fk_stock_movements_order_action_id_order_actions",
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["run_id"],
            ["marketplace_import_jobs.id"],
            name="fk_stock_movements_run_id_marketplace_import_jobs",
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.id"], name="fk_stock_movements_user_id_users", ondelete="SET NULL"
        ),
        sa.PrimaryKeyConstraint("id", name="pk_stock_movements"),
    )
    op.create_index("ix_stock_movements_store_sku", "stock_movements", ["store_id", "sku", "id"])
    op.create_index("ix_stock_movements_order_item_id", "stock_movements", ["order_item_id"])
    op.create_index("ix_stock_movements_run_id", "stock_movements", ["run_id"])
    for name, columns, where in (
        ("ux_stock_movements_reserved_item", ["order_item_id"], "reason = 'order_reserved'"),
        (
            "ux_stock_movements_closed_item",
            ["order_item_id"],
            "fulfilment_event_id IS NULL AND order_action_id IS NULL "
            "AND reason IN ('order_shipped', 'order_cancelled')",
        ),
        ("ux_stock_movements_event", ["fulfilment_event_id"], "fulfilment_event_id IS NOT NULL"),
        (
            "ux_stock_movements_refund",
            ["order_action_id", "order_item_id"],
            "reason = 'order_refunded'",
        ),
    ):
        op.create_index(
            name,
            "stock_movements",
            columns,
            unique=True,
            postgresql_where=sa.text(where),
            sqlite_where=sa.text(where),
        )
    op.create_table(
        "inventory_sync_configs",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("store_id", sa.Integer(), nullable=False),
        sa.Column("account_id", sa.Integer(), nullable=False),
        sa.Column("is_enabled", sa.Boolean(), nullable=False),
        sa.Column("sync_strategy", sa.String(length=16), nullable=False),
        sa.Column("sync_interval_minutes", sa.Integer(), nullable=False),
        sa.Column("safety_stock", sa.Integer(), nullable=False),
        sa.Column("out_of_stock_threshold", sa.Integer(), nullable=False),
        sa.Column("zero_stock", sa.String(length=8), nullable=False),
        sa.Column("last_sync_at", sa.DateTime(), nullable=True),
        sa.Column("last_sync_status", sa.String(length=32), nullable=True),
        sa.Column("last_sync_error", sa.Text(), nullable=True),
        sa.Column("items_synced_count", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("updated_at", sa.DateTime(), nullable=False),
        sa.CheckConstraint(
            "safety_stock >= 0", name="ck_inventory_sync_configs_safety_stock_positive"
        ),
        sa.CheckConstraint(
            "out_of_stock_threshold >= 0", name="ck_inventory_sync_configs_threshold_positive"
        ),
        sa.CheckConstraint(
            "zero_stock IN ('send', 'hold')", name="ck_inventory_sync_configs_zero_stock_rule"
        ),
        sa.CheckConstraint(
            "sync_strategy IN ('realtime', 'scheduled', 'manual')",
            name="ck_inventory_sync_configs_strategy",
        ),
        sa.ForeignKeyConstraint(
            ["store_id"],
            ["stores.id"],
            name="fk_inventory_sync_configs_store_id_stores",
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["account_id"],
            ["accounts.id"],
            name="fk_inventory_sync_configs_account_id_accounts",
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name="pk_inventory_sync_configs"),
        sa.UniqueConstraint("account_id", name="uq_inventory_sync_configs_account_id"),
    )
    op.create_table(
        "store_stock_settings",
        sa.Column("store_id", sa.Integer(), nullable=False),
        sa.Column("feed_is_stock_source", sa.Boolean(), nullable=False),
        sa.Column("restock_on_refund", sa.Boolean(), nullable=False),
        sa.Column("stock_file_url", sa.Text(), nullable=True),
        sa.Column("stock_file_secret", sa.Text(), nullable=True),
        sa.Column("updated_at", sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["store_id"],
            ["stores.id"],
            name="fk_store_stock_settings_store_id_stores",
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("store_id", name="pk_store_stock_settings"),
    )


def downgrade():
    op.drop_table("store_stock_settings")
    op.drop_table("inventory_sync_configs")
    op.drop_table("stock_movements")
    op.drop_table("stock_levels")
    op.drop_index("ux_warehouses_store_default", table_name="warehouses")
    op.drop_table("warehouses")
