"""Letzshop's orders in Mercato's shape: the status map and the payload mapping.

Status map (seed 001, appendix B):

==========  ==========  =======================================
Letzshop    Mercato     first seen
==========  ==========  =======================================
PENDING     pending     parked: not paid yet
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


def normalize_order(node: dict) -> UnifiedOrder:
    status, disposition = STATUS_MAP.get((node.get("status") or "").upper(), ("pending", PARK))
    customer = node.get("customer") or {}
    totals = node.get("totals") or {}
    name = " ".join(p for p in (customer.get("firstName"), customer.get("lastName")) if p)
    lines = []
    for item in node.get("items") or []:
        product = item.get("product") or {}
        lines.append(
            OrderLine(
                channel_line_id=None,
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
