"""Letzshop's order actions as GraphQL: the exact documents and variables accept, refuse and
ship send (built as outbound requests, sent once), and a refusal under HTTP 200 (top-level
``errors`` or the mutation's own) raised with Letzshop's words."""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest
import responses

from connectors.base import Capability, OutboundRequest, Shipment
from connectors.errors import RequestRejected
from connectors.letzshop import LetzshopConnector
from connectors.letzshop.queries import CONFIRM_UNITS_MUTATION, FULFILMENT_MUTATION
from tests.connectors.test_contracts import LETZSHOP, letzshop


@pytest.fixture
def rsps() -> Iterator[responses.RequestsMock]:
    with responses.RequestsMock(assert_all_requests_are_fired=True) as mock:
        yield mock


def sent(rsps: responses.RequestsMock, index: int = 0) -> dict:
    call = rsps.calls[index].request
    assert call.url == LETZSHOP  # the endpoint itself, no trailing slash
    assert call.headers["Authorization"] == "Bearer letz-token-1"
    return json.loads(call.body)


def test_letzshop_declares_the_actions_it_sends() -> None:
    assert LetzshopConnector.supports(Capability.ORDER_ACCEPTANCE)
    assert LetzshopConnector.supports(Capability.FULFILMENT_OUT)
    assert not LetzshopConnector.supports(Capability.ORDER_CANCEL)
    assert LetzshopConnector.outbound_actions == {"order.accept", "order.refuse", "order.ship"}
    with pytest.raises(NotImplementedError):
        letzshop().outbound_request("order.cancel", {"channel_order_id": "R1"})


def test_accept_and_refuse_are_requests_built_as_data() -> None:
    params = {"channel": "letzshop", "channel_order_id": "R100000013"}
    accept = letzshop().outbound_request("order.accept", params)
    assert accept == OutboundRequest(
        "POST",
        "",
        {
            "query": CONFIRM_UNITS_MUTATION,
            "variables": {"input": {"orderNumber": "R100000013", "isAvailable": True}},
        },
    )
    assert not accept.idempotent
    # a line's units named one by one (the shape of CONNECTORS.md's simulator guidance)
    units = {**params, "line": "L-1", "units": ["UNIT-7", "UNIT-8"]}
    refuse = letzshop().outbound_request("order.refuse", units)
    assert refuse.body["variables"] == {
        "input": {
            "orderNumber": "R100000013",
            "inventoryUnits": [
                {"inventoryUnitId": "UNIT-7", "isAvailable": False},
                {"inventoryUnitId": "UNIT-8", "isAvailable": False},
            ],
        }
    }
    assert letzshop().describe(accept)["url"] == LETZSHOP


def test_ship_request_carries_the_tracking_the_fulfilment_module_passes() -> None:
    params = {
        "channel": "letzshop",
        "channel_order_id": "R1",
        "carrier": "Post",
        "tracking_number": "LU123",
        "tracking_url": "https://t.example/LU123",
    }
    request = letzshop().outbound_request("order.ship", params)
    assert request.body == {
        "query": FULFILMENT_MUTATION,
        "variables": {
            "orderId": "R1",
            "input": {
                "status": "SHIPPED",
                "tracking": {
                    "trackingNumber": "LU123",
                    "carrier": "Post",
                    "trackingUrl": "https://t.example/LU123",
                },
            },
        },
    }


def test_send_posts_the_confirm_mutation_once(rsps: responses.RequestsMock) -> None:
    answer = {"data": {"confirmInventoryUnits": {"shipment": {"id": "S1", "state": "confirmed"}}}}
    rsps.add(responses.POST, LETZSHOP, json=answer)
    got = letzshop().accept_order("letzshop", "R7")
    assert got == answer and len(rsps.calls) == 1
    body = sent(rsps)
    assert "confirmInventoryUnits(input: $input)" in body["query"]
    assert body["variables"] == {"input": {"orderNumber": "R7", "isAvailable": True}}
    letzshop().refuse_order("letzshop", "R8")
    assert sent(rsps, 1)["variables"] == {"input": {"orderNumber": "R8", "isAvailable": False}}


@pytest.mark.parametrize(
    "answer",
    [
        {"errors": [{"message": "units already declined"}]},
        {"data": {"confirmInventoryUnits": {"errors": [{"message": "units already declined"}]}}},
    ],
)
def test_a_graphql_refusal_under_200_is_rejected(rsps: responses.RequestsMock, answer) -> None:
    rsps.add(responses.POST, LETZSHOP, json=answer)
    with pytest.raises(RequestRejected, match="R9: units already declined"):
        letzshop().accept_order("letzshop", "R9")
    assert len(rsps.calls) == 1  # a refusal is not retried


