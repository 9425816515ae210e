"""/api/v1/store/orders: the list with the orders page's filters, one order with its lines,
shipments and actions, and recording shipments and actions with the CLI's validation (every
problem in a 422, nothing recorded), against orders imported from the sandbox over real HTTP.
Every answer is checked against the OpenAPI document (tests/api/conftest.py)."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select

from tests.orders.test_acks_and_modes import lengow
from tests.orders.test_fulfilment import counts, ready
from tests.sandbox_server import served_sandbox
from webapp.api import orders as api_orders
from webapp.extensions import db
from webapp.models import Order, OrderAction, OutboundCall
from webapp.orders import marketplace_rules
from webapp.orders.service import import_orders


@pytest.fixture(scope="module")
def sandbox():
    with served_sandbox(120) as url:
        yield url


@pytest.fixture
def account(app, store, sandbox):
    account = lengow(app, store, sandbox, live=False)  # test mode: dry runs, nothing sent
    run = import_orders(account)
    assert run.status != "failed", run.error_message
    marketplace_rules.refresh(account)
    return account


def listing(person, query: str = ""):
    """GET /store/orders with ``query`` ("a=1&b=2"), as the query string."""
    response = person.api.get("/store/orders", query_string=query)
    return response


def store_orders(store) -> list[Order]:
    return list(
        db.session.scalars(
            select(Order)
            .where(Order.store_id == store.id)
            .order_by(Order.ordered_at.desc(), Order.id.desc())
        )
    )


def test_the_list_pages_the_store_s_orders_newest_first_with_the_page_s_filters(
    account, store, shop, rival, admin
):
    orders = store_orders(store)
    assert len(orders) >= 10
    first = listing(shop, "limit=5")
    assert first.status_code == 200
    body = first.get_json()
    assert (body["total"], body["page"], body["limit"]) == (len(orders), 1, 5)
    assert [o["id"] for o in body["items"]] == [o.id for o in orders[:5]]
    second = listing(shop, "limit=5&page=2").get_json()
    assert [o["id"] for o in second["items"]] == [o.id for o in orders[5:10]]
    item = body["items"][0]
    assert (item["channel"], item["channel_order_id"], item["status"]) == (
        orders[0].channel,
        orders[0].channel_order_id,
        orders[0].status,
    )
    # The filters of the orders page.
    status = orders[0].status
    by_status = listing(shop, f"status={status}&limit=100").get_json()
    assert by_status["total"] == sum(o.status == status for o in orders)
    assert {o["status"] for o in by_status["items"]} == {status}
    channel = orders[-1].channel
    by_channel = listing(shop, f"channel={channel}&limit=100").get_json()
    assert by_channel["total"] == sum(o.channel == channel for o in orders)
    target = orders[3]
    found = listing(shop, f"q={target.channel_order_id}").get_json()
    assert target.id in [o["id"] for o in found["items"]]
    assert listing(shop, f"q=%23{target.id}").get_json()["items"][0]["id"] == (target.id)
    assert listing(shop, f"account_id={account.id}").get_json()["total"] == len(orders)
    assert listing(shop, f"account_id={account.id + 1}").get_json()["total"] == 0
    day = target.ordered_at.date().isoformat()
    on_day = listing(shop, f"from={day}&to={day}&limit=100").get_json()
    assert on_day["total"] == sum(o.ordered_at.date() == target.ordered_at.date() for o in orders)
    assert target.id in [o["id"] for o in on_day["items"]]
    # Wrong values are 422, in words.
    for query in ("status=nope", "from=yesterday", "account_id=x", "limit=101", "to_ship=maybe"):
        if query.startswith("to_ship") and not api_orders.TO_SHIP:
            continue
        refused = listing(shop, query)
        assert refused.status_code == 422, query
    # Another store sees none of them; an admin sees them, by store or all together.
    assert rival.api.get("/store/orders").get_json()["total"] == 0
    assert listing(rival, f"store_id={store.id}").get_json()["total"] == 0
    assert listing(admin, f"store_id={store.id}").get_json()["total"] == len(orders)
    assert admin.api.get("/store/orders").get_json()["total"] == len(orders)
    assert listing(admin, f"store_id={store.id + 99}").get_json()["total"] == 0


@pytest.mark.skipif(not api_orders.TO_SHIP, reason="the order book has no to_ship filter yet")
def test_the_to_ship_filter_leaves_out_a_shipped_order(account, store, shop):
    order = ready(account)
    before = listing(shop, "to_ship=true&limit=100").get_json()
    assert order.id in [o["id"] for o in before["items"]]
    shipped = shop.api.post(
        f"/store/orders/{order.id}/shipments",
        json={"carrier": "colissimo", "tracking_number": "TS-1"},
    )
    assert shipped.status_code == 201, shipped.get_json()
    after = listing(shop, "to_ship=true&limit=100").get_json()
    assert order.id not in [o["id"] for o in after["items"]]
    assert after["total"] == before["total"] - 1


def test_ship_partially_then_the_rest_and_read_it_back(account, store, shop):
    order = ready(account, lines=2)
    first, second = order.items[:2]
    partial = shop.api.post(
        f"/store/orders/{order.id}/shipments",
        json={
            "carrier": "colissimo",
            "carrier_name": "La Poste",
            "tracking_number": "API-1",
            "lines": [{"ref": first.channel_line_id, "quantity": 1}],
            "args": {"shipping_date": "2026-12-08"},
        },
    )
    assert partial.status_code == 201, partial.get_json()
    done = partial.get_json()
    assert (done["order_id"], done["type"], done["state"], done["already"]) == (
        order.id,
        "ship",
        "dry_run",  # test mode: recorded with the exact request, never sent
        False,
    )
    action = db.session.get(OrderAction, done["action_id"])
    assert (action.created_by, action.shipment_id) == ("shop@example.com", done["shipment_id"])
    call = db.session.get(OutboundCall, action.outbound_call_id)
    assert call.body["line"] == first.channel_line_id
    assert call.body["tracking_number"] == "API-1"
    assert call.body["shipping_date"] == "2026-12-08"
    assert done["actions"][0]["lines"] == [
        {"line_id": first.channel_line_id, "sku": first.sku, "quantity": 1}
    ]
    # The same shipment again: 200, the same action, nothing new recorded.
    before = counts()
    again = shop.api.post(
        f"/store/orders/{order.id}/shipments",
        json={"carrier": "colissimo", "tracking_number": "API-1"},
    )
    assert again.status_code == 200
    assert (again.get_json()["action_id"], again.get_json()["already"]) == (
        done["action_id"],
        True,
    )
    assert counts() == before
    # The order reads back with its lines' quantities, the shipment and the action.
    detail = shop.api.get(f"/store/orders/{order.id}").get_json()
    lines = {line["line_id"]: line for line in detail["items"]}
    assert lines[first.channel_line_id]["quantity_shipped"] == 1
    assert lines[second.channel_line_id]["quantity_shipped"] == 0
    assert [s["tracking_number"] for s in detail["shipments"]] == ["API-1"]
    assert detail["shipments"][0]["lines"] == [
        {"line_id": first.channel_line_id, "sku": first.sku, "quantity": 1}
    ]
    [read] = detail["actions"]
    assert (read["id"], read["type"], read["state"], read["error"]) == (
        done["action_id"],
        "ship",
        "dry_run",
        None,
    )
    assert read["arguments"] == {"shipping_date": "2026-12-08"}
    # The rest of the order (every line, what remains of each) in a second parcel.
    rest = shop.api.post(
        f"/store/orders/{order.id}/shipments",
        json={
            "carrier": "colissimo",
            "tracking_number": "API-2",
            "tracking_url": "https://track.example/API-2",
        },
    )
    assert rest.status_code == 201, rest.get_json()
    assert rest.get_json()["order_status"] == "shipped"
    detail = shop.api.get(f"/store/orders/{order.id}").get_json()
    assert all(line["quantity_shipped"] == line["quantity"] for line in detail["items"])
    assert len(detail["shipments"]) == 2 and detail["status"] == "shipped"
    assert detail["status_history"][-1]["to"] == "shipped"


def test_a_refused_shipment_lists_every_problem_and_records_nothing(account, store, shop):
    order = ready(account)
    before = counts()
    refused = shop.api.post(
        f"/store/orders/{order.id}/shipments",
        json={
            "carrier": "colissimo",
            "tracking_number": "BAD-1",
            "lines": [{"ref": "NOPE", "quantity": 1}, {"ref": order.items[0].channel_line_id}],
            "args": {"tracking_number": "X"},
        },
    )
    assert refused.status_code == 422
    problems = refused.get_json()["error"]["problems"]
    assert len(problems) == 2, problems
    assert any("has no line NOPE" in p for p in problems)
    assert any("tracking_number" in p and "set by Mercato" in p for p in problems)
    assert "has no line NOPE" in refused.get_json()["error"]["message"]
    no_tracking = shop.api.post(
        f"/store/orders/{order.id}/shipments", json={"carrier": "colissimo"}
    )
    assert no_tracking.status_code == 422
    assert no_tracking.get_json()["error"]["problems"] == [
        "A shipment needs a tracking number or a tracking URL."
    ]
    assert counts() == before
    assert db.session.get(Order, order.id).status == "confirmed"


@pytest.mark.parametrize(
    "body, said",
    [
        ({"tracking_number": "T"}, "'carrier' is required"),
        ({"carrier": "  ", "tracking_number": "T"}, "'carrier' must not be empty"),
        ({"carrier": 5, "tracking_number": "T"}, "'carrier' must be a string"),
        ({"carrier": "ups", "tracking_number": "T", "weight": 2}, "Unknown field(s) 'weight'"),
        ({"carrier": "ups", "tracking_number": "T", "lines": []}, "'lines' must be a non-empty"),
        (
            {"carrier": "ups", "tracking_number": "T", "lines": [{"ref": "L", "quantity": 0}]},
            "'lines[0].quantity' must be a whole number of at least 1",
        ),
        (
            {"carrier": "ups", "tracking_number": "T", "lines": [{"ref": "L", "quantity": True}]},
            "'lines[0].quantity' must be a whole number",
        ),
        (
            {"carrier": "ups", "tracking_number": "T", "lines": [{"sku": "L"}]},
            "'lines[0]' takes ref and quantity",
        ),
        ({"carrier": "ups", "tracking_number": "T", "args": {"a": 1}}, "'a' must be a string"),
        ({"carrier": "ups", "tracking_number": "T", "args": ["a"]}, "'args' must be an object"),
    ],
)
def test_a_malformed_shipment_request_is_422_in_words(account, store, shop, body, said):
    order = ready(account)
    before = counts()
    refused = shop.api.post(f"/store/orders/{order.id}/shipments", json=body)
    assert refused.status_code == 422
    assert said in refused.get_json()["error"]["message"]
    assert counts() == before


def test_actions_are_recorded_per_line_and_refused_with_every_problem(account, store, shop):
    order = ready(account, lines=2)
    second = order.items[1]
    cancel = shop.api.post(
        f"/store/orders/{order.id}/actions",
        json={"type": "cancel", "lines": [{"ref": second.sku}]},
    )
    assert cancel.status_code == 201, cancel.get_json()
    done = cancel.get_json()
    assert (done["type"], done["state"], done["already"]) == ("cancel", "dry_run", False)
    assert done["actions"][0]["lines"][0]["line_id"] == second.channel_line_id
    detail = shop.api.get(f"/store/orders/{order.id}").get_json()
    line = next(i for i in detail["items"] if i["line_id"] == second.channel_line_id)
    assert line["quantity_cancelled"] == line["quantity"]
    before = counts()
    for body, said in (
        ({"type": "ship"}, "recorded with its shipment"),
        ({"type": "refund", "lines": [{"ref": "NOPE"}]}, "has no line NOPE"),
        ({"type": "cancel", "lines": [{"ref": second.sku}]}, "nothing left to cancel"),
    ):
        refused = shop.api.post(f"/store/orders/{order.id}/actions", json=body)
        assert refused.status_code == 422, body
        assert any(said in p for p in refused.get_json()["error"]["problems"]), body
    missing = shop.api.post(f"/store/orders/{order.id}/actions", json={"lines": None})
    assert (
        missing.status_code == 422
        and "'type' is required" in missing.get_json()["error"]["message"]
    )
    assert counts() == before


def test_another_store_s_order_is_no_order_on_every_route(account, store, shop, rival, admin):
    order = ready(account)
    before = counts()
    ship = {"carrier": "colissimo", "tracking_number": "RIVAL-1"}
    assert rival.api.get(f"/store/orders/{order.id}").status_code == 404
    assert rival.api.post(f"/store/orders/{order.id}/shipments", json=ship).status_code == 404
    assert (
        rival.api.post(f"/store/orders/{order.id}/actions", json={"type": "accept"}).status_code
        == 404
    )
    assert counts() == before
    # Unknown and out-of-range ids are answered the same way.
    assert shop.api.get("/store/orders/2147483647").status_code == 404
    assert shop.api.get("/store/orders/99999999999").status_code == 404
    # No token: 401.
    assert shop.api.get(f"/store/orders/{order.id}", token=None).status_code == 401
    # The store's own user and an admin reach it.
    assert shop.api.get(f"/store/orders/{order.id}").get_json()["id"] == order.id
    shipped = admin.api.post(f"/store/orders/{order.id}/shipments", json=ship)
    assert shipped.status_code == 201
    assert db.session.get(OrderAction, shipped.get_json()["action_id"]).created_by == (
        "admin@example.com"
    )
    assert db.session.scalar(select(func.count()).select_from(OrderAction)) == 1
