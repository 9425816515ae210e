"""The unified order book: orders from every channel, never duplicated.

An order is unique by (account, channel, channel order id) and written as an
upsert.  Lines and addresses are kept as first seen; later polls change the
status only, each change leaving an ``order_status_history`` entry.  Orders
not yet valid for fulfilment (not paid or authorised) wait in
``parked_orders`` until a recheck imports them or records their cancellation.
"""

from __future__ import annotations

from webapp.extensions import db
from webapp.models.base import JSONType, PayloadJSON, TimestampMixin, utcnow

# Unified statuses (seed 001, plus the acceptance step marketplaces such as Lengow have).
PENDING = "pending"
AWAITING_ACCEPTANCE = "awaiting_acceptance"
CONFIRMED = "confirmed"
PROCESSING = "processing"
READY_FOR_SHIPMENT = "ready_for_shipment"
SHIPPED = "shipped"
DELIVERED = "delivered"
FULFILLED = "fulfilled"
CANCELLED = "cancelled"
REFUNDED = "refunded"
PARTIALLY_REFUNDED = "partially_refunded"
ORDER_STATUSES = (
    PENDING,
    AWAITING_ACCEPTANCE,
    CONFIRMED,
    PROCESSING,
    READY_FOR_SHIPMENT,
    SHIPPED,
    DELIVERED,
    FULFILLED,
    CANCELLED,
    REFUNDED,
    PARTIALLY_REFUNDED,
)

MONEY = db.Numeric(14, 4)


class Order(TimestampMixin, db.Model):
    __tablename__ = "orders"

    id = db.Column(db.Integer, primary_key=True)
    store_id = db.Column(db.Integer, db.ForeignKey("stores.id", ondelete="CASCADE"), nullable=False)
    account_id = db.Column(
        db.Integer, db.ForeignKey("accounts.id", ondelete="RESTRICT"), nullable=False
    )
    channel = db.Column(db.String(64), nullable=False)  # marketplace code: amazon_fr, cdiscount...
    channel_order_id = db.Column(db.String(255), nullable=False)
    channel_order_url = db.Column(db.Text)
    marketplace_status = db.Column(db.String(64))
    status = db.Column(db.String(32), nullable=False, default=PENDING)

    customer_email = db.Column(db.String(255))
    customer_name = db.Column(db.String(255))
    customer_phone = db.Column(db.String(64))
    shipping_address = db.Column(JSONType)
    billing_address = db.Column(JSONType)
    anonymized = db.Column(db.Boolean, nullable=False, default=False)

    subtotal = db.Column(MONEY)
    shipping_cost = db.Column(MONEY)
    tax_amount = db.Column(MONEY)
    discount_amount = db.Column(MONEY)
    total = db.Column(MONEY)
    currency = db.Column(db.String(3))  # the account's currency
    original_total = db.Column(MONEY)
    original_currency = db.Column(db.String(3))  # the marketplace's, when it differs

    ordered_at = db.Column(db.DateTime)
    marketplace_updated_at = db.Column(db.DateTime)
    merchant_order_id = db.Column(db.String(64))
    acknowledged_at = db.Column(db.DateTime)  # the marketplace was told our order id
    raw = db.Column(PayloadJSON)  # the payload as received, for support

    items = db.relationship(
        "OrderItem",
        back_populates="order",
        cascade="all, delete-orphan",
        passive_deletes=True,
        order_by="OrderItem.id",
    )
    status_history = db.relationship(
        "OrderStatusHistory",
        cascade="all, delete-orphan",
        passive_deletes=True,
        order_by="OrderStatusHistory.id",
    )
    # What was done with the order (webapp/orders/fulfilment.py writes them).
    shipments = db.relationship("Shipment", order_by="Shipment.id", viewonly=True)
    actions = db.relationship("OrderAction", order_by="OrderAction.id", viewonly=True)

    __table_args__ = (
        db.UniqueConstraint(
            "account_id", "channel", "channel_order_id", name="uq_orders_account_channel_order"
        ),
        db.Index("ix_orders_store_status", "store_id", "status"),
        # The orders page (newest order first, id-first pages) and the bell (arrived since a
        # moment); PostgreSQL also has a trigram index for searches (migration 0007).
        db.Index("ix_orders_store_ordered", "store_id", "ordered_at", "id"),
        db.Index("ix_orders_store_created", "store_id", "created_at"),
    )

    # The merchant-order-id acknowledgement owed for this order (webapp.outbound), if any.
    ack_calls = db.relationship(
        "OutboundCall",
        primaryjoin="and_(OutboundCall.subject_type == 'order', "
        "foreign(OutboundCall.subject_id) == Order.id, "
        "OutboundCall.action == 'order.merchant_order_id')",
        viewonly=True,
    )

    @property
    def acknowledged(self) -> bool:
        return self.acknowledged_at is not None

    @property
    def ack_state(self) -> str:
        """acknowledged; pending, sending or failed (live: the ack step sends it); dry_run
        (test mode: recorded, sent if the account goes live and sends what is owed);
        discarded (discarded going live: never sent); not_applicable (the marketplace takes
        no merchant order id)."""
        if self.acknowledged_at is not None:
            return "acknowledged"
        calls = self.ack_calls
        return calls[0].status if calls else "not_applicable"