def test_ship_order_sends_through_the_outbound_request(rsps: responses.RequestsMock) -> None:
    rsps.add(responses.POST, LETZSHOP, json={"data": {"updateOrderFulfillment": {"order": {}}}})
    letzshop().ship_order("letzshop", "R3", Shipment("TRK1", carrier="DPD"))
    params = {"channel": "letzshop", "channel_order_id": "R3"}
    expected = letzshop().outbound_request(
        "order.ship", {**params, "tracking_number": "TRK1", "carrier": "DPD"}
    )
    assert sent(rsps) == expected.body


def _node(status: str, units: list[list[str]] | None) -> dict:
    items = []
    for n, states in enumerate(units or [[]], 1):
        item = {"id": f"R1-{n}", "product": {"sku": f"S{n}"}, "quantity": len(states) or 1}
        if units is not None:
            item["inventoryUnits"] = [
                {"id": f"R1-{n}-{k}", "state": s} for k, s in enumerate(states, 1)
            ]
        items.append(item)
    return {"id": "T3JkZXI6MQ==", "orderNumber": "R1", "status": status, "items": items}


def test_a_pending_order_whose_units_wait_for_the_seller_is_booked_awaiting_acceptance():
    from connectors.letzshop.orders import normalize_order
    from connectors.orders import BOOK, PARK

    waiting = normalize_order(_node("PENDING", [["unconfirmed", "unconfirmed"], ["unconfirmed"]]))
    assert (waiting.status, waiting.disposition) == ("awaiting_acceptance", BOOK)
    assert [(line.channel_line_id, line.quantity) for line in waiting.lines] == [
        ("R1-1", 2),
        ("R1-2", 1),
    ]
    unpaid = normalize_order(_node("PENDING", None))  # no units offered yet: not paid
    assert (unpaid.status, unpaid.disposition) == ("pending", PARK)
    answered = normalize_order(_node("PENDING", [["confirmed_available", "unconfirmed"]]))
    assert answered.disposition == PARK  # not every unit waits: Letzshop is moving it on


def test_resolve_names_the_units_a_part_of_a_line_takes_never_one_twice():
    lz = letzshop()
    node = _node("PENDING", [["unconfirmed"] * 3, ["unconfirmed"]])
    view = {"raw": node, "sent_units": {"accept": ["R1-1-1"]}}
    line = {"line_id": "R1-1", "quantity": 2}
    problems, requests = lz.resolve_action(view, "refuse", {}, [line])
    assert problems == [] and requests == [{"line": "R1-1", "units": ["R1-1-2", "R1-1-3"]}]
    too_many = {"line_id": "R1-1", "quantity": 3}
    problems, requests = lz.resolve_action(view, "accept", {}, [too_many])
    assert problems == ["Line R1-1: 3 unit(s) asked but 2 left to confirm or decline on Letzshop."]
    assert requests == []
    # shipping: not a declined unit, not one shipped before
    shipped = _node(
        "PROCESSING", [["confirmed_available", "confirmed_unavailable", "confirmed_available"]]
    )
    view = {"raw": shipped, "sent_units": {"ship": ["R1-1-1"]}}
    tracking = {"tracking_number": "LU1", "carrier": "Post"}
    problems, requests = lz.resolve_action(
        view, "ship", tracking, [{"line_id": "R1-1", "quantity": 1}]
    )
    assert requests == [{**tracking, "line": "R1-1", "units": ["R1-1-3"]}]
    # the whole order: no units, answered by its number
    assert lz.resolve_action(view, "ship", tracking, []) == ([], [tracking])
    # no unit known (an order read before units were): the line only, the order as a whole
    bare = {"raw": _node("PROCESSING", None), "sent_units": {}}
    line = [{"line_id": "R1-1", "quantity": 1}]
    assert lz.resolve_action(bare, "ship", tracking, line) == ([], [{**tracking, "line": "R1-1"}])
    request = lz.outbound_request(
        "order.ship", {"channel": "letzshop", "channel_order_id": "R1", **requests[0]}
    )
    assert request.body["variables"]["input"]["inventoryUnitIds"] == ["R1-1-3"]


def test_answering_the_rest_of_an_order_names_the_units_not_answered_yet():
    lz = letzshop()
    node = _node("PENDING", [["unconfirmed"] * 2, ["unconfirmed"]])
    fresh = {"raw": node, "sent_units": {}}
    assert lz.resolve_action(fresh, "accept", {}, []) == ([], [{}])  # all, by the number
    partly = {"raw": node, "sent_units": {"refuse": ["R1-1-2"]}}
    assert lz.resolve_action(partly, "accept", {}, []) == (
        [],
        [{"units": ["R1-1-1", "R1-2-1"]}],
    )
    done = {"raw": node, "sent_units": {"accept": ["R1-1-1", "R1-2-1"], "refuse": ["R1-1-2"]}}
    problems, requests = lz.resolve_action(done, "refuse", {}, [])
    assert problems and requests == []
