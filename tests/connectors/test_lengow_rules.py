"""Lengow marketplace rules (connectors/lengow/rules.py) against every real marketplaces payload
of ../shared/fixtures/real/lengow/, read in place, and hand-built depends_on cases."""

from __future__ import annotations

import json

import pytest

from connectors.lengow.rules import (
    ArgSpec,
    check,
    parse_marketplaces,
    validate,
)
from tests.conftest import FIXTURES, real_fixture

MARKETPLACE_FIXTURES = (
    "prestashop_marketplaces_v3_2016.json",
    "prestashop_marketplaces_carrier_required.json",
    "prestashop_marketplace_amazon_fr_depends_on_2024.json",
    "woocommerce_marketplaces_zalando_args_description_2024.json",
)


def load(name: str) -> dict:
    return json.loads(real_fixture("lengow", name).read_text(encoding="utf-8"))


def rules_of(name: str):
    return parse_marketplaces(load(name))


def test_every_marketplaces_fixture_is_listed():
    """A new marketplaces payload in the fixtures folder joins the parametrized tests."""
    if not FIXTURES.exists():
        pytest.skip("no real fixtures folder")
    found = {p.name for p in (FIXTURES / "lengow").glob("*marketplace*.json")}
    assert found == set(MARKETPLACE_FIXTURES)


def sample_value(spec: ArgSpec, line: str = "L1"):
    if spec.valid_values:
        return next(iter(spec.valid_values))
    return {
        "date": "2024-05-02",
        "price": "12.50",
        "quantity": 1,
        "line_number": line,
    }.get(spec.type, "X123")


@pytest.mark.parametrize("name", MARKETPLACE_FIXTURES)
def test_parse_keeps_every_action_status_and_argument(name):
    raw = load(name)
    rules = parse_marketplaces(raw)
    assert set(rules) == set(raw)
    for code, entry in raw.items():
        market = rules[code]
        assert market.name == entry["name"]
        assert set(market.statuses) == set(entry["orders"]["status"])
        assert set(market.actions) == set(entry["orders"]["actions"])
        for action, spec in entry["orders"]["actions"].items():
            rule = market.actions[action]
            assert list(rule.statuses) == spec["status"]
            assert list(rule.required) == spec["args"]
            assert set(rule.optional) == set(spec["optional_args"]) - set(spec["args"])
            assert set(rule.args) == set(spec["args"]) | set(spec["optional_args"])
            for arg, desc in (spec.get("args_description") or {}).items():
                parsed = rule.args[arg]
                assert parsed.type == desc["type"]
                assert parsed.accept_free_values is desc["accept_free_values"]
                assert set(parsed.valid_values) == set(desc["valid_values"] or {})
                assert (parsed.depends_on is None) is (desc["depends_on"] is None)


@pytest.mark.parametrize("name", MARKETPLACE_FIXTURES)
def test_every_offered_action_validates_with_its_required_args_and_not_without(name):
    """For every marketplace and action of the payload, in each status it is offered in: the
    required arguments with allowed values pass; each one left out is named in a problem."""
    checked_some = 0
    for code, market in rules_of(name).items():
        for action, rule in market.actions.items():
            for status in rule.statuses:
                args = {
                    arg: sample_value(rule.args[arg])
                    for arg in rule.required
                    if arg != "line" and rule.args[arg].depends_on is None
                }
                lines = {"L1": None} if "line" in rule.required else None
                order_lines = {"L1": 2}
                assert (
                    validate(rules_of(name), code, action, status, args, lines, order_lines) == []
                )
                checked_some += 1
                for arg in rule.required:
                    if rule.args[arg].default is not None:
                        continue  # a default fills it
                    if arg == "line":
                        problems = validate(rules_of(name), code, action, status, args)
                    else:
                        less = {k: v for k, v in args.items() if k != arg}
                        problems = validate(
                            rules_of(name), code, action, status, less, lines, order_lines
                        )
                    assert [p.arg for p in problems] == [arg], (code, action, problems)
                    assert arg in problems[0].message and "required" in problems[0].message
    assert checked_some >= 4


@pytest.mark.parametrize("name", MARKETPLACE_FIXTURES)
def test_every_action_is_refused_in_a_status_it_is_not_offered_in(name):
    for code, market in rules_of(name).items():
        for action, rule in market.actions.items():
            other = next(
                s for s in ("closed", "refunded", "new", "shipped") if s not in rule.statuses
            )
            problems = validate(rules_of(name), code, action, other, {})
            assert problems and problems[0].arg is None
            assert f"status {other}" in problems[0].message
            for status in rule.statuses:
                assert status in problems[0].message


