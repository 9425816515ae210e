"""The paginator objects: page number, offset, next-link, cursor and NextToken, each walked
over a marketplace faked with ``responses`` (next-link and cursor also in test_pagination)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import responses
from responses import matchers

from connectors.errors import ConnectorError
from connectors.pagination import (
    CursorPaginator,
    NextLinkPaginator,
    NextTokenPaginator,
    OffsetPaginator,
    PageNumberPaginator,
)
from tests.connectors.test_http import BASE, make_http

ITEMS = f"{BASE}/items"


@pytest.fixture
def rsps() -> Iterator[responses.RequestsMock]:
    with responses.RequestsMock(assert_all_requests_are_fired=True) as mock:
        yield mock


def query(**params: str) -> list:
    return [matchers.query_param_matcher(params)]


def test_page_number_stops_at_the_short_page(rsps: responses.RequestsMock) -> None:
    rsps.add(responses.GET, ITEMS, json={"items": [1, 2]}, match=query(q="x", p="1", n="2"))
    rsps.add(responses.GET, ITEMS, json={"items": [3, 4]}, match=query(q="x", p="2", n="2"))
    rsps.add(responses.GET, ITEMS, json={"items": [5]}, match=query(q="x", p="3", n="2"))
    pages = PageNumberPaginator(
        make_http(),
        "/items",
        {"q": "x"},
        page_size=2,
        page_param="p",
        size_param="n",
        results_key="items",
    )
    assert list(pages) == [[1, 2], [3, 4], [5]]


def test_page_number_ends_on_an_empty_page_and_is_bounded(rsps: responses.RequestsMock) -> None:
    rsps.add(responses.GET, ITEMS, json={"results": [1]}, match=query(page="1", page_size="1"))
    rsps.add(responses.GET, ITEMS, json={"results": []}, match=query(page="2", page_size="1"))
    assert list(PageNumberPaginator(make_http(), "/items", page_size=1)) == [[1], []]
    rsps.reset()
    rsps.add(responses.GET, ITEMS, json={"results": [1]})
    with pytest.raises(ConnectorError, match="more than 3 pages"):
        list(PageNumberPaginator(make_http(), "/items", page_size=1, max_pages=3))


def test_offset_moves_by_the_records_read(rsps: responses.RequestsMock) -> None:
    rsps.add(
        responses.GET, ITEMS, json={"data": {"rows": [1, 2]}}, match=query(offset="0", limit="2")
    )
    rsps.add(
        responses.GET, ITEMS, json={"data": {"rows": [3, 4]}}, match=query(offset="2", limit="2")
    )
    rsps.add(responses.GET, ITEMS, json={"data": {"rows": []}}, match=query(offset="4", limit="2"))
    pages = OffsetPaginator(make_http(), "/items", limit=2, results_key="data.rows")
    assert list(pages) == [[1, 2], [3, 4], []]


def test_a_page_without_its_records_is_an_error(rsps: responses.RequestsMock) -> None:
    rsps.add(responses.GET, ITEMS, json={"oops": True})
    with pytest.raises(ConnectorError, match="page 1 of .* has no 'rows' list"):
        list(OffsetPaginator(make_http(), "/items", results_key="rows"))


def test_next_token_sends_only_the_token_and_the_kept_params(
    rsps: responses.RequestsMock,
) -> None:
    first = {"payload": {"Orders": [{"id": 1}], "NextToken": "t1"}}
    second = {"payload": {"Orders": [{"id": 2}], "NextToken": "t2"}}
    last = {"payload": {"Orders": [{"id": 3}]}}
    rsps.add(
        responses.GET,
        ITEMS,
        json=first,
        match=query(MarketplaceIds="A1", LastUpdatedAfter="2026-01-01"),
    )
    rsps.add(responses.GET, ITEMS, json=second, match=query(MarketplaceIds="A1", NextToken="t1"))
    rsps.add(responses.GET, ITEMS, json=last, match=query(MarketplaceIds="A1", NextToken="t2"))
    pages = NextTokenPaginator(
        make_http(),
        "/items",
        {"MarketplaceIds": "A1", "LastUpdatedAfter": "2026-01-01"},
        results_key="payload.Orders",
        token_key="payload.NextToken",
        keep_params=["MarketplaceIds"],
    )
    assert [[o["id"] for o in page] for page in pages] == [[1], [2], [3]]


def test_next_token_refuses_a_repeated_token(rsps: responses.RequestsMock) -> None:
    rsps.add(responses.GET, ITEMS, json={"items": [1], "NextToken": "same"})
    rsps.add(responses.GET, ITEMS, json={"items": [2], "NextToken": "same"})
    with pytest.raises(ConnectorError, match="repeats"):
        list(NextTokenPaginator(make_http(), "/items", results_key="items"))


def test_next_link_and_cursor_are_objects_too(rsps: responses.RequestsMock) -> None:
    rsps.add(responses.GET, ITEMS, json={"results": [1], "next": f"{ITEMS}?page=2"})
    rsps.add(responses.GET, ITEMS, json={"results": [2], "next": None}, match=query(page="2"))
    assert list(NextLinkPaginator(make_http(), "/items")) == [[1], [2]]
    rsps.add(
        responses.POST,
        f"{BASE}/graphql",
        json={"data": {"orders": {"nodes": [{"id": "a"}], "pageInfo": {"hasNextPage": False}}}},
    )
    pages = CursorPaginator(
        make_http(), "/graphql", "query { orders { nodes { id } } }", None, "orders"
    )
    assert list(pages) == [[{"id": "a"}]]
