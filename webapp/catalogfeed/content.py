"""What a catalog feed says: the store's published products with their overrides, texts per
language with fallback, and the account's available quantity, as CSV (Google Shopping column
names, plus Letzshop's language-suffixed columns for a Letzshop account) or RSS 2.0 with the
``g:`` namespace.

Nothing is built in memory: one streamed query (a server-side cursor on PostgreSQL) in SKU
code-point order is merge-joined with :func:`webapp.stock.availability.iter_available`
(same order), and each row becomes bytes as it is read; the CSV on PostgreSQL is one query
whose lines the database writes, the quantities joined in set-based
(:func:`webapp.stock.availability.available_select`). The only quantities read are the
stock module's.
"""

from __future__ import annotations

import csv
import hashlib
import re
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from decimal import ROUND_HALF_UP, Decimal
from xml.sax.saxutils import escape

import sqlalchemy as sa

from webapp.csvsafe import defuse
from webapp.extensions import db
from webapp.models import (
    Account,
    MarketplaceProduct,
    MarketplaceProductTranslation,
    Product,
    ProductTranslation,
    Store,
)
from webapp.models.catalog import FALLBACK_LANGUAGES
from webapp.stock import availability

LANGUAGES = ("fr", "en", "de")
GOOGLE_COLUMNS = (
    "id",
    "item_group_id",
    "title",
    "description",
    "link",
    "image_link",
    "availability",
    "price",
    "sale_price",
    "gtin",
    "mpn",
    "brand",
    "condition",
    "quantity",
)
# Letzshop reads a catalog's texts per language from suffixed columns (its own CSV export,
# seed 001, has one URL per language; one file with title_fr, title_en, ... carries them all).
LETZSHOP_COLUMNS = tuple(
    f"{field}_{lang}" for field in ("title", "description") for lang in LANGUAGES
)
G_NS = "http://base.google.com/ns/1.0"
BATCH = 2000

_MP = MarketplaceProduct.__table__
_P = Product.__table__
_MPT = MarketplaceProductTranslation.__table__
_PT = ProductTranslation.__table__


def feed_language(language: str | None, store: Store) -> str:
    """The feed's language setting, else the store's default language."""
    return language if language in LANGUAGES else (store.default_language or "fr")


def columns_for(account: Account) -> tuple[str, ...]:
    if account.connector == "letzshop":
        return GOOGLE_COLUMNS + LETZSHOP_COLUMNS
    return GOOGLE_COLUMNS


# -- the query ---------------------------------------------------------------------------


def _text(field: str, language: str, joined: dict):
    """The store's own text in ``language``, else the source's, then fr, en, de likewise
    (the fallback ``MarketplaceProduct.translation`` uses; an empty store text falls back)."""
    chain = []
    for lang in dict.fromkeys((language, *FALLBACK_LANGUAGES)):
        pt, mpt = joined[lang]
        chain.append(sa.func.nullif(pt.c[field], ""))
        chain.append(sa.func.nullif(mpt.c[field], ""))
    return sa.func.coalesce(*chain)


def rows_query(account: Account, language: str, *, letzshop: bool):
    """The feed's rows, in SKU code-point order (the order ``iter_available`` yields)."""
    source = _P.join(_MP, _MP.c.id == _P.c.marketplace_product_id)
    joined = {}
    for lang in LANGUAGES:
        pt = _PT.alias(f"pt_{lang}")
        mpt = _MPT.alias(f"mpt_{lang}")
        source = source.outerjoin(pt, sa.and_(pt.c.product_id == _P.c.id, pt.c.language == lang))
        source = source.outerjoin(
            mpt, sa.and_(mpt.c.marketplace_product_id == _MP.c.id, mpt.c.language == lang)
        )
        joined[lang] = (pt, mpt)
    texts = [
        _text("title", language, joined).label("title"),
        _text("description", language, joined).label("description"),
    ]
    if letzshop:
        texts += [
            _text(field, lang, joined).label(f"{field}_{lang}")
            for field in ("title", "description")
            for lang in LANGUAGES
        ]
    return (
        sa.select(
            _MP.c.marketplace_product_id.label("sku"),
            _MP.c.item_group_id,
            *texts,
            _MP.c.link,
            _MP.c.image_link,
            sa.func.coalesce(_P.c.availability, _MP.c.availability).label("availability"),
            _P.c.is_active,
            sa.func.coalesce(_P.c.price, _MP.c.price).label("price"),
            sa.func.coalesce(_P.c.sale_price, _MP.c.sale_price).label("sale_price"),
            _MP.c.currency,
            _MP.c.gtin,
            _MP.c.mpn,
            _MP.c.brand,
            sa.func.coalesce(_P.c.condition, _MP.c.condition).label("condition"),
        )
        .select_from(source)
        .where(_P.c.store_id == account.store_id)
        .order_by(availability.sku_order(_MP.c.marketplace_product_id), _P.c.id)
    )


