"""Turn a feed's records into canonical product rows, in two steps.

``identify`` is cheap and runs on every record: it finds the id and title and
hashes the raw cells.  ``normalise`` (prices, GTINs, availability, extra
attributes) runs only for rows that are new or changed since the last import:
a re-import of an unchanged feed never pays for it.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from operator import itemgetter

from xxhash import xxh3_64_intdigest

from webapp.imports.mapping import SYNONYMS, ColumnMap, fold, map_columns
from webapp.imports.normalize import (
    CURRENCY_SYMBOLS,
    parse_availability,
    parse_condition,
    parse_gtin,
    parse_price,
    parse_quantity,
)

MAX_ID_LENGTH = 255
MAX_SHOWN_VALUE = 500
# Bump when normalisation (or the hash) changes, so a re-import rewrites rows read the old way.
# 3: the hash names the feed's columns (a feed with other columns writes other fields).
NORMALISATION_VERSION = "3"
TEXT_FIELDS = ("title", "description")
# The product's language-neutral fields an import may write (writer.NEUTRAL_COLUMNS), each
# named as the canonical field it comes from.
NEUTRAL_FIELDS = (
    "item_group_id",
    "gtin",
    "mpn",
    "brand",
    "price",
    "sale_price",
    "currency",
    "availability",
    "quantity",
    "condition",
    "link",
    "image_link",
    "extra",
)
_to_json = json.JSONEncoder(ensure_ascii=False, separators=(",", ":")).encode


_SIGN = 1 << 63
_WRAP = 1 << 64


def stable_hash(text: str) -> int:
    """A signed 64-bit digest that is the same in every process (``hash()`` is not).

    XXH3 (the ``xxhash`` package): a change detector, not a security boundary, and
    eight times faster than BLAKE2 on a feed row; every row of every import pays it.
    """
    digest = xxh3_64_intdigest(text.encode("utf-8", "surrogatepass"))
    return digest - _WRAP if digest >= _SIGN else digest


@dataclass(slots=True)
class RowMessage:
    severity: str  # "error" (row not imported) or "warning" (imported anyway)
    error_type: str
    message: str


@dataclass(slots=True)
class PendingRow:
    """A record that has an id and a title, waiting for its batch's existence check."""

    row_number: int
    identifier: str
    cells: list[str]
    content_hash: int
    translation_hash: int
    title: str
    description: str | None


@dataclass(slots=True)
class ProductRow:
    """A normalised row, ready to write."""

    row_number: int
    marketplace_product_id: str
    neutral: tuple  # values in writer.NEUTRAL_COLUMNS order; extra already JSON text
    content_hash: int
    title: str
    description: str | None
    translation_hash: int
    warnings: str | None  # JSON list of [error_type, message], or None


@dataclass(frozen=True)
class Written:
    """What an import writes over an existing product: only what its feed has.

    A column the feed lacks leaves its field as it was.  ``fill`` fields are written only
    where the feed gives a value (a currency read from a price, an availability from a
    stock count); the attributes of ``extra`` are merged: the feed's own ``extra_keys``
    are replaced (or removed when blank), the others kept.
    """

    columns: tuple[str, ...]  # neutral fields written as read (NEUTRAL_FIELDS order)
    fill: tuple[str, ...] = ()  # neutral fields written where the feed gives a value
    extra_keys: frozenset[str] = frozenset()  # the feed's attribute names (none: extra kept)
    description: bool = True  # the feed has descriptions


@dataclass
class Rejected:
    """A record that is not imported (errors) or not a product at all (skipped)."""

    identifier: str | None
    messages: list[RowMessage] = field(default_factory=list)
    skipped: bool = False


def _getter(indices: list[int]):
    """``itemgetter`` that always returns a tuple, even for zero or one index."""
    if not indices:
        return lambda cells: ()
    if len(indices) == 1:
        index = indices[0]
        return lambda cells: (cells[index],)
    return itemgetter(*indices)


_NO_BRAND = {"", "none", "n/a", "na", "-", "null", "unknown", "no brand", "keine"}


def _brand(text: str) -> str | None:
    brand = text.strip()
    return None if brand.lower() in _NO_BRAND else brand[:255]


