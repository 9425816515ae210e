"""Pagination helpers: Lengow-style next links (real page fixture) and GraphQL cursors."""

from __future__ import annotations

import copy
import json
from collections.abc import Iterator
from typing import Any

import pytest
import responses
from responses import matchers

from connectors.errors import ConnectorError, DestinationRefused, RequestRejected
from connectors.http import BearerTokenProvider
from connectors.pagination import iter_graphql_cursor, iter_pages_next_link
from tests.conftest import real_fixture
from tests.connectors.test_http import BASE, ORDERS_URL, STATIC_TOKEN, make_http

GRAPHQL_BASE = "https://api.letzshop.lu"
GRAPHQL_URL = f"{GRAPHQL_BASE}/graphql"


@pytest.fixture
def rsps() -> Iterator[responses.RequestsMock]:
    with responses.RequestsMock(assert_all_requests_are_fired=True) as mock:
        yield mock


@pytest.fixture
def lengow_page() -> dict[str, Any]:
    """The real Lengow v3 order list (count/next/previous/results, 4 orders)."""
    path = real_fixture("lengow", "prestashop_orders_list_4_orders_2016.json")
    return json.loads(path.read_text(encoding="utf-8"))


def split_pages(page: dict[str, Any], sizes: list[int]) -> list[dict[str, Any]]:
    """The fixture's results cut into pages, linked like Lengow links them."""
    pages, start = [], 0
    for number, size in enumerate(sizes, start=1):
        chunk = copy.deepcopy(page)
        chunk["results"] = page["results"][start : start + size]
        start += size
        chunk["next"] = (
            f"{ORDERS_URL}?account_id=155&page={number + 1}" if number < len(sizes) else None
        )
        chunk["previous"] = f"{ORDERS_URL}?account_id=155&page={number - 1}" if number > 1 else None
        pages.append(chunk)
    return pages


def page_matcher(**params: str) -> list[Any]:
    return [matchers.query_param_matcher(params)]


def test_next_link_pagination_over_three_pages(
    rsps: responses.RequestsMock, lengow_page: dict[str, Any]
) -> None:
    assert lengow_page["count"] == 4 and lengow_page["next"] is None
    pages = split_pages(lengow_page, [2, 1, 1])
    rsps.add(responses.GET, ORDERS_URL, json=pages[0], match=page_matcher(account_id="155"))
    rsps.add(
        responses.GET, ORDERS_URL, json=pages[1], match=page_matcher(account_id="155", page="2")
    )
    rsps.add(
        responses.GET, ORDERS_URL, json=pages[2], match=page_matcher(account_id="155", page="3")
    )
    http = make_http(provider=BearerTokenProvider(STATIC_TOKEN))

    got = list(iter_pages_next_link(http, "/v3.0/orders/", {"account_id": 155}))

    assert [len(p) for p in got] == [2, 1, 1]
    ids = [order["marketplace_order_id"] for page in got for order in page]
    assert ids == [o["marketplace_order_id"] for o in lengow_page["results"]]
    assert all(c.request.headers["Authorization"] == f"Bearer {STATIC_TOKEN}" for c in rsps.calls)


def test_single_page_fixture_as_it_is(
    rsps: responses.RequestsMock, lengow_page: dict[str, Any]
) -> None:
    rsps.add(responses.GET, ORDERS_URL, json=lengow_page)
    assert [len(p) for p in iter_pages_next_link(make_http(), "/v3.0/orders/")] == [4]


def test_off_host_next_link_is_refused(
    rsps: responses.RequestsMock, lengow_page: dict[str, Any]
) -> None:
    page = split_pages(lengow_page, [2, 2])[0]
    page["next"] = "https://elsewhere.example.com/v3.0/orders/?page=2"
    rsps.add(responses.GET, ORDERS_URL, json=page)
    pages = iter_pages_next_link(
        make_http(provider=BearerTokenProvider(STATIC_TOKEN)), "/v3.0/orders/"
    )

    assert len(next(pages)) == 2
    with pytest.raises(DestinationRefused, match="elsewhere.example.com"):
        next(pages)
    assert len(rsps.calls) == 1


def test_next_link_keeps_the_base_scheme(
    rsps: responses.RequestsMock, lengow_page: dict[str, Any]
) -> None:
    """A proxy that writes http:// links for an https API must not downgrade the token."""
    first, second = split_pages(lengow_page, [3, 1])
    first["next"] = first["next"].replace("https://", "http://")
    rsps.add(responses.GET, ORDERS_URL, json=first, match=page_matcher())
    rsps.add(responses.GET, ORDERS_URL, json=second, match=page_matcher(account_id="155", page="2"))
    got = list(iter_pages_next_link(make_http(), "/v3.0/orders/"))
    assert [len(p) for p in got] == [3, 1]
    assert rsps.calls[1].request.url.startswith("https://api.lengow.io/")


