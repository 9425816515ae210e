"""Letzshop from the webapp, against the sandbox served over real HTTP, on SQLite and
PostgreSQL: orders waiting for the seller are booked as awaiting_acceptance with a line per item
(its inventory units one per piece); accepting, refusing and shipping part of a line sends those
units' ids, and a unit is never named twice."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from sandbox.app import DEFAULT_LETZSHOP_TOKEN
from tests.orders.test_acks_and_modes import calls, fresh
from webapp.accounts import create_account
from webapp.extensions import db
from webapp.models import Order
from webapp.orders.fulfilment import Refused, record_action, record_shipment
from webapp.orders.service import import_orders
from webapp.outbound import send_owed


def letzshop(app, store, url: str):
    app.config["MERCATO_OUTBOUND_ALLOW"] = [url.removeprefix("http://")]
    app.config["MERCATO_CONNECTOR_BACKOFF_BASE"] = 0.01
    return create_account(
        store,
        "letzshop",
        "Letzshop",
        settings={"base_url": f"{url}/graphql"},
        secrets={"api_token": DEFAULT_LETZSHOP_TOKEN},
        live=True,
        by="test-suite",
    )


def awaiting(account) -> list[Order]:
    return db.session.scalars(
        select(Order)
        .where(Order.account_id == account.id, Order.status == "awaiting_acceptance")
        .order_by(Order.id)
    ).all()


def body_of(account, action: str) -> list[dict]:
    return [c.body["variables"] for c in calls(account, action=action)]


def test_orders_waiting_for_the_seller_are_booked_and_answered_unit_by_unit(app, store, sandbox):
    account = letzshop(app, store, sandbox)
    import_orders(account)
    waiting = awaiting(account)
    assert waiting, "the sandbox has Letzshop orders waiting for acceptance"
    # a line per item, named by the item's id; its units are the raw payload's
    order = next((o for o in waiting if any(i.quantity >= 2 for i in o.items)), None)
    if order is None:
        pytest.skip("no waiting Letzshop order with a line of 2 or more in this sandbox")
    big = next(i for i in order.items if i.quantity >= 2)
    number = order.channel_order_id
    assert big.channel_line_id == f"{number}-{order.items.index(big) + 1}"
    units = [f"{big.channel_line_id}-{k}" for k in range(1, big.quantity + 1)]

    # accept one unit of the big line, refuse one
    record_action(order, "accept", [(big.channel_line_id, 1)])
    record_action(db.session.get(Order, order.id), "refuse", [(big.channel_line_id, 1)])
    [accepted] = body_of(account, "order.accept")
    assert accepted["input"]["inventoryUnits"] == [
        {"inventoryUnitId": units[0], "isAvailable": True}
    ]
    [refused] = body_of(account, "order.refuse")
    assert refused["input"]["inventoryUnits"] == [
        {"inventoryUnitId": units[1], "isAvailable": False}
    ]
    # the rest: every other unit of every line, accepted line by line
    order = db.session.get(Order, order.id)
    rest = [(i.channel_line_id, None) for i in order.items if i.id != big.id]
    if big.quantity > 2:
        rest.append((big.channel_line_id, big.quantity - 2))
    if rest:
        record_action(order, "accept", rest)
    # nothing left to answer on the big line: refused, not sent
    with pytest.raises(Refused, match=r"left to confirm or decline on Letzshop"):
        record_action(db.session.get(Order, order.id), "accept", [(big.channel_line_id, 1)])
    named = [
        u["inventoryUnitId"]
        for v in body_of(account, "order.accept") + body_of(account, "order.refuse")
        for u in v["input"]["inventoryUnits"]
    ]
    assert len(named) == len(set(named)) == sum(i.quantity for i in order.items)

    sent = send_owed(account)
    assert sent["sent"] == len(calls(account, action="order.accept")) + 1 and sent["failed"] == 0
    import_orders(account)  # Letzshop says PAID: every unit answered, some available
    fresh()
    order = db.session.get(Order, order.id)
    assert order.marketplace_status == "PAID" and order.status == "confirmed"

    # ship one unit of the big line (one was refused), then the rest
    shippable = big.quantity - 1
    first = record_shipment(order, "Post", None, "LU-1", None, [(big.channel_line_id, 1)])
    [ship] = body_of(account, "order.ship")
    assert ship["input"]["inventoryUnitIds"] == [units[0]]
    assert ship["input"]["tracking"] == {"trackingNumber": "LU-1", "carrier": "Post"}
    assert first.actions[0].lines[0]["quantity"] == 1
    send_owed(account)
    lines = [(i.channel_line_id, None) for i in order.items if i.id != big.id]
    if shippable > 1:
        lines.append((big.channel_line_id, shippable - 1))
    if lines:
        record_shipment(db.session.get(Order, order.id), "Post", None, "LU-2", None, lines)
    shipped_units = [
        u for v in body_of(account, "order.ship") for u in v["input"]["inventoryUnitIds"]
    ]
    assert units[1] not in shipped_units  # the refused unit never ships
    assert len(shipped_units) == len(set(shipped_units))
    assert send_owed(account)["failed"] == 0
    assert {c.status for c in calls(account)} == {"sent"}
    import_orders(account)
    fresh()
    order = db.session.get(Order, order.id)
    assert order.marketplace_status == "SHIPPED"
