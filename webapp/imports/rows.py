"""Build canonical product rows from a feed's records, with the row's messages."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field

from webapp.imports.mapping import ColumnMap, fold
from webapp.imports.normalize import (
    CURRENCY_SYMBOLS,
    parse_availability,
    parse_condition,
    parse_gtin,
    parse_price,
    parse_quantity,
)
from webapp.imports.writer import ProductRow

MAX_ID_LENGTH = 255
MAX_SHOWN_VALUE = 500


def stable_hash(text: str) -> int:
    """A signed 64-bit digest that is the same in every process (``hash()`` is not)."""
    return int.from_bytes(
        hashlib.blake2b(text.encode("utf-8", "surrogatepass"), digest_size=8).digest(),
        "big",
        signed=True,
    )


@dataclass(slots=True)
class RowMessage:
    severity: str  # "error" (row not imported) or "warning" (imported anyway)
    error_type: str
    message: str


@dataclass
class BuiltRow:
    product: ProductRow | None
    identifier: str | None
    messages: list[RowMessage] = field(default_factory=list)
    skipped: bool = False  # not a product at all (e.g. a Shopify image-only row)


class RowBuilder:
    """Turns the cells of one record into a :class:`ProductRow` (or the reason it can't)."""

    def __init__(self, cmap: ColumnMap, *, fixed_width: bool = True):
        self.cmap = cmap
        self.fixed_width = fixed_width
        self.ncols = len(cmap.headers)
        self._i = cmap.index
        self._price_cache: dict[str, tuple] = {}
        self._currency_cache: dict[str, str | None] = {}
        folded = {fold(h): i for i, h in enumerate(cmap.headers)}
        # Shopify exports: variants repeat the Handle with blank Title/Body/Vendor.
        self._shopify = "handle" in folded and "variantsku" in folded
        self._handle_idx = folded.get("handle")
        self._option_idx = [folded[k] for k in ("option1value", "option2value", "option3value")
                            if k in folded]
        self._last_handle: str | None = None
        self._carry: dict[str, str] = {}

    def row_data(self, cells: list[str]) -> dict[str, str]:
        data = {}
        for i, header in enumerate(self.cmap.headers):
            if i < len(cells) and cells[i] != "":
                data[header or f"column {i + 1}"] = cells[i][:MAX_SHOWN_VALUE]
        for i in range(len(self.cmap.headers), len(cells)):
            if cells[i] != "":
                data[f"column {i + 1}"] = cells[i][:MAX_SHOWN_VALUE]
        return data

    def _cell(self, cells: list[str], name: str) -> str:
        i = self._i.get(name)
        if i is None or i >= len(cells):
            return ""
        return cells[i].strip()

    def _price(self, text: str) -> tuple:
        cached = self._price_cache.get(text)
        if cached is None:
            try:
                cached = (*parse_price(text), None)
            except ValueError as exc:
                cached = (None, None, str(exc))
            if len(self._price_cache) < 100_000:
                self._price_cache[text] = cached
        return cached

    def _currency(self, text: str) -> str | None:
        if not text:
            return None
        cached = self._currency_cache.get(text)
        if cached is None and text not in self._currency_cache:
            upper = text.strip().upper()
            if len(upper) == 3 and upper.isalpha():
                cached = upper
            else:
                cached = CURRENCY_SYMBOLS.get(text.strip().lower())
            self._currency_cache[text] = cached
        return cached

    def build(self, cells: list[str]) -> BuiltRow:
        if self.fixed_width and len(cells) != self.ncols and (
            len(cells) < self.ncols or any(c.strip() for c in cells[self.ncols:])
        ):
            return BuiltRow(None, self._cell(cells, "id") or None, [RowMessage(
                "error", "parse_error",
                f"the row has {len(cells)} values but the header has {self.ncols} columns",
            )])
        if self._shopify:
            skipped = self._shopify_fill(cells)
            if skipped:
                return BuiltRow(None, None, skipped=True)

        identifier = self._cell(cells, "id")
        title = self._cell(cells, "title")
        if not identifier:
            return BuiltRow(None, None, [RowMessage(
                "error", "missing_id", "the row has no product id",
            )])
        if len(identifier) > MAX_ID_LENGTH:
            return BuiltRow(None, identifier[:MAX_ID_LENGTH], [RowMessage(
                "error", "validation_error",
                f"the product id is {len(identifier)} characters long (at most {MAX_ID_LENGTH})",
            )])
        if not title:
            return BuiltRow(None, identifier, [RowMessage(
                "error", "missing_title", f"product {identifier!r} has no title",
            )])
        messages: list[RowMessage] = []
        price_text = self._cell(cells, "price")
        price, currency, problem = self._price(price_text) if price_text else (None, None, None)
        if problem:
            return BuiltRow(None, identifier, [RowMessage(
                "error", "parse_error", f"the price cannot be read: {problem}",
            )])
        sale_text = self._cell(cells, "sale_price")
        sale_price = None
        if sale_text:
            sale_price, sale_currency, problem = self._price(sale_text)
            if problem:
                messages.append(RowMessage(
                    "warning", "validation_error",
                    f"the sale price was left out: {problem}",
                ))
            currency = currency or sale_currency
        currency = currency or self._currency(self._cell(cells, "currency"))

        gtin = None
        gtin_text = self._cell(cells, "gtin")
        if gtin_text:
            try:
                gtin = parse_gtin(gtin_text)
            except ValueError as exc:
                messages.append(RowMessage(
                    "warning", "validation_error",
                    f"imported without its GTIN: {exc}",
                ))
        quantity_text = self._cell(cells, "quantity")
        quantity = parse_quantity(quantity_text) if quantity_text else None
        availability = parse_availability(self._cell(cells, "availability"), quantity)
        extra = {}
        for i, header in self.cmap.extra:
            if i < len(cells):
                value = cells[i].strip()
                if value:
                    extra[header] = value
        if quantity_text and quantity is None:
            extra[self.cmap.headers[self._i["quantity"]]] = quantity_text
        item_group = self._cell(cells, "item_group_id") or None
        if self._shopify and self._handle_idx is not None:
            item_group = cells[self._handle_idx].strip() or item_group

        neutral = (
            item_group,
            gtin,
            self._cell(cells, "mpn")[:255] or None,
            self._cell(cells, "brand")[:255] or None,
            price,
            sale_price,
            currency,
            availability,
            quantity,
            parse_condition(self._cell(cells, "condition")),
            self._cell(cells, "link") or None,
            self._cell(cells, "image_link") or None,
            extra or None,
        )
        description = self._raw_cell(cells, "description") or None
        title = self._raw_cell(cells, "title")
        product = ProductRow(
            row_number=0,
            marketplace_product_id=identifier,
            neutral=neutral,
            content_hash=stable_hash(repr(neutral)),
            title=title,
            description=description,
            translation_hash=stable_hash(f"{title}\x1f{description}"),
        )
        return BuiltRow(product, identifier, messages)

    def _raw_cell(self, cells: list[str], name: str) -> str:
        """Titles and descriptions are kept verbatim (markup included), only trimmed."""
        i = self._i.get(name)
        if i is None or i >= len(cells):
            return ""
        return cells[i].strip()

    def _shopify_fill(self, cells: list[str]) -> bool:
        """Forward-fill a variant row from its product row; True for image-only rows."""
        handle = cells[self._handle_idx].strip() if self._handle_idx < len(cells) else ""
        carried = ("title", "description", "brand")
        if handle and handle == self._last_handle:
            for name in carried:
                i = self._i.get(name)
                if i is not None and i < len(cells) and not cells[i].strip():
                    cells[i] = self._carry.get(name, "")
            no_variant = not self._cell(cells, "id") and not self._cell(cells, "price") and not any(
                cells[i].strip() for i in self._option_idx if i < len(cells)
            )
            if no_variant:
                return True
        else:
            self._last_handle = handle
            self._carry = {n: self._cell(cells, n) for n in carried}
        return False


class DictRecords:
    """Adapts dict records (XML, JSON) to the list-of-cells form the builder reads."""

    def __init__(self):
        self.headers: list[str] = []
        self._positions: dict[str, int] = {}

    def cells(self, fields: dict[str, str]) -> tuple[list[str], bool]:
        """(cells aligned with self.headers, whether new headers appeared)."""
        grew = False
        for key in fields:
            if key not in self._positions:
                self._positions[key] = len(self.headers)
                self.headers.append(key)
                grew = True
        cells = [""] * len(self.headers)
        for key, value in fields.items():
            cells[self._positions[key]] = value
        return cells, grew
