"""Shipments and order actions recorded once, against orders imported from the sandbox over
real HTTP: validation first (nothing recorded on refusal), then one transaction with the
quantities, events, status history and the outbound call the one sender sends."""

from __future__ import annotations

import json

import pytest
from sqlalchemy import func, select

from tests.orders.helpers import sandbox_counters
from tests.orders.test_acks_and_modes import calls, fresh, lengow
from webapp.accounts import create_account
from webapp.extensions import db
from webapp.models import (
    FulfilmentEvent,
    Order,
    OrderAction,
    OrderItem,
    OutboundCall,
    Shipment,
)
from webapp.orders import marketplace_rules
from webapp.orders.fulfilment import Refused, record_action, record_shipment
from webapp.orders.service import import_orders
from webapp.outbound import send_owed

SHIP = "order.ship"


def ready(account, *, lines: int = 1) -> Order:
    """An imported order Lengow would let us ship (waiting_shipment: confirmed), with at least
    ``lines`` lines."""
    orders = db.session.scalars(
        select(Order)
        .where(Order.account_id == account.id, Order.status == "confirmed")
        .order_by(Order.id)
    ).all()
    for order in orders:
        if len(order.items) >= lines and all(i.channel_line_id for i in order.items):
            return order
    raise AssertionError(f"the sandbox has no confirmed order with {lines} lines")


def counts() -> tuple[int, int, int, int]:
    return tuple(
        db.session.scalar(select(func.count()).select_from(model))
        for model in (Shipment, OrderAction, FulfilmentEvent, OutboundCall)
    )


def ship_calls(account):
    return calls(account, action=SHIP)


def test_test_mode_records_the_ship_as_a_dry_run_with_the_exact_request(app, store, sandbox):
    account = lengow(app, store, sandbox, live=False)
    import_orders(account)
    order = ready(account)
    # The marketplace's rules are read (and cached) beforehand: from here nothing goes out.
    marketplace_rules.refresh(account)
    before = sandbox_counters(sandbox)["requests"]
    done = record_shipment(order, "colissimo", "Colissimo", "TRK-1", None, by="alice")
    assert not done.already and len(done.actions) == 1
    fresh()
    action = db.session.get(OrderAction, done.actions[0].id)
    call = db.session.get(OutboundCall, action.outbound_call_id)
    assert (action.type, action.state, action.created_by) == ("ship", "dry_run", "alice")
    assert (call.status, call.method, call.url) == (
        "dry_run",
        "POST",
        f"{sandbox}/v3.0/orders/actions/",
    )
    assert call.body == {
        "account_id": 5622,
        "marketplace": order.channel,
        "marketplace_order_id": order.channel_order_id,
        "action_type": "ship",
        # as the marketplace spells its carrier code; the name only goes with "Other"
        "carrier": "Colissimo",
        "tracking_number": "TRK-1",
    }
    order = db.session.get(Order, order.id)
    assert order.status == "shipped"
    assert all(i.shipped_quantity == i.quantity and i.cancelled_quantity == 0 for i in order.items)
    events = db.session.scalars(select(FulfilmentEvent).order_by(FulfilmentEvent.id)).all()
    assert [(e.order_item_id, e.kind, e.quantity, e.order_action_id) for e in events] == [
        (i.id, "shipped", i.quantity, action.id) for i in order.items
    ]
    last = order.status_history[-1]
    assert (last.from_status, last.to_status, last.changed_by) == ("confirmed", "shipped", "alice")
    assert "TRK-1" in last.reason and "Colissimo" in last.reason
    shipment = db.session.get(Shipment, done.shipment.id)
    assert [(line.order_item_id, line.quantity) for line in shipment.lines] == [
        (i.id, i.quantity) for i in order.items
    ]
    # Test mode: the sender records, never sends.
    assert send_owed(account)["sent"] == 0
    assert sandbox_counters(sandbox)["requests"] == before


