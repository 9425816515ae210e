"""Letzshop's orders in Mercato's shape: the status map and the payload mapping.

Status map (seed 001, appendix B):

==========  ==========  =======================================
Letzshop    Mercato     first seen
==========  ==========  =======================================
PENDING     pending     parked: not paid yet; but booked as
                        awaiting_acceptance when its items carry
                        inventory units all unconfirmed (they wait
                        for the seller to confirm or decline them)
PAID        confirmed   booked
PROCESSING  processing  booked
SHIPPED     shipped     booked
DELIVERED   delivered   booked
CANCELLED   cancelled   booked (or dropped from the parked list)
REFUNDED    refunded    booked
(other)     pending     parked
==========  ==========  =======================================
"""

from __future__ import annotations

from connectors.letzshop.queries import UNCONFIRMED, item_line_id, item_units
from connectors.orders import BOOK, PARK, OrderLine, UnifiedOrder, money, timestamp

__all__ = ["CHANNEL", "STATUS_MAP", "normalize_order"]

CHANNEL = "letzshop"
STATUS_MAP: dict[str, tuple[str, str]] = {
    "PENDING": ("pending", PARK),
    "PAID": ("confirmed", BOOK),
    "PROCESSING": ("processing", BOOK),
    "SHIPPED": ("shipped", BOOK),
    "DELIVERED": ("delivered", BOOK),
    "CANCELLED": ("cancelled", BOOK),
    "REFUNDED": ("refunded", BOOK),
}


AWAITING_ACCEPTANCE = ("awaiting_acceptance", BOOK)


def _awaits_acceptance(node: dict) -> bool:
    """Every item carries its units, and every unit waits for the seller's answer."""
    items = node.get("items") or []
    units = [item_units(item) for item in items]
    if not items or any(u is None or not u for u in units):
        return False
    return all(unit["state"] == UNCONFIRMED for group in units for unit in group)


def normalize_order(node: dict) -> UnifiedOrder:
    said = (node.get("status") or "").upper()
    status, disposition = STATUS_MAP.get(said, ("pending", PARK))
    if said == "PENDING" and _awaits_acceptance(node):
        status, disposition = AWAITING_ACCEPTANCE
    customer = node.get("customer") or {}
    totals = node.get("totals") or {}
    name = " ".join(p for p in (customer.get("firstName"), customer.get("lastName")) if p)
    lines = []
    for item in node.get("items") or []:
        product = item.get("product") or {}
        lines.append(
            OrderLine(
                channel_line_id=item_line_id(item),
                sku=product.get("sku") or product.get("id"),
                title=product.get("name"),
                quantity=int(item.get("quantity") or 1),
                unit_price=money(item.get("unitPrice")),
                total=money(item.get("totalPrice")),
            )
        )
    return UnifiedOrder(
        channel=CHANNEL,
        # The number merchants and customers see; the GraphQL id stays in the raw payload.
        channel_order_id=str(node.get("orderNumber") or node["id"]),
        marketplace_status=node.get("status"),
        status=status,
        disposition=disposition,
        ordered_at=timestamp(node.get("createdAt")),
        updated_at=timestamp(node.get("updatedAt")),
        customer_email=customer.get("email"),
        customer_name=name or None,
        customer_phone=customer.get("phone"),
        shipping_address=node.get("shippingAddress"),
        subtotal=money(totals.get("subtotal")),
        shipping_cost=money(totals.get("shipping")),
        tax_amount=money(totals.get("tax")),
        total=money(totals.get("total")),
        currency=(totals.get("currency") or "").upper()[:3] or None,
        lines=lines,
        raw=node,
    )
