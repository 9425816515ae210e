"""Bulk, idempotent writes of one batch of canonical product rows.

``lookup`` finds in one round trip which ids of a batch exist, with their
content hashes; ``apply`` then writes new rows in bulk (PostgreSQL ``COPY``,
SQLite ``executemany``), updates changed rows, and leaves unchanged rows
untouched.  Everything happens on the caller's connection, inside the caller's
transaction, so a batch is committed with its run counts and messages or not
at all.
"""

from __future__ import annotations

import json
import sqlite3
import sys
from array import array
from dataclasses import dataclass, field
from datetime import datetime
from functools import lru_cache
from itertools import chain, islice
from operator import itemgetter
from typing import NamedTuple

import pyarrow as pa

from webapp.imports import pgbinary
from webapp.imports.columnar import csv_bytes
from webapp.imports.rows import NEUTRAL_FIELDS, ProductRow, Written

NEUTRAL_COLUMNS = NEUTRAL_FIELDS
_PRICE_POSITIONS = (4, 5)
# What an import writes of a new product (besides its id and times), in COPY's order.
PRODUCT_COLUMNS = (
    "store_id",
    "marketplace",
    "marketplace_product_id",
    *NEUTRAL_COLUMNS,
    "content_hash",
    "import_warnings",
    "last_import_job_id",
)


def text_array(values: list[str]) -> str:
    """A PostgreSQL array literal of strings, every element quoted (commas, braces, spaces,
    quotes and backslashes all survive)."""
    return (
        "{"
        + ",".join('"' + v.replace("\\", "\\\\").replace('"', '\\"') + '"' for v in values)
        + "}"
    )


# SQLite's multi-row inserts of new products: ?1 store, ?2 marketplace, ?3 time, ?4 run;
# then per row its id, hashes, warnings and neutral columns.  Translations: ?1 language,
# ?2 the last product id before the batch; per row the product's rank, texts, hash.
_PRODUCTS_SQL = (
    "INSERT INTO marketplace_products (store_id, marketplace, created_at, updated_at, "
    "last_import_job_id, marketplace_product_id, content_hash, import_warnings, "
    + ", ".join(NEUTRAL_COLUMNS)
    + ") VALUES "
)
_PRODUCT_ROW = ("?1", "?2", "?3", "?3", "?4", *["%s"] * (3 + len(NEUTRAL_COLUMNS)))
_TRANSLATIONS_SQL = (
    "INSERT INTO marketplace_product_translations "
    "(language, marketplace_product_id, title, description, content_hash) VALUES "
)
_TRANSLATION_ROW = ("?1", "?2 + %s", "%s", "%s", "%s")


# Rows per SQLite statement: enough that a database thread seldom takes the GIL, few
# enough that a compiled statement stays small (SQLite caches a few of them).
ROWS_PER_STATEMENT = 250


@lru_cache(maxsize=64)
def _values(rows: int, row: tuple[str, ...], constants: int) -> str:
    """The VALUES list of ``rows`` rows shaped like ``row``: each "%s" becomes the next
    numbered parameter after the ``constants`` ones."""
    width = sum(part.count("%s") for part in row)
    out = []
    for r in range(rows):
        numbers = iter(range(constants + 1 + r * width, constants + 1 + (r + 1) * width))
        out.append(
            "("
            + ", ".join(
                part.replace("%s", f"?{next(numbers)}") if "%s" in part else part for part in row
            )
            + ")"
        )
    return ",".join(out)


@dataclass(slots=True)
class NewRows:
    """New rows of a batch, ready to insert (see BatchWriter.prepare_new)."""

    n: int
    columns: tuple | None = None  # PostgreSQL: the columns, for COPY
    ids: list[int] | None = None  # PostgreSQL, ids reserved: their ids and COPY payloads
    copies: list[tuple[str, list[bytes]]] = field(default_factory=list)
    products: list = field(default_factory=list)  # SQLite: (rows, parameters) per statement
    translations: list = field(default_factory=list)


class Existing(NamedTuple):
    """A product the lookup found: a row of its query, read by name (a tuple: no object
    to build per row)."""

    marketplace_product_id: str
    id: int
    content_hash: int
    translation_hash: int | None
    warnings: str | None