@pytest.mark.parametrize("name", MARKETPLACE_FIXTURES)
def test_every_closed_list_refuses_a_value_outside_it(name):
    seen = 0
    for code, market in rules_of(name).items():
        for action, rule in market.actions.items():
            for arg, spec in rule.args.items():
                if spec.accept_free_values or not spec.valid_values or not rule.statuses:
                    continue
                args = {a: sample_value(rule.args[a]) for a in rule.required if a != "line"}
                args[arg] = "NOT-A-VALID-VALUE"
                lines = {"L1": None} if rule.takes("line") else None
                problems = validate(rules_of(name), code, action, rule.statuses[0], args, lines)
                assert [p.arg for p in problems] == [arg]
                assert "NOT-A-VALID-VALUE" in problems[0].message
                assert "choose one of" in problems[0].message
                seen += 1
    if "2024" in name:
        assert seen >= 1  # amazon_fr cancel/refund reasons, zalando refund_reason


# -- amazon_fr 2024: depends_on spelled "operation", 227 carriers, defaults -------------------

AMAZON = "prestashop_marketplace_amazon_fr_depends_on_2024.json"
ZALANDO = "woocommerce_marketplaces_zalando_args_description_2024.json"


def test_amazon_carrier_name_is_required_only_when_carrier_is_other():
    rules = rules_of(AMAZON)
    ship = rules["amazon_fr"].actions["ship"]
    assert len(ship.args["carrier"].valid_values) == 227
    assert ship.args["carrier_name"].depends_on.operator == "allOf"  # read from "operation"
    base = {"shipping_method": "Standard", "tracking_number": "1Z999"}
    problems = validate(
        rules, "amazon_fr", "ship", "waiting_shipment", {**base, "carrier": "Other"}
    )
    assert [p.arg for p in problems] == ["carrier_name"]
    assert "carrier equals 'Other'" in problems[0].message
    ok = check(
        rules,
        "amazon_fr",
        "ship",
        "waiting_shipment",
        {**base, "carrier": "Other", "carrier_name": "Petit Transporteur"},
    )
    assert ok.ok and ok.args["carrier_name"] == "Petit Transporteur"
    # with a listed carrier, a carrier_name given is not sent (Amazon rejects it)
    ups = check(
        rules,
        "amazon_fr",
        "ship",
        "waiting_shipment",
        {**base, "carrier": "UPS", "carrier_name": "x"},
    )
    assert ups.ok and "carrier_name" not in ups.args and ups.dropped == {"carrier_name": "x"}
    assert ups.requests == [
        {"shipping_method": "Standard", "tracking_number": "1Z999", "carrier": "UPS"}
    ]


def test_amazon_refund_fills_the_default_reason_and_refuses_an_unknown_one():
    rules = rules_of(AMAZON)
    ok = check(rules, "amazon_fr", "refund", "shipped", {}, {"A1": None}, {"A1": 1})
    assert ok.ok
    assert ok.requests == [{"reason": "ProductOutofStock", "line": "A1"}]
    bad = validate(rules, "amazon_fr", "refund", "shipped", {"reason": "Whim"}, {"A1": None})
    assert [p.arg for p in bad] == ["reason"]
    assert (
        "'Whim' is not allowed" in bad[0].message and "PriceError (Price Error)" in bad[0].message
    )
    label = check(rules, "amazon_fr", "refund", "shipped", {"reason": "price error"}, {"A1": None})
    assert label.ok and label.args["reason"] == "PriceError"
    price = validate(rules, "amazon_fr", "refund", "shipped", {"refund_price": "ten"}, {"A1": None})
    assert [p.arg for p in price] == ["refund_price"] and "amount" in price[0].message
    assert validate(rules, "amazon_fr", "refund", "shipped", {}, None) != []  # line required


