"""Migration 0013: messages get their store and account, unmatched lines whose SKU is in the
catalog are matched, and the per-line unknown-SKU errors become one entry per SKU."""

from __future__ import annotations

from flask_migrate import downgrade, upgrade
from sqlalchemy import select, text

from tests.models.revisions import before
from webapp.extensions import db

NOW = "2026-11-22 10:00:00"


def sql(statement: str, **params):
    return db.session.execute(text(statement), params)


def insert(statement: str, **params) -> int:
    """Run an INSERT of this test's and return the new row's id (the table's highest)."""
    sql(statement, **params)
    table = statement.split()[2]  # this file's own statements: a constant table name
    return db.session.execute(text(f"SELECT max(id) FROM {table}")).scalar()  # noqa: S608


def test_unknown_skus_are_grouped_and_catalog_skus_matched(app, store):
    from webapp.accounts import create_account

    account = create_account(
        store,
        "lengow",
        "Lengow",
        settings={"account_id": "1"},
        secrets={"access_token": "token", "secret": "secret"},
    )
    store_id, account_id = store.id, account.id
    db.session.commit()
    downgrade(revision=before("0013_inbox_by_sku"))
    run = insert(
        "INSERT INTO marketplace_import_jobs (kind, store_id, account_id, trigger, marketplace, "
        "language, batch_size, status, progress, imported_count, updated_count, "
        "unchanged_count, error_count, warning_count, total_processed, parked_count, "
        "created_at, updated_at) VALUES ('order_import', :s, :a, 'cli', 'lengow', 'en', 100, "
        "'completed_with_errors', 100, 0, 0, 0, 4, 0, 0, 0, :now, :now)",
        s=store_id,
        a=account_id,
        now=NOW,
    )
    catalog = {}
    for sku in ("SKU-B", "SKU-C"):
        catalog[sku] = insert(
            "INSERT INTO marketplace_products (store_id, marketplace, marketplace_product_id, "
            "content_hash, created_at, updated_at) VALUES (:s, 'Letzshop', :sku, 1, :now, :now)",
            s=store_id,
            sku=sku,
            now=NOW,
        )
    published = insert(
        "INSERT INTO products (store_id, marketplace_product_id, is_featured, is_active, "
        "display_order, created_at, updated_at) VALUES (:s, :mp, false, true, 0, :now, :now)",
        s=store_id,
        mp=catalog["SKU-C"],
        now=NOW,
    )
    orders, lines = {}, {}
    for number, skus in (("O-1", ("SKU-A", "SKU-B")), ("O-2", ("SKU-A",)), ("O-3", ("SKU-C",))):
        orders[number] = insert(
            "INSERT INTO orders (store_id, account_id, channel, channel_order_id, status, "
            "anonymized, created_at, updated_at) VALUES (:s, :a, 'amazon_fr', :n, 'confirmed', "
            "false, :now, :now)",
            s=store_id,
            a=account_id,
            n=number,
            now=NOW,
        )
        for sku in skus:
            lines[(number, sku)] = insert(
                "INSERT INTO order_items (order_id, sku, quantity, matched) "
                "VALUES (:o, :sku, 1, false)",
                o=orders[number],
                sku=sku,
            )
            sql(
                "INSERT INTO marketplace_import_errors (import_job_id, severity, error_type, "
                "identifier, error_message, subject_type, subject_id, attempts, created_at) "
                "VALUES (:r, 'error', 'unknown_sku', :n, :m, 'order', :o, 0, :now)",
                r=run,
                n=number,
                m=f"Order {number}: no product of the store has SKU '{sku}'",
                o=orders[number],
                now=NOW,
            )
    sql(
        "INSERT INTO marketplace_import_errors (import_job_id, severity, error_type, "
        "error_message, subject_type, subject_id, attempts, created_at) "
        "VALUES (:r, 'retry', 'connector_error', '503', 'account', :a, 0, :now)",
        r=run,
        a=account_id,
        now=NOW,
    )
    sql(
        "INSERT INTO marketplace_import_errors (import_job_id, severity, error_type, "
        "error_message, row_number, attempts, created_at) "
        "VALUES (:r, 'error', 'missing_title', 'no title', 7, 0, :now)",
        r=run,
        now=NOW,
    )
    db.session.commit()

    upgrade()
    items = {
        row.id: row
        for row in sql("SELECT id, matched, marketplace_product_id, product_id FROM order_items")
    }
    b, c = items[lines[("O-1", "SKU-B")]], items[lines[("O-3", "SKU-C")]]
    assert b.matched and b.marketplace_product_id == catalog["SKU-B"] and b.product_id is None
    assert c.matched and c.marketplace_product_id == catalog["SKU-C"] and c.product_id == published
    assert not items[lines[("O-1", "SKU-A")]].matched and not items[lines[("O-2", "SKU-A")]].matched

    from webapp.models import Message

    messages = db.session.scalars(select(Message).order_by(Message.id)).all()
    legacy = [m for m in messages if m.subject_type == "order"]
    assert all(m.resolved_at is not None for m in legacy)
    assert {m.resolved_by for m in legacy} == {
        "grouped by SKU (migration 0013)",
        "matched to the catalog (migration 0013)",
    }
    [entry] = [m for m in messages if m.error_type == "unknown_sku" and m.resolved_at is None]
    assert (entry.subject_type, entry.identifier, entry.store_id, entry.account_id) == (
        "sku",
        "SKU-A",
        store_id,
        account_id,
    )
    from webapp.orders.matching import unknown_sku_text

    assert entry.error_message == unknown_sku_text("SKU-A")
    [connector] = [m for m in messages if m.error_type == "connector_error"]
    assert (connector.store_id, connector.account_id) == (store_id, account_id)
    [row] = [m for m in messages if m.row_number == 7]
    assert row.store_id is None  # a feed row's message stays with its run

    # New messages get their store and account from their run when the writer gave none.
    sql(
        "INSERT INTO marketplace_import_errors (import_job_id, severity, error_type, "
        "error_message, attempts, created_at) VALUES (:r, 'error', 'x', 'y', 0, :now)",
        r=run,
        now=NOW,
    )
    db.session.commit()
    filled = db.session.execute(
        text("SELECT store_id, account_id FROM marketplace_import_errors WHERE error_type='x'")
    ).one()
    assert tuple(filled) == (store_id, account_id)
