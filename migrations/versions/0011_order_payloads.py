"""order payloads kept as received: json (not jsonb), lz4-compressed on PostgreSQL

Revision ID: 0011_order_payloads
Revises: 0010_catalog_set_checks
Create Date: 2026-11-22 18:00:00

``orders.raw`` and ``parked_orders.payload`` (the marketplace's payload, ~3.6 kB an order,
kept for support and only ever shown whole) were most of the PostgreSQL first import's
time (bench/import_orders.py): each was parsed into jsonb, then compressed with pglz into
TOAST. As ``json`` the value is stored as the text it arrived as (validated, not rebuilt),
and lz4 compresses it several times faster than pglz.

PostgreSQL only (SQLite keeps JSON as text already). ``SET COMPRESSION`` needs PostgreSQL 14
and a server built with lz4: without either, the columns keep the default compression and a
warning says so. The type change rewrites both tables (a lock for as long as that takes).
"""

import logging

import sqlalchemy as sa
from alembic import op

revision = "0011_order_payloads"
down_revision = "0010_catalog_set_checks"
branch_labels = None
depends_on = None

log = logging.getLogger("alembic.runtime.migration")

PAYLOADS = (("orders", "raw"), ("parked_orders", "payload"))


def upgrade():
    bind = op.get_bind()
    if bind.dialect.name != "postgresql":
        return
    for table, column in PAYLOADS:
        op.execute(f"ALTER TABLE {table} ALTER COLUMN {column} TYPE json USING {column}::json")
        try:
            with bind.begin_nested():
                bind.execute(
                    sa.text(f"ALTER TABLE {table} ALTER COLUMN {column} SET COMPRESSION lz4")
                )
        except sa.exc.DBAPIError as exc:
            log.warning(
                "lz4 unavailable (%s): %s.%s keeps the default compression", exc, table, column
            )


def downgrade():
    bind = op.get_bind()
    if bind.dialect.name != "postgresql":
        return
    for table, column in PAYLOADS:
        try:
            with bind.begin_nested():
                bind.execute(
                    sa.text(f"ALTER TABLE {table} ALTER COLUMN {column} SET COMPRESSION default")
                )
        except sa.exc.DBAPIError:
            pass  # before PostgreSQL 14: there was nothing to undo
        op.execute(f"ALTER TABLE {table} ALTER COLUMN {column} TYPE jsonb USING {column}::jsonb")
