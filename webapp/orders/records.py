"""An order as JSON, in one place: what ``flask orders export`` prints per order and what
``/api/v1/store/orders`` answers (its list items, its detail), and the answer to a recorded
shipment or action (``flask orders ship|action`` and the API's POSTs).

Times are UTC with an explicit ``Z``. The loaders (:func:`with_fulfilment`) are here too, so a
caller reading many orders reads each relation in one query, not one per order.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy.orm import selectinload

from webapp.extensions import db
from webapp.models import Order, Shipment, ShipmentLine
from webapp.models.base import money_text
from webapp.models.fulfilment import OrderAction


def iso(value: datetime | None) -> str | None:
    """Naive UTC from the database as RFC 3339 with an explicit Z."""
    return value.isoformat(timespec="seconds") + "Z" if value else None


def with_fulfilment() -> list:
    """The loader options :func:`order_record` needs (items, history, calls, fulfilment)."""
    return [
        selectinload(Order.items),
        selectinload(Order.status_history),
        selectinload(Order.ack_calls),
        selectinload(Order.shipments).selectinload(Shipment.lines).selectinload(ShipmentLine.item),
        selectinload(Order.actions),
    ]


def order_summary(order: Order) -> dict[str, Any]:
    """The order without its lines: what a list shows."""
    return {
        "id": order.id,
        "store_id": order.store_id,
        "account_id": order.account_id,
        "channel": order.channel,
        "channel_order_id": order.channel_order_id,
        "marketplace_status": order.marketplace_status,
        "status": order.status,
        "currency": order.currency,
        "total": money_text(order.total),
        "original_currency": order.original_currency,
        "original_total": money_text(order.original_total),
        "ordered_at": iso(order.ordered_at),
        "acknowledged": order.acknowledged,
        "ack_state": order.ack_state,
        "merchant_order_id": order.merchant_order_id,
        "anonymized": order.anonymized,
    }


def item_record(item) -> dict[str, Any]:
    return {
        "line_id": item.channel_line_id,
        "sku": item.sku,
        "quantity": item.quantity,
        "quantity_shipped": item.shipped_quantity,
        "quantity_cancelled": item.cancelled_quantity,
        "quantity_refunded": item.refunded_quantity,
        "unit_price": money_text(item.unit_price),
        "matched": item.matched,
        # A digital line's key state (never a key: the order page reveals one, recorded).
        "digital": bool(item.is_digital),
        "key_state": item.key_state or "none",
    }


def shipment_record(shipment: Shipment) -> dict[str, Any]:
    return {
        "id": shipment.id,
        "carrier": shipment.carrier,
        "carrier_name": shipment.carrier_name,
        "tracking_number": shipment.tracking_number,
        "tracking_url": shipment.tracking_url,
        "shipped_at": iso(shipment.shipped_at),
        "lines": [
            {"line_id": line.item.channel_line_id, "sku": line.item.sku, "quantity": line.quantity}
            for line in shipment.lines
        ],
    }


def action_record(action: OrderAction) -> dict[str, Any]:
    return {
        "id": action.id,
        "type": action.type,
        "state": action.state,
        "lines": [
            {"line_id": line.get("line_id"), "sku": line.get("sku"), "quantity": line["quantity"]}
            for line in action.lines or []
        ],
        "arguments": action.arguments or {},
        "error": action.error,
        "shipment_id": action.shipment_id,
        "created_at": iso(action.created_at),
        "sent_at": iso(action.sent_at),
        "processed_at": iso(action.processed_at),
    }


def order_record(order: Order) -> dict[str, Any]:
    """The whole order: its lines with what was shipped, cancelled and refunded of each, its
    shipments, its actions (oldest first) and its status history."""
    return {
        **order_summary(order),
        "items": [item_record(item) for item in order.items],
        "shipments": [shipment_record(s) for s in order.shipments],
        "actions": [action_record(a) for a in sorted(order.actions, key=lambda a: a.id)],
        "status_history": [
            {"from": h.from_status, "to": h.to_status, "at": iso(h.created_at)}
            for h in order.status_history
        ],
    }


def recorded(order: Order, action_type: str, done) -> dict[str, Any]:
    """The answer to a recorded shipment or action (``done``: fulfilment.Recorded)."""
    actions = done.actions
    summary = {
        "action_id": actions[0].id if actions else None,
        "order_id": order.id,
        "type": action_type,
        "state": actions[0].state if actions else None,
        "action_ids": [a.id for a in actions],
        "states": [a.state for a in actions],
        "outbound_call_ids": [a.outbound_call_id for a in actions],
        "already_recorded": done.already,
        "order_status": db.session.get(Order, order.id).status,
        "actions": [action_record(a) for a in actions],
    }
    if done.shipment is not None:
        summary["shipment_id"] = done.shipment.id
    return summary
