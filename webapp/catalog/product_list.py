"""The products page's reads: one page of a store's imported catalog, its filters and search.

A store may hold millions of products, so nothing here costs in proportion to the store
(``bench/products_pages.py`` measures it with 1,000,000):

* **Pages** are read newest first (``id`` descending) on ``(store_id, id)``; the pager's
  links carry the last (or first) id shown (``after`` / ``before``), so a deep page is read
  like the first one. A typed ``?page=N`` still works (the ids are skipped on the index).
* **Counts** stop at :data:`COUNT_CAP`: above it the page says "more than 1,000" and, for
  the list and its filters on PostgreSQL, the planner's estimate from the statistics
  ("about 1,000,000, an estimate"; imports ANALYZE after large writes).
* **Search** looks for words (:class:`Search`). A product matches when its id starts with
  the query (case aside), or when every word of the query is a word of its brand and GTIN,
  or of one of its titles; the last word may be the beginning of one ("chaise vel" finds
  "Chaise velours"). PostgreSQL reads words as its ``simple`` text-search configuration
  does (split at spaces and punctuation) and has indexes for all three (migration 0015).
  A search the planner expects in at most :data:`BROAD_MATCHES` rows reads every match
  through them. A broader one first reads the store's newest :data:`COUNT_SAMPLE` products:
  when its matches are dense enough there, the page walks the store newest first
  (:data:`SCAN_WINDOW` products a window, at most :data:`SCAN_WINDOWS` windows a request,
  saying so when it stops short) and the count is an estimate from that sample; otherwise
  (the words are common in another store's catalog, or the filters thin them out) the
  indexes answer after all. SQLite, for one development machine, always walks, with a
  stand-in for the word parser (punctuation turned into spaces, one ``LIKE`` a word).
"""

from __future__ import annotations

import functools
import json
import re
import string
from dataclasses import dataclass

from sqlalchemy import (
    Select,
    String,
    and_,
    bindparam,
    exists,
    func,
    literal_column,
    or_,
    select,
    union_all,
)
from sqlalchemy.orm import aliased, selectinload

from webapp.extensions import db
from webapp.models import MarketplaceProduct, MarketplaceProductTranslation

MP = MarketplaceProduct
MPT = MarketplaceProductTranslation

PER_PAGE = 25
COUNT_CAP = 1000
# A product can match by its id, its brand/GTIN and each of its three titles: reading this
# many matching rows proves more than COUNT_CAP products match.
PROBE_ROWS = 5 * COUNT_CAP + 1
# A search whose words the planner expects in more rows than this (all stores) may walk
# the store newest first instead of reading every match through the indexes.
BROAD_MATCHES = 2000
SCAN_WINDOW = 10_000
SCAN_WINDOWS = 3  # a page's walk reads at most this many windows
# A broad search counts its matches among the store's newest products, this many: all of
# them in a small store; in a bigger one, the total is estimated from them (and said so).
COUNT_SAMPLE = 2_500
MAX_WORDS = 8
MAX_ID = 2**31 - 1
# A last word shorter than this is not looked up in the index when other words are (a
# one- or two-letter prefix stands for a good part of the vocabulary); it is checked.
INDEX_PREFIX_MIN = 3

AVAILABILITIES = ("in_stock", "out_of_stock", "preorder", "backorder")
LANGUAGES = ("fr", "en", "de")

# SQLite's stand-in for PostgreSQL's word parser splits at these (and at spaces).
SEPARATORS = string.punctuation + "’‘“”«»–—…·•"
_WORD = re.compile(r"[^\W_]+")