class OrderItem(db.Model):
    __tablename__ = "order_items"

    id = db.Column(db.Integer, primary_key=True)
    order_id = db.Column(
        db.Integer, db.ForeignKey("orders.id", ondelete="CASCADE"), nullable=False, index=True
    )
    product_id = db.Column(db.Integer, db.ForeignKey("products.id", ondelete="SET NULL"))
    channel_line_id = db.Column(db.String(255))
    sku = db.Column(db.String(255), index=True)
    product_name = db.Column(db.Text)
    gtin = db.Column(db.String(14))
    quantity = db.Column(db.Integer, nullable=False, default=1)
    unit_price = db.Column(MONEY)
    total = db.Column(MONEY)
    line_status = db.Column(db.String(64))  # the marketplace's status of this line
    # What became of the quantity (webapp/orders/fulfilment.py): shipped + cancelled never
    # exceed ``quantity``; refunded never exceeds it either.
    shipped_quantity = db.Column(db.Integer, nullable=False, default=0, server_default="0")
    cancelled_quantity = db.Column(db.Integer, nullable=False, default=0, server_default="0")
    refunded_quantity = db.Column(db.Integer, nullable=False, default=0, server_default="0")
    # The catalog product the line is for (imported, published or not), found by SKU (the
    # product's id) and then by GTIN; ``product_id`` is the store's published product, when
    # there is one. False ``matched``: no product of the catalog has this SKU or GTIN yet; the
    # order imports, the SKU waits in the inbox, and importing the product matches the line
    # (webapp/orders/matching.py).
    marketplace_product_id = db.Column(
        db.Integer, db.ForeignKey("marketplace_products.id", ondelete="SET NULL")
    )
    matched = db.Column(db.Boolean, nullable=False, default=False)
    # A digital line (game key, gift card, licence: webapp/digital) is fulfilled with keys
    # (webapp.models.keys), from the store's pool or bought from the supplier product.
    # key_state: none (not digital), pending, assigned, pre_order, sent (e-mailed).
    is_digital = db.Column(db.Boolean, nullable=False, default=False, server_default=db.false())
    supplier_product_id = db.Column(db.String(255))
    key_state = db.Column(db.String(16), nullable=False, default="none", server_default="none")

    order = db.relationship(Order, back_populates="items")

    __table_args__ = (
        # The unmatched lines of a SKU (a small set): an inbox entry's orders, and the lines
        # an import or a publication matches.
        db.Index(
            "ix_order_items_unmatched",
            "sku",
            "order_id",
            postgresql_where=db.text("NOT matched"),
            sqlite_where=db.text("NOT matched"),
        ),
        # The lines with something left to ship: the orders list's "to ship" filter (its
        # condition is webapp.orders.queries.to_ship_condition's, term for term; 0020).
        db.Index(
            "ix_order_items_to_ship",
            "order_id",
            postgresql_where=db.text("quantity - shipped_quantity - cancelled_quantity > 0"),
            sqlite_where=db.text("quantity - shipped_quantity - cancelled_quantity > 0"),
        ),
        # The lines of a catalog product: publishing it links them; deleting it unlinks them.
        db.Index(
            "ix_order_items_catalog_product",
            "marketplace_product_id",
            postgresql_where=db.text("marketplace_product_id IS NOT NULL"),
            sqlite_where=db.text("marketplace_product_id IS NOT NULL"),
        ),
    )


class OrderStatusHistory(db.Model):
    __tablename__ = "order_status_history"

    id = db.Column(db.Integer, primary_key=True)
    order_id = db.Column(
        db.Integer, db.ForeignKey("orders.id", ondelete="CASCADE"), nullable=False, index=True
    )
    from_status = db.Column(db.String(32))
    to_status = db.Column(db.String(32), nullable=False)
    from_marketplace_status = db.Column(db.String(64))
    to_marketplace_status = db.Column(db.String(64))
    changed_by = db.Column(db.String(64), nullable=False, default="system")
    reason = db.Column(db.Text)
    created_at = db.Column(db.DateTime, nullable=False, default=utcnow)


class ParkedOrder(TimestampMixin, db.Model):
    """An order seen but not valid for fulfilment yet (not paid or authorised)."""

    __tablename__ = "parked_orders"

    id = db.Column(db.Integer, primary_key=True)
    store_id = db.Column(db.Integer, db.ForeignKey("stores.id", ondelete="CASCADE"), nullable=False)
    account_id = db.Column(
        db.Integer, db.ForeignKey("accounts.id", ondelete="CASCADE"), nullable=False
    )
    channel = db.Column(db.String(64), nullable=False)
    channel_order_id = db.Column(db.String(255), nullable=False)
    marketplace_status = db.Column(db.String(64))
    payload = db.Column(PayloadJSON)
    next_check_at = db.Column(db.DateTime, nullable=False, default=utcnow)
    checks = db.Column(db.Integer, nullable=False, default=0)
    # None while parked; "imported" or "cancelled" once resolved.
    outcome = db.Column(db.String(16))
    resolved_at = db.Column(db.DateTime)

    __table_args__ = (
        db.UniqueConstraint(
            "account_id", "channel", "channel_order_id", name="uq_parked_account_channel_order"
        ),
        db.Index("ix_parked_due", "outcome", "next_check_at"),
    )
