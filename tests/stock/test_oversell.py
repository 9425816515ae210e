"""The oversell test, on PostgreSQL: four worker processes book the same 2,000 orders of two
accounts, over 50 SKUs, at once (two workers per account, all four on the same SKUs), then
see a fifth of them cancelled and a seventh shipped. Every line is reserved exactly once,
every level is the sum of its movements, and no available quantity goes below zero. The store
also has a ShoppingFeed account whose stock goes out in real time: the four workers mark the
same SKUs for it at once (``push_dirty``), and every SKU ends marked."""

from __future__ import annotations

import multiprocessing

import pytest
from sqlalchemy import func, select

from tests.conftest import redis_url
from tests.stock import oversell_worker
from tests.stock.helpers import levels_match_movements, open_reservations
from webapp.accounts import create_account
from webapp.extensions import db
from webapp.models import Order, OrderItem, PushDirty, StockLevel, StockMovement
from webapp.pushes import realtime
from webapp.runs.gate import set_enabled
from webapp.stock.availability import available_quantities
from webapp.stock.levels import default_warehouse_id, set_on_hand
from webapp.stock.service import update_settings


def test_four_workers_booking_the_same_orders_reserve_each_line_once(app, backend, store):
    if backend != "postgresql":
        pytest.skip("concurrent writers are asserted on PostgreSQL; SQLite serialises them")
    accounts = [
        create_account(
            store,
            "lengow",
            f"Lengow {n}",
            settings={"account_id": str(5622 + n)},
            secrets={"access_token": "a", "secret": "s"},
        )
        for n in range(2)
    ]
    app.config["MERCATO_OUTBOUND_ALLOW"] = ["127.0.0.1:9"]
    pushing = create_account(
        store,
        "shoppingfeed",
        "ShoppingFeed",
        settings={"base_url": "http://127.0.0.1:9", "store_id": "1"},
        secrets={"api_token": "t"},
    )
    wh = default_warehouse_id(store.id)
    set_on_hand(store.id, [(sku, wh, 40) for sku in oversell_worker.SKUS], reason="manual")
    db.session.commit()
    set_enabled(realtime.stock_feed(pushing), True)
    db.session.commit()
    update_settings(pushing, strategy="realtime")
    uri = app.config["SQLALCHEMY_DATABASE_URI"]
    ctx = multiprocessing.get_context("spawn")
    barrier, out = ctx.Barrier(4), ctx.Queue()
    workers = [
        ctx.Process(
            target=oversell_worker.work,
            args=(uri, redis_url(), accounts[n % 2].id, n % 2, barrier, out),
        )
        for n in range(4)
    ]
    for worker in workers:
        worker.start()
    results = [out.get(timeout=300) for _ in workers]
    for worker in workers:
        worker.join(timeout=60)
    assert all(kind == "ok" for kind, _ in results), results
    db.session.rollback()

    booked = db.session.scalar(select(func.count(Order.id)))
    assert booked == 2 * oversell_worker.ORDERS_PER_ACCOUNT
    reservations = db.session.execute(
        select(StockMovement.order_item_id, func.count())
        .where(StockMovement.reason == "order_reserved")
        .group_by(StockMovement.order_item_id)
    ).all()
    items = db.session.scalar(select(func.count(OrderItem.id)))
    assert len(reservations) == items and all(n == 1 for _, n in reservations)
    levels_match_movements(store.id)
    held = sum(open_reservations(a.id) for a in accounts)
    assert db.session.scalar(select(func.sum(StockLevel.reserved))) == held
    # Shipped orders took their lines off the shelf, once.
    shipped = db.session.scalar(
        select(func.sum(OrderItem.quantity))
        .join(Order, Order.id == OrderItem.order_id)
        .where(Order.status == "shipped")
    )
    on_hand = db.session.scalar(select(func.sum(StockLevel.on_hand)))
    assert on_hand == 40 * len(oversell_worker.SKUS) - shipped
    available = available_quantities(accounts[0])
    assert set(available) == set(oversell_worker.SKUS)
    assert all(value >= 0 for value in available.values())
    assert any(value == 0 for value in available.values()), "the SKUs are oversold on purpose"
    # every SKU the workers moved is waiting for the real-time account's push, marked once
    # per SKU however many transactions touched it
    marked = dict(
        db.session.execute(
            select(PushDirty.sku, PushDirty.touches).where(PushDirty.account_id == pushing.id)
        ).all()
    )
    assert set(marked) == set(oversell_worker.SKUS)
    assert sum(marked.values()) > len(marked)
    for sku, value in available.items():
        oh, res = db.session.execute(
            select(func.sum(StockLevel.on_hand), func.sum(StockLevel.reserved)).where(
                StockLevel.sku == sku
            )
        ).one()
        assert value == max(0, oh - res)
