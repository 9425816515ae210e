"""Each real connector against its contract: the order actions it builds and its connection
test, over a marketplace faked with ``responses`` (the sandbox runs are in tests/webapp)."""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest
import responses

from connectors.base import ACK_ORDER, ConnectionResult, Shipment
from connectors.lengow import LengowConnector
from connectors.letzshop import LetzshopConnector
from tests.connectors.test_http import ALLOW, BASE, TOKEN, TOKEN_URL, fake_resolver

LETZSHOP = "https://api.letzshop.lu/graphql"


@pytest.fixture
def rsps() -> Iterator[responses.RequestsMock]:
    with responses.RequestsMock(assert_all_requests_are_fired=True) as mock:
        yield mock


def lengow() -> LengowConnector:
    return LengowConnector.create(
        1,
        {"account_id": "155"},
        {"access_token": "access-155", "secret": "secret-155"},
        allow=ALLOW,
        resolver=fake_resolver,
        max_attempts=1,
    )


def letzshop(token: str = "letz-token-1") -> LetzshopConnector:
    return LetzshopConnector.create(
        2,
        {"base_url": LETZSHOP},
        {"api_token": token},
        allow=ALLOW,
        resolver=fake_resolver,
        max_attempts=1,
    )


def test_lengow_ship_is_one_action_with_its_tracking(rsps: responses.RequestsMock) -> None:
    rsps.add(responses.POST, TOKEN_URL, json={"token": TOKEN, "account_id": 155})
    rsps.add(responses.POST, f"{BASE}/v3.0/orders/actions/", json={"id": 9}, status=201)
    answer = lengow().ship_order("amazon_fr", "123-4", Shipment("TRK1", carrier="DHL", line="L1"))
    assert answer == {"id": 9}
    assert json.loads(rsps.calls[1].request.body) == {
        "account_id": 155,
        "marketplace": "amazon_fr",
        "marketplace_order_id": "123-4",
        "action_type": "ship",
        "tracking_number": "TRK1",
        "carrier": "DHL",
        "line": "L1",
    }


def test_lengow_actions_are_outbound_requests() -> None:
    connector = lengow()
    ack = connector.outbound_request(
        ACK_ORDER, {"channel": "c", "channel_order_id": "1", "merchant_order_id": "77"}
    )
    assert (ack.method, ack.path, ack.idempotent) == ("PATCH", "/v3.0/orders/moi/", True)
    refund = connector.outbound_request("order.refund", {"channel": "c", "channel_order_id": "1"})
    assert (refund.method, refund.body["action_type"], refund.idempotent) == (
        "POST",
        "refund",
        False,
    )
    with pytest.raises(NotImplementedError):
        connector.outbound_request("order.teleport", {})


def test_lengow_connection_test(rsps: responses.RequestsMock) -> None:
    rsps.add(responses.POST, TOKEN_URL, json={"token": TOKEN, "account_id": 155})
    rsps.add(responses.GET, f"{BASE}/v3.0/orders/", json={"count": 3, "results": []})
    result = lengow().test_connection()
    assert result == ConnectionResult(
        True, "Lengow accepted the credentials for account 155 (3 orders visible).", {"orders": 3}
    )


def test_a_refused_connection_is_a_result_without_secrets(rsps: responses.RequestsMock) -> None:
    rsps.add(
        responses.POST,
        TOKEN_URL,
        status=401,
        json={"error": {"message": "bad secret secret-155 for access-155"}},
    )
    result = lengow().test_connection()
    assert not result.ok and "bad secret" in result.message
    assert "secret-155" not in result.message and "access-155" not in result.message


def test_letzshop_connection_test_and_graphql_refusal(rsps: responses.RequestsMock) -> None:
    page = {"data": {"orders": {"edges": [], "pageInfo": {"hasNextPage": False}}}}
    rsps.add(responses.POST, LETZSHOP, json=page)
    assert letzshop().test_connection().ok
    rsps.reset()
    rsps.add(responses.POST, LETZSHOP, json={"errors": [{"message": "token letz-token-1 bad"}]})
    result = letzshop().test_connection()
    assert not result.ok and "bad" in result.message and "letz-token-1" not in result.message


def test_letzshop_ship_sends_the_fulfilment_mutation(rsps: responses.RequestsMock) -> None:
    rsps.add(responses.POST, LETZSHOP, json={"data": {"updateOrderFulfillment": {"order": {}}}})
    letzshop().ship_order("letzshop", "LU-1", Shipment("TRK9", carrier="Post"))
    sent = json.loads(rsps.calls[0].request.body)
    assert "updateOrderFulfillment" in sent["query"]
    assert sent["variables"]["input"]["tracking"] == {"trackingNumber": "TRK9", "carrier": "Post"}
    rsps.reset()
    rsps.add(
        responses.POST,
        LETZSHOP,
        json={"data": {"updateOrderFulfillment": {"errors": [{"message": "unknown order"}]}}},
    )
    with pytest.raises(Exception, match="unknown order"):
        letzshop().ship_order("letzshop", "LU-2", Shipment("TRK9"))


def test_a_connector_without_a_probe_says_so() -> None:
    from tests.connectors.test_base import DemoStock

    result = DemoStock.create(None, {}, {}).test_connection()
    assert result == ConnectionResult(False, "No connection test for Demo stock.")