def test_the_same_shipment_twice_owes_one_ship_call(app, store, sandbox):
    account = lengow(app, store, sandbox, live=True)
    import_orders(account)
    send_owed(account)  # the acknowledgements
    order = ready(account)
    first = record_shipment(order, "ups", None, "1Z999", "https://ups.example/1Z999")
    again = record_shipment(order, "ups", None, "1Z999", None)
    assert again.already and [a.id for a in again.actions] == [a.id for a in first.actions]
    assert len(ship_calls(account)) == 1
    # The sender sends it once; the marketplace holds one ship action for the order.
    assert send_owed(account)["sent"] == 1
    assert send_owed(account)["sent"] == 0
    record_shipment(db.session.get(Order, order.id), "ups", None, "1Z999", None)
    fresh()
    [call] = ship_calls(account)
    assert call.status == "sent"
    action = db.session.get(OrderAction, first.actions[0].id)
    assert action.state == "sent" and action.sent_at is not None
    import requests

    token = requests.post(
        f"{sandbox}/access/get_token",
        data={"access_token": "sandbox-access-5622", "secret": "sandbox-secret-5622"},
        timeout=10,
    ).json()["token"]
    listed = requests.get(
        f"{sandbox}/v3.0/orders/actions/",
        params={"account_id": 5622, "marketplace_order_id": order.channel_order_id},
        headers={"Authorization": token},
        timeout=10,
    ).json()["results"]
    assert [(a["action_type"], a["tracking_number"]) for a in listed] == [("ship", "1Z999")]


def test_partial_shipments_then_the_rest(app, store, sandbox):
    account = lengow(app, store, sandbox, live=False)
    import_orders(account)
    order = ready(account, lines=2)
    first_item, *rest = order.items
    done = record_shipment(order, "dhl", None, "P-1", None, [(first_item.channel_line_id, None)])
    fresh()
    order = db.session.get(Order, order.id)
    assert order.status == "confirmed"  # not every line has left
    assert order.status_history[-1].to_status == "confirmed"
    assert "P-1" in order.status_history[-1].reason
    [call] = ship_calls(account)
    assert call.body["line"] == first_item.channel_line_id
    assert done.actions[0].lines == [
        {
            "item_id": first_item.id,
            "line_id": first_item.channel_line_id,
            "sku": first_item.sku,
            "quantity": first_item.quantity,
        }
    ]
    # The same line again is refused (nothing of it remains), and nothing is recorded.
    before = counts()
    with pytest.raises(Refused, match="nothing left to ship"):
        record_shipment(order, "dhl", None, "P-2", None, [(first_item.channel_line_id, 1)])
    with pytest.raises(Refused, match="no line NOPE"):
        record_shipment(order, "dhl", None, "P-2", None, [("NOPE", 1)])
    # Same tracking, other lines: another parcel needs its own tracking number.
    with pytest.raises(Refused, match="already has shipment"):
        record_shipment(order, "dhl", None, "P-1", None, [(rest[0].channel_line_id, None)])
    assert counts() == before
    # The rest, as a whole-order shipment: what remains of every line.
    record_shipment(db.session.get(Order, order.id), "dhl", None, "P-2", None)
    fresh()
    order = db.session.get(Order, order.id)
    assert order.status == "shipped"
    assert all(i.shipped_quantity == i.quantity for i in order.items)
    assert len(ship_calls(account)) == 2


def test_refusals_name_the_problem_and_record_nothing(app, store, sandbox):
    account = lengow(app, store, sandbox, live=False)
    import_orders(account)
    order = ready(account)
    item = order.items[0]
    before = counts()
    with pytest.raises(Refused, match="tracking number or a tracking URL"):
        record_shipment(order, "ups", None, None, "  ")
    with pytest.raises(Refused, match=r"only \d+ of \d+ remain"):
        record_shipment(order, "ups", None, "T", None, [(item.channel_line_id, item.quantity + 1)])
    with pytest.raises(Refused, match="set by Mercato itself"):
        record_action(order, "cancel", args={"marketplace_order_id": "x"})
    with pytest.raises(Refused, match="cannot send 'gift_wrap' actions"):
        record_action(order, "gift_wrap")
    with pytest.raises(Refused, match="needs at least one line"):
        record_action(order, "partial_cancel")
    assert counts() == before
    # A connector without the capability: Letzshop cannot cancel.
    letz = create_account(
        store,
        "letzshop",
        "Letzshop",
        settings={"base_url": sandbox},
        secrets={"api_token": "t"},
        by="test-suite",
    )
    other = Order(
        store_id=store.id,
        account_id=letz.id,
        channel="letzshop",
        channel_order_id="LZ-1",
        status="confirmed",
        items=[OrderItem(channel_line_id="u1", sku="A", quantity=1)],
    )
    db.session.add(other)
    db.session.commit()
    with pytest.raises(Refused, match="Letzshop cannot cancel orders"):
        record_action(other, "cancel")
    assert counts() == before