def test_amazon_ship_date_must_be_a_date_and_unknown_args_are_named():
    rules = rules_of(AMAZON)
    base = {"carrier": "UPS", "shipping_method": "Standard"}
    bad = validate(
        rules, "amazon_fr", "ship", "waiting_shipment", {**base, "shipping_date": "soon"}
    )
    assert [p.arg for p in bad] == ["shipping_date"]
    assert (
        validate(
            rules,
            "amazon_fr",
            "ship",
            "waiting_shipment",
            {**base, "shipping_date": "2024-05-02T10:00:00Z"},
        )
        == []
    )
    extra = validate(rules, "amazon_fr", "ship", "waiting_shipment", {**base, "tracking_url": "u"})
    assert [p.arg for p in extra] == ["tracking_url"]
    assert "carrier_name" in extra[0].message  # says what it takes


def test_amazon_empty_status_actions_and_marketplace_statuses():
    rules = rules_of(AMAZON)
    assert rules["amazon_fr"].actions["buy_shipment_label"].statuses == ()
    assert (
        "no order status"
        in validate(rules, "amazon_fr", "buy_shipment_label", "new", {})[0].message
    )
    # the order's marketplace status works as well as the Lengow status
    mp_status = rules["amazon_fr"].statuses["waiting_shipment"][0]
    assert rules["amazon_fr"].lengow_status(mp_status) == "waiting_shipment"
    base = {"carrier": "UPS", "shipping_method": "Standard"}
    assert validate(rules, "amazon_fr", "ship", mp_status, base) == []
    assert set(rules["amazon_fr"].actions_in("new")) == {"cancel"}


def test_zalando_partial_refund_and_cancel_quantities():
    rules = rules_of(ZALANDO)
    order_lines = [("L1", 2), ("L2", 1)]
    ok = check(
        rules, "zalando", "refund", "shipped", {"refund_reason": "Dislike"}, {"L1": 1}, order_lines
    )
    assert ok.ok
    assert ok.requests == [{"refund_reason": "1", "line": "L1", "refund_quantity": 1}]
    too_many = validate(rules, "zalando", "cancel", "waiting_shipment", {}, {"L1": 3}, order_lines)
    assert [p.arg for p in too_many] == ["line"]
    assert "3 asked but the order has 2 open" in too_many[0].message
    unknown = validate(
        rules, "zalando", "cancel", "waiting_shipment", {}, {"L9": None}, order_lines
    )
    assert "no line 'L9'" in unknown[0].message and "L1, L2" in unknown[0].message
    two = check(
        rules, "zalando", "cancel", "waiting_shipment", {}, {"L1": None, "L2": 1}, order_lines
    )
    assert two.ok
    assert two.requests == [
        {"line": "L1", "cancel_quantity": 2},
        {"line": "L2", "cancel_quantity": 1},
    ]
    # ship has no quantity argument: whole lines only
    ship = validate(
        rules,
        "zalando",
        "ship",
        "waiting_shipment",
        {"carrier": "4PX", "tracking_number": "T1"},
        {"L1": 1},
        order_lines,
    )
    assert "whole lines" in ship[0].message
    # accept takes no line at all
    accept = validate(rules, "zalando", "accept", "waiting_acceptance", {}, {"L1": None})
    assert accept[0].arg == "line" and "whole order" in accept[0].message
    # a line id repeated in the order adds up (CONNECTORS.md: line ids repeat)
    repeated = [("L1", 1), ("L1", 1)]
    assert validate(rules, "zalando", "cancel", "waiting_shipment", {}, {"L1": 2}, repeated) == []


def test_legacy_payload_carriers_and_reason_code():
    rules = rules_of("prestashop_marketplaces_carrier_required.json")
    gl = rules["galeries_lafayette"]
    assert set(gl.actions["ship"].args["carrier"].valid_values) >= {"LAPOSTE", "CHRONOPOST"}
    missing = validate(
        rules, "galeries_lafayette", "ship", "waiting_shipment", {"tracking_number": "T"}
    )
    assert [p.arg for p in missing] == ["carrier"]
    assert "LAPOSTE (La Poste)" in missing[0].message
    label = check(
        rules,
        "galeries_lafayette",
        "ship",
        "waiting_shipment",
        {"tracking_number": "T", "carrier": "la poste"},
    )
    assert label.args["carrier"] == "LAPOSTE"
    refund = validate(rules, "galeries_lafayette", "refund", "waiting_refund", {})
    assert [p.arg for p in refund] == ["reason_code"]
    menlook = validate(rules, "menlook", "ship", "waiting_shipment", {"carrier": "GLS"})
    assert [p.arg for p in menlook] == ["line"]
    assert validate(rules, "nowhere", "ship", "waiting_shipment", {})[0].message.startswith(
        "marketplace 'nowhere' is not one of"
    )
    assert "has no action 'dance'" in validate(rules, "menlook", "dance", "new", {})[0].message