def _sql_string(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


@functools.lru_cache(maxsize=8)
def _translation_table(source: str, target: str) -> dict[int, str | None]:
    table: dict[int, str | None] = {}
    for n, char in enumerate(source):
        table.setdefault(ord(char), target[n] if n < len(target) else None)
    return table


def sqlite_translate(text: str | None, source: str, target: str) -> str | None:
    """PostgreSQL's ``translate()`` for SQLite (registered on each connection)."""
    if text is None or source is None or target is None:
        return None
    return text.translate(_translation_table(source, target))


def words_of(text: str) -> list[str]:
    """The words a search looks for: runs of letters and digits, lower-cased, at most 8."""
    return [w[:64] for w in _WORD.findall(text.lower())][:MAX_WORDS]


def _indexable(word: str) -> bool:
    """Letters and ASCII digits: what PostgreSQL's parser reads as one word, as Python does
    (a superscript digit, say, is a digit to Python and a separator to PostgreSQL)."""
    return all(c.isalpha() or c in string.digits for c in word)


@dataclass
class Search:
    """What a query asks for: its words, and the beginning of an id."""

    words: list[str]
    id_start: str  # lower-cased, as typed

    @classmethod
    def of(cls, q: str) -> Search:
        typed = q.strip()[:255]
        return cls(words_of(typed), typed.lower())

    def id_test(self, product=MP):
        """The product's id starts with the query (case aside). The pattern is written into
        the statement, not bound: PostgreSQL turns a constant prefix into a range of
        ``ix_marketplace_products_store_sku``, which a prepared plan could not."""
        escaped = re.sub(r"([\\%_])", r"\\\1", self.id_start)
        pattern = bindparam(None, escaped + "%", String, literal_execute=True)
        return func.lower(product.marketplace_product_id).like(pattern, escape="\\")

    def _tsquery(self, for_index: bool) -> str | None:
        last = len(self.words) - 1
        terms = [
            f"{word}:*" if n == last else word
            for n, word in enumerate(self.words)
            if _indexable(word)
        ]
        if for_index and len(terms) > 1 and len(self.words[-1]) < INDEX_PREFIX_MIN:
            # "chaise c": every word starting with "c" would be read from the index; the
            # other words narrow it down enough, the prefix is checked on what they find.
            terms.pop()
        return " & ".join(terms) or None

    @property
    def tsquery(self) -> str | None:
        """Every word (PostgreSQL), the last as a prefix: what a product must match."""
        return self._tsquery(False)

    @property
    def index_tsquery(self) -> str | None:
        """What the index is asked (a short last word is only checked afterwards)."""
        return self._tsquery(True)

    @property
    def like_words(self) -> list[str]:
        """Words every match contains as a substring (PostgreSQL's cheap first test)."""
        return [w for w in self.words if _indexable(w)]


# -- the texts searched, identical in the queries and the migration's indexes ---------------


def _blank():
    return literal_column("''", String)


def _space():
    return literal_column("' '", String)


def codes_text(product=MP):
    """Brand and GTIN in one text (migration 0015 indexes exactly this expression)."""
    return func.coalesce(product.brand, _blank()) + _space() + func.coalesce(product.gtin, _blank())


def _config():
    # A literal, not a parameter, so PostgreSQL matches the indexed expression.
    return literal_column("'simple'::regconfig")


def _tsvector(expr):
    return func.to_tsvector(_config(), expr)


def _matches(expr, tsquery: str):
    return _tsvector(expr).op("@@")(func.to_tsquery(_config(), tsquery))


def _text_test(expr, search: Search):
    """``expr`` holds every word of the search (the last: the beginning of a word).

    PostgreSQL: the full-text match, after a substring test that rules out most rows for a
    fraction of its cost. SQLite: punctuation turned into spaces, then one LIKE per word."""
    if _is_postgresql():
        tsquery = search.tsquery
        if tsquery is None:
            return literal_column("false")
        lowered = func.lower(expr)
        return and_(*[lowered.like(f"%{w}%") for w in search.like_words], _matches(expr, tsquery))
    separated = func.translate(
        func.lower(expr),
        literal_column(_sql_string(SEPARATORS)),
        literal_column(_sql_string(" " * len(SEPARATORS))),
        type_=String,
    )
    padded = _space() + separated + _space()
    words = search.words
    return and_(*[padded.like(f"% {w} %") for w in words[:-1]], padded.like(f"% {words[-1]}%"))


# -- filters -------------------------------------------------------------------------------


@dataclass
class ProductFilters:
    q: str = ""
    availability: str = ""
    language: str = ""

    @classmethod
    def from_args(cls, args) -> ProductFilters:
        availability = (args.get("availability") or "").strip()
        language = (args.get("language") or "").strip()
        return cls(
            q=(args.get("q") or "").strip()[:255],
            availability=availability if availability in AVAILABILITIES else "",
            language=language if language in LANGUAGES else "",
        )

    def params(self) -> dict[str, str]:
        """The filters as query-string parameters (only those set), for links."""
        values = {"q": self.q, "availability": self.availability, "language": self.language}
        return {k: v for k, v in values.items() if v}


def _base_conditions(store_id: int, filters: ProductFilters, product=MP) -> list:
    conditions = [product.store_id == store_id]
    if filters.availability:
        conditions.append(product.availability == filters.availability)
    if filters.language:
        # An alias: the search's own join on the titles must not capture this test.
        language = aliased(MPT)
        conditions.append(
            exists().where(
                language.marketplace_product_id == product.id,
                language.language == filters.language,
            )
        )
    return conditions


def _search_condition(search: Search, product=MP):
    """The product's id is the query, or its brand/GTIN or one of its titles has the words."""
    tests = []
    if search.words:
        # OFFSET 0 keeps the title test a probe of each product's titles: without it the
        # planner may hash every matching title of every store first.
        titles = (
            select(literal_column("1"))
            .where(MPT.marketplace_product_id == product.id, _text_test(MPT.title, search))
            .offset(0)
        )
        tests += [_text_test(codes_text(product), search), titles.exists()]
    if search.id_start:
        tests.insert(0, search.id_test(product))
    return or_(*tests)


# -- the page ------------------------------------------------------------------------------


@dataclass
class ProductPage:
    items: list
    count: int | None = None  # exact, when known
    more_than: int | None = None  # "more than N" when the count stopped there
    estimate: int | None = None  # the planner's when the count stopped, or see below
    estimated_from: int | None = None  # the estimate comes from this many newest products
    page: int | None = None  # the page number, when known (a label)
    newer_before: int | None = None  # cursor of the previous page (newer products)
    older_after: int | None = None  # cursor of the next page (older products)
    searched: int | None = None  # products this page's search looked at, stopping short
    first_page: bool = True

    @property
    def has_newer(self) -> bool:
        return not self.first_page

    @property
    def has_older(self) -> bool:
        return self.older_after is not None

    @property
    def pages(self) -> int | None:
        if self.count is None:
            return None
        return max(1, -(-self.count // PER_PAGE))


@dataclass
class Cursor:
    """Where a page starts: ``after`` (ids below it, newest first), ``before`` (ids above it:
    the previous page), or a page number (offset, for typed URLs and old links). With a
    cursor, ``page`` is only the page's number as the links counted it (a label)."""

    after: int | None = None
    before: int | None = None
    page: int | None = None

    @classmethod
    def from_args(cls, args) -> Cursor:
        def number(name: str) -> int | None:
            value = (args.get(name) or "").strip()
            if value.isascii() and value.isdigit() and int(value) <= MAX_ID:
                return int(value)
            return None  # not a number, or past any id (ids are 32-bit integers)

        page = number("page")
        cursor = cls(after=number("after"), before=number("before"), page=page or None)
        if cursor.after is not None:
            cursor.before = None
        return cursor

    @property
    def offset(self) -> int:
        if self.after is None and self.before is None and self.page:
            return (self.page - 1) * PER_PAGE
        return 0


def _rows(ids: list[int]) -> list:
    if not ids:
        return []
    found = {
        p.id: p
        for p in db.session.scalars(
            select(MP).where(MP.id.in_(ids)).options(selectinload(MP.translations))
        )
    }
    return [found[i] for i in ids if i in found]


def _is_postgresql() -> bool:
    return db.engine.dialect.name == "postgresql"


def estimate_rows(query: Select) -> int | None:
    """PostgreSQL's estimate of the rows ``query`` returns (plans it, runs nothing)."""
    if not _is_postgresql():
        return None
    compiled = query.compile(dialect=db.engine.dialect, compile_kwargs={"render_postcompile": True})
    plan = (
        db.session.connection()
        .exec_driver_sql("EXPLAIN (FORMAT JSON) " + str(compiled), compiled.params)
        .scalar()
    )
    if isinstance(plan, str):
        plan = json.loads(plan)
    return int(plan[0]["Plan"]["Plan Rows"])


def product_page(store_id: int, filters: ProductFilters, cursor: Cursor) -> ProductPage:
    if filters.q:
        return _searched(store_id, filters, Search.of(filters.q), cursor)
    return _listed(store_id, filters, cursor)


# -- the list and its filters: ordered index scans ----------------------------------------


def _ordered_ids(conditions: list, cursor: Cursor, limit: int) -> tuple[list[int], bool]:
    """Ids of one page (newest first) and whether more lie beyond it in the reading
    direction (older ones; newer ones for a ``before`` cursor)."""
    query = select(MP.id).where(*conditions)
    if cursor.before is not None:
        query = query.where(MP.id > cursor.before).order_by(MP.id.asc())
        ids = list(db.session.scalars(query.limit(limit + 1)))
        return list(reversed(ids[:limit])), len(ids) > limit
    if cursor.after is not None:
        query = query.where(MP.id < cursor.after)
    query = query.order_by(MP.id.desc()).offset(cursor.offset or None)
    ids = list(db.session.scalars(query.limit(limit + 1)))
    return ids[:limit], len(ids) > limit


def _listed(store_id: int, filters: ProductFilters, cursor: Cursor) -> ProductPage:
    conditions = _base_conditions(store_id, filters)
    ids, more = _ordered_ids(conditions, cursor, PER_PAGE)
    page = ProductPage(items=_rows(ids))
    _navigation(page, ids, cursor, more)
    count = _capped_count(conditions)
    if count > COUNT_CAP:
        page.more_than = COUNT_CAP
        page.estimate = estimate_rows(select(MP.id).where(*conditions))
    else:
        page.count = count
    return page


def _navigation(page: ProductPage, ids: list[int], cursor: Cursor, more: bool) -> None:
    """Cursors and page label of a page read newest first (see _ordered_ids for ``more``)."""
    if cursor.before is not None:
        page.first_page = not more
        page.older_after = ids[-1] if ids else cursor.before + 1
        page.page = 1 if page.first_page else cursor.page
    else:
        page.first_page = cursor.after is None and not cursor.offset
        page.older_after = ids[-1] if more and ids else None
        page.page = cursor.page or (1 if page.first_page else None)
    if not page.first_page:
        page.newer_before = ids[0] if ids else max(0, (cursor.after or 1) - 1)


# -- search --------------------------------------------------------------------------------


def _searched(store_id: int, filters: ProductFilters, search: Search, cursor: Cursor):
    if not search.words and not search.id_start:
        return ProductPage(items=[], count=0)
    conditions = [*_base_conditions(store_id, filters), _search_condition(search)]
    if not _is_postgresql():
        return _walked_search(store_id, conditions, cursor, count=_capped_count(conditions))
    expected = _expected_matches(search) if search.index_tsquery is not None else 0
    if expected > BROAD_MATCHES:
        # The newest products show how dense the matches are in this store, with its
        # filters (the words may be common in another store's catalog only), and give the
        # count. Walking costs a read per product until a page is found; the indexes, one
        # per match of every store: the cheaper way serves the page.
        sample = _walk(store_id, conditions, None, COUNT_CAP + 1, windows=1, window=COUNT_SAMPLE)
        found = len(sample.found)
        walk_reads = (PER_PAGE + 1) * sample.looked / found if found else float("inf")
        if (
            found > PER_PAGE
            or sample.resume is None
            or walk_reads <= min(SCAN_WINDOW * SCAN_WINDOWS, 2 * expected)
        ):
            return _walked_search(store_id, conditions, cursor, sample=sample)
    rows = _probe(store_id, filters, search)
    if len(rows) < PROBE_ROWS:  # every match is in hand
        return _page_of_ids(sorted(set(rows), reverse=True), cursor)
    return _walked_search(store_id, conditions, cursor, more_than=COUNT_CAP)


def _capped_count(conditions: list) -> int:
    capped = select(MP.id).where(*conditions).limit(COUNT_CAP + 1).subquery()
    return db.session.scalar(select(func.count()).select_from(capped)) or 0


def _expected_matches(search: Search) -> int:
    """How many brands/GTINs and titles of all stores the planner expects to have the
    indexed words (from the indexes' statistics: nothing is read)."""
    expected = 0
    for text in (codes_text(), MPT.title):
        query = select(literal_column("1")).where(_matches(text, search.index_tsquery))
        expected += estimate_rows(query) or 0
    return expected


def _probe(store_id: int, filters: ProductFilters, search: Search) -> list[int]:
    """Matching product ids through the indexes (a product once per way it matches), at most
    PROBE_ROWS of them: the full-text indexes for the words, the key for the id."""
    base = _base_conditions(store_id, filters)
    branches = []
    if search.index_tsquery is not None:
        checks = [search.index_tsquery]
        if search.tsquery != search.index_tsquery:  # a short last word: checked afterwards
            checks.append(search.tsquery)
        branches += [
            select(MP.id).where(*base, *[_matches(codes_text(), q) for q in checks]),
            select(MP.id)
            .join(MPT, MPT.marketplace_product_id == MP.id)
            .where(*base, *[_matches(MPT.title, q) for q in checks]),
        ]
    if search.id_start:
        branches.append(select(MP.id).where(*base, search.id_test()))
    matches = union_all(*branches).subquery()
    return list(db.session.scalars(select(matches.c.id).limit(PROBE_ROWS)))


def _page_of_ids(ids: list[int], cursor: Cursor) -> ProductPage:
    """One page of a complete, newest-first list of ids."""
    if cursor.before is not None:
        start = max(0, sum(1 for i in ids if i > cursor.before) - PER_PAGE)
    elif cursor.after is not None:
        start = next((n for n, i in enumerate(ids) if i < cursor.after), len(ids))
    else:
        start = cursor.offset
    chosen = ids[start : start + PER_PAGE]
    page = ProductPage(items=_rows(chosen), count=len(ids))
    page.first_page = start == 0
    page.page = start // PER_PAGE + 1
    page.older_after = chosen[-1] if chosen and start + PER_PAGE < len(ids) else None
    if not page.first_page:
        page.newer_before = chosen[0] if chosen else (ids[-1] if ids else 0)
    return page


def _window_edge(store_id: int, beyond: int | None, older: bool, size: int) -> int | None:
    """The id ``size`` products of the store away from ``beyond`` (None: fewer left)."""
    query = select(MP.id).where(MP.store_id == store_id)
    if older:
        if beyond is not None:
            query = query.where(MP.id < beyond)
        query = query.order_by(MP.id.desc())
    else:
        query = query.where(MP.id > beyond).order_by(MP.id.asc())
    return db.session.scalar(query.offset(size - 1).limit(1))


@dataclass
class Walk:
    found: list[int]
    looked: int  # products read
    resume: int | None  # where to carry on when it stopped short; None: the store ended


def _walk(
    store_id: int,
    conditions: list,
    start: int | None,
    wanted: int,
    *,
    older: bool = True,
    windows: int | None = None,
    window: int | None = None,
) -> Walk:
    """Matching ids beyond ``start`` (older: below it, newest first; else above it, oldest
    first) until ``wanted`` are found, the store ends, or ``windows`` windows (SCAN_WINDOWS)
    of ``window`` products (SCAN_WINDOW) were read."""
    windows = windows or SCAN_WINDOWS
    window = window or SCAN_WINDOW
    walk = Walk([], 0, start)
    for _ in range(windows):
        edge = _window_edge(store_id, walk.resume, older, window)
        query = select(MP.id).where(*conditions)
        if older:
            if walk.resume is not None:
                query = query.where(MP.id < walk.resume)
            if edge is not None:
                query = query.where(MP.id >= edge)
            query = query.order_by(MP.id.desc())
        else:
            query = query.where(MP.id > walk.resume)
            if edge is not None:
                query = query.where(MP.id <= edge)
            query = query.order_by(MP.id.asc())
        walk.found += db.session.scalars(query.limit(wanted - len(walk.found))).all()
        walk.resume = edge
        if len(walk.found) >= wanted:
            walk.resume = None
            return walk
        walk.looked += window
        if edge is None:
            return walk
    return walk


def _walked_search(
    store_id: int,
    conditions: list,
    cursor: Cursor,
    *,
    sample: Walk | None = None,
    count: int | None = None,
    more_than: int | None = None,
) -> ProductPage:
    """A page found by walking the store (newest first, or oldest first back towards the
    newest), at most SCAN_WINDOWS windows of products a request. The count comes from
    ``count`` (exact up to COUNT_CAP), ``more_than``, or the walk of the newest products
    (``sample``), which also serves the first page."""
    if cursor.before is not None:
        walk = _walk(store_id, conditions, cursor.before, PER_PAGE + 1, older=False)
        ids = list(reversed(walk.found[:PER_PAGE]))
        page = ProductPage(items=_rows(ids))
        _navigation(page, ids, cursor, len(walk.found) > PER_PAGE or walk.resume is not None)
    else:
        offset = cursor.offset
        first = cursor.after is None and offset == 0
        if first and sample is not None and (len(sample.found) > PER_PAGE or sample.resume is None):
            walk = sample  # the first page lies within the newest products, already read
        elif first and sample is not None:
            rest = _walk(store_id, conditions, sample.resume, PER_PAGE + 1 - len(sample.found))
            walk = Walk(sample.found + rest.found, sample.looked + rest.looked, rest.resume)
        else:
            walk = _walk(store_id, conditions, cursor.after, offset + PER_PAGE + 1)
        found = walk.found[offset:]
        ids = found[:PER_PAGE]
        page = ProductPage(items=_rows(ids))
        _navigation(page, ids, cursor, len(found) > PER_PAGE)
        if len(found) <= PER_PAGE and walk.resume is not None:
            # Stopped short: the next page carries on from where this one stopped.
            page.older_after = walk.resume
            page.searched = walk.looked
    if count is not None:
        if count > COUNT_CAP:
            page.more_than = COUNT_CAP
        else:
            page.count = count
    elif more_than is not None:
        page.more_than = more_than
    elif len(sample.found) > COUNT_CAP:
        page.more_than = COUNT_CAP
    elif sample.resume is None:
        page.count = len(sample.found)
    else:
        products = estimate_rows(select(MP.id).where(MP.store_id == store_id)) or 0
        page.estimate = _round(len(sample.found) * max(products, sample.looked) / sample.looked)
        page.estimated_from = sample.looked
    return page


def _round(value: float) -> int:
    """Two significant digits: an estimate says no more than it knows."""
    if value < 100:
        return round(value)
    digits = len(str(int(value))) - 2
    return int(round(value, -digits))