# -- rows as the feed says them ----------------------------------------------------------

MINOR_UNITS = {"JPY": 0, "KRW": 0, "BHD": 3, "KWD": 3, "TND": 3}


def money(value: Decimal | None, currency: str | None) -> str:
    """ "18.50 EUR": the currency's minor units, half away from zero (as PostgreSQL rounds)."""
    if value is None:
        return ""
    currency = (currency or "EUR").upper()
    places = Decimal(1).scaleb(-MINOR_UNITS.get(currency, 2))
    return f"{Decimal(value).quantize(places, rounding=ROUND_HALF_UP)} {currency}"


def feed_availability(raw: str | None, is_active: bool, quantity: int) -> str:
    """Google's values: inactive, or in stock with nothing to sell, is out_of_stock."""
    value = (raw or "in_stock").strip().lower().replace(" ", "_")
    if not is_active:
        return "out_of_stock"
    if value == "in_stock" and quantity <= 0:
        return "out_of_stock"
    return value


def _stream(query) -> Iterator[tuple]:
    """The query's rows as plain tuples, streamed. On PostgreSQL straight from a psycopg
    server-side cursor in the session's transaction (BATCH rows a round trip, no SQLAlchemy
    row objects: at a million rows they cost more than the rest of the line); elsewhere
    SQLAlchemy's own streaming."""
    connection = db.session.connection()
    if connection.dialect.name != "postgresql":
        result = connection.execute(query.execution_options(stream_results=True, yield_per=BATCH))
        try:
            yield from result
        finally:
            result.close()
        return
    compiled = query.compile(dialect=connection.dialect)
    raw = connection.connection.driver_connection
    with raw.cursor(name="catalog_feed") as cursor:
        cursor.itersize = BATCH
        cursor.execute(str(compiled), compiled.params)
        yield from cursor


def _merged(rows, stock: Iterator[tuple[str, int]]) -> Iterator[tuple]:
    """(row, quantity): both streams ascend by SKU code point; a SKU stock does not list is 0."""
    current_sku, current_qty = None, 0
    exhausted = False
    for row in rows:
        sku = row[0]
        while not exhausted and (current_sku is None or current_sku < sku):
            try:
                current_sku, current_qty = next(stock)
            except StopIteration:
                exhausted, current_sku = True, None
        yield row, (current_qty if current_sku == sku else 0)


def iter_rows(account: Account, store: Store, language: str | None = None) -> Iterator[list]:
    """Each published product as the list of its cells, in :func:`columns_for`'s order,
    streamed (titles and descriptions in ``language``, else the store's default, with
    fallback). Cells are text, not yet escaped for any format."""
    language = feed_language(language, store)
    letzshop = account.connector == "letzshop"
    query = rows_query(account, language, letzshop=letzshop)
    result = _stream(query)
    stock = availability.iter_available(account)
    extra = 6 if letzshop else 0
    try:
        for row, quantity in _merged(result, stock):
            (sku, group, title, description, *rest) = row
            texts, rest = rest[:extra], rest[extra:]
            link, image, avail, active, price, sale, currency, gtin, mpn, brand, cond = rest
            if sale is not None and (price is None or sale >= price):
                sale = None
            if not active:
                quantity = 0
            cells = [
                sku,
                group or "",
                title or "",
                description or "",
                link or "",
                image or "",
                feed_availability(avail, active, quantity),
                money(price, currency),
                money(sale, currency),
                gtin or "",
                mpn or "",
                brand or "",
                cond or "new",
                str(quantity if quantity > 0 else 0),
            ]
            if extra:
                cells.extend(text or "" for text in texts)
            yield cells
    finally:
        stock.close()
        result.close()


# -- CSV -----------------------------------------------------------------------------------


def iter_csv(account: Account, store: Store, language: str | None = None) -> Iterator[str]:
    """The feed as CSV lines, the header first. On PostgreSQL the database writes each whole
    line (cells defused and quoted exactly as :class:`CsvWriter` does, the account's
    available quantity joined in by :func:`webapp.stock.availability.available_select`),
    read by COPY: at a million rows, any per-cell Python is what would cost. Elsewhere
    :func:`iter_rows` and :class:`CsvWriter`. The tests run both and expect the same bytes."""
    columns = columns_for(account)
    if db.session.connection().dialect.name != "postgresql":
        writer = CsvWriter()
        writer.header(columns)
        yield from writer.out
        writer.out.clear()
        rows = iter_rows(account, store, language)
        try:
            for cells in rows:
                writer.row(cells)
                yield from writer.out
                writer.out.clear()
        finally:
            rows.close()
        return
    yield ",".join(columns) + "\r\n"
    availability.set_based_session()
    language = feed_language(language, store)
    query = _pg_lines_query(account, language, letzshop=account.connector == "letzshop")
    yield from _copy_lines(query)