class RowBuilder:
    """Reads the cells of one feed's records, laid out as its :class:`ColumnMap` says."""

    def __init__(self, cmap: ColumnMap, *, fixed_width: bool = True):
        self.cmap = cmap
        self.fixed_width = fixed_width
        self.ncols = len(cmap.headers)
        self._i = cmap.index
        self._price_cache: dict[str, tuple] = {}
        self._small_cache: dict[tuple[str, str], object] = {}
        folded = {fold(h): i for i, h in enumerate(cmap.headers)}
        # Shopify exports: variants repeat the Handle with blank Title/Body/Vendor.
        self._shopify = "handle" in folded and "variantsku" in folded
        # Rows read in the light of the rows before them (the columnar path reads alone).
        self.has_special_rows = self._shopify
        self._handle_idx = folded.get("handle")
        self._option_idx = [
            folded[k] for k in ("option1value", "option2value", "option3value") if k in folded
        ]
        self._last_handle: str | None = None
        self._carry: dict[str, str] = {}
        self._id_idx = self._i.get("id")
        self._title_idx = self._i.get("title")
        self._desc_idx = self._i.get("description")
        text_idx = {self._i[n] for n in TEXT_FIELDS if n in self._i}
        hashed = [i for i in range(self.ncols) if i not in text_idx]
        # One C-level call pulls the cells that make the hash.
        self._hash_pick = _getter(hashed)
        # The hash of a row's neutral cells starts with the version and the names of the
        # columns hashed: the same cells under other columns write other fields, so they
        # must not read as unchanged.
        self.hash_prefix = (
            NORMALISATION_VERSION + "\x1e" + "\x1e".join(cmap.headers[i] for i in hashed)
        )
        self.has_description = self._desc_idx is not None

    def written(self) -> Written:
        """The fields this feed writes over an existing product (see :class:`Written`)."""
        index = self._i
        present = set(index) | ({"item_group_id"} if self._shopify else set())
        columns = [
            name
            for name in NEUTRAL_FIELDS
            if name in present and name not in ("currency", "availability", "extra")
        ]
        fill = []
        derived = (("currency", ("price", "sale_price")), ("availability", ("quantity",)))
        for name, source in derived:
            if name in index:
                columns.append(name)
            elif any(s in index for s in source):
                fill.append(name)
        keys = {header for _, header in self.cmap.extra}
        if "quantity" in index:
            keys.add(self.cmap.headers[index["quantity"]])
        order = {name: k for k, name in enumerate(NEUTRAL_FIELDS)}
        return Written(
            tuple(sorted(columns, key=order.__getitem__)),
            tuple(fill),
            frozenset(keys),
            self.has_description,
        )

    # -- step 1: every record ---------------------------------------------------------------

    def identify(self, row_number: int, cells: list[str]) -> PendingRow | Rejected:
        if len(cells) != self.ncols:
            if self.fixed_width and (
                len(cells) < self.ncols or "".join(cells[self.ncols :]).strip()
            ):
                return Rejected(
                    self._cell(cells, "id") or None,
                    [
                        RowMessage(
                            "error",
                            "parse_error",
                            f"the row has {len(cells)} values "
                            f"but the header has {self.ncols} columns",
                        )
                    ],
                )
            cells = (cells + [""] * self.ncols)[: self.ncols]
        if self._shopify and self._shopify_fill(cells):
            return Rejected(None, skipped=True)
        identifier = cells[self._id_idx].strip()
        title = cells[self._title_idx].strip() if self._title_idx is not None else ""
        if not identifier:
            return Rejected(None, [RowMessage("error", "missing_id", "the row has no product id")])
        if len(identifier) > MAX_ID_LENGTH:
            return Rejected(
                identifier[:MAX_ID_LENGTH],
                [
                    RowMessage(
                        "error",
                        "validation_error",
                        f"the product id is {len(identifier)} characters long "
                        f"(at most {MAX_ID_LENGTH})",
                    )
                ],
            )
        if not title:
            return Rejected(
                identifier,
                [
                    RowMessage(
                        "error",
                        "missing_title",
                        f"product {identifier!r} has no title",
                    )
                ],
            )
        if self._desc_idx is not None:
            description = cells[self._desc_idx].strip() or None
            translated = f"{title}\x1f{description}"
        else:
            # No description column: the stored description is left as it is, so the hash
            # must differ from a feed whose description is blank ("None").  A stripped
            # title never ends in a separator.
            description, translated = None, title + "\x1e"
        return PendingRow(
            row_number,
            identifier,
            cells,
            stable_hash(self.hash_prefix + "\x1f" + "\x1f".join(self._hash_pick(cells))),
            stable_hash(translated),
            title,
            description,
        )

    # -- step 2: new and changed rows -------------------------------------------------------

    def normalise(self, rows: list[PendingRow]) -> list[ProductRow | Rejected]:
        """Normalise a batch column by column.

        Each field is read for the whole batch with C-level ``map`` and value
        caches (prices, brands, availability words repeat across a catalogue),
        then the columns are zipped back into rows.  Per-row Python runs only
        for the rare row with a problem.
        """
        n = len(rows)
        if not n:
            return []
        table = [r.cells for r in rows]
        blank = [""] * n

        def column(name: str) -> list[str]:
            index = self._i.get(name)
            if index is None:
                return blank
            return [cells[index].strip() for cells in table]

        prices, price_currencies, price_problems = zip(
            *map(self._price, column("price")), strict=True
        )
        sales, sale_currencies, sale_problems = zip(
            *map(self._price, column("sale_price")), strict=True
        )
        gtins, gtin_problems = zip(*map(_gtin, column("gtin")), strict=True)
        quantity_texts = column("quantity")
        quantities = list(map(_quantity, quantity_texts))
        availability_texts = column("availability")
        if "quantity" in self._i:
            availabilities = list(map(parse_availability, availability_texts, quantities))
        else:
            availabilities = [self._cached("a", t, parse_availability) for t in availability_texts]
        currency_texts = column("currency")
        currencies = [
            pc or sc or (self._cached("c", ct, _currency) if ct else None)
            for pc, sc, ct in zip(price_currencies, sale_currencies, currency_texts, strict=True)
        ]
        brands = [self._cached("b", t, _brand) for t in column("brand")]
        conditions = [self._cached("k", t, parse_condition) for t in column("condition")]
        mpns = [t[:255] or None for t in column("mpn")]
        links = [t or None for t in column("link")]
        images = [t or None for t in column("image_link")]
        groups = [t or None for t in column("item_group_id")]
        if self._shopify and self._handle_idx is not None:
            handles = [cells[self._handle_idx].strip() for cells in table]
            groups = [h or g for h, g in zip(handles, groups, strict=True)]
        extras = self._extra_json(table, quantity_texts, quantities)
        sales = [
            None if problem else sale for sale, problem in zip(sales, sale_problems, strict=True)
        ]

        neutrals = zip(
            groups,
            gtins,
            mpns,
            brands,
            prices,
            sales,
            currencies,
            availabilities,
            quantities,
            conditions,
            links,
            images,
            extras,
            strict=True,
        )
        out: list[ProductRow | Rejected] = [
            ProductRow(
                r.row_number,
                r.identifier,
                neutral,
                r.content_hash,
                r.title,
                r.description,
                r.translation_hash,
                None,
            )
            for r, neutral in zip(rows, neutrals, strict=True)
        ]
        for k in range(n):
            if price_problems[k] or sale_problems[k] or gtin_problems[k]:
                out[k] = self._with_problems(
                    out[k], price_problems[k], sale_problems[k], gtin_problems[k]
                )
        return out

    def _with_problems(self, row: ProductRow, price_problem, sale_problem, gtin_problem):
        rejected, warnings = problem_outcome(
            row.marketplace_product_id, price_problem, sale_problem, gtin_problem
        )
        if rejected is not None:
            return rejected
        row.warnings = warnings
        return row

    def _extra_json(self, table, quantity_texts, quantities) -> list[str | None]:
        """Unmapped columns as JSON objects, built from per-column pre-encoded pairs."""
        parts = []
        for index, header in self.cmap.extra:
            key = _json_string(header) + ":"
            parts.append(
                [
                    key + _json_string(value) if (value := cells[index].strip()) else ""
                    for cells in table
                ]
            )
        if "quantity" in self._i:
            # A "quantity" that is no stock count (e.g. "100 ML") is kept as an attribute.
            key = _json_string(self.cmap.headers[self._i["quantity"]]) + ":"
            parts.append(
                [
                    key + _json_string(text) if text and quantity is None else ""
                    for text, quantity in zip(quantity_texts, quantities, strict=True)
                ]
            )
        if not parts:
            return [None] * len(table)
        return [
            "{" + joined + "}" if (joined := ",".join(filter(None, pairs))) else None
            for pairs in zip(*parts, strict=True)
        ]

    # -- helpers ----------------------------------------------------------------------------

    def row_data(self, cells: list[str]) -> dict[str, str]:
        """The row as a person reads it (header -> value), for the error viewer."""
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
        if not text:
            return _NO_PRICE
        cached = self._price_cache.get(text)
        if cached is None:
            try:
                cached = (*parse_price(text), None)
            except ValueError as exc:
                cached = (None, None, str(exc))
            if len(self._price_cache) < 20_000:
                self._price_cache[text] = cached
        return cached

    def _cached(self, kind: str, text: str, parse):
        """Values drawn from a small vocabulary (brand, condition...) are parsed once."""
        key = (kind, text)
        try:
            return self._small_cache[key]
        except KeyError:
            value = parse(text)
            if len(self._small_cache) < 20_000:
                self._small_cache[key] = value
            return value

    def _shopify_fill(self, cells: list[str]) -> bool:
        """Forward-fill a variant row from its product row; True for image-only rows."""
        handle = cells[self._handle_idx].strip()
        carried = ("title", "description", "brand")
        if handle and handle == self._last_handle:
            for name in carried:
                i = self._i.get(name)
                if i is not None and not cells[i].strip():
                    cells[i] = self._carry.get(name, "")
            no_variant = (
                not self._cell(cells, "id")
                and not self._cell(cells, "price")
                and not any(cells[i].strip() for i in self._option_idx)
            )
            if no_variant:
                return True
        else:
            self._last_handle = handle
            self._carry = {n: self._cell(cells, n) for n in carried}
        return False


