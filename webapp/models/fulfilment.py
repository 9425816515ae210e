"""Fulfilment: what the merchant did with an order, and what Mercato owes the marketplace.

- ``shipments``: a parcel that left (carrier code and free-text name, tracking number and/or
  URL), with its lines and the quantities shipped; several per order (partial fulfilment).
  One per (order, tracking): the same tracking recorded twice is the same shipment.
- ``order_actions``: an answer to the marketplace (ship, accept, refuse, cancel, refund,
  partial_cancel, or another action type the marketplace offers), its lines and arguments and
  its state: ``recorded`` -> ``dry_run`` (test mode) or ``sent`` -> ``queued`` -> ``processed``,
  or ``failed`` with the marketplace's own error text. Each is sent by one outbound call
  (:mod:`webapp.outbound`), recorded in the same transaction.
- ``fulfilment_events``: shipped and cancelled quantities of order lines, in the order they
  happened, for the stock to consume.
"""

from __future__ import annotations

from webapp.extensions import db
from webapp.models.base import JSONType, TimestampMixin, utcnow

# Order action types Mercato knows by name (a marketplace may offer others: any string).
SHIP = "ship"
ACCEPT = "accept"
REFUSE = "refuse"
CANCEL = "cancel"
REFUND = "refund"
PARTIAL_CANCEL = "partial_cancel"
ACTION_TYPES = (SHIP, ACCEPT, REFUSE, CANCEL, REFUND, PARTIAL_CANCEL)

# Order action states
RECORDED = "recorded"  # owed, its outbound call waits for the sender
DRY_RUN = "dry_run"  # test mode: recorded with the exact request, never sent
SENT = "sent"
QUEUED = "queued"  # the marketplace (Lengow) holds it, not processed yet
PROCESSED = "processed"
FAILED = "failed"  # the marketplace's own error text in ``error``
ACTION_STATES = (RECORDED, DRY_RUN, SENT, QUEUED, PROCESSED, FAILED)
IN_FLIGHT = (RECORDED, SENT, QUEUED)

# Fulfilment event kinds
SHIPPED_EVENT = "shipped"
CANCELLED_EVENT = "cancelled"


class Shipment(TimestampMixin, db.Model):
    __tablename__ = "shipments"

    id = db.Column(db.Integer, primary_key=True)
    order_id = db.Column(
        db.Integer, db.ForeignKey("orders.id", ondelete="CASCADE"), nullable=False, index=True
    )
    carrier = db.Column(db.String(64))  # the marketplace's carrier code
    carrier_name = db.Column(db.String(255))  # free text, where the marketplace allows it
    tracking_number = db.Column(db.String(255))
    tracking_url = db.Column(db.Text)
    # What makes it the same shipment: its tracking number, else its tracking URL.
    tracking_key = db.Column(db.Text, nullable=False)
    shipped_at = db.Column(db.DateTime, nullable=False, default=utcnow)
    created_by = db.Column(db.String(255), nullable=False)

    lines = db.relationship(
        "ShipmentLine",
        cascade="all, delete-orphan",
        passive_deletes=True,
        order_by="ShipmentLine.id",
    )

    __table_args__ = (
        db.UniqueConstraint("order_id", "tracking_key", name="uq_shipments_order_tracking"),
    )


class ShipmentLine(db.Model):
    __tablename__ = "shipment_lines"

    id = db.Column(db.Integer, primary_key=True)
    shipment_id = db.Column(
        db.Integer, db.ForeignKey("shipments.id", ondelete="CASCADE"), nullable=False, index=True
    )
    order_item_id = db.Column(
        db.Integer, db.ForeignKey("order_items.id", ondelete="CASCADE"), nullable=False, index=True
    )
    quantity = db.Column(db.Integer, nullable=False)

    item = db.relationship("OrderItem")

    __table_args__ = (db.CheckConstraint("quantity > 0", name="quantity_positive"),)


class OrderAction(TimestampMixin, db.Model):
    __tablename__ = "order_actions"

    id = db.Column(db.Integer, primary_key=True)
    store_id = db.Column(db.Integer, db.ForeignKey("stores.id", ondelete="CASCADE"), nullable=False)
    order_id = db.Column(
        db.Integer, db.ForeignKey("orders.id", ondelete="CASCADE"), nullable=False, index=True
    )
    account_id = db.Column(
        db.Integer, db.ForeignKey("accounts.id", ondelete="CASCADE"), nullable=False
    )
    type = db.Column(db.String(64), nullable=False)
    # [{"item_id", "line_id", "sku", "quantity"}]; empty for a whole-order action.
    lines = db.Column(JSONType, nullable=False)
    arguments = db.Column(JSONType, nullable=False)
    state = db.Column(db.String(16), nullable=False, default=RECORDED)
    error = db.Column(db.Text)  # the marketplace's own text, when it failed
    outbound_call_id = db.Column(
        db.Integer, db.ForeignKey("outbound_calls.id", ondelete="SET NULL"), index=True
    )
    shipment_id = db.Column(
        db.Integer, db.ForeignKey("shipments.id", ondelete="SET NULL"), index=True
    )
    created_by = db.Column(db.String(255), nullable=False)
    sent_at = db.Column(db.DateTime)
    processed_at = db.Column(db.DateTime)

    shipment = db.relationship(Shipment)

    __table_args__ = (db.Index("ix_order_actions_account_state", "account_id", "state"),)


class FulfilmentEvent(db.Model):
    """A quantity of an order line shipped or cancelled (the stock issue consumes these)."""

    __tablename__ = "fulfilment_events"

    id = db.Column(db.Integer, primary_key=True)
    order_item_id = db.Column(
        db.Integer, db.ForeignKey("order_items.id", ondelete="CASCADE"), nullable=False, index=True
    )
    kind = db.Column(db.String(16), nullable=False)  # shipped | cancelled
    quantity = db.Column(db.Integer, nullable=False)
    at = db.Column(db.DateTime, nullable=False, default=utcnow)
    order_action_id = db.Column(
        db.Integer, db.ForeignKey("order_actions.id", ondelete="SET NULL"), index=True
    )

    __table_args__ = (db.CheckConstraint("quantity > 0", name="quantity_positive"),)
