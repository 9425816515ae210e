"""``connectors.lengow.rules.resolve`` and ``LengowConnector.resolve_action``: the request an
action carries, as the marketplace's rules (the real payloads of ../shared/fixtures/real/lengow/,
read in place) resolve it: defaults, only the arguments the action knows, ``depends_on``,
typed values formatted."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime

from connectors.lengow.connector import SHIPMENT_ARGS
from connectors.lengow.rules import parse_marketplaces, resolve
from tests.conftest import real_fixture
from tests.connectors.test_contracts import lengow

AMAZON = "prestashop_marketplace_amazon_fr_depends_on_2024.json"
ZALANDO = "woocommerce_marketplaces_zalando_args_description_2024.json"
LEGACY = "prestashop_marketplaces_v3_2016.json"


def rules_of(name: str):
    return parse_marketplaces(json.loads(real_fixture("lengow", name).read_text("utf-8")))


SHIP = {"carrier": "UPS", "shipping_method": "Standard", "tracking_number": "1Z999"}


def test_a_ship_keeps_only_what_amazons_ship_takes():
    out = resolve(
        rules_of(AMAZON),
        "amazon_fr",
        "ship",
        "waiting_shipment",
        {**SHIP, "tracking_url": "https://t.example/1Z999", "carrier_name": "United Parcel"},
        soft=SHIPMENT_ARGS,
    )
    assert out.ok
    # amazon_fr's ship takes no tracking_url, and carrier_name only with carrier "Other"
    assert out.requests == [SHIP]
    assert out.dropped == {
        "tracking_url": "https://t.example/1Z999",
        "carrier_name": "United Parcel",
    }


def test_without_soft_an_argument_the_action_does_not_take_is_refused_not_sent():
    out = resolve(
        rules_of(AMAZON),
        "amazon_fr",
        "ship",
        "waiting_shipment",
        {**SHIP, "tracking_url": "https://t.example/1Z999"},
    )
    assert [p.arg for p in out.problems] == ["tracking_url"] and out.requests == []


def test_carrier_other_sends_its_name():
    rules = rules_of(AMAZON)
    other = {**SHIP, "carrier": "Other", "carrier_name": "Petit Transporteur"}
    out = resolve(rules, "amazon_fr", "ship", "waiting_shipment", other, soft=SHIPMENT_ARGS)
    assert out.requests == [{**SHIP, "carrier": "Other", "carrier_name": "Petit Transporteur"}]


def test_dates_are_sent_in_iso_8601():
    rules = rules_of(AMAZON)
    cases = [
        ("2024-05-01", "2024-05-01"),
        (date(2024, 5, 1), "2024-05-01"),
        ("2024-05-01T10:30:00+02:00", "2024-05-01T08:30:00Z"),
        ("2024-05-01T08:30:00.369000Z", "2024-05-01T08:30:00Z"),
        (datetime(2024, 5, 1, 8, 30, tzinfo=UTC), "2024-05-01T08:30:00Z"),
        (datetime(2024, 5, 1, 8, 30), "2024-05-01T08:30:00Z"),  # naive: UTC
    ]
    for given, sent in cases:
        out = resolve(
            rules, "amazon_fr", "ship", "waiting_shipment", {**SHIP, "shipping_date": given}
        )
        assert out.ok, given
        assert out.requests == [{**SHIP, "shipping_date": sent}], given
    bad = resolve(rules, "amazon_fr", "ship", "waiting_shipment", {**SHIP, "shipping_date": "May"})
    assert [p.arg for p in bad.problems] == ["shipping_date"] and bad.requests == []


def test_a_refund_fills_the_default_reason_and_sends_prices_as_numbers():
    out = resolve(
        rules_of(AMAZON),
        "amazon_fr",
        "refund",
        "shipped",
        {"refund_price": "12.50", "refund_shipping_price": "4"},
        [("A1", None), ("A2", None)],
    )
    assert out.ok
    assert out.requests == [
        {
            "reason": "ProductOutofStock",
            "refund_price": 12.5,
            "refund_shipping_price": 4,
            "line": "A1",
        },
        {
            "reason": "ProductOutofStock",
            "refund_price": 12.5,
            "refund_shipping_price": 4,
            "line": "A2",
        },
    ]
    assert isinstance(out.requests[0]["refund_shipping_price"], int)
    # the body is plain JSON
    assert json.loads(json.dumps(out.requests)) == out.requests


def test_quantities_are_whole_numbers_per_line():
    rules = rules_of(ZALANDO)
    out = resolve(rules, "zalando", "cancel", "waiting_shipment", {}, [("L-1", "2")], {"L-1": 3})
    assert out.ok and out.requests == [{"line": "L-1", "cancel_quantity": 2}]
    refund = resolve(
        rules, "zalando", "refund", "shipped", {"refund_quantity": "1.0"}, [("L-1", None)]
    )
    assert refund.ok
    assert refund.requests == [{"refund_reason": "1", "refund_quantity": 1, "line": "L-1"}]


def test_a_2016_payload_without_descriptions_sends_what_the_action_lists():
    rules = rules_of(LEGACY)
    given = {"carrier": "laposte", "tracking_number": "8V1", "tracking_url": "https://t/8V1"}
    darty = resolve(rules, "darty", "ship", "waiting_shipment", given, soft=SHIPMENT_ARGS)
    assert darty.ok and darty.requests == [{"carrier": "laposte", "tracking_number": "8V1"}]
    menlook = resolve(
        rules, "menlook", "ship", "waiting_shipment", given, [("M1", None)], soft=SHIPMENT_ARGS
    )
    # menlook lists its carriers: the one given is sent as the marketplace spells its code
    assert menlook.ok
    assert menlook.requests == [{**given, "carrier": "LAPOSTE", "line": "M1"}]


def view(channel="amazon_fr", status="confirmed", marketplace_status="waiting_shipment"):
    return {
        "channel": channel,
        "channel_order_id": "402-1",
        "status": status,
        "marketplace_status": marketplace_status,
        "raw": None,
        "lines": [],
    }


def test_the_connector_hook_resolves_one_request_per_line_in_order():
    rules = rules_of(AMAZON)
    lines = [
        {"item_id": 1, "line_id": "B2", "sku": "b", "quantity": 1},
        {"item_id": 2, "line_id": "A1", "sku": "a", "quantity": 2},
    ]
    args = {**SHIP, "tracking_url": "https://t/1", "shipping_date": "2024-05-01T10:00:00+02:00"}
    problems, requests = lengow().resolve_action(view(), "ship", args, lines, rules=rules)
    sent = {**SHIP, "shipping_date": "2024-05-01T08:00:00Z"}
    assert problems == []
    assert requests == [{**sent, "line": "B2"}, {**sent, "line": "A1"}]
    problems, requests = lengow().resolve_action(view(), "ship", {"carrier": "UPS"}, [], rules)
    assert problems and problems[0].startswith("shipping_method is required") and requests == []
    # validate_action says the same problems
    assert lengow().validate_action(view(), "ship", {"carrier": "UPS"}, [], rules) == problems


def test_a_condition_on_the_order_reads_the_order_lengow_sent():
    """seed 003's depends_on rooted at ``order`` (no real payload has one): the hook reads the
    order's raw payload, so the argument goes with a pickup order only."""
    pickup = {
        "operator": "allOf",
        "conditions": [
            {
                "key_path": {"root": "order", "path": "order_meta.delivery_type"},
                "function": "equals",
                "value": "pickup",
            }
        ],
    }
    rules = parse_marketplaces(
        {
            "shop_fr": {
                "name": "Shop",
                "orders": {
                    "actions": {
                        "ship": {
                            "status": ["waiting_shipment"],
                            "args": ["tracking_number"],
                            "optional_args": ["pickup_code"],
                            "args_description": {"pickup_code": {"depends_on": pickup}},
                        }
                    }
                },
            }
        }
    )
    given = {"tracking_number": "T1", "pickup_code": "PK-9"}
    home = {**view(channel="shop_fr"), "raw": {"order_meta": {"delivery_type": "home"}}}
    problems, requests = lengow().resolve_action(home, "ship", given, [], rules)
    assert problems == [] and requests == [{"tracking_number": "T1"}]
    store = {**home, "raw": {"order_meta": {"delivery_type": "pickup"}}}
    problems, requests = lengow().resolve_action(store, "ship", given, [], rules)
    assert requests == [given]
    problems, _ = lengow().resolve_action(store, "ship", {"tracking_number": "T1"}, [], rules)
    assert problems and problems[0].startswith("pickup_code is required for ship on Shop")
