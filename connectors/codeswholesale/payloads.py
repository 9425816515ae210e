"""CodesWholesale payloads read into :mod:`connectors.suppliers` shapes, leniently.

The real catalogue has quirks (the 2018 dump, CONNECTORS.md section 8): empty release dates,
the platform given as the string ``"None"``, identifiers with ``$`` and spaces (kept as they
are: they are the supplier's codes), prices as quantity tiers ``{from, to?, value}`` with no
currency.  A product is refused only when it has no ``productId``; anything else odd is read
as best it can be and said in the product's ``warnings``.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation
from typing import Any

from connectors.codeswholesale.unverified import PRE_ORDER_STATUSES, V3_CODE_TYPES
from connectors.suppliers import (
    CODE_IMAGE,
    CODE_PRE_ORDER,
    CODE_TEXT,
    AccountBalance,
    SupplierCode,
    SupplierOrder,
    SupplierOrderLine,
    SupplierProduct,
    TierPrice,
)

__all__ = [
    "NO_PLATFORM",
    "UnreadableProduct",
    "parse_balance",
    "parse_code",
    "parse_datetime",
    "parse_order",
    "parse_product",
]

# The catalogue says "no platform" (gift cards, top-ups) with this string.
NO_PLATFORM = "None"
MAX_TEXT = 255


class UnreadableProduct(ValueError):
    """A catalogue record that is no product (no ``productId``): skipped, and said."""

    def __init__(self, message: str, raw: Any = None) -> None:
        super().__init__(message)
        self.raw = raw


def _text(value: Any) -> str | None:
    if value is None or isinstance(value, dict | list):
        return None
    text = str(value)
    return text if text.strip() else None


def _decimal(value: Any) -> Decimal | None:
    if value is None or isinstance(value, bool):
        return None
    try:
        number = Decimal(str(value).strip().replace(",", "."))
    except (InvalidOperation, ValueError):
        return None
    return number if number.is_finite() else None


def _int(value: Any) -> int | None:
    number = _decimal(value)
    if number is None or number != number.to_integral_value():
        return None
    return int(number)


def parse_datetime(value: Any) -> datetime | None:
    """An ISO 8601 time (``2015-11-19T17:00:00.000Z``, with or without zone or time) in UTC;
    None when empty; ValueError when it is something else."""
    text = _text(value)
    if text is None:
        return None
    text = text.strip()
    if text.endswith(("Z", "z")):
        text = text[:-1] + "+00:00"
    parsed = datetime.fromisoformat(text)  # ValueError for anything else
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    return parsed.astimezone(UTC)


def _names(value: Any, what: str, warnings: list[str]) -> tuple[str, ...]:
    """A list of names (regions, languages): a list, or one comma-separated text; each kept
    once, in order."""
    if value is None:
        return ()
    if isinstance(value, str):
        items: Iterable[Any] = value.split(",")
    elif isinstance(value, list | tuple):
        items = value
    else:
        warnings.append(f"{what} is not a list ({type(value).__name__}); left empty")
        return ()
    seen: dict[str, None] = {}
    for item in items:
        name = item.get("name") if isinstance(item, Mapping) else item
        text = _text(name)
        if text is not None:
            seen.setdefault(text.strip()[:MAX_TEXT], None)
    return tuple(seen)


def _prices(value: Any, warnings: list[str]) -> tuple[TierPrice, ...]:
    if value is None:
        return ()
    if not isinstance(value, list):
        warnings.append("prices is not a list; no price read")
        return ()
    tiers: dict[int, TierPrice] = {}
    for raw in value:
        if not isinstance(raw, Mapping):
            warnings.append("a price tier is not an object; skipped")
            continue
        amount = _decimal(raw.get("value", raw.get("price")))
        if amount is None or amount < 0:
            warnings.append(f"a price tier has no usable value ({raw.get('value')!r}); skipped")
            continue
        start = _int(raw.get("from"))
        start = 1 if start is None or start < 1 else start
        end = _int(raw.get("to"))
        if end is not None and end < start:
            end = None
        tiers.setdefault(start, TierPrice(start, end, amount))
    ordered = [tiers[k] for k in sorted(tiers)]
    # v3 sends no "to": a tier ends where the next one starts.
    return tuple(
        TierPrice(t.from_quantity, nxt.from_quantity - 1, t.value)
        if t.to_quantity is None and nxt is not None
        else t
        for t, nxt in zip(ordered, [*ordered[1:], None], strict=True)
    )


def _image(value: Any) -> str | None:
    if not isinstance(value, list):
        return _text(value)
    found = [i for i in value if isinstance(i, Mapping) and _text(i.get("image"))]
    for wanted in ("MEDIUM", "BIG", "SMALL"):
        for image in found:
            if str(image.get("format", "")).upper() == wanted:
                return str(image["image"]).strip()
    return str(found[0]["image"]).strip() if found else None


def parse_product(raw: Any) -> SupplierProduct:
    """One catalogue record (v2 or v3); :class:`UnreadableProduct` without a ``productId``."""
    if not isinstance(raw, Mapping):
        raise UnreadableProduct("a catalogue record is not an object", raw)
    product_id = _text(raw.get("productId"))
    if product_id is None:
        raise UnreadableProduct("a catalogue record has no productId", raw)
    product_id = product_id.strip()
    warnings: list[str] = []
    identifier = _text(raw.get("identifier"))
    name = _text(raw.get("name"))
    if name is None:
        name = identifier or product_id
        warnings.append("no name: the identifier stands in")
    platform = _text(raw.get("platform"))
    if platform is not None and platform.strip() in ("", NO_PLATFORM):
        platform = None
    released = None
    try:
        released = parse_datetime(raw.get("releaseDate"))
    except ValueError:
        warnings.append(f"unreadable release date {raw.get('releaseDate')!r}; left empty")
    quantity = _int(raw.get("quantity"))
    if quantity is None:
        if raw.get("quantity") not in (None, ""):
            warnings.append(f"unreadable quantity {raw.get('quantity')!r}; taken as 0")
        quantity = 0
    elif quantity < 0:
        warnings.append(f"negative quantity {quantity}; taken as 0")
        quantity = 0
    return SupplierProduct(
        product_id=product_id,
        identifier=identifier,
        name=name.strip(),
        platform=platform.strip() if platform else None,
        regions=_names(raw.get("regions"), "regions", warnings),
        languages=_names(raw.get("languages"), "languages", warnings),
        release_date=released,
        quantity=quantity,
        prices=_prices(raw.get("prices"), warnings),
        image_url=_image(raw.get("images")),
        warnings=tuple(warnings),
    )


def parse_code(raw: Any) -> SupplierCode:
    """One code of an order: v2 ``status`` ("Text code", "Image code", "Pre-ordered code") or
    v3 ``codeType`` (CODE_TEXT, CODE_IMAGE, PRE_ORDER)."""
    if not isinstance(raw, Mapping):
        raise ValueError("a code is not an object")
    code_id = _text(raw.get("codeId") or raw.get("id"))
    if code_id is None:
        raise ValueError("a code has no codeId")
    code = _text(raw.get("code"))
    code_type = _text(raw.get("codeType"))
    status = (_text(raw.get("status")) or "").strip().lower()
    if code_type and code_type.upper() in V3_CODE_TYPES:
        kind = V3_CODE_TYPES[code_type.upper()]
    elif status in PRE_ORDER_STATUSES or status.startswith("pre-order"):
        kind = CODE_PRE_ORDER
    elif "image" in status:
        kind = CODE_IMAGE
    else:
        kind = CODE_TEXT
    if kind == CODE_PRE_ORDER:
        code = None
    return SupplierCode(code_id.strip(), kind, code, _text(raw.get("filename")))


def parse_order(raw: Any) -> SupplierOrder:
    """An order as ``POST /vN/orders`` or ``GET /vN/orders/{id}`` answers it."""
    if not isinstance(raw, Mapping):
        raise ValueError("the order is not an object")
    order_id = _text(raw.get("orderId") or raw.get("id"))
    if order_id is None:
        raise ValueError("the order has no orderId")
    lines = []
    for item in raw.get("products") or []:
        if not isinstance(item, Mapping):
            continue
        codes = tuple(parse_code(c) for c in item.get("codes") or [])
        lines.append(
            SupplierOrderLine(
                product_id=str(item.get("productId") or ""),
                unit_price=_decimal(item.get("unitPrice", item.get("price"))),
                codes=codes,
            )
        )
    try:
        created = parse_datetime(raw.get("createdOn"))
    except ValueError:
        created = None
    return SupplierOrder(
        order_id=order_id.strip(),
        client_order_id=_text(raw.get("clientOrderId")),
        status=_text(raw.get("status")),
        total_price=_decimal(raw.get("totalPrice")),
        created_on=created,
        lines=tuple(lines),
    )


def parse_balance(raw: Any) -> AccountBalance:
    """``GET /vN/accounts/current``: ``{fullName, email, currentBalance, currentCredit,
    totalToUse}``."""
    if not isinstance(raw, Mapping):
        raise ValueError("the account answer is not an object")
    return AccountBalance(
        balance=_decimal(raw.get("currentBalance")),
        credit=_decimal(raw.get("currentCredit")),
        total_to_use=_decimal(raw.get("totalToUse")),
        name=_text(raw.get("fullName")),
        email=_text(raw.get("email")),
    )
