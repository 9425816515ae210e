"""Migration 0011: order payloads become json (lz4-compressed) on PostgreSQL, unchanged."""

from __future__ import annotations

import json

import sqlalchemy as sa
from flask_migrate import downgrade, upgrade
from sqlalchemy import text
from sqlalchemy.dialects.postgresql import JSONB

from webapp.extensions import db

PAYLOAD = {
    "marketplace_order_id": "402-1233589-0004937",
    "comments": "Livrer après 18h",
    "total_order": 261.7,
    "packages": [{"cart": [{"id": 49371, "amount": "25.80", "title": "Jeu de 6 tournevis"}]}],
    # Big enough to be compressed (a real Lengow order is ~3.6 kB).
    "order_meta": {"lines": [f"ligne {i} " * 8 for i in range(60)]},
}


def _payload_columns() -> dict[tuple[str, str], tuple[str, str]]:
    """(table, column) -> (type, compression) on PostgreSQL."""
    rows = db.session.execute(
        text(
            "SELECT c.relname, a.attname, format_type(a.atttypid, a.atttypmod), "
            "a.attcompression FROM pg_attribute a JOIN pg_class c ON c.oid = a.attrelid "
            "WHERE (c.relname, a.attname) IN (('orders', 'raw'), ('parked_orders', 'payload'))"
        )
    ).all()
    return {(r[0], r[1]): (r[2], r[3]) for r in rows}


def _lz4_available() -> bool:
    try:
        with db.session.begin_nested():
            db.session.execute(text("SET LOCAL default_toast_compression = lz4"))
        return True
    except sa.exc.DBAPIError:
        return False


def test_payloads_survive_the_migration_both_ways(app, store):
    from webapp.accounts import create_account

    account = create_account(
        store,
        "lengow",
        "Lengow",
        settings={"account_id": "1"},
        secrets={"access_token": "token", "secret": "secret"},
    )
    postgresql = db.engine.dialect.name == "postgresql"
    db.session.commit()
    downgrade(revision="0010_catalog_set_checks")
    if postgresql:
        assert {t for t, _ in _payload_columns().values()} == {"jsonb"}
    db.session.execute(
        text(
            "INSERT INTO orders (store_id, account_id, channel, channel_order_id, status, "
            "anonymized, raw, created_at, updated_at) VALUES (:store, :account, 'amazon_fr', "
            "'402-1233589-0004937', 'shipped', false, :raw, :now, :now)"
        ).bindparams(sa.bindparam("raw", type_=sa.JSON().with_variant(JSONB(), "postgresql"))),
        {"store": store.id, "account": account.id, "raw": PAYLOAD, "now": "2026-11-22"},
    )
    db.session.commit()

    upgrade()
    from webapp.models import Order

    order = db.session.scalars(sa.select(Order)).one()
    assert order.raw == PAYLOAD
    if postgresql:
        compression = "l" if _lz4_available() else ""
        assert _payload_columns() == {
            ("orders", "raw"): ("json", compression),
            ("parked_orders", "payload"): ("json", compression),
        }
        # A payload written now is stored as sent, compressed with lz4 where the server can.
        order.raw = PAYLOAD | {"comments": "Code porte 1234B"}
        db.session.commit()
        stored = db.session.execute(
            text("SELECT raw::text, pg_column_compression(raw) FROM orders")
        ).one()
        assert json.loads(stored[0])["comments"] == "Code porte 1234B"
        assert stored[1] == ("lz4" if compression else "pglz")
    db.session.commit()  # no transaction of ours may hold the tables the migration alters

    downgrade(revision="0010_catalog_set_checks")
    raw = db.session.execute(text("SELECT raw FROM orders")).scalar_one()
    assert (raw if postgresql else json.loads(raw))["total_order"] == 261.7
    if postgresql:
        assert {t for t, _ in _payload_columns().values()} == {"jsonb"}
    db.session.commit()
    upgrade()