def test_next_link_loop_and_page_cap(
    rsps: responses.RequestsMock, lengow_page: dict[str, Any]
) -> None:
    looping = copy.deepcopy(lengow_page)
    looping["next"] = f"{ORDERS_URL}?page=2"
    rsps.add(responses.GET, ORDERS_URL, json=looping)
    rsps.add(responses.GET, ORDERS_URL, json=looping)
    with pytest.raises(ConnectorError, match="already read"):
        list(iter_pages_next_link(make_http(), "/v3.0/orders/"))

    rsps.reset()
    for number in range(1, 3):
        page = copy.deepcopy(lengow_page)
        page["next"] = f"{ORDERS_URL}?page={number + 1}"
        rsps.add(responses.GET, ORDERS_URL, json=page)
    with pytest.raises(ConnectorError, match="more than 2 pages"):
        list(iter_pages_next_link(make_http(), "/v3.0/orders/", max_pages=2))


def test_page_without_results_is_an_error(rsps: responses.RequestsMock) -> None:
    rsps.add(responses.GET, f"{BASE}/v3.0/orders/", json={"detail": "odd"})
    with pytest.raises(ConnectorError, match="no 'results' list"):
        list(iter_pages_next_link(make_http(), "/v3.0/orders/"))


# --------------------------------------------------------------------------------------------
# GraphQL cursors
# --------------------------------------------------------------------------------------------

QUERY = "query($after: String) { shipments(first: 2, after: $after) { nodes { id } } }"


def graphql_page(ids: list[str], cursor: str | None, *, edges: bool = False) -> dict[str, Any]:
    connection: dict[str, Any] = {
        "pageInfo": {"hasNextPage": cursor is not None, "endCursor": cursor},
    }
    if edges:
        connection["edges"] = [{"cursor": i, "node": {"id": i}} for i in ids]
    else:
        connection["nodes"] = [{"id": i} for i in ids]
    return {"data": {"viewer": {"shipments": connection}}}


def graphql_matcher(variables: dict[str, Any]) -> list[Any]:
    return [matchers.json_params_matcher({"query": QUERY, "variables": variables})]


def test_graphql_cursor_pagination_over_three_pages(rsps: responses.RequestsMock) -> None:
    rsps.add(
        responses.POST,
        GRAPHQL_URL,
        json=graphql_page(["a", "b"], "c1"),
        match=graphql_matcher({"state": "confirmed"}),
    )
    rsps.add(
        responses.POST,
        GRAPHQL_URL,
        json=graphql_page(["c", "d"], "c2", edges=True),
        match=graphql_matcher({"state": "confirmed", "after": "c1"}),
    )
    rsps.add(
        responses.POST,
        GRAPHQL_URL,
        json=graphql_page(["e"], None),
        match=graphql_matcher({"state": "confirmed", "after": "c2"}),
    )
    http = make_http(GRAPHQL_BASE, provider=BearerTokenProvider(STATIC_TOKEN))

    got = list(
        iter_graphql_cursor(http, "/graphql", QUERY, {"state": "confirmed"}, "viewer.shipments")
    )

    assert [[n["id"] for n in page] for page in got] == [["a", "b"], ["c", "d"], ["e"]]


def test_graphql_errors_are_rejections(rsps: responses.RequestsMock) -> None:
    rsps.add(
        responses.POST,
        GRAPHQL_URL,
        json={"data": None, "errors": [{"message": "Field 'x' doesn't exist"}]},
    )
    http = make_http(GRAPHQL_BASE)
    with pytest.raises(RequestRejected, match="Field 'x' doesn't exist"):
        list(iter_graphql_cursor(http, "/graphql", QUERY, None, ["data", "viewer", "shipments"]))


def test_graphql_missing_connection_and_repeated_cursor(rsps: responses.RequestsMock) -> None:
    rsps.add(responses.POST, GRAPHQL_URL, json={"data": {"viewer": None}})
    http = make_http(GRAPHQL_BASE)
    with pytest.raises(ConnectorError, match="no connection at data.viewer.shipments"):
        list(iter_graphql_cursor(http, "/graphql", QUERY, None, "viewer.shipments"))

    rsps.reset()
    rsps.add(responses.POST, GRAPHQL_URL, json=graphql_page(["a"], "same"))
    rsps.add(responses.POST, GRAPHQL_URL, json=graphql_page(["b"], "same"))
    with pytest.raises(ConnectorError, match="repeats"):
        list(iter_graphql_cursor(http, "/graphql", QUERY, None, "viewer.shipments"))


def test_graphql_next_page_without_cursor(rsps: responses.RequestsMock) -> None:
    page = graphql_page(["a"], "x")
    page["data"]["viewer"]["shipments"]["pageInfo"]["endCursor"] = None
    rsps.add(responses.POST, GRAPHQL_URL, json=page)
    with pytest.raises(ConnectorError, match="no endCursor"):
        list(
            iter_graphql_cursor(make_http(GRAPHQL_BASE), "/graphql", QUERY, {}, "viewer.shipments")
        )
