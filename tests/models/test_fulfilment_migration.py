"""Migration 0019: shipments, order actions and fulfilment events; order lines gain their
shipped, cancelled and refunded quantities (0 for lines already booked), and the downgrade
takes it all away again, leaving the orders as they were."""

from __future__ import annotations

import pytest
from flask_migrate import downgrade, upgrade
from sqlalchemy import inspect, text
from sqlalchemy.exc import IntegrityError

from tests.conftest import redis_url
from tests.models.revisions import before, migration_database
from webapp import create_app
from webapp.extensions import db
from webapp.models.base import utcnow

NEW_TABLES = {"shipments", "shipment_lines", "order_actions", "fulfilment_events"}
QUANTITIES = {"shipped_quantity", "cancelled_quantity", "refunded_quantity"}

BEFORE = before("0019_fulfilment")
SCHEMA = "mig0019_fulfilment"


@pytest.fixture(params=["sqlite", "postgresql"])
def database(request, tmp_path):
    yield from migration_database(request.param, tmp_path, SCHEMA)


def tables() -> set[str]:
    """The tables of the database under test (on PostgreSQL, its own schema's only: the
    suite's public schema sits on the search path too)."""
    pg = db.engine.dialect.name == "postgresql"
    return set(inspect(db.engine).get_table_names(schema=SCHEMA if pg else None))


def quantities() -> set[str]:
    pg = db.engine.dialect.name == "postgresql"
    columns = inspect(db.engine).get_columns("order_items", schema=SCHEMA if pg else None)
    return QUANTITIES & {c["name"] for c in columns}


def run(sql: str, **params):
    return db.session.execute(text(sql), params)


def test_fulfilment_tables_come_and_go_and_booked_lines_start_at_zero(database):
    app = create_app({"SQLALCHEMY_DATABASE_URI": database, "REDIS_URL": redis_url()})
    with app.app_context():
        upgrade(revision=BEFORE)
        now = utcnow().replace(microsecond=0)
        run(
            "INSERT INTO stores (id, code, name, default_language, is_active, created_at, "
            "updated_at) VALUES (1, 'acme', 'Acme', 'fr', true, :now, :now)",
            now=now,
        )
        run(
            "INSERT INTO accounts (id, store_id, connector, name, settings, is_live, "
            "created_at, updated_at) VALUES (1, 1, 'lengow', 'L', '{}', false, :now, :now)",
            now=now,
        )
        run(
            "INSERT INTO orders (id, store_id, account_id, channel, channel_order_id, status, "
            "anonymized, created_at, updated_at) VALUES (1, 1, 1, 'amazon_fr', '402-1', "
            "'confirmed', false, :now, :now)",
            now=now,
        )
        run(
            "INSERT INTO order_items (id, order_id, channel_line_id, sku, quantity, matched) "
            "VALUES (1, 1, 'L1', 'SKU-1', 3, false)"
        )
        db.session.commit()
        assert not NEW_TABLES & tables()

        upgrade(revision="0019_fulfilment")
        assert NEW_TABLES <= tables()
        assert quantities() == QUANTITIES
        # The line booked before the upgrade: nothing shipped, cancelled or refunded yet.
        assert run(
            "SELECT shipped_quantity, cancelled_quantity, refunded_quantity FROM order_items"
        ).one() == (0, 0, 0)
        # The tables take what recording writes; one shipment per order and tracking.
        run(
            "INSERT INTO shipments (id, order_id, carrier, tracking_number, tracking_key, "
            "shipped_at, created_by, created_at, updated_at) VALUES (1, 1, 'colissimo', "
            "'TRK1', 'TRK1', :now, 'cli', :now, :now)",
            now=now,
        )
        run("INSERT INTO shipment_lines (shipment_id, order_item_id, quantity) VALUES (1, 1, 2)")
        run(
            "INSERT INTO order_actions (id, store_id, order_id, account_id, type, lines, "
            "arguments, state, shipment_id, created_by, created_at, updated_at) VALUES (1, 1, "
            "1, 1, 'ship', '[]', '{}', 'dry_run', 1, 'cli', :now, :now)",
            now=now,
        )
        run(
            "INSERT INTO fulfilment_events (order_item_id, kind, quantity, at, order_action_id) "
            "VALUES (1, 'shipped', 2, :now, 1)",
            now=now,
        )
        run("UPDATE order_items SET shipped_quantity = 2")
        db.session.commit()
        with pytest.raises(IntegrityError):
            run(
                "INSERT INTO shipments (order_id, tracking_key, shipped_at, created_by, "
                "created_at, updated_at) VALUES (1, 'TRK1', :now, 'cli', :now, :now)",
                now=now,
            )
        db.session.rollback()
        with pytest.raises(IntegrityError):
            run(
                "INSERT INTO shipment_lines (shipment_id, order_item_id, quantity) VALUES (1, 1, 0)"
            )
        db.session.rollback()

        downgrade(revision=BEFORE)
        assert not NEW_TABLES & tables()
        assert not quantities()
        assert run("SELECT id, sku, quantity FROM order_items").all() == [(1, "SKU-1", 3)]
        assert run("SELECT status FROM orders").scalar_one() == "confirmed"
        db.session.remove()
        db.engine.dispose()