# -- depends_on functions, operators and roots: hand-built rules ------------------------------


def hand_rules(conditions, operator_key="operator", operator="allOf", root="action_data"):
    depends = {
        operator_key: operator,
        "conditions": [
            {"key_path": {"root": root, "path": path}, "function": fn, "value": value}
            for path, fn, value in conditions
        ],
    }
    return parse_marketplaces(
        {
            "mp": {
                "name": "Hand",
                "orders": {
                    "status": {"waiting_shipment": ["W"]},
                    "actions": {
                        "ship": {
                            "status": ["waiting_shipment"],
                            "args": ["carrier"],
                            "optional_args": ["weight", "note"],
                            "args_description": {
                                "carrier": {"type": "string", "depends_on": None},
                                "weight": {"type": "string", "depends_on": None},
                                "note": {"type": "string", "depends_on": depends},
                            },
                        }
                    },
                },
            }
        }
    )


def note_required(rules, args, order=None) -> bool:
    problems = validate(rules, "mp", "ship", "waiting_shipment", args, order=order)
    assert all(p.arg == "note" for p in problems), problems
    return bool(problems)


@pytest.mark.parametrize(
    ("function", "value", "weight", "required"),
    [
        ("equals", "10", "10", True),
        ("equals", "10", "11", False),
        ("equals", 10, "10", True),  # numbers and strings compare as the payloads mix them
        ("not_equals", "10", "11", True),
        ("not_equals", "10", "10", False),
        ("in_list", ["1", "2"], "2", True),
        ("in_list", ["1", "2"], "3", False),
        ("not_in_list", ["1", "2"], "3", True),
        ("not_in_list", ["1", "2"], "1", False),
        ("lower_than", "5", "4.5", True),
        ("lower_than", "5", "5", False),
        ("lower_than_or_equals", "5", "5", True),
        ("lower_than_or_equals", "5", "5.01", False),
        ("greater_than", 5, "6", True),
        ("greater_than", 5, "5", False),
        ("greater_than_or_equals", "5", "5", True),
        ("greater_than_or_equals", "5", "4", False),
        ("greater_than", "5", "heavy", False),  # not a number: the condition does not hold
        ("regex", r"^\d+kg$", "12kg", True),
        ("regex", r"^\d+kg$", "12 lb", False),
        ("contains", "kg", "12kg", True),
        ("contains", "kg", "12lb", False),
    ],
)
def test_each_depends_on_function(function, value, weight, required):
    rules = hand_rules([("weight", function, value)])
    assert note_required(rules, {"carrier": "C", "weight": weight}) is required
    # the argument itself given: no problem either way, but dropped when it does not apply
    done = check(
        rules, "mp", "ship", "waiting_shipment", {"carrier": "C", "weight": weight, "note": "n"}
    )
    assert done.ok
    assert ("note" in done.args) is required


@pytest.mark.parametrize("key", ["operator", "operation"])
def test_operators_all_any_one(key):
    conds = [("carrier", "equals", "A"), ("weight", "equals", "1")]
    all_of = hand_rules(conds, key, "allOf")
    any_of = hand_rules(conds, key, "anyOf")
    one_of = hand_rules(conds, key, "oneOf")
    both = {"carrier": "A", "weight": "1"}
    first = {"carrier": "A", "weight": "2"}
    neither = {"carrier": "B", "weight": "2"}
    assert [note_required(all_of, a) for a in (both, first, neither)] == [True, False, False]
    assert [note_required(any_of, a) for a in (both, first, neither)] == [True, True, False]
    assert [note_required(one_of, a) for a in (both, first, neither)] == [False, True, False]


def test_condition_on_the_order():
    rules = hand_rules([("order_meta.delivery_type", "equals", "relay")], root="order")
    relay = {"order_meta": {"delivery_type": "relay"}}
    home = {"order_meta": {"delivery_type": "home"}}
    assert note_required(rules, {"carrier": "C"}, order=relay) is True
    assert note_required(rules, {"carrier": "C"}, order=home) is False
    assert note_required(rules, {"carrier": "C"}, order=None) is False
    problems = validate(rules, "mp", "ship", "waiting_shipment", {"carrier": "C"}, order=relay)
    assert "because order_meta.delivery_type equals 'relay'" in problems[0].message
