"""The unified order, as connectors hand it to Mercato (no Flask, no database).

``disposition`` says what the order book does with an order it has never seen:
``book`` it (with its status), or ``park`` it until it is valid for fulfilment
(not yet paid or authorised).  An order already in the book only moves status.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation
from typing import Any

BOOK = "book"
PARK = "park"


@dataclass(slots=True)
class OrderLine:
    channel_line_id: str | None
    sku: str | None
    title: str | None
    quantity: int
    unit_price: Decimal | None
    total: Decimal | None
    line_status: str | None = None
    gtin: str | None = None


@dataclass(slots=True)
class UnifiedOrder:
    channel: str
    channel_order_id: str
    marketplace_status: str | None
    status: str  # unified status (webapp.models.orders)
    disposition: str  # BOOK or PARK
    ordered_at: datetime | None = None
    updated_at: datetime | None = None
    customer_email: str | None = None
    customer_name: str | None = None
    customer_phone: str | None = None
    shipping_address: dict | None = None
    billing_address: dict | None = None
    anonymized: bool = False
    subtotal: Decimal | None = None
    shipping_cost: Decimal | None = None
    tax_amount: Decimal | None = None
    discount_amount: Decimal | None = None
    total: Decimal | None = None
    currency: str | None = None
    original_total: Decimal | None = None
    original_currency: str | None = None
    merchant_order_ids: list[str] = field(default_factory=list)
    lines: list[OrderLine] = field(default_factory=list)
    raw: dict[str, Any] = field(default_factory=dict)

    @property
    def unified(self) -> UnifiedOrder:
        """Itself (a :class:`LazyOrder` normalises here)."""
        return self


class LazyOrder:
    """An order as a page delivers it: what a poll compares (key, statuses, disposition) read
    at once, everything else of the :class:`UnifiedOrder` normalised on first use. A re-poll
    that finds an order unchanged never pays for its lines, addresses and amounts."""

    __slots__ = (
        "channel",
        "channel_order_id",
        "marketplace_status",
        "status",
        "disposition",
        "raw",
        "_normalize",
        "_full",
    )

    def __init__(self, raw: dict, peek, normalize) -> None:
        (
            self.channel,
            self.channel_order_id,
            self.marketplace_status,
            self.status,
            self.disposition,
        ) = peek(raw)
        self.raw = raw
        self._normalize = normalize
        self._full = None

    @property
    def unified(self) -> UnifiedOrder:
        """The whole order, normalised (once)."""
        full = self._full
        if full is None:
            full = self._full = self._normalize(self.raw)
        return full

    def __getattr__(self, name: str):
        # Only called for what the slots above do not hold.
        if name.startswith("__"):
            raise AttributeError(name)
        full = self._full
        if full is None:
            full = self._full = self._normalize(self.raw)
        return getattr(full, name)


def money(value) -> Decimal | None:
    """Amounts arrive as strings ("229.00") and as numbers (40.3): both become Decimals."""
    if value is None or value == "":
        return None
    try:
        return Decimal(str(value))
    except (InvalidOperation, ValueError):
        return None


def timestamp(value) -> datetime | None:
    """ISO-8601 (with Z or an offset) to naive UTC; None when absent or unreadable."""
    if not value:
        return None
    try:
        parsed = datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    except ValueError:
        return None
    if parsed.tzinfo is not None:
        parsed = parsed.astimezone(UTC).replace(tzinfo=None)
    return parsed


def currency_code(value) -> str | None:
    """ "EUR" or {"iso_a3": "EUR", "symbol": "€"} (what Lengow really sends) to "EUR"."""
    if isinstance(value, dict):
        value = value.get("iso_a3")
    if isinstance(value, str) and len(value.strip()) == 3:
        return value.strip().upper()
    return None
