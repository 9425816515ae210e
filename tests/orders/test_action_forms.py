"""The form descriptions of webapp/orders/action_forms.py, from real Lengow marketplace
payloads (../shared/fixtures/real/lengow, read in place): what each action asks for, and a
posted form read back into what the recording functions take."""

from __future__ import annotations

import json

from connectors.lengow.rules import parse_marketplaces
from tests.conftest import real_fixture
from webapp.models import Order, OrderItem
from webapp.orders.action_forms import describe, line_default, line_field, submitted


def market(name: str, code: str):
    payload = json.loads(real_fixture("lengow", name).read_text())
    return parse_marketplaces(payload)[code]


def order(status: str, *quantities: int, shipped: int = 0) -> Order:
    items = [
        OrderItem(
            id=index + 1,
            sku=f"SKU-{index + 1}",
            channel_line_id=f"L{index + 1}",
            quantity=quantity,
            shipped_quantity=min(shipped, quantity),
            cancelled_quantity=0,
            refunded_quantity=0,
        )
        for index, quantity in enumerate(quantities)
    ]
    return Order(id=7, status=status, items=items)


def form_of(mp, action_type: str, the_order: Order, status: str):
    return describe(the_order, action_type, mp.actions[action_type], mp, status)


def test_amazon_ship_carriers_conditional_carrier_name_and_required_shipping_method():
    amazon = market("prestashop_marketplace_amazon_fr_depends_on_2024.json", "amazon_fr")
    ship = form_of(amazon, "ship", order("confirmed", 1, 2), "waiting_shipment")
    assert ship.offered and ship.per_line and not ship.line_required
    assert ship.carrier.kind == "select" and ship.carrier.required
    assert len(ship.carrier.choices) == 227 and ship.carrier.free  # free text allowed
    assert ship.carrier_name is not None and "Other" in ship.carrier_name.when
    fields = {f.name: f for f in ship.fields}
    assert fields["shipping_method"].required and fields["shipping_method"].kind == "text"
    assert fields["shipping_date"].kind == "date" and not fields["shipping_date"].required
    assert "tracking_number" not in fields and "line" not in fields  # the form's own inputs
    # The carrier name is sent only with the carrier "Other" (Amazon rejects it otherwise).
    the_order = order("confirmed", 1, 2)
    posted = {"carrier": "DHL", "carrier_name": "My DHL", "tracking_number": "T1"}
    sent = submitted(the_order, ship, {**posted, "arg__shipping_method": "Standard"})
    assert sent.args == {"shipping_method": "Standard"} and sent.carrier_name == "My DHL"
    sent = submitted(the_order, ship, {**posted, "carrier": "Other"})
    assert sent.args == {"carrier_name": "My DHL"}
    # Lines: everything in full is the whole order; less is a partial shipment.
    full = {line_field(i): str(i.quantity) for i in the_order.items}
    assert submitted(the_order, ship, {**posted, **full}).lines is None
    part = {**full, line_field(the_order.items[1]): "1"}
    assert submitted(the_order, ship, {**posted, **part}).lines == [("L1", 1), ("L2", 1)]
    none = {line_field(i): "0" for i in the_order.items}
    assert submitted(the_order, ship, {**posted, **none}).problems == [
        "Choose at least one line to ship (a quantity above 0)."
    ]
    bad = {**full, line_field(the_order.items[0]): "two"}
    assert "is not a whole number" in submitted(the_order, ship, {**posted, **bad}).problems[0]


def test_amazon_refund_is_line_by_line_with_its_reasons():
    amazon = market("prestashop_marketplace_amazon_fr_depends_on_2024.json", "amazon_fr")
    shipped = order("shipped", 1, 2, shipped=2)
    refund = form_of(amazon, "refund", shipped, "shipped")
    assert refund.offered and refund.line_required
    reason = {f.name: f for f in refund.fields}["reason"]
    assert reason.kind == "select" and not reason.free and reason.required
    assert reason.default == "ProductOutofStock" and len(reason.choices) == 13
    prices = [f for f in refund.fields if f.name.startswith("refund_")]
    assert prices and all(f.kind == "price" and not f.required for f in prices)
    assert line_default(refund, 2) == 2  # line by line: every line prefilled
    # Nothing posted for the lines: every open line, named (Amazon needs a line per refund).
    assert submitted(shipped, refund, {"arg__reason": "CustomerReturn"}).lines == [
        ("L1", 1),
        ("L2", 2),
    ]
    none = {line_field(i): "0" for i in shipped.items}
    assert "Choose at least one line" in submitted(shipped, refund, none).problems[0]
    # Not offered before it shipped, and says why.
    early = form_of(amazon, "refund", order("confirmed", 1), "waiting_shipment")
    assert not early.offered and "shipped" in early.why_not


def test_zalando_and_a_2016_payload_without_args_description():
    zalando = market("woocommerce_marketplaces_zalando_args_description_2024.json", "zalando")
    cancel = form_of(zalando, "cancel", order("confirmed", 3), "waiting_shipment")
    assert cancel.per_line and not cancel.line_required
    assert {f.name: f.kind for f in cancel.fields} == {"cancel_quantity": "quantity"}
    assert line_default(cancel, 3) == ""  # optional lines: empty is the whole order
    assert submitted(order("confirmed", 3), cancel, {line_field(OrderItem(id=1)): ""}).lines is None
    menlook = market("prestashop_marketplaces_carrier_required.json", "menlook")
    ship = form_of(menlook, "ship", order("confirmed", 1), "waiting_shipment")
    assert ship.line_required and ship.carrier.required
    accept = form_of(menlook, "accept", order("awaiting_acceptance", 1), "waiting_acceptance")
    assert accept.offered and accept.line_required
    assert submitted(order("awaiting_acceptance", 1), accept, {}).lines == [("L1", 1)]
