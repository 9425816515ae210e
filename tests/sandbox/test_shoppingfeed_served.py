"""The ShoppingFeed fake over real HTTP, spoken to by the connector: the token, batches of at
most 100, the inventory read back (one SKU, and every page), the fault switches."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import requests

from connectors.base import OutboundRequest
from connectors.errors import AuthError, RequestRejected
from connectors.shoppingfeed import INVENTORY_UPDATE, PRICING_UPDATE, ShoppingFeedConnector
from tests.sandbox_server import served_sandbox

TOKEN = "sandbox-shoppingfeed-token"  # noqa: S105 (the sandbox's public demo token)


@pytest.fixture
def sandbox() -> Iterator[str]:
    with served_sandbox(1) as url:
        yield url


def connector(url: str, token: str = TOKEN, **http):
    host, port = url.removeprefix("http://").split(":")
    return ShoppingFeedConnector.create(
        1,
        {"base_url": url, "store_id": "29573"},
        {"api_token": token},
        allow=frozenset({(host, int(port))}),
        backoff_base=0.01,
        **http,
    )


def test_stock_and_prices_go_in_batches_and_read_back(sandbox):
    sf = connector(sandbox)
    levels = {f"SKU-{i:03d}": i for i in range(250)}
    answers = sf.push_stock(levels)
    assert len(answers) == 3
    assert len(answers[0]["_embedded"]["inventory"]) == 100
    assert sf.fetch_inventory_item("SKU-007") == 7
    assert sf.fetch_inventory_item("nope") is None
    pages = list(sf.fetch_inventory())
    assert len(pages) == 2  # 200 a page (unverified.INVENTORY_LIST_LIMIT)
    assert {k: v for page in pages for k, v in page.items()} == levels
    sf.push_prices({"SKU-001": "12.50"})
    held = requests.get(f"{sandbox}/_sandbox/shoppingfeed", timeout=10).json()
    assert held["stores"]["29573"]["pricing"] == {"SKU-001": 12.5}


def test_the_request_a_batch_is(sandbox):
    sf = connector(sandbox)
    stock = sf.outbound_request(INVENTORY_UPDATE, {"items": [{"reference": "A", "quantity": -2}]})
    assert (stock.method, stock.path, stock.idempotent) == (
        "PUT",
        "/v1/store/29573/inventory",
        True,
    )
    assert stock.body == {"inventory": [{"reference": "A", "quantity": 0}]}
    price = sf.outbound_request(
        PRICING_UPDATE,
        {"items": [{"reference": "A", "price": "10.00", "sale_price": "7.5", "currency": "EUR"}]},
    )
    assert price.body == {"pricing": [{"reference": "A", "price": 7.5}]}  # unverified.PRICE_SENT
    with pytest.raises(ValueError, match="at most 100"):
        sf.outbound_request(INVENTORY_UPDATE, {"items": [{"reference": "A", "quantity": 1}] * 101})


def test_the_fake_refuses_what_shoppingfeed_would(sandbox):
    too_many = {"inventory": [{"reference": f"S{i}", "quantity": 1} for i in range(101)]}
    headers = {"Authorization": f"Bearer {TOKEN}"}
    answer = requests.put(
        f"{sandbox}/v1/store/29573/inventory", json=too_many, headers=headers, timeout=10
    )
    assert answer.status_code == 400 and "At most 100" in answer.json()["detail"]
    other = requests.put(
        f"{sandbox}/v1/store/1/inventory",
        json={"inventory": [{"reference": "A", "quantity": 1}]},
        headers=headers,
        timeout=10,
    )
    assert other.status_code == 404
    token = requests.post(
        f"{sandbox}/v1/auth",
        json={
            "grant_type": "password",
            "username": "sandbox-shoppingfeed",
            "password": "sandbox-shoppingfeed-password",
        },
        timeout=10,
    ).json()
    assert token["access_token"] == TOKEN
    with pytest.raises(AuthError):
        connector(sandbox, token="wrong").push_stock({"A": 1})
    with pytest.raises(RequestRejected, match="at least one item"):  # an empty batch
        empty = OutboundRequest("PUT", "/v1/store/29573/inventory", {"inventory": []}, True)
        connector(sandbox).send(empty)


def test_fault_switches_count_down(sandbox):
    requests.post(
        f"{sandbox}/_sandbox/shoppingfeed/faults",
        json={"rate_limit": {"times": 1, "wait": 0.05}, "server_error": {"times": 1}},
        timeout=10,
    )
    sleeps: list[float] = []
    sf = connector(sandbox, sleep=sleeps.append)
    sf.push_stock({"A": 1})
    assert sleeps[0] == 0.05  # X-RateLimit-Wait
    assert len(sleeps) == 2  # then the 500, retried (a PUT is idempotent)
    held = requests.get(f"{sandbox}/_sandbox/shoppingfeed", timeout=10).json()
    assert held["counters"]["rate_limited"] == 1 and held["counters"]["server_errors"] == 1
    assert held["stores"]["29573"]["inventory"] == {"A": 1} and held["faults"] == {}
