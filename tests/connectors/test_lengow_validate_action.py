"""``LengowConnector.validate_action``: the order's marketplace rules (the real payloads of
../shared/fixtures/real/lengow/) applied to an order as the fulfilment hook sees it."""

from __future__ import annotations

import responses

from connectors.lengow.rules import parse_marketplaces
from tests.connectors.test_contracts import lengow
from tests.connectors.test_http import BASE, TOKEN, TOKEN_URL
from tests.connectors.test_lengow_actions import load


def zalando():
    return parse_marketplaces(load("woocommerce_marketplaces_zalando_args_description_2024.json"))


def view(status="confirmed", marketplace_status="waiting_shipment", channel="zalando"):
    return {
        "channel": channel,
        "channel_order_id": "10101010",
        "status": status,
        "marketplace_status": marketplace_status,
        "lines": [{"line_id": "L-1", "sku": "A", "quantity": 2}],
    }


def test_a_ship_without_its_required_carrier_names_it():
    problems = lengow().validate_action(
        view(), "ship", {"tracking_number": "T-1"}, [], rules=zalando()
    )
    assert len(problems) == 1
    assert problems[0].startswith("carrier is required for ship on Zalando")
    assert "one of 4PX" in problems[0]


def test_a_valid_ship_has_no_problem_and_lines_are_passed_per_line():
    ok = {"carrier": "4PX", "tracking_number": "T-1"}
    line = [{"item_id": 1, "line_id": "L-1", "sku": "A", "quantity": 2}]
    assert lengow().validate_action(view(), "ship", ok, [], rules=zalando()) == []
    assert lengow().validate_action(view(), "ship", ok, line, rules=zalando()) == []


def test_a_value_outside_valid_values_without_free_values_is_refused():
    shipped = view("shipped", "shipped")
    problems = lengow().validate_action(
        shipped, "refund", {"refund_reason": "because"}, [], rules=zalando()
    )
    assert len(problems) == 1
    assert problems[0].startswith("refund_reason 'because' is not allowed: choose one of 1 (")
    assert (
        lengow().validate_action(shipped, "refund", {"refund_reason": "1"}, [], rules=zalando())
        == []
    )


def test_the_status_is_what_lengow_said_unless_a_recorded_action_moved_the_order_on():
    rules = zalando()
    # Lengow said waiting_shipment and the order is still confirmed: no refund yet
    problems = lengow().validate_action(view(), "refund", {"refund_reason": "1"}, [], rules=rules)
    assert problems and "only in shipped" in problems[0]
    # shipped here (recorded, not yet reported back by Lengow): judged as shipped
    moved = view("shipped", "waiting_shipment")
    assert lengow().validate_action(moved, "refund", {"refund_reason": "1"}, [], rules=rules) == []
    # no status from Lengow at all: the unified one stands for its Lengow status
    bare = view("confirmed", None)
    assert (
        lengow().validate_action(
            bare, "ship", {"carrier": "4PX", "tracking_number": "T"}, [], rules=rules
        )
        == []
    )


def test_an_unknown_marketplace_is_a_problem_not_a_crash():
    problems = lengow().validate_action(view(channel="nowhere"), "ship", {}, [], rules=zalando())
    assert problems == ["marketplace 'nowhere' is not one of the account's (zalando)"]


def test_without_rules_it_fetches_those_of_the_orders_marketplace():
    payload = load("woocommerce_marketplaces_zalando_args_description_2024.json")
    with responses.RequestsMock(assert_all_requests_are_fired=True) as rsps:
        rsps.add(responses.POST, TOKEN_URL, json={"token": TOKEN, "account_id": 155})
        rsps.add(responses.GET, f"{BASE}/v3.0/marketplaces", json=payload)
        problems = lengow().validate_action(view(), "ship", {"tracking_number": "T"}, [])
        assert "marketplace=zalando" in rsps.calls[1].request.url
    assert problems and problems[0].startswith("carrier is required")