def problem_outcome(
    identifier: str, price_problem, sale_problem, gtin_problem
) -> tuple[Rejected | None, str | None]:
    """(Rejected, None) when the price cannot be read, else (None, JSON warnings or None)."""
    if price_problem:
        return (
            Rejected(
                identifier,
                [RowMessage("error", "parse_error", f"the price cannot be read: {price_problem}")],
            ),
            None,
        )
    warnings = []
    if sale_problem:
        warnings.append(["validation_error", f"the sale price was left out: {sale_problem}"])
    if gtin_problem:
        warnings.append(["validation_error", f"imported without its GTIN: {gtin_problem}"])
    return None, (_to_json(warnings) if warnings else None)


_NO_PRICE = (None, None, None)
_json_string = json.encoder.encode_basestring  # C: a quoted JSON string, non-ASCII kept


def _gtin(text: str) -> tuple[str | None, str | None]:
    """(GTIN, None) or (None, why it was dropped)."""
    if not text:
        return None, None
    try:
        return parse_gtin(text), None
    except ValueError as exc:
        return None, str(exc)


def _quantity(text: str) -> int | None:
    if not text:
        return None
    if text.isdigit():
        return int(text)
    return parse_quantity(text)


def _currency(text: str) -> str | None:
    text = text.strip()
    if len(text) == 3 and text.isalpha():
        return text.upper()
    return CURRENCY_SYMBOLS.get(text.lower())


