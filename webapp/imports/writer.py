"""Bulk, idempotent writes of one batch of canonical product rows.

``lookup`` finds in one round trip which ids of a batch exist, with their
content hashes; ``apply`` then writes new rows in bulk (PostgreSQL ``COPY``,
SQLite ``executemany``), updates changed rows, and leaves unchanged rows
untouched.  Everything happens on the caller's connection, inside the caller's
transaction, so a batch is committed with its run counts and messages or not
at all.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from webapp.imports.rows import ProductRow

NEUTRAL_COLUMNS = (
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
_PRICE_POSITIONS = (4, 5)


@dataclass(slots=True)
class Existing:
    id: int
    content_hash: int
    translation_hash: int | None
    warnings: str | None


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
    ):
        self.conn = dbapi_conn
        self.pg = dialect == "postgresql"
        self.p = "%s" if self.pg else "?"
        self.store_id = store_id
        self.marketplace = marketplace
        self.language = language
        self.run_id = run_id
        self._analyzed_at: int | None = None
        self._inserted = 0

    def lookup(self, ids: list[str]) -> dict[str, Existing]:
        cur = self.conn.cursor()
        try:
            if self.pg:
                # A batch is re-done from the source if a crash loses it, so the commit
                # need not wait for its WAL flush.
                cur.execute("SET LOCAL synchronous_commit = off")
                # Two imports of the same store and marketplace take turns per batch, so what
                # this lookup finds stays true until the batch's transaction commits.
                cur.execute(
                    "SELECT pg_advisory_xact_lock(hashtext(%s))",
                    (f"mp:{self.store_id}:{self.marketplace}",),
                )
                self._refresh_statistics(cur)
            return self._existing(cur, ids)
        finally:
            cur.close()

    def apply(
        self,
        new: list[ProductRow],
        changed: list[tuple[int, ProductRow]],
        translations: list[tuple[int, str, str | None, int]],
        now: datetime,
    ) -> None:
        """Insert ``new``, update ``changed`` (id, row), upsert ``translations``
        (id, title, description, hash) in this batch's transaction."""
        cur = self.conn.cursor()
        stamp = now if self.pg else now.strftime("%Y-%m-%d %H:%M:%S.%f")
        try:
            if new:
                self._insert_new(cur, new, stamp)
                self._inserted += len(new)
            if changed:
                self._update_changed(cur, changed, stamp)
            if translations:
                self._upsert_translations(cur, translations)
        finally:
            cur.close()

    # -- steps ----------------------------------------------------------------------------

    def _refresh_statistics(self, cur) -> None:
        """Keep PostgreSQL's row estimates honest while an import grows the table.

        Planned against the statistics of an empty table, the existence check
        scans the whole store once per batch; analysing whenever the table has
        doubled keeps it an index lookup at the cost of a few sampled reads.
        """
        if self._analyzed_at is None:
            cur.execute(
                "SELECT reltuples::bigint FROM pg_class WHERE relname = 'marketplace_products'"
            )
            self._analyzed_at = max(0, cur.fetchone()[0])
        if self._inserted >= max(5000, self._analyzed_at):
            cur.execute("ANALYZE marketplace_products, marketplace_product_translations")
            self._analyzed_at += self._inserted
            self._inserted = 0

    def _existing(self, cur, ids: list[str]) -> dict[str, Existing]:
        p = self.p
        sql = (
            "SELECT mp.marketplace_product_id, mp.id, mp.content_hash, t.content_hash, "
            "mp.import_warnings FROM marketplace_products mp "
            "LEFT JOIN marketplace_product_translations t "
            f"  ON t.marketplace_product_id = mp.id AND t.language = {p} "
            f"WHERE mp.store_id = {p} AND mp.marketplace = {p} AND mp.marketplace_product_id "
        )
        if self.pg:
            cur.execute(
                sql + "= ANY(%s)",
                (self.language, self.store_id, self.marketplace, ids),
                prepare=False,
            )
        else:
            placeholders = ",".join("?" * len(ids))
            cur.execute(
                sql + f"IN ({placeholders})", (self.language, self.store_id, self.marketplace, *ids)
            )
        return {row[0]: Existing(row[1], row[2], row[3], row[4]) for row in cur.fetchall()}

    def _values(self, row: ProductRow) -> tuple:
        if self.pg:
            return row.neutral
        values = list(row.neutral)
        for i in _PRICE_POSITIONS:  # SQLite has no Decimal type: store the exact text
            if values[i] is not None:
                values[i] = str(values[i])
        return tuple(values)

    def _insert_new(self, cur, rows: list[ProductRow], stamp) -> None:
        columns = (
            "store_id",
            "marketplace",
            "marketplace_product_id",
            *NEUTRAL_COLUMNS,
            "content_hash",
            "import_warnings",
            "last_import_job_id",
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
            return
        placeholders = ",".join("?" * len(columns))
        cur.executemany(
            f"INSERT INTO marketplace_products ({', '.join(columns)}) VALUES ({placeholders})",
            [
                (
                    *head,
                    row.marketplace_product_id,
                    *self._values(row),
                    row.content_hash,
                    row.warnings,
                    self.run_id,
                    stamp,
                    stamp,
                )
                for row in rows
            ],
        )
        ids = self._existing(cur, [r.marketplace_product_id for r in rows])
        cur.executemany(
            "INSERT INTO marketplace_product_translations "
            "(marketplace_product_id, language, title, description, content_hash) "
            "VALUES (?, ?, ?, ?, ?)",
            [
                (
                    ids[row.marketplace_product_id].id,
                    self.language,
                    row.title,
                    row.description,
                    row.translation_hash,
                )
                for row in rows
            ],
        )

    def _update_changed(self, cur, changed: list[tuple[int, ProductRow]], stamp) -> None:
        p = self.p
        assignments = ", ".join(f"{c} = {p}" for c in NEUTRAL_COLUMNS)
        cur.executemany(
            f"UPDATE marketplace_products SET {assignments}, content_hash = {p}, "
            f"import_warnings = {p}, last_import_job_id = {p}, updated_at = {p} WHERE id = {p}",
            [
                (*self._values(row), row.content_hash, row.warnings, self.run_id, stamp, pk)
                for pk, row in changed
            ],
        )

    def _upsert_translations(self, cur, rows: list[tuple[int, str, str | None, int]]) -> None:
        p = self.p
        cur.executemany(
            "INSERT INTO marketplace_product_translations "
            "(marketplace_product_id, language, title, description, content_hash) "
            f"VALUES ({p}, {p}, {p}, {p}, {p}) "
            "ON CONFLICT (marketplace_product_id, language) DO UPDATE SET "
            "title = excluded.title, description = excluded.description, "
            "content_hash = excluded.content_hash",
            [(pk, self.language, title, description, h) for pk, title, description, h in rows],
        )
