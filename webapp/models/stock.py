"""Stock: what a store holds per SKU and warehouse, every change to it, and the rules by which
each account is told what it may sell.

- ``warehouses``: a store's places of stock; exactly one is its default (created with the
  store's first stock), more can be added.
- ``stock_levels``: per (store, SKU, warehouse) the quantity ``on_hand`` and the quantity
  ``reserved`` by booked orders not yet shipped or cancelled. The SKU is the catalog's
  (``marketplace_products.marketplace_product_id``), or an order line's own when no product
  of the catalog matched it yet.
- ``stock_movements``: every change, with its reason and what caused it (order item,
  fulfilment event, order action, run, user). Order movements are written once per cause:
  partial unique indexes on the reservation per order item, the release per order item, the
  consumption per fulfilment event and the restock per (refund action, item) make every
  order event idempotent - a re-poll, a status flap or two workers insert nothing the
  second time (``ON CONFLICT DO NOTHING``), and only an inserted movement moves the level.
- ``inventory_sync_configs`` (seed 001 4.3), one per account: safety stock, out-of-stock
  threshold, whether zero stock is sent (``zero_stock`` send|hold), the push strategy
  (realtime|scheduled|manual), and its last sync.
- ``store_stock_settings``: whether the store's product feed is its stock source, and whether
  a refund after shipping puts the quantity back on hand.
"""

from __future__ import annotations

from webapp.extensions import db
from webapp.models.base import TimestampMixin, utcnow

DEFAULT_WAREHOUSE = "default"

# Movement reasons
FEED_IMPORT = "feed_import"
STOCK_FILE = "stock_file"
MANUAL = "manual"
ORDER_RESERVED = "order_reserved"
ORDER_SHIPPED = "order_shipped"
ORDER_CANCELLED = "order_cancelled"
ORDER_REFUNDED = "order_refunded"
REASONS = (
    FEED_IMPORT,
    STOCK_FILE,
    MANUAL,
    ORDER_RESERVED,
    ORDER_SHIPPED,
    ORDER_CANCELLED,
    ORDER_REFUNDED,
)

# Zero-stock rule (seed: sync_zero_stock true/false) and push strategies.
ZERO_SEND = "send"
ZERO_HOLD = "hold"
ZERO_STOCK_RULES = (ZERO_SEND, ZERO_HOLD)
REALTIME = "realtime"
SCHEDULED = "scheduled"
MANUAL_STRATEGY = "manual"
STRATEGIES = (REALTIME, SCHEDULED, MANUAL_STRATEGY)

CLOSED_ITEM = (
    "fulfilment_event_id IS NULL AND order_action_id IS NULL "
    "AND reason IN ('order_shipped', 'order_cancelled')"
)


class Warehouse(TimestampMixin, db.Model):
    __tablename__ = "warehouses"

    id = db.Column(db.Integer, primary_key=True)
    store_id = db.Column(db.Integer, db.ForeignKey("stores.id", ondelete="CASCADE"), nullable=False)
    code = db.Column(db.String(64), nullable=False)
    name = db.Column(db.String(255), nullable=False)
    is_default = db.Column(db.Boolean, nullable=False, default=False)

    __table_args__ = (
        db.UniqueConstraint("store_id", "code", name="uq_warehouses_store_code"),
        db.Index(
            "ux_warehouses_store_default",
            "store_id",
            unique=True,
            postgresql_where=db.text("is_default"),
            sqlite_where=db.text("is_default"),
        ),
    )


class StockLevel(db.Model):
    __tablename__ = "stock_levels"

    id = db.Column(db.Integer, primary_key=True)
    store_id = db.Column(db.Integer, db.ForeignKey("stores.id", ondelete="CASCADE"), nullable=False)
    # Code-point order on PostgreSQL whatever the database's collation (migration 0021): the
    # stock streams in SKU order (webapp.stock.availability.iter_available).
    sku = db.Column(
        db.String(255).with_variant(db.String(255, collation="C"), "postgresql"), nullable=False
    )
    warehouse_id = db.Column(
        db.Integer, db.ForeignKey("warehouses.id", ondelete="CASCADE"), nullable=False
    )
    on_hand = db.Column(db.Integer, nullable=False, default=0)
    reserved = db.Column(db.Integer, nullable=False, default=0)
    updated_at = db.Column(db.DateTime, nullable=False, default=utcnow)

    warehouse = db.relationship(Warehouse)

    __table_args__ = (
        # Also the SKU order of a store's stock (keyset pages, the availability batches).
        db.UniqueConstraint("store_id", "sku", "warehouse_id", name="uq_stock_levels_store_sku"),
        # The newest change of a store's stock, and what changed since (migration 0026).
        db.Index("ix_stock_levels_store_updated", "store_id", "updated_at"),
    )


