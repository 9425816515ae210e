"""What a digital-goods supplier hands Mercato (no Flask, no database): its catalogue's
products, the orders that buy keys, the keys themselves and the account's balance.

A supplier connector (CodesWholesale today) parses its own payloads into these; the catalogue
feed and, later, digital fulfilment read only these.  Money is :class:`~decimal.Decimal` (the
supplier sends numbers without a currency: the account's currency is a setting).
"""

from __future__ import annotations

import base64
import binascii
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from typing import Any

__all__ = [
    "CODE_IMAGE",
    "CODE_KINDS",
    "CODE_PRE_ORDER",
    "CODE_TEXT",
    "AccountBalance",
    "SupplierCode",
    "SupplierOrder",
    "SupplierOrderLine",
    "SupplierProduct",
    "TierPrice",
    "decode_tiers",
    "encode_tiers",
]

CODE_TEXT = "text"  # the key is text
CODE_IMAGE = "image"  # the key is a picture (base64 in ``code``, its name in ``filename``)
CODE_PRE_ORDER = "pre_order"  # bought, no key yet: it is assigned later
CODE_KINDS = (CODE_TEXT, CODE_IMAGE, CODE_PRE_ORDER)


@dataclass(frozen=True, slots=True)
class TierPrice:
    """One quantity tier: buying ``from_quantity`` (up to ``to_quantity``, None: no upper
    bound) keys costs ``value`` each."""

    from_quantity: int
    to_quantity: int | None
    value: Decimal

    def as_json(self) -> dict[str, Any]:
        return {"from": self.from_quantity, "to": self.to_quantity, "value": str(self.value)}


def encode_tiers(tiers) -> str:
    """Tiers as one plain text, ``1-9:3.33;10-49:3.23;50-:3.13`` (no quote in it: a cell
    with none stays on the import engine's columnar path)."""
    return ";".join(
        f"{t.from_quantity}-{'' if t.to_quantity is None else t.to_quantity}:{t.value}"
        for t in tiers
    )


def decode_tiers(text: str | None) -> tuple[TierPrice, ...]:
    """The tiers :func:`encode_tiers` wrote (ValueError when it is not that)."""
    tiers = []
    for part in (text or "").split(";"):
        if not part.strip():
            continue
        bounds, _, value = part.partition(":")
        start, _, end = bounds.partition("-")
        tiers.append(TierPrice(int(start), int(end) if end.strip() else None, Decimal(value)))
    return tuple(tiers)


@dataclass(frozen=True, slots=True)
class SupplierProduct:
    """One catalogue product.  ``warnings``: what was odd in the supplier's record and was
    read leniently (an unreadable date, a price tier without a value...)."""

    product_id: str
    identifier: str | None
    name: str
    platform: str | None
    regions: tuple[str, ...] = ()
    languages: tuple[str, ...] = ()
    release_date: datetime | None = None  # UTC, as the supplier gives it
    quantity: int = 0
    prices: tuple[TierPrice, ...] = ()
    image_url: str | None = None
    warnings: tuple[str, ...] = ()

    @property
    def price(self) -> Decimal | None:
        """The unit cost of one key: the tier starting at 1, else the lowest-starting tier."""
        if not self.prices:
            return None
        for tier in self.prices:
            if tier.from_quantity <= 1:
                return tier.value
        return min(self.prices, key=lambda t: t.from_quantity).value

    def price_for(self, quantity: int) -> Decimal | None:
        """The unit cost when buying ``quantity`` keys (the tier that covers it)."""
        covering = [
            t
            for t in self.prices
            if t.from_quantity <= quantity and (t.to_quantity is None or quantity <= t.to_quantity)
        ]
        if covering:
            return max(covering, key=lambda t: t.from_quantity).value
        return self.price

    @property
    def in_stock(self) -> bool:
        return self.quantity > 0


@dataclass(frozen=True, slots=True)
class SupplierCode:
    """One key of a supplier order.  ``code`` is the key (text), the picture (base64, for an
    image code) or None (a pre-order not assigned yet)."""

    code_id: str
    kind: str  # one of CODE_KINDS
    code: str | None = None
    filename: str | None = None

    @property
    def ready(self) -> bool:
        return self.kind != CODE_PRE_ORDER and bool(self.code)

    def image_bytes(self) -> bytes:
        """The picture of an image code (ValueError when it is none or not base64)."""
        if self.kind != CODE_IMAGE or not self.code:
            raise ValueError("not an image code")
        try:
            return base64.b64decode(self.code, validate=True)
        except binascii.Error as exc:
            raise ValueError("the image code is not valid base64") from exc

    def __repr__(self) -> str:  # a key never lands in a log line by accident
        shown = "None" if self.code is None else "'********'"
        return f"SupplierCode(code_id={self.code_id!r}, kind={self.kind!r}, code={shown})"


@dataclass(frozen=True, slots=True)
class SupplierOrderLine:
    product_id: str
    unit_price: Decimal | None
    codes: tuple[SupplierCode, ...] = ()


@dataclass(frozen=True, slots=True)
class SupplierOrder:
    """A purchase as the supplier records it.  ``client_order_id`` is Mercato's own reference,
    sent with the purchase and echoed back: how a purchase whose answer was lost is found."""

    order_id: str
    client_order_id: str | None
    status: str | None
    total_price: Decimal | None = None
    created_on: datetime | None = None
    lines: tuple[SupplierOrderLine, ...] = field(default_factory=tuple)

    @property
    def codes(self) -> tuple[SupplierCode, ...]:
        return tuple(code for line in self.lines for code in line.codes)

    def keys_for(self, product_id: str) -> tuple[SupplierCode, ...]:
        return tuple(c for line in self.lines if line.product_id == product_id for c in line.codes)


@dataclass(frozen=True, slots=True)
class AccountBalance:
    """The supplier account: what may still be spent (``total_to_use`` = balance + credit)."""

    balance: Decimal | None
    credit: Decimal | None
    total_to_use: Decimal | None
    name: str | None = None
    email: str | None = None
