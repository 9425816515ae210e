"""Lengow's orders in Mercato's shape: the status map and the payload mapping.

Status map (Lengow status -> Mercato status, and what a first sighting does):

==================  ====================  ==========================================
Lengow              Mercato               first seen
==================  ====================  ==========================================
new                 pending               parked: not paid or authorised yet
accepted            pending               parked: waiting for the marketplace's go
waiting_acceptance  awaiting_acceptance   booked; reserves nothing until accepted
waiting_shipment    confirmed             booked
pickup_to_prepare   confirmed             booked
to_pickup           ready_for_shipment    booked
shipped             shipped               booked
pickup_completed    delivered             booked
closed              delivered             booked
refused             cancelled             booked (the merchant refused it)
canceled            cancelled             booked
pickup_canceled     cancelled             booked
to_refund           cancelled             booked
refunding           refunded              booked
refunded            refunded              booked
(anything else)     pending               parked, and a message says which status
==================  ====================  ==========================================
"""

from __future__ import annotations

from connectors.orders import (
    BOOK,
    PARK,
    OrderLine,
    UnifiedOrder,
    currency_code,
    money,
    timestamp,
)

__all__ = ["STATUS_MAP", "map_status", "normalize_order", "peek_order"]

STATUS_MAP: dict[str, tuple[str, str]] = {
    "new": ("pending", PARK),
    "accepted": ("pending", PARK),
    "waiting_acceptance": ("awaiting_acceptance", BOOK),
    "waiting_shipment": ("confirmed", BOOK),
    "pickup_to_prepare": ("confirmed", BOOK),
    "to_pickup": ("ready_for_shipment", BOOK),
    "shipped": ("shipped", BOOK),
    "pickup_completed": ("delivered", BOOK),
    "closed": ("delivered", BOOK),
    "refused": ("cancelled", BOOK),
    "canceled": ("cancelled", BOOK),
    "pickup_canceled": ("cancelled", BOOK),
    "to_refund": ("cancelled", BOOK),
    "refunding": ("refunded", BOOK),
    "refunded": ("refunded", BOOK),
}


def map_status(lengow_status: str | None) -> tuple[str, str]:
    return STATUS_MAP.get((lengow_status or "").lower(), ("pending", PARK))


def _address(raw: dict | None) -> dict | None:
    if not raw:
        return None
    keys = (
        "company",
        "civility",
        "first_name",
        "last_name",
        "full_name",
        "first_line",
        "second_line",
        "complement",
        "zipcode",
        "city",
        "state_region",
        "common_country_iso_a2",
        "phone_home",
        "phone_office",
        "phone_mobile",
        "email",
    )
    return {k: raw.get(k) for k in keys if raw.get(k) not in (None, "")}


def _name(address: dict | None) -> str | None:
    if not address:
        return None
    full = address.get("full_name") or " ".join(
        part for part in (address.get("first_name"), address.get("last_name")) if part
    )
    return full or None


def peek_order(raw: dict) -> tuple:
    """What a poll compares, as :func:`normalize_order` reads it: channel, channel order id,
    marketplace status, Mercato status, disposition."""
    status, disposition = map_status(raw.get("lengow_status"))
    return (
        raw["marketplace"],
        str(raw["marketplace_order_id"]),
        raw.get("marketplace_status") or raw.get("lengow_status"),
        status,
        disposition,
    )


def normalize_order(raw: dict) -> UnifiedOrder:
    """One Lengow order (as /v3.0/orders/ returns it) in Mercato's unified shape."""
    status, disposition = map_status(raw.get("lengow_status"))
    billing = _address(raw.get("billing_address"))
    packages = raw.get("packages") or []
    delivery = _address(packages[0].get("delivery")) if packages else None
    lines = []
    for package in packages:
        for line in package.get("cart") or []:
            merchant = line.get("merchant_product_id") or {}
            quantity = int(line.get("quantity") or 1)
            total = money(line.get("amount"))
            lines.append(
                OrderLine(
                    channel_line_id=line.get("marketplace_order_line_id"),
                    sku=merchant.get("id") or line.get("marketplace_product_id"),
                    title=line.get("title"),
                    quantity=quantity,
                    unit_price=(total / quantity) if total is not None and quantity else None,
                    total=total,
                    line_status=line.get("lengow_status") or line.get("marketplace_status"),
                )
            )
    merchant_ids = raw.get("merchant_order_id") or []
    if isinstance(merchant_ids, str):
        merchant_ids = [merchant_ids]
    contact = billing or delivery or {}
    return UnifiedOrder(
        channel=raw["marketplace"],
        channel_order_id=str(raw["marketplace_order_id"]),
        marketplace_status=raw.get("marketplace_status") or raw.get("lengow_status"),
        status=status,
        disposition=disposition,
        ordered_at=timestamp(raw.get("marketplace_order_date"))
        or timestamp(raw.get("imported_at")),
        updated_at=timestamp(raw.get("updated_at")),
        customer_email=contact.get("email"),
        customer_name=_name(billing) or _name(delivery),
        customer_phone=contact.get("phone_mobile") or contact.get("phone_home"),
        shipping_address=delivery,
        billing_address=billing,
        anonymized=bool(raw.get("anonymized")),
        shipping_cost=money(raw.get("shipping")),
        tax_amount=money(raw.get("total_tax")),
        discount_amount=money(raw.get("discount")),
        total=money(raw.get("total_order")),
        currency=currency_code(raw.get("currency")),
        original_total=money(raw.get("original_total_order")),
        original_currency=currency_code(raw.get("original_currency")),
        merchant_order_ids=[str(m) for m in merchant_ids if m],
        lines=lines,
        raw=raw,
    )
