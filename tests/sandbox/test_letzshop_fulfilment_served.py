"""A Letzshop order shipped from Mercato reaches the served sandbox once: the fulfilment module
records the shipment and its outbound call (the connector's request, as data), the one sender
sends it, the order is SHIPPED in Letzshop's orders query, and sending again sends nothing."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import requests
from sqlalchemy import select

from tests.sandbox_server import served_sandbox
from webapp.accounts import create_account
from webapp.extensions import db
from webapp.models import Order, OrderAction, OutboundCall
from webapp.orders.fulfilment import record_shipment
from webapp.orders.service import import_orders
from webapp.outbound import send_owed

TOKEN = "sandbox-letzshop-token"


@pytest.fixture
def sandbox() -> Iterator[str]:
    with served_sandbox(60) as url:
        yield url


def letzshop_status(url: str, number: str) -> str:
    query = "query { orders(first: 100) { edges { node { orderNumber status } } } }"
    answer = requests.post(
        f"{url}/graphql",
        json={"query": query, "variables": {"first": 100}},
        headers={"Authorization": f"Bearer {TOKEN}"},
        timeout=10,
    ).json()
    nodes = [e["node"] for e in answer["data"]["orders"]["edges"]]
    (status,) = [n["status"] for n in nodes if n["orderNumber"] == number]
    return status


def test_a_letzshop_shipment_is_sent_once(app, store, sandbox):
    app.config["MERCATO_OUTBOUND_ALLOW"] = [sandbox.removeprefix("http://")]
    app.config["MERCATO_CONNECTOR_BACKOFF_BASE"] = 0.01
    account = create_account(
        store,
        "letzshop",
        "Letzshop",
        settings={"base_url": f"{sandbox}/graphql"},
        secrets={"api_token": TOKEN},
        live=True,
        by="test-suite",
    )
    import_orders(account)
    send_owed(account)  # whatever else the import owes
    order = db.session.scalars(
        select(Order)
        .where(Order.account_id == account.id, Order.status == "confirmed")
        .order_by(Order.id)
    ).first()
    assert order is not None, "the sandbox has no paid Letzshop order"
    assert letzshop_status(sandbox, order.channel_order_id) == "PAID"
    done = record_shipment(order, "post_lu", "POST Luxembourg", "LU123", "https://t.example/LU123")
    [action] = done.actions
    call = db.session.get(OutboundCall, action.outbound_call_id)
    assert (call.method, call.url) == ("POST", f"{sandbox}/graphql")
    assert "updateOrderFulfillment" in call.body["query"]
    assert call.body["variables"] == {
        "orderId": order.channel_order_id,
        "input": {
            "status": "SHIPPED",
            "tracking": {
                "trackingNumber": "LU123",
                "carrier": "post_lu",
                "trackingUrl": "https://t.example/LU123",
            },
        },
    }
    assert send_owed(account)["sent"] == 1
    assert send_owed(account)["sent"] == 0
    assert letzshop_status(sandbox, order.channel_order_id) == "SHIPPED"
    counters = requests.get(f"{sandbox}/_sandbox/state?ids=0", timeout=10).json()["counters"]
    assert counters["letzshop_shipped"] == 1
    db.session.rollback()
    db.session.expire_all()
    assert db.session.get(OrderAction, action.id).state == "sent"


def test_a_ship_whose_outcome_is_unknown_is_never_sent_again_by_itself(app, store, sandbox):
    """Letzshop answers 500 after the ship left, and Letzshop cannot be asked whether it took
    it: the call waits for a person (an error in the inbox), no retry sends it; the person's
    retry sends it once."""
    from webapp.inbox import retry
    from webapp.models import Message

    app.config["MERCATO_OUTBOUND_ALLOW"] = [sandbox.removeprefix("http://")]
    app.config["MERCATO_CONNECTOR_BACKOFF_BASE"] = 0.01
    account = create_account(
        store,
        "letzshop",
        "Letzshop",
        settings={"base_url": f"{sandbox}/graphql"},
        secrets={"api_token": TOKEN},
        live=True,
        by="test-suite",
    )
    import_orders(account)
    send_owed(account)
    order = db.session.scalars(
        select(Order)
        .where(Order.account_id == account.id, Order.status == "confirmed")
        .order_by(Order.id)
    ).first()
    done = record_shipment(order, "post_lu", None, "LU500", None)
    call_id = done.actions[0].outbound_call_id
    fault = {"server_error": {"every": 1, "status": 500}}
    requests.post(f"{sandbox}/_sandbox/faults", json=fault, timeout=5)
    send_owed(account)
    requests.delete(f"{sandbox}/_sandbox/faults", timeout=5)
    db.session.expire_all()
    call = db.session.get(OutboundCall, call_id)
    assert (call.status, call.next_attempt_at) == ("unknown", None)
    [message] = db.session.scalars(
        select(Message).where(
            Message.error_type == "outbound_failed", Message.subject_id == call.subject_id
        )
    ).all()
    assert message.severity == "error" and "cannot be asked" in message.error_message
    assert send_owed(account)["sent"] == 0  # not by itself, however often the sender runs
    assert retry.sweep()["resolved"] == 0
    assert letzshop_status(sandbox, order.channel_order_id) == "PAID"

    assert retry.retry_ids([message.id], "shop@acme.test")["resolved"] == 1  # a person's call
    db.session.expire_all()
    assert db.session.get(OutboundCall, call_id).status == "sent"
    assert letzshop_status(sandbox, order.channel_order_id) == "SHIPPED"
