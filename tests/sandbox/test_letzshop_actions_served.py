"""The Letzshop connector's order actions against the sandbox served over real HTTP: accept
confirms an order's units, refuse declines them, ship sets its tracking; each changes the order
the orders query then shows, and what Letzshop would refuse comes back as a GraphQL refusal."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import requests

from connectors.capabilities import Shipment
from connectors.egress import parse_allowlist
from connectors.errors import RequestRejected
from connectors.letzshop import LetzshopConnector
from tests.sandbox_server import served_sandbox

TOKEN = "sandbox-letzshop-token"


@pytest.fixture
def sandbox() -> Iterator[str]:
    with served_sandbox(200) as url:
        yield url


def connector(url: str) -> LetzshopConnector:
    return LetzshopConnector.create(
        2,
        {"base_url": f"{url}/graphql"},
        {"api_token": TOKEN},
        allow=parse_allowlist([url.removeprefix("http://")]),
        backoff_base=0.01,
        max_attempts=1,
    )


def orders(lz: LetzshopConnector, *statuses: str) -> list[dict]:
    variables = {"since": "2000-01-01T00:00:00Z", "first": 100}
    if statuses:
        variables["status"] = list(statuses)
    return [node for page in lz._orders(variables) for node in page]


def status_of(lz: LetzshopConnector, number: str) -> str:
    (node,) = [o for o in orders(lz) if o["orderNumber"] == number]
    return node["status"]


def counters(url: str) -> dict:
    return requests.get(f"{url}/_sandbox/state?ids=0", timeout=5).json()["counters"]


def test_accept_then_ship_with_tracking(sandbox: str) -> None:
    lz = connector(sandbox)
    pending = orders(lz, "PENDING")
    assert pending, "the sandbox has no pending Letzshop order"
    number = pending[0]["orderNumber"]
    with pytest.raises(RequestRejected, match=f"Order {number} is PENDING: it cannot ship"):
        lz.ship_order("letzshop", number, Shipment("LU1", carrier="Post"))

    answer = lz.accept_order("letzshop", number)
    shipment = answer["data"]["confirmInventoryUnits"]["shipment"]
    assert shipment["state"] == "confirmed"
    assert shipment["inventoryUnits"]
    assert {u["state"] for u in shipment["inventoryUnits"]} == {"confirmed_available"}
    assert status_of(lz, number) == "PAID"
    with pytest.raises(RequestRejected, match="its units are not unconfirmed"):
        lz.accept_order("letzshop", number)  # a second confirmation is refused, not repeated

    lz.ship_order("letzshop", number, Shipment("LU1", carrier="Post", tracking_url="https://t/1"))
    assert status_of(lz, number) == "SHIPPED"
    with pytest.raises(RequestRejected, match="SHIPPED: it cannot ship"):
        lz.ship_order("letzshop", number, Shipment("LU2"))
    seen = counters(sandbox)
    assert (seen["letzshop_confirmed"], seen["letzshop_shipped"]) == (1, 1)


def test_refuse_declines_the_units_and_cancels_the_order(sandbox: str) -> None:
    lz = connector(sandbox)
    number = orders(lz, "PENDING")[-1]["orderNumber"]
    request = lz.outbound_request(
        "order.refuse", {"channel": "letzshop", "channel_order_id": number}
    )
    answer = lz.send(request)  # what the one sender does with a recorded call
    assert answer["data"]["confirmInventoryUnits"]["shipment"]["state"] == "declined"
    assert status_of(lz, number) == "CANCELLED"
    assert counters(sandbox)["letzshop_declined"] == 1
    with pytest.raises(RequestRejected, match="CANCELLED: its units are not unconfirmed"):
        lz.accept_order("letzshop", number)


def test_unknown_orders_and_units_are_refused(sandbox: str) -> None:
    lz = connector(sandbox)
    with pytest.raises(RequestRejected, match="Order 'NOPE' not found"):
        lz.accept_order("letzshop", "NOPE")
    with pytest.raises(RequestRejected, match="Order 'NOPE' not found"):
        lz.ship_order("letzshop", "NOPE", Shipment("LU1"))
    number = orders(lz, "PENDING")[0]["orderNumber"]
    request = lz.outbound_request(
        "order.accept", {"channel": "letzshop", "channel_order_id": number, "units": ["U-9"]}
    )
    with pytest.raises(RequestRejected, match="Unknown inventory unit 'U-9'"):
        lz.send(request)
    assert status_of(lz, number) == "PENDING"
    assert counters(sandbox)["letzshop_confirmed"] == 0