def _copy_lines(query) -> Iterator[str]:
    """The query's one text column, streamed by ``COPY (query) TO STDOUT`` in the session's
    transaction: COPY is how PostgreSQL sends rows fastest (with parallel workers when the
    plan has them, which a cursor never has), and psycopg parses its rows in C."""
    connection = db.session.connection()
    compiled = query.compile(
        dialect=connection.dialect, compile_kwargs={"render_postcompile": True}
    )
    raw = connection.connection.driver_connection
    with (
        raw.cursor() as cursor,
        cursor.copy(f"COPY ({compiled}) TO STDOUT", compiled.params) as copy,
    ):
        copy.set_types(["text"])
        for (line,) in copy.rows():
            yield line


_FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")  # webapp.csvsafe.FORMULA_STARTS
_PLAIN_NUMBER = "^[+-]?[0-9]+(\\.[0-9]+)?$"  # webapp.csvsafe._PLAIN_NUMBER
_QUOTED = ('"', ",", "\r", "\n")  # what csv.writer (QUOTE_MINIMAL, "\r\n") quotes


def _sql_cell(expr):
    """``expr`` as one CSV cell, in SQL: defused, then quoted when it must be. No regular
    expression on the common path (a million rows of twenty cells): the first character
    decides whether the number test runs, ``strpos`` whether the cell is quoted (the
    defusing quote adds nothing that needs quoting)."""
    text = sa.func.coalesce(expr, "")
    defused = sa.case(
        (
            sa.func.left(text, 1).in_(_FORMULA_STARTS),
            sa.case(
                (text.regexp_match(_PLAIN_NUMBER), text),
                else_=sa.func.concat("'", text),
            ),
        ),
        else_=text,
    )
    return sa.case(
        (
            sa.or_(*(sa.func.strpos(text, char) > 0 for char in _QUOTED)),
            sa.func.concat('"', sa.func.replace(defused, '"', '""'), '"'),
        ),
        else_=defused,
    )


def _sql_money(value, currency):
    code = sa.func.upper(sa.func.coalesce(currency, "EUR"))
    scale = sa.case(*((code == name, places) for name, places in MINOR_UNITS.items()), else_=2)
    return sa.case(
        (value.is_(None), ""),
        else_=sa.func.concat(sa.cast(sa.func.round(value, scale), sa.Text), " ", code),
    )


def stock_joined(account: Account, language: str, *, letzshop: bool):
    """The feed's rows (:func:`rows_query`, unordered, plus the product id) with the
    account's available quantity (``stock.available``, NULL when the stock does not know
    the SKU) joined in: (the subquery of rows, the stock subquery, the join)."""
    inner = (
        rows_query(account, language, letzshop=letzshop)
        .order_by(None)
        .add_columns(_P.c.id.label("product_id"))
        .subquery("feed")
    )
    stock = availability.available_select(account, published_only=True).subquery("stock")
    return inner, stock, inner.outerjoin(stock, stock.c.sku == inner.c.sku)


def sql_quantity(c, stock):
    """The quantity cell's value: the available quantity, 0 for an inactive product."""
    return sa.case(
        (c.is_active, sa.func.greatest(sa.func.coalesce(stock.c.available, 0), 0)), else_=0
    )


def _sql_availability(c, quantity):
    """:func:`feed_availability` in SQL."""
    raw = sa.func.coalesce(sa.func.nullif(c.availability, ""), "in_stock")
    value = sa.func.replace(sa.func.lower(sa.func.btrim(raw, " \t\n\r\x0b\x0c")), " ", "_")
    return sa.case(
        (sa.not_(c.is_active), "out_of_stock"),
        (sa.and_(value == "in_stock", quantity <= 0), "out_of_stock"),
        else_=value,
    )