def test_cancel_and_refund_move_quantities_and_status(app, store, sandbox):
    account = lengow(app, store, sandbox, live=False)
    import_orders(account)
    order = ready(account)
    done = record_action(order, "cancel", args={"reason": "NoInventory"}, by="bob")
    fresh()
    order = db.session.get(Order, order.id)
    assert order.status == "cancelled"
    assert all(i.cancelled_quantity == i.quantity for i in order.items)
    events = db.session.scalars(select(FulfilmentEvent)).all()
    assert {(e.kind, e.order_action_id) for e in events} == {("cancelled", done.actions[0].id)}
    [call] = calls(account, action="order.cancel")
    assert call.body["action_type"] == "cancel" and call.body["reason"] == "NoInventory"
    with pytest.raises(Refused, match="is cancelled"):
        record_action(order, "cancel")
    refund = record_action(order, "refund")
    fresh()
    order = db.session.get(Order, order.id)
    assert order.status == "refunded" and refund.actions[0].state == "dry_run"
    assert all(i.refunded_quantity == i.quantity for i in order.items)
    with pytest.raises(Refused, match="nothing left to refund"):
        record_action(order, "refund")


def run_cli(app, *args):
    return app.test_cli_runner().invoke(args=[str(a) for a in args])


def test_cli_ship_and_action_print_the_action_and_export_shows_them(app, store, sandbox):
    account = lengow(app, store, sandbox, live=False)
    import_orders(account)
    order = ready(account, lines=2)
    first, second = order.items[:2]
    result = run_cli(
        app,
        "orders",
        "ship",
        order.id,
        "--carrier",
        "colissimo",
        "--carrier-name",
        "La Poste",
        "--tracking",
        "CLI-1",
        "--line",
        f"{first.channel_line_id}:1",
        "--arg",
        "shipping_date=2026-12-08",
    )
    assert result.exit_code == 0, result.output + result.stderr
    summary = json.loads(result.stdout.strip().splitlines()[-1])
    assert (summary["order_id"], summary["type"], summary["state"]) == (order.id, "ship", "dry_run")
    assert summary["already_recorded"] is False
    [call] = ship_calls(account)
    assert call.body["line"] == first.channel_line_id
    assert call.body["shipping_date"] == "2026-12-08"
    # The same ship command again: the same action, no second outbound call.
    again = run_cli(
        app,
        "orders",
        "ship",
        order.id,
        "--carrier",
        "colissimo",
        "--tracking",
        "CLI-1",
        "--line",
        f"{first.channel_line_id}:1",
    )
    assert again.exit_code == 0, again.stderr
    repeat = json.loads(again.stdout.strip().splitlines()[-1])
    assert repeat["action_id"] == summary["action_id"] and repeat["already_recorded"] is True
    assert len(ship_calls(account)) == 1
    # A refused request: exit 1, the reason on stderr, nothing recorded.
    before = counts()
    refused = run_cli(app, "orders", "ship", order.id, "--carrier", "ups")
    assert refused.exit_code == 1 and "tracking number or a tracking URL" in refused.stderr
    refused = run_cli(app, "orders", "action", order.id, "refund", "--line", "NOPE:1")
    assert refused.exit_code == 1 and "has no line NOPE" in refused.stderr
    assert counts() == before
    # A cancel of the second line only (Lengow: a cancel with its line), named by its SKU.
    cancel = run_cli(app, "orders", "action", order.id, "cancel", "--line", second.sku)
    assert cancel.exit_code == 0, cancel.stderr
    done = json.loads(cancel.stdout.strip().splitlines()[-1])
    assert (done["type"], done["state"]) == ("cancel", "dry_run")
    exported = run_cli(app, "orders", "export", "--store", store.code)
    assert exported.exit_code == 0, exported.stderr
    row = next(
        r for r in map(json.loads, exported.stdout.strip().splitlines()) if r["id"] == order.id
    )
    assert [i["line_id"] for i in row["items"]] == [i.channel_line_id for i in order.items]
    assert row["shipments"] == [
        {
            "id": summary["shipment_id"],
            "carrier": "colissimo",
            "carrier_name": "La Poste",
            "tracking_number": "CLI-1",
            "tracking_url": None,
            "shipped_at": row["shipments"][0]["shipped_at"],
            "lines": [{"line_id": first.channel_line_id, "sku": first.sku, "quantity": 1}],
        }
    ]
    assert [(a["id"], a["type"], a["state"], a["error"]) for a in row["actions"]] == [
        (summary["action_id"], "ship", "dry_run", None),
        (done["action_id"], "cancel", "dry_run", None),
    ]
    assert row["actions"][0]["arguments"] == {"shipping_date": "2026-12-08"}
    assert row["actions"][1]["lines"][0]["sku"] == second.sku
