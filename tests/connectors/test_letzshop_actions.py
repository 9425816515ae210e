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
    refuse = letzshop().outbound_request("order.refuse", {**params, "line": "UNIT-7"})
    assert refuse.body["variables"] == {
        "input": {
            "orderNumber": "R100000013",
            "isAvailable": False,
            "inventoryUnitIds": ["UNIT-7"],
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