def _pg_lines_query(account: Account, language: str, *, letzshop: bool):
    """Each row of the feed as its whole CSV line, written by the database, in the feed's
    order."""
    inner, stock, source = stock_joined(account, language, letzshop=letzshop)
    c = inner.c
    quantity = sql_quantity(c, stock)
    sale = sa.case((sa.and_(c.price.is_not(None), c.sale_price < c.price), c.sale_price))
    cells = [_sql_cell(cell) for cell in (c.sku, c.item_group_id, c.title, c.description)]
    cells += [
        _sql_cell(c.link),
        _sql_cell(c.image_link),
        _sql_cell(_sql_availability(c, quantity)),
        _sql_money(c.price, c.currency),
        _sql_money(sale, c.currency),
        _sql_cell(c.gtin),
        _sql_cell(c.mpn),
        _sql_cell(c.brand),
        _sql_cell(sa.func.coalesce(c.condition, "new")),
        sa.cast(quantity, sa.Text),
    ]
    if letzshop:
        cells += [_sql_cell(c[name]) for name in LETZSHOP_COLUMNS]
    line = sa.func.concat(sa.func.concat_ws(",", *cells), "\r\n")
    return sa.select(line).select_from(source).order_by(availability.sku_order(c.sku), c.product_id)


# A row with a cell that starts like a formula (rare): found with one search of the joined row.
_FORMULA_CELL = re.compile("\x1f[=+\\-@\t\r]")


class _Sink(list):
    write = list.append


class CsvWriter:
    """RFC 4180 lines (``csv.writer``, in C) into a list of strings the caller drains, every
    cell defused as :mod:`webapp.csvsafe` does (checked once per row, defused per cell only
    in the rare row that needs it)."""

    def __init__(self) -> None:
        self.out = _Sink()
        self._writer = csv.writer(self.out, lineterminator="\r\n")

    def header(self, columns: tuple[str, ...]) -> None:
        self._writer.writerow(columns)

    def row(self, cells: list[str]) -> None:
        if _FORMULA_CELL.search("\x1f" + "\x1f".join(cells)):
            cells = [defuse(cell) for cell in cells]
        self._writer.writerow(cells)


# -- XML -----------------------------------------------------------------------------------

# Characters XML 1.0 cannot carry at all, even escaped: dropped.
_XML_INVALID = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]")
XML_FIELDS = (
    ("g:id", "id"),
    ("g:item_group_id", "item_group_id"),
    ("title", "title"),
    ("description", "description"),
    ("link", "link"),
    ("g:image_link", "image_link"),
    ("g:availability", "availability"),
    ("g:price", "price"),
    ("g:sale_price", "sale_price"),
    ("g:gtin", "gtin"),
    ("g:mpn", "mpn"),
    ("g:brand", "brand"),
    ("g:condition", "condition"),
    ("g:quantity", "quantity"),
)


def xml_text(value: str) -> str:
    return escape(_XML_INVALID.sub("", value))


def xml_head(store: Store) -> str:
    return (
        '<?xml version="1.0" encoding="UTF-8"?>\n'
        f'<rss version="2.0" xmlns:g="{G_NS}">\n<channel>\n'
        f"<title>{xml_text(store.name)}</title>\n"
        f"<description>{xml_text(store.name)} catalog</description>\n"
    )


XML_TAIL = "</channel>\n</rss>\n"


_XML_TAGS = tuple(tag for tag, _name in XML_FIELDS)


def xml_item(cells: list[str]) -> str:
    """One ``<item>`` of a row from :func:`iter_rows` (the Google columns come first)."""
    parts = ["<item>"]
    for tag, value in zip(_XML_TAGS, cells, strict=False):
        if value:
            parts.append(f"<{tag}>{xml_text(value)}</{tag}>")
    parts.append("</item>\n")
    return "".join(parts)


# -- validators ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Version:
    etag: str
    last_modified: datetime | None


def version(account: Account, fmt: str, token_hash: str, language: str | None) -> Version:
    """ETag and Last-Modified from the store's catalog: max(updated_at) of its products and
    their sources (an index probe each, migration 0022) and the number of published products,
    never reading the rows, and the stock's (:func:`webapp.stock.availability.stock_version`):
    a stock movement or a change of the account's rules changes both."""
    store_id = account.store_id
    store_language = db.session.scalar(
        sa.select(Store.default_language).where(Store.id == store_id)
    )
    p_max, p_count = db.session.execute(
        sa.select(sa.func.max(_P.c.updated_at), sa.func.count()).where(_P.c.store_id == store_id)
    ).one()
    mp_max = db.session.scalar(
        sa.select(sa.func.max(_MP.c.updated_at)).where(_MP.c.store_id == store_id)
    )
    stock_levels, stock_rules = availability.stock_version(account)
    stock_part = f"{stock_levels}|{stock_rules}"
    stamps = [s for s in (p_max, mp_max, stock_levels, stock_rules) if s is not None]
    last = max(stamps) if stamps else None
    parts = (
        account.id,
        account.connector,
        store_language,
        language,
        fmt,
        token_hash,
        p_max,
        mp_max,
        p_count,
        stock_part,
    )
    digest = hashlib.sha256(repr(parts).encode()).hexdigest()[:32]
    return Version(etag=f'"{digest}"', last_modified=last)