class Found(NamedTuple):
    """What :meth:`BatchWriter.lookup` found of a batch's ids."""

    same_ranks: array  # ranks (in the ids looked up) of products stored exactly as read
    same_ids: array  # their product ids (primary keys), in the same order
    others: dict[str, Existing]  # every other product found, by id


# A re-import reads the feed in the order of its first import, which is the order of the
# catalog's ids: the products of a batch are most often the next ones after the last
# product of the previous batch.  So the batch's ids are matched (hash join) against
# one range of the store's products read in id order from there (``after``), the
# translations of that range likewise, and only the ids the range missed are probed
# one by one in the unique key - on a re-import of 1,000,000 products, two index
# probes a row were most of the server's work.  Products stored exactly as read come
# back packed (rank, id) in one value; every other product found, one row each; the
# summary row also says how many the range found and the last id found.  The range is
# read in the primary key, within 3 batches' worth of ids whatever the plan (``+ 0`` and
# ``|| ''`` keep the store's unique key out of it: without statistics, the planner
# scanned the whole store in that one, then sorted).
_LOOKUP_HASHES_SQL = """
WITH w AS MATERIALIZED (
  SELECT * FROM unnest(%(ids)s::text[], %(hashes)s::int8[], %(translated)s::int8[])
    WITH ORDINALITY AS w(wanted, h, th, ord)),
r AS MATERIALIZED (
  SELECT m.id, m.marketplace_product_id, m.content_hash, m.import_warnings
  FROM marketplace_products m
  WHERE %(after)s::int4 IS NOT NULL AND m.id > %(after)s::int4
    AND m.id <= %(after)s::int4 + 3 * %(n)s
    AND m.store_id + 0 = %(store)s AND m.marketplace || '' = %(marketplace)s
  ORDER BY m.id LIMIT %(n)s),
f AS MATERIALIZED (
  SELECT w.ord, w.wanted, w.h, w.th, r.id, r.content_hash, r.import_warnings,
    t.content_hash AS translation_hash, true AS in_range
  FROM w JOIN r ON r.marketplace_product_id = w.wanted
  LEFT JOIN marketplace_product_translations t
    ON t.marketplace_product_id = r.id AND t.language = %(language)s
    AND t.marketplace_product_id BETWEEN (SELECT min(id) FROM r) AND (SELECT max(id) FROM r)
  UNION ALL
  SELECT w.ord, w.wanted, w.h, w.th, m.id, m.content_hash, m.import_warnings,
    (SELECT t.content_hash FROM marketplace_product_translations t
     WHERE t.marketplace_product_id = m.id AND t.language = %(language)s), false
  FROM w CROSS JOIN LATERAL (
    SELECT m.id, m.content_hash, m.import_warnings FROM marketplace_products m
    WHERE m.store_id = %(store)s AND m.marketplace = %(marketplace)s
      AND m.marketplace_product_id = w.wanted LIMIT 1) m
  WHERE NOT EXISTS (SELECT 1 FROM r WHERE r.marketplace_product_id = w.wanted))
SELECT NULL, NULL, NULL, NULL, NULL,
  string_agg(int4send(ord::int4 - 1) || int4send(id), ''::bytea)
    FILTER (WHERE content_hash = h AND translation_hash = th AND import_warnings IS NULL),
  count(*) FILTER (WHERE in_range), max(id)
FROM f
UNION ALL
SELECT wanted, id, content_hash, translation_hash, import_warnings, NULL, NULL, NULL
FROM f WHERE NOT COALESCE(content_hash = h AND translation_hash = th
    AND import_warnings IS NULL, false)
"""


def _int_array(values: list[int]) -> str:
    return "{" + ",".join(map(str, values)) + "}"


def _copy(table: str, columns: list[pa.Array], names: list[str], binary: bool):
    """(COPY statement, payload in parts) of ``columns`` into ``table``."""
    if binary:
        parts, form = pgbinary.encode(columns, names), "binary"
    else:
        parts, form = [csv_bytes(columns, names)], "csv"
    return f"COPY {table} ({', '.join(names)}) FROM STDIN WITH (FORMAT {form})", parts