class ItemFields:
    """XML and JSON items as the list-of-cells form the builder reads, each item's fields
    mapped on their own.

    Items of one feed need not name their fields alike (``<title>`` in one, ``<g:title>``
    in the next; JSON keys that vary): each item's own names are mapped onto the canonical
    fields (:func:`~webapp.imports.mapping.map_columns`, ``g:`` names first), and the
    feed's columns are those canonical fields plus every other name, kept
    as an attribute.  Fields nested in a group (``g:shipping.g:price``) are attributes,
    never a product field.  :meth:`observe` every item first (the columns must be known
    before the first is written: a field of the file is written for every product, blank
    where an item lacks it), then :meth:`cells` each.
    """

    MAX_LAYOUTS = 4096  # distinct field lists whose mapping is remembered

    def __init__(self) -> None:
        self.headers: list[str] = []
        self._positions: dict[str, int] = {}
        self._layouts: dict[tuple, tuple[str, ...]] = {}

    def _names(self, fields: dict[str, str], nested: frozenset[str]) -> tuple[str, ...]:
        """The column name of each of an item's fields, in its order."""
        layout = (tuple(fields), nested)
        names = self._layouts.get(layout)
        if names is None:
            top = [k for k in fields if k not in nested]
            # Google's namespace first: an Atom entry's <id> is the entry's, <g:id> the
            # product's; an RSS item's <title> gives way to its <g:title>.
            top.sort(key=lambda k: not k.lower().startswith("g:"))
            cmap = map_columns(top)
            canonical = {top[i]: name for name, i in cmap.index.items()}
            # A name that gave way keeps its value as an attribute, under a name that
            # cannot be taken for the field's column.
            names = tuple(
                canonical.get(k) or (f"{k} (other)" if k in SYNONYMS else k) for k in fields
            )
            if len(self._layouts) >= self.MAX_LAYOUTS:
                self._layouts.clear()
            self._layouts[layout] = names
        return names

    def observe(self, fields: dict[str, str], nested: frozenset[str]) -> None:
        for name in self._names(fields, nested):
            if name not in self._positions:
                self._positions[name] = len(self.headers)
                self.headers.append(name)

    def cells(self, fields: dict[str, str], nested: frozenset[str]) -> list[str]:
        cells = [""] * len(self.headers)
        positions = self._positions
        for name, value in zip(self._names(fields, nested), fields.values(), strict=True):
            at = positions.get(name)
            if at is not None:  # (a field first seen after the survey: the file changed)
                cells[at] = value
        return cells

    def column_map(self) -> ColumnMap:
        """Canonical fields where their column is, every other column an attribute."""
        return ColumnMap(
            headers=list(self.headers),
            index={name: i for i, name in enumerate(self.headers) if name in SYNONYMS},
            extra=[
                (i, name.strip())
                for i, name in enumerate(self.headers)
                if name not in SYNONYMS and name.strip()
            ],
        )
