"""Many rows in one statement: the bulk writes of the order book and of outbound calls.

Generic: a table, rows as dicts, the unique columns whose clash skips a row. SQLite gets an
executemany; PostgreSQL gets the rows as one JSON parameter, and several tables' rows in one
statement (:class:`Inserts`), so a page of orders costs a round trip, not one per row.
"""

from __future__ import annotations

from decimal import Decimal

import orjson
from sqlalchemy import text
from sqlalchemy.dialects import sqlite

from webapp.extensions import db


def _json_default(value):
    if isinstance(value, Decimal):
        return str(value)
    raise TypeError(f"{type(value).__name__} is not JSON serialisable")


def bulk_insert(table, rows: list[dict], *, conflict: list[str] | None = None, returning=()):
    """Insert ``rows`` (dicts with the same keys) in one statement; ``conflict``: the unique
    columns whose clash skips a row; ``returning``: columns to read back from inserted rows.

    SQLite: an executemany (a multi-row ``VALUES`` with ``RETURNING``). PostgreSQL: the rows
    travel as one JSON parameter unpacked by ``json_to_recordset``; psycopg would otherwise
    send one statement per row, or parse a statement with thousands of placeholders, which
    was most of the PostgreSQL import's time. (SQLite's ``json_each`` was slower than its
    executemany: it parses each row's JSON once per column.) ``json``, not ``jsonb``: a
    ``json`` column (an order's payload) then takes its value's text as it is, where jsonb
    would parse the payload into a tree only to print it back.
    """
    if not rows:
        return []
    dialect = db.session.get_bind().dialect
    if dialect.name != "postgresql":
        stmt = sqlite.insert(table)
        if conflict:
            stmt = stmt.on_conflict_do_nothing(index_elements=conflict)
        if returning:
            stmt = stmt.returning(*(table.c[c] for c in returning))
            return db.session.execute(stmt, rows).all()
        db.session.execute(stmt, rows)
        return []
    sql = _pg_insert(dialect, table, list(rows[0]), "rows", conflict, returning)
    result = db.session.execute(text(sql), {"rows": _json_rows(rows)})
    return result.all() if returning else []


def _pg_insert(dialect, table, columns, param: str, conflict, returning=()) -> str:
    names = ", ".join(f'"{c}"' for c in columns)
    types = ", ".join(f'"{c}" {table.c[c].type.compile(dialect=dialect)}' for c in columns)
    # Identifiers only from the table's own definition (table.c[c] refuses any other name);
    # every value travels in the one bound parameter.
    sql = (
        f'INSERT INTO "{table.name}" ({names}) SELECT {names} '  # noqa: S608
        f"FROM json_to_recordset(CAST(:{param} AS json)) AS r({types})"
    )
    if conflict:
        sql += f" ON CONFLICT ({', '.join(conflict)}) DO NOTHING"
    if returning:
        sql += f" RETURNING {', '.join(returning)}"
    return sql


def _json_rows(rows: list[dict]) -> str:
    return orjson.dumps(rows, default=_json_default, option=orjson.OPT_NON_STR_KEYS).decode()


class Inserts:
    """Rows a page adds to several tables, written together by :meth:`write`: on PostgreSQL
    in one statement (a data-modifying CTE per table, each unpacking its own JSON parameter
    as :func:`bulk_insert` does), so a page's lines, history, messages and acknowledgements
    cost one round trip instead of one each; on SQLite one :func:`bulk_insert` each."""

    def __init__(self) -> None:
        self._parts: list[tuple] = []

    def add(self, table, rows: list[dict], *, conflict: list[str] | None = None) -> None:
        if rows:
            self._parts.append((table, rows, conflict))

    def write(self) -> None:
        parts, self._parts = self._parts, []
        dialect = db.session.get_bind().dialect
        if dialect.name != "postgresql" or len(parts) < 2:
            for table, rows, conflict in parts:
                bulk_insert(table, rows, conflict=conflict)
            return
        ctes, params = [], {}
        for i, (table, rows, conflict) in enumerate(parts):
            ctes.append(f"w{i} AS ({_pg_insert(dialect, table, list(rows[0]), f'r{i}', conflict)})")
            params[f"r{i}"] = _json_rows(rows)
        # Every data-modifying CTE runs to completion, referenced or not.
        db.session.execute(text(f"WITH {', '.join(ctes)} SELECT 1"), params)