class StockMovement(db.Model):
    __tablename__ = "stock_movements"

    id = db.Column(db.Integer, primary_key=True)
    store_id = db.Column(db.Integer, db.ForeignKey("stores.id", ondelete="CASCADE"), nullable=False)
    sku = db.Column(db.String(255), nullable=False)
    warehouse_id = db.Column(
        db.Integer, db.ForeignKey("warehouses.id", ondelete="CASCADE"), nullable=False
    )
    reason = db.Column(db.String(32), nullable=False)
    on_hand_delta = db.Column(db.Integer, nullable=False, default=0)
    reserved_delta = db.Column(db.Integer, nullable=False, default=0)
    order_item_id = db.Column(
        db.Integer, db.ForeignKey("order_items.id", ondelete="SET NULL"), index=True
    )
    fulfilment_event_id = db.Column(
        db.Integer, db.ForeignKey("fulfilment_events.id", ondelete="SET NULL")
    )
    order_action_id = db.Column(db.Integer, db.ForeignKey("order_actions.id", ondelete="SET NULL"))
    run_id = db.Column(
        db.Integer, db.ForeignKey("marketplace_import_jobs.id", ondelete="SET NULL"), index=True
    )
    user_id = db.Column(db.Integer, db.ForeignKey("users.id", ondelete="SET NULL"))
    actor = db.Column(db.String(255))  # who: a user's e-mail, "cli", "api:<token>", "system"
    note = db.Column(db.Text)
    created_at = db.Column(db.DateTime, nullable=False, default=utcnow)

    warehouse = db.relationship(Warehouse)

    __table_args__ = (
        db.Index("ix_stock_movements_store_sku", "store_id", "sku", "id"),
        # Once per order item / fulfilment event / refund of an item: the idempotency keys.
        db.Index(
            "ux_stock_movements_reserved_item",
            "order_item_id",
            unique=True,
            postgresql_where=db.text("reason = 'order_reserved'"),
            sqlite_where=db.text("reason = 'order_reserved'"),
        ),
        # An order's status (shipped or cancelled on the marketplace) closes an item once.
        db.Index(
            "ux_stock_movements_closed_item",
            "order_item_id",
            unique=True,
            postgresql_where=db.text(CLOSED_ITEM),
            sqlite_where=db.text(CLOSED_ITEM),
        ),
        db.Index(
            "ux_stock_movements_event",
            "fulfilment_event_id",
            unique=True,
            postgresql_where=db.text("fulfilment_event_id IS NOT NULL"),
            sqlite_where=db.text("fulfilment_event_id IS NOT NULL"),
        ),
        db.Index(
            "ux_stock_movements_refund",
            "order_action_id",
            "order_item_id",
            unique=True,
            postgresql_where=db.text("reason = 'order_refunded'"),
            sqlite_where=db.text("reason = 'order_refunded'"),
        ),
    )


class InventorySyncConfig(TimestampMixin, db.Model):
    """An account's stock rules and push strategy (seed 001 4.3, one per account)."""

    __tablename__ = "inventory_sync_configs"

    id = db.Column(db.Integer, primary_key=True)
    store_id = db.Column(db.Integer, db.ForeignKey("stores.id", ondelete="CASCADE"), nullable=False)
    account_id = db.Column(
        db.Integer, db.ForeignKey("accounts.id", ondelete="CASCADE"), nullable=False, unique=True
    )
    is_enabled = db.Column(db.Boolean, nullable=False, default=True)
    sync_strategy = db.Column(db.String(16), nullable=False, default=SCHEDULED)
    sync_interval_minutes = db.Column(db.Integer, nullable=False, default=15)
    safety_stock = db.Column(db.Integer, nullable=False, default=0)
    out_of_stock_threshold = db.Column(db.Integer, nullable=False, default=0)
    zero_stock = db.Column(db.String(8), nullable=False, default=ZERO_SEND)
    last_sync_at = db.Column(db.DateTime)
    last_sync_status = db.Column(db.String(32))
    last_sync_error = db.Column(db.Text)
    items_synced_count = db.Column(db.Integer, nullable=False, default=0)

    __table_args__ = (
        db.CheckConstraint("safety_stock >= 0", name="safety_stock_positive"),
        db.CheckConstraint("out_of_stock_threshold >= 0", name="threshold_positive"),
        db.CheckConstraint("zero_stock IN ('send', 'hold')", name="zero_stock_rule"),
        db.CheckConstraint("sync_strategy IN ('realtime', 'scheduled', 'manual')", name="strategy"),
    )

    def as_dict(self) -> dict:
        return {
            "account_id": self.account_id,
            "safety_stock": self.safety_stock,
            "oos_threshold": self.out_of_stock_threshold,
            "zero_stock": self.zero_stock,
            "strategy": self.sync_strategy,
            "interval_minutes": self.sync_interval_minutes,
            "enabled": self.is_enabled,
            "last_sync_at": self.last_sync_at.isoformat() if self.last_sync_at else None,
            "last_sync_status": self.last_sync_status,
        }


class StoreStockSettings(db.Model):
    __tablename__ = "store_stock_settings"

    store_id = db.Column(
        db.Integer, db.ForeignKey("stores.id", ondelete="CASCADE"), primary_key=True
    )
    # The product feed's quantity column sets on hand in the default warehouse.
    feed_is_stock_source = db.Column(db.Boolean, nullable=False, default=False)
    # A refund of a shipped line puts its quantity back on hand.
    restock_on_refund = db.Column(db.Boolean, nullable=False, default=False)
    # The stock file the scheduled "import stock" feed reads: masked to show, the real URL
    # encrypted when it carries credentials (as a run's source).
    stock_file_url = db.Column(db.Text)
    stock_file_secret = db.Column(db.Text)
    updated_at = db.Column(db.DateTime, nullable=False, default=utcnow, onupdate=utcnow)
