"""Lengow, the connector hub (API v3): orders from Amazon, Cdiscount, ManoMano and others.

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

from collections.abc import Iterator
from types import MappingProxyType

from connectors.base import Capability, Connector, OutboundRequest, Setting
from connectors.http import LengowTokenProvider
from connectors.orders import (
    BOOK,
    PARK,
    LazyOrder,
    OrderLine,
    UnifiedOrder,
    currency_code,
    money,
    timestamp,
)
from connectors.pagination import iter_pages_next_link
from connectors.registry import register

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


@register
class LengowConnector(Connector):
    code = "lengow"
    name = "Lengow"
    capabilities = frozenset({Capability.ORDERS_IN, Capability.FULFILMENT_OUT})
    default_base_url = "https://api.lengow.io"
    settings = (
        Setting("account_id", "Lengow account id", required=True, help="e.g. 5622"),
        Setting("access_token", "Access token", secret=True, required=True),
        Setting("secret", "Secret", secret=True, required=True),
    )
    # 530 "Logical Error": bad input (an unknown catalog, invalid rules); retrying won't help.
    http_options = MappingProxyType({"reject_statuses": frozenset({530})})

    @classmethod
    def token_provider(cls, secrets):
        return LengowTokenProvider(secrets["access_token"], secrets["secret"])

    def fetch_orders(self, updated_from: str) -> Iterator[list[UnifiedOrder]]:
        """Orders updated since ``updated_from`` (ISO), one page at a time, every page.

        Pages are offsets, so the order must rest on something that never changes: sorted by
        ``updated_at``, an order that changes while pages are read leaves its page and the next
        one slides onto a page already read - and, being old, is never asked for again. Sorted
        by order date, a change moves nothing; a late arrival only shifts orders forward (read
        twice, harmless) and, updated now, is caught by the next poll's overlap.
        """
        params = {
            "account_id": self.config["account_id"],
            "updated_from": updated_from,
            "ordering": "marketplace_order_date",
            "page_size": 100,
        }
        for page in iter_pages_next_link(self.http, "/v3.0/orders/", params):
            yield [LazyOrder(raw, peek_order, normalize_order) for raw in page]

    def fetch_order(self, channel: str, channel_order_id: str) -> UnifiedOrder | None:
        """One order by its marketplace id (for rechecking a parked order); None if gone."""
        page = self.http.request(
            "GET",
            "/v3.0/orders/",
            params={
                "account_id": self.config["account_id"],
                "marketplace": channel,
                "marketplace_order_id": channel_order_id,
            },
        )
        for raw in (page or {}).get("results") or []:
            if str(raw.get("marketplace_order_id")) == channel_order_id:
                return normalize_order(raw)
        return None

    outbound_actions = frozenset({"order.merchant_order_id"})

    def outbound_request(self, action: str, params) -> OutboundRequest:
        if action != "order.merchant_order_id":
            return super().outbound_request(action, params)
        # Tell Lengow our order id for its order (PATCH /v3.0/orders/moi/).
        return OutboundRequest(
            "PATCH",
            "/v3.0/orders/moi/",
            {
                "account_id": int(self.config["account_id"]),
                "marketplace": params["channel"],
                "marketplace_order_id": params["channel_order_id"],
                "merchant_order_id": [params["merchant_order_id"]],
            },
            idempotent=True,  # the same id sent twice is the same state
        )

    def acknowledge_order(
        self, channel: str, channel_order_id: str, merchant_order_id: str
    ) -> None:
        """Send the merchant order id now (the order book sends through webapp.outbound)."""
        self.send(
            self.outbound_request(
                "order.merchant_order_id",
                {
                    "channel": channel,
                    "channel_order_id": channel_order_id,
                    "merchant_order_id": merchant_order_id,
                },
            )
        )