class BatchWriter:
    """Writes batches for one (store, marketplace, language) import on one DBAPI connection."""

    def __init__(
        self,
        dbapi_conn,
        dialect: str,
        *,
        store_id: int,
        marketplace: str,
        language: str,
        run_id: int,
        connect_aside=None,
    ):
        self.conn = dbapi_conn
        self.pg = dialect == "postgresql"
        self.p = "%s" if self.pg else "?"
        self.store_id = store_id
        self.marketplace = marketplace
        self.language = language
        self.run_id = run_id
        self.fresh = False  # holds the marketplace's session lock (claim_fresh)
        self.restore: dict[str, int] = {}  # SQLite pragmas to put back (start/finish)
        # lookup on PostgreSQL: read the catalog in ranges from the product after
        # ``after`` while the feed's order follows the catalog's (see _LOOKUP_HASHES_SQL).
        self.sequential = True
        self.after: int | None = None
        self.misses = 0
        # A second pooled connection (a callable giving one), for ids taken outside the
        # batch's connection: see open_aside.
        self.connect_aside = connect_aside
        self.aside = None
        # What an update writes of an existing product: the fields the feed has (the
        # engine sets it from its row builder).
        self.written = Written(tuple(NEUTRAL_COLUMNS))

    # SQLite writes each commit to its write-ahead log and copies the log into the database
    # (a checkpoint, with an fsync) once it holds 1,000 pages: after nearly every batch of a
    # large import.  The import lets the log grow to 64 MB between checkpoints, so pages
    # that several batches touch (index pages) are copied once, and syncs are fewer.
    IMPORT_WAL_PAGES = 65536

    # An import appends: its page cache need not hold more than the index pages it is
    # filling (the app's 32 MB default would be a third of the import's memory).
    IMPORT_CACHE_KIB = 4096

    def start(self) -> None:
        """Set the import's SQLite pragmas on this (pooled) connection; ``finish`` puts
        back the values it had."""
        if self.pg:
            return
        for name, value in (
            ("wal_autocheckpoint", self.IMPORT_WAL_PAGES),
            ("cache_size", -self.IMPORT_CACHE_KIB),
        ):
            self.restore[name] = self._pragma(f"PRAGMA {name}")[0]
            self._pragma(f"PRAGMA {name} = {value}")

    def finish(self) -> None:
        if self.aside is not None:
            aside, self.aside = self.aside, None
            try:
                aside.driver_connection.autocommit = False
            except Exception:  # noqa: BLE001 - a broken connection: the pool drops it
                aside.invalidate()
            aside.close()  # back to the pool
        if self.fresh:
            # Also after a failure: a pooled connection would keep a session lock.
            self.fresh = False
            self.conn.rollback()  # nothing is pending after a run; after a failure, its batch
            self._pragma("SELECT pg_advisory_unlock_all()")
            self.conn.commit()
        for name, value in self.restore.items():
            self._pragma(f"PRAGMA {name} = {int(value)}")
        self.restore.clear()

    def _pragma(self, statement: str):
        """Execute ``statement``; its first row, if any."""
        cur = self.conn.cursor()
        try:
            cur.execute(statement)
            return cur.fetchone()
        finally:
            cur.close()

    def claim_fresh(self) -> bool:
        """On PostgreSQL: whether this run may skip looking up the ids it has not read
        before - the store has no product of this marketplace yet, and this run holds the
        marketplace's lock for as long as it runs (another import of it waits, at its
        first batch).  Released by :meth:`finish`.  SQLite's lookups cost next to
        nothing: always False there."""
        if not self.pg:
            return False
        cur = self.conn.cursor()
        try:
            cur.execute("SELECT pg_try_advisory_lock(hashtext(%s))", (self._lock_key(),))
            if not cur.fetchone()[0]:
                self.conn.commit()
                return False
            cur.execute(
                "SELECT NOT EXISTS (SELECT 1 FROM marketplace_products "
                "WHERE store_id = %s AND marketplace = %s)",
                (self.store_id, self.marketplace),
            )
            fresh = cur.fetchone()[0]
            if not fresh:
                cur.execute("SELECT pg_advisory_unlock(hashtext(%s))", (self._lock_key(),))
            self.conn.commit()
            self.fresh = fresh
            return fresh
        finally:
            cur.close()

    def _lock_key(self) -> str:
        return f"mp:{self.store_id}:{self.marketplace}"

    def lookup(
        self, ids: list[str], content_hashes: list[int], translation_hashes: list[int]
    ) -> Found:
        """Which of a batch's ``ids`` exist, given the hashes the batch read for them:
        products stored exactly as read (both hashes equal, no stored warning) come back
        as two packed arrays, not one row each - on a re-import, nearly every product.

        PostgreSQL compares the hashes; SQLite's lookups cost next to nothing and give
        every product found as a row."""
        cur = self.conn.cursor()
        try:
            self._lock_batch(cur)
            if not self.pg or not ids:
                return Found(array("I"), array("I"), self._existing(cur, ids))
            tried = self.sequential and self.after is not None
            # Hash joins whatever the statistics say (a catalog just imported has none:
            # a nested loop over the range, planned for one row, took seconds a batch).
            cur.execute("SET LOCAL enable_nestloop = off")
            cur.execute(
                _LOOKUP_HASHES_SQL,
                {
                    "ids": text_array(ids),
                    "hashes": _int_array(content_hashes),
                    "translated": _int_array(translation_hashes),
                    "store": self.store_id,
                    "marketplace": self.marketplace,
                    "language": self.language,
                    "after": self.after if tried else None,
                    "n": len(ids),
                },
                prepare=False,
            )
            rows = cur.fetchall()
            cur.execute("SET LOCAL enable_nestloop = on")
        finally:
            cur.close()
        pairs = array("I")  # unsigned: pyroaring takes the buffer as it is
        others = {}
        hits = last = 0
        for row in rows:
            if row[0] is None:
                hits, last = row[6] or 0, row[7]
                if row[5]:
                    pairs.frombytes(row[5])
                    if sys.byteorder == "little":
                        pairs.byteswap()  # int4send is big-endian
            else:
                others[row[0]] = Existing._make(row[:5])
        self._follow(len(ids), tried, hits, last)
        return Found(pairs[0::2], pairs[1::2], others)

    def open_aside(self) -> bool:
        """On PostgreSQL, open the connection :meth:`reserve_aside` takes ids on (closed by
        :meth:`finish`); whether there is one."""
        if not self.pg or self.connect_aside is None:
            return False
        if self.aside is None:
            self.aside = self.connect_aside()
            self.aside.driver_connection.autocommit = True
        return True

    def reserve_aside(self, n: int) -> list[int]:
        """``n`` new product ids, taken on the connection aside (any thread but the one
        using the batch's connection)."""
        cur = self.aside.driver_connection.cursor()
        try:
            return self._reserve(cur, n)
        finally:
            cur.close()

    @staticmethod
    def _reserve(cur, n: int) -> list[int]:
        """``n`` new product ids (a sequence is not transactional: ids a rollback or a
        batch with fewer new rows leaves unused are gaps, as with any insert)."""
        cur.execute(
            "SELECT nextval('marketplace_products_id_seq') FROM generate_series(1, %s)", (n,)
        )
        return [r[0] for r in cur.fetchall()]

    def _follow(self, wanted: int, tried: bool, hits: int, last: int | None) -> None:
        """The next batch's range starts after the last product this one found.  Two
        ranges in a row that found less than half their batch (a feed in another order
        than the catalog) turn ranges off for the rest of the run."""
        if tried:
            self.misses = 0 if hits * 2 >= wanted else self.misses + 1
            if self.misses >= 2:
                self.sequential = False
        if last is not None:
            self.after = last

    def _lock_batch(self, cur) -> None:
        if self.pg:
            # A batch is re-done from the source if a crash loses it, so the commit
            # need not wait for its WAL flush.  The lookup is always a probe of the
            # unique key: statistics taken while the table was small (or never) would
            # plan it as a scan of the whole store on every batch.
            cur.execute(
                "SET LOCAL synchronous_commit = off; SET LOCAL enable_seqscan = off; "
                "SET LOCAL enable_mergejoin = off; SET LOCAL jit = off"
            )
            # Two imports of the same store and marketplace take turns per batch, so what
            # this lookup finds stays true until the batch's transaction commits.
            cur.execute("SELECT pg_advisory_xact_lock(hashtext(%s))", (self._lock_key(),))
        elif not self.conn.in_transaction:
            # Take SQLite's write lock now, so the ids and the max(id) read below stay
            # true until this batch commits (another writer waits on busy_timeout).
            cur.execute("BEGIN IMMEDIATE")

    def apply(
        self,
        new: list[ProductRow],
        changed: list[tuple[int, ProductRow]],
        translations: list[tuple[int, str, str | None, int]],
        now: datetime,
    ) -> list[int]:
        """Insert ``new``, update ``changed`` (id, row), upsert ``translations``
        (id, title, description, hash) in this batch's transaction; the new rows' ids."""
        cur = self.conn.cursor()
        stamp = now if self.pg else now.strftime("%Y-%m-%d %H:%M:%S.%f")
        ids: list[int] = []
        try:
            if new:
                ids = self._insert_new(cur, new, stamp)
            if changed:
                self._update_changed(cur, changed, stamp)
            if translations:
                self._upsert_translations(cur, translations)
        finally:
            cur.close()
        return ids

    # -- run bookkeeping on the same connection ------------------------------------------

    def save_messages(self, messages: list[tuple]) -> None:
        """(run id, severity, type, row number, identifier, text, row data JSON, created at)."""
        if not messages:
            return
        p = self.p
        cur = self.conn.cursor()
        try:
            cur.executemany(
                "INSERT INTO marketplace_import_errors (import_job_id, severity, error_type, "
                "row_number, identifier, error_message, row_data, created_at) "
                f"VALUES ({p}, {p}, {p}, {p}, {p}, {p}, {p}, {p})",
                messages,
            )
        finally:
            cur.close()

    def save_counts(self, counts: dict[str, int], now: datetime) -> None:
        p = self.p
        names = sorted(counts)
        cur = self.conn.cursor()
        try:
            cur.execute(
                "UPDATE marketplace_import_jobs SET "
                + ", ".join(f"{name} = {p}" for name in names)
                + f", updated_at = {p} WHERE id = {p}",
                (*(counts[n] for n in names), now, self.run_id),
            )
        finally:
            cur.close()

    def commit(self) -> None:
        self.conn.commit()

    # -- steps ----------------------------------------------------------------------------

    def _existing(self, cur, ids: list[str]) -> dict[str, Existing]:
        if not ids:
            return {}
        if self.pg:
            # One probe of the unique key per id, whatever the statistics say: planned as
            # "= ANY(...)", a table analysed while small (or never) is scanned for the whole
            # store on every batch, which makes a large import quadratic.
            cur.execute(
                "SELECT m.marketplace_product_id, m.id, m.content_hash, "
                "  (SELECT t.content_hash FROM marketplace_product_translations t "
                "   WHERE t.marketplace_product_id = m.id AND t.language = %s), "
                "  m.import_warnings "
                "FROM unnest(%s::text[]) AS wanted(id) "
                "CROSS JOIN LATERAL (SELECT m.marketplace_product_id, m.id, m.content_hash, "
                "  m.import_warnings FROM marketplace_products m WHERE m.store_id = %s "
                "  AND m.marketplace = %s AND m.marketplace_product_id = wanted.id LIMIT 1) m",
                (self.language, text_array(ids), self.store_id, self.marketplace),
                prepare=False,
            )
        else:
            placeholders = ",".join("?" * len(ids))
            cur.execute(
                "SELECT mp.marketplace_product_id, mp.id, mp.content_hash, t.content_hash, "
                "mp.import_warnings FROM marketplace_products mp "
                "LEFT JOIN marketplace_product_translations t "
                "  ON t.marketplace_product_id = mp.id AND t.language = ? "
                "WHERE mp.store_id = ? AND mp.marketplace = ? "
                f"AND mp.marketplace_product_id IN ({placeholders})",
                (self.language, self.store_id, self.marketplace, *ids),
            )
        found = list(map(Existing._make, cur.fetchall()))
        return dict(zip(map(itemgetter(0), found), found, strict=True))

    def _values(self, row: ProductRow) -> tuple:
        if self.pg:
            return row.neutral
        values = list(row.neutral)
        for i in _PRICE_POSITIONS:  # SQLite has no Decimal type: store the exact text
            if values[i] is not None:
                values[i] = str(values[i])
        return tuple(values)

    def _insert_new(self, cur, rows: list[ProductRow], stamp) -> list[int]:
        columns = (
            *PRODUCT_COLUMNS,
            "created_at",
            "updated_at",
        )
        head = (self.store_id, self.marketplace)
        if self.pg:
            cur.execute(
                "SELECT nextval('marketplace_products_id_seq') FROM generate_series(1, %s)",
                (len(rows),),
            )
            ids = [r[0] for r in cur.fetchall()]
            with cur.copy(f"COPY marketplace_products (id, {', '.join(columns)}) FROM STDIN") as cp:
                for pk, row in zip(ids, rows, strict=True):
                    cp.write_row(
                        (
                            pk,
                            *head,
                            row.marketplace_product_id,
                            *row.neutral,
                            row.content_hash,
                            row.warnings,
                            self.run_id,
                            stamp,
                            stamp,
                        )
                    )
            with cur.copy(
                "COPY marketplace_product_translations "
                "(marketplace_product_id, language, title, description, content_hash) FROM STDIN"
            ) as cp:
                for pk, row in zip(ids, rows, strict=True):
                    cp.write_row(
                        (pk, self.language, row.title, row.description, row.translation_hash)
                    )
            return ids
        # The batch holds SQLite's write lock (see lookup): the next ids are ours.
        cur.execute("SELECT COALESCE(MAX(id), 0) + 1 FROM marketplace_products")
        first = cur.fetchone()[0]
        ids = range(first, first + len(rows))
        placeholders = ",".join("?" * (len(columns) + 1))
        cur.executemany(
            f"INSERT INTO marketplace_products (id, {', '.join(columns)}) VALUES ({placeholders})",
            [
                (
                    pk,
                    *head,
                    row.marketplace_product_id,
                    *self._values(row),
                    row.content_hash,
                    row.warnings,
                    self.run_id,
                    stamp,
                    stamp,
                )
                for pk, row in zip(ids, rows, strict=True)
            ],
        )
        cur.executemany(
            "INSERT INTO marketplace_product_translations "
            "(marketplace_product_id, language, title, description, content_hash) "
            "VALUES (?, ?, ?, ?, ?)",
            [
                (pk, self.language, row.title, row.description, row.translation_hash)
                for pk, row in zip(ids, rows, strict=True)
            ],
        )
        return list(ids)

    def prepare_new(
        self,
        ids: list[str],
        neutral: list[pa.Array],
        content_hashes: list[int],
        warnings: list[str | None],
        titles: pa.Array,
        descriptions: pa.Array,
        translation_hashes: list[int],
        reserved: list[int] | None = None,
    ) -> NewRows:
        """New rows given as columns (prices as exact decimal text), made ready for
        :meth:`insert_new` in the thread that builds them: on SQLite, the parameters of
        each multi-row statement, so the database thread seldom needs the GIL; on
        PostgreSQL, given their ids (``reserved``: reserve_aside), the COPY payloads, so
        the database thread only sends them."""
        n = len(ids)
        if self.pg and reserved is not None:
            return NewRows(
                n,
                ids=reserved,
                copies=self._copies(
                    reserved,
                    ids,
                    neutral,
                    content_hashes,
                    warnings,
                    titles,
                    descriptions,
                    translation_hashes,
                ),
            )
        if self.pg:
            return NewRows(
                n,
                columns=(
                    ids,
                    neutral,
                    content_hashes,
                    warnings,
                    titles,
                    descriptions,
                    translation_hashes,
                ),
            )
        products = self._chunks(
            zip(ids, content_hashes, warnings, *(c.to_pylist() for c in neutral), strict=True),
            n,
            3 + len(NEUTRAL_COLUMNS),
            4,
        )
        translations = self._chunks(
            zip(
                range(1, n + 1),  # the product's rank in the batch; its id is last id + rank
                titles.to_pylist(),
                descriptions.to_pylist(),
                translation_hashes,
                strict=True,
            ),
            n,
            4,
            2,
        )
        return NewRows(n, products=products, translations=translations)

    def _chunks(self, rows, n: int, width: int, constants: int) -> list[tuple[int, list]]:
        """(rows, parameters) of each statement, as many rows as SQLite allows; the first
        ``constants`` parameters are left for :meth:`insert_new` to fill."""
        limit = self.conn.getlimit(sqlite3.SQLITE_LIMIT_VARIABLE_NUMBER)
        per = max(1, min(ROWS_PER_STATEMENT, (limit - constants) // width))
        rows = iter(rows)
        out = []
        while n > 0:
            k = min(per, n)
            params = [None] * constants
            params.extend(chain.from_iterable(islice(rows, k)))
            out.append((k, params))
            n -= k
        return out

    def insert_new(self, new: NewRows, now: datetime) -> list[int]:
        """Insert rows prepared by :meth:`prepare_new`; their ids."""
        n = new.n
        cur = self.conn.cursor()
        try:
            if self.pg:
                # created_at and updated_at: the server's default, this transaction's
                # start in UTC (migration 0010), not two timestamps parsed per row.
                if new.ids is None:  # no connection aside took ids for it
                    new.ids = self._reserve(cur, n)
                    new.copies = self._copies(new.ids, *new.columns)
                for statement, parts in new.copies:
                    with cur.copy(statement) as cp:
                        for part in parts:
                            cp.write(part)
                return new.ids
            # SQLite: multi-row INSERTs with numbered parameters: the constants are bound
            # once per statement (?1...), so a statement's text depends only on its row
            # count and SQLite's statement cache keeps a handful of them, whatever the
            # run.  One statement per ~2,000 rows (not one step per row) also lets the
            # database thread run without taking the GIL 5,000 times.
            stamp = now.strftime("%Y-%m-%d %H:%M:%S.%f")
            cur.execute("SELECT COALESCE(MAX(id), 0) FROM marketplace_products")
            last = cur.fetchone()[0]
            for k, params in new.products:
                params[:4] = (self.store_id, self.marketplace, stamp, self.run_id)
                cur.execute(_PRODUCTS_SQL + _values(k, _PRODUCT_ROW, 4), params)
            # The batch holds the write lock: its rows took the ids after the largest.
            cur.execute("SELECT last_insert_rowid()")
            if cur.fetchone()[0] != last + n:
                raise RuntimeError("new product ids are not consecutive")
            for k, params in new.translations:
                params[:2] = (self.language, last)
                cur.execute(_TRANSLATIONS_SQL + _values(k, _TRANSLATION_ROW, 2), params)
            return list(range(last + 1, last + 1 + n))
        finally:
            cur.close()

    def _copies(
        self, pks, ids, neutral, content_hashes, warnings, titles, descriptions, t_hashes
    ) -> list[tuple[str, list[bytes]]]:
        """The COPYs of new products with ids ``pks``, then of their translations."""
        return [
            self._encode_new(pks, ids, neutral, content_hashes, warnings),
            self._encode_translations(pks, titles, descriptions, t_hashes),
        ]

    def _encode_new(self, pks, ids, neutral, content_hashes, warnings) -> tuple[str, list[bytes]]:
        """The COPY of new products: binary (pgbinary) unless a price is not plain, then
        CSV (the server rounds what binary would not hold)."""
        n = len(pks)
        neutral = list(neutral)
        prices = [pgbinary.numeric(neutral[i]) for i in _PRICE_POSITIONS]
        binary = None not in prices
        if binary:
            for i, name in enumerate(NEUTRAL_COLUMNS):
                if name == "quantity":
                    neutral[i] = pgbinary.int32(neutral[i])
                elif i not in _PRICE_POSITIONS:
                    neutral[i] = pgbinary.strings(neutral[i])
            for i, encoded in zip(_PRICE_POSITIONS, prices, strict=True):
                neutral[i] = encoded
        columns = [
            pa.array(pks, type=pa.int32()),
            pa.repeat(pa.scalar(self.store_id, pa.int32()), n),
            pa.repeat(pa.scalar(self.marketplace, pa.string()), n),
            pa.array(ids, type=pa.string()),
            *neutral,
            pa.array(content_hashes, type=pa.int64()),
            pa.array(warnings, type=pa.string()),
            pa.repeat(pa.scalar(self.run_id, pa.int32()), n),
        ]
        return _copy("marketplace_products", columns, ["id", *PRODUCT_COLUMNS], binary)

    def _encode_translations(self, pks, titles, descriptions, hashes) -> tuple[str, list[bytes]]:
        n = len(pks)
        columns = [
            pa.array(pks, type=pa.int32()),
            pa.repeat(pa.scalar(self.language, pa.string()), n),
            pgbinary.strings(titles),
            pgbinary.strings(descriptions),
            pa.array(hashes, type=pa.int64()),
        ]
        names = ["marketplace_product_id", "language", "title", "description", "content_hash"]
        return _copy("marketplace_product_translations", columns, names, True)

    def _update_changed(self, cur, changed: list[tuple[int, ProductRow]], stamp) -> None:
        """Update changed products with what the feed has (``self.written``): a column the
        feed lacks leaves its field as it was."""
        p, written = self.p, self.written
        picked = [NEUTRAL_COLUMNS.index(c) for c in written.columns]
        filled = [NEUTRAL_COLUMNS.index(c) for c in written.fill]
        assignments = [f"{c} = {p}" for c in written.columns]
        assignments += [f"{c} = COALESCE({p}, {c})" for c in written.fill]
        extras = None
        if written.extra_keys:
            assignments.append(f"extra = {p}")
            extras = self._merged_extras(cur, changed, written.extra_keys)
        rows = []
        for pk, row in changed:
            values = self._values(row)
            rows.append(
                (
                    *(values[i] for i in picked),
                    *(values[i] for i in filled),
                    *((extras[pk],) if extras is not None else ()),
                    row.content_hash,
                    row.warnings,
                    self.run_id,
                    stamp,
                    pk,
                )
            )
        cur.executemany(
            f"UPDATE marketplace_products SET {', '.join(assignments + [''])}"
            f"content_hash = {p}, import_warnings = {p}, last_import_job_id = {p}, "
            f"updated_at = {p} WHERE id = {p}",
            rows,
        )

    def _merged_extras(self, cur, changed, keys: frozenset[str]) -> dict[int, str | None]:
        """The extra attributes each changed product gets: the feed's (``keys``: replaced,
        or removed when blank) over the stored ones the feed does not name."""
        ids = [pk for pk, _ in changed]
        if self.pg:
            cur.execute(
                "SELECT id, extra FROM marketplace_products WHERE id = ANY(%s)",
                (ids,),
                prepare=False,
            )
        else:
            cur.execute(
                "SELECT id, extra FROM marketplace_products "  # noqa: S608 - placeholders only
                f"WHERE id IN ({','.join('?' * len(ids))})",
                ids,
            )
        stored = dict(cur.fetchall())
        return {pk: merge_extra(stored.get(pk), row.neutral[-1], keys) for pk, row in changed}

    def _upsert_translations(self, cur, rows: list[tuple[int, str, str | None, int]]) -> None:
        p = self.p
        # A feed without descriptions leaves the stored description as it is.
        texts = "description = excluded.description, " if self.written.description else ""
        cur.executemany(
            "INSERT INTO marketplace_product_translations "
            "(marketplace_product_id, language, title, description, content_hash) "
            f"VALUES ({p}, {p}, {p}, {p}, {p}) "
            "ON CONFLICT (marketplace_product_id, language) DO UPDATE SET "
            f"title = excluded.title, {texts}content_hash = excluded.content_hash",
            [(pk, self.language, title, description, h) for pk, title, description, h in rows],
        )


_to_json = json.JSONEncoder(ensure_ascii=False, separators=(",", ":")).encode


def merge_extra(stored, read: str | None, keys: frozenset[str]) -> str | None:
    """The attributes a feed read (``read``, JSON; its attribute names ``keys``) over the
    ``stored`` ones (JSON text, or already decoded) it does not name; in that order."""
    if isinstance(stored, str):
        try:
            stored = json.loads(stored)
        except ValueError:
            return read
    if not isinstance(stored, dict):
        return read
    kept = {k: v for k, v in stored.items() if k not in keys}
    if not kept:
        return read
    merged = json.loads(read) if read else {}
    for key, value in kept.items():
        merged.setdefault(key, value)
    return _to_json(merged)
