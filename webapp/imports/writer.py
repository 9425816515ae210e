"""Bulk, idempotent writes of one batch of canonical product rows.

One round trip finds which ids of the batch exist and with which content
hashes; new rows are then written in bulk (PostgreSQL ``COPY``, SQLite
``executemany``), changed rows updated, unchanged rows not touched at all.
Everything happens on the caller's connection, inside the caller's
transaction, so a batch is committed with its run counts and messages or not
at all.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime

NEUTRAL_COLUMNS = (
    "item_group_id", "gtin", "mpn", "brand", "price", "sale_price", "currency",
    "availability", "quantity", "condition", "link", "image_link", "extra",
)


@dataclass(slots=True)
class ProductRow:
    row_number: int
    marketplace_product_id: str
    neutral: tuple  # values in NEUTRAL_COLUMNS order; extra is a dict or None
    content_hash: int
    title: str
    description: str | None
    translation_hash: int


@dataclass
class BatchResult:
    imported: int = 0
    updated: int = 0
    unchanged: int = 0


class BatchWriter:
    """Writes batches for one (store, marketplace, language) import on one DBAPI connection."""

    def __init__(self, dbapi_conn, dialect: str, *, store_id: int, marketplace: str,
                 language: str, run_id: int):
        self.conn = dbapi_conn
        self.dialect = dialect
        self.store_id = store_id
        self.marketplace = marketplace
        self.language = language
        self.run_id = run_id
        self.pg = dialect == "postgresql"

    # -- public ---------------------------------------------------------------------------

    def write(self, rows: list[ProductRow], now: datetime) -> BatchResult:
        result = BatchResult()
        if not rows:
            return result
        cur = self.conn.cursor()
        try:
            if self.pg:
                # Two imports of the same store and marketplace take turns per batch, so the
                # existence check below stays true until this transaction commits.
                cur.execute(
                    "SELECT pg_advisory_xact_lock(hashtext(%s))",
                    (f"mp:{self.store_id}:{self.marketplace}",),
                )
            existing = self._existing(cur, [r.marketplace_product_id for r in rows])
            new, changed, tr_upserts = [], [], []
            for row in rows:
                found = existing.get(row.marketplace_product_id)
                if found is None:
                    new.append(row)
                    result.imported += 1
                    continue
                mp_id, content_hash, tr_hash = found
                product_changed = content_hash != row.content_hash
                tr_changed = tr_hash != row.translation_hash
                if product_changed:
                    changed.append((mp_id, row))
                if tr_changed:
                    tr_upserts.append((mp_id, row))
                if product_changed or tr_changed:
                    result.updated += 1
                else:
                    result.unchanged += 1
            if new:
                self._insert_new(cur, new, now)
            if changed:
                self._update_changed(cur, changed, now)
            if tr_upserts:
                self._upsert_translations(cur, tr_upserts)
        finally:
            cur.close()
        return result

    # -- steps ----------------------------------------------------------------------------

    def _existing(self, cur, ids: list[str]) -> dict[str, tuple[int, int, int | None]]:
        sql = (
            "SELECT mp.marketplace_product_id, mp.id, mp.content_hash, t.content_hash "
            "FROM marketplace_products mp "
            "LEFT JOIN marketplace_product_translations t "
            "  ON t.marketplace_product_id = mp.id AND t.language = {p} "
            "WHERE mp.store_id = {p} AND mp.marketplace = {p} AND mp.marketplace_product_id "
        )
        if self.pg:
            cur.execute(
                sql.format(p="%s") + "= ANY(%s)",
                (self.language, self.store_id, self.marketplace, ids),
            )
        else:
            placeholders = ",".join("?" * len(ids))
            cur.execute(
                sql.format(p="?") + f"IN ({placeholders})",
                (self.language, self.store_id, self.marketplace, *ids),
            )
        return {mpid: (pk, h, th) for mpid, pk, h, th in cur.fetchall()}

    def _product_values(self, row: ProductRow) -> tuple:
        values = list(row.neutral)
        extra = values[-1]
        values[-1] = json.dumps(extra, ensure_ascii=False) if extra else None
        return tuple(values)

    def _insert_new(self, cur, rows: list[ProductRow], now: datetime) -> None:
        columns = (
            "store_id", "marketplace", "marketplace_product_id", *NEUTRAL_COLUMNS,
            "content_hash", "last_import_job_id", "created_at", "updated_at",
        )
        if self.pg:
            cur.execute(
                "SELECT nextval('marketplace_products_id_seq') FROM generate_series(1, %s)",
                (len(rows),),
            )
            ids = [r[0] for r in cur.fetchall()]
            with cur.copy(
                f"COPY marketplace_products (id, {', '.join(columns)}) FROM STDIN"
            ) as copy:
                for pk, row in zip(ids, rows, strict=True):
                    copy.write_row((
                        pk, self.store_id, self.marketplace, row.marketplace_product_id,
                        *self._product_values(row), row.content_hash, self.run_id, now, now,
                    ))
            with cur.copy(
                "COPY marketplace_product_translations "
                "(marketplace_product_id, language, title, description, content_hash) FROM STDIN"
            ) as copy:
                for pk, row in zip(ids, rows, strict=True):
                    copy.write_row(
                        (pk, self.language, row.title, row.description, row.translation_hash)
                    )
            return
        placeholders = ",".join("?" * len(columns))
        cur.executemany(
            f"INSERT INTO marketplace_products ({', '.join(columns)}) VALUES ({placeholders})",
            [
                (self.store_id, self.marketplace, row.marketplace_product_id,
                 *self._sqlite_values(row), row.content_hash, self.run_id, now, now)
                for row in rows
            ],
        )
        ids = self._existing(cur, [r.marketplace_product_id for r in rows])
        cur.executemany(
            "INSERT INTO marketplace_product_translations "
            "(marketplace_product_id, language, title, description, content_hash) "
            "VALUES (?, ?, ?, ?, ?)",
            [
                (ids[row.marketplace_product_id][0], self.language, row.title,
                 row.description, row.translation_hash)
                for row in rows
            ],
        )

    def _sqlite_values(self, row: ProductRow) -> tuple:
        values = list(self._product_values(row))
        for i in (4, 5):  # price, sale_price: SQLite has no Decimal type
            if values[i] is not None:
                values[i] = str(values[i])
        return tuple(values)

    def _update_changed(self, cur, changed: list[tuple[int, ProductRow]], now) -> None:
        p = "%s" if self.pg else "?"
        assignments = ", ".join(f"{c} = {p}" for c in NEUTRAL_COLUMNS)
        values = self._product_values if self.pg else self._sqlite_values
        cur.executemany(
            f"UPDATE marketplace_products SET {assignments}, content_hash = {p}, "
            f"last_import_job_id = {p}, updated_at = {p} WHERE id = {p}",
            [
                (*values(row), row.content_hash, self.run_id, now, mp_id)
                for mp_id, row in changed
            ],
        )

    def _upsert_translations(self, cur, rows: list[tuple[int, ProductRow]]) -> None:
        p = "%s" if self.pg else "?"
        cur.executemany(
            "INSERT INTO marketplace_product_translations "
            "(marketplace_product_id, language, title, description, content_hash) "
            f"VALUES ({p}, {p}, {p}, {p}, {p}) "
            "ON CONFLICT (marketplace_product_id, language) DO UPDATE SET "
            "title = excluded.title, description = excluded.description, "
            "content_hash = excluded.content_hash",
            [
                (mp_id, self.language, row.title, row.description, row.translation_hash)
                for mp_id, row in rows
            ],
        )
