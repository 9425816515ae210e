"""Lengow's marketplace rules and order actions read back through the connector, over the real
payloads of ../shared/fixtures/real/lengow/ served with ``responses``."""

from __future__ import annotations

import json
from collections.abc import Iterator
from urllib.parse import parse_qs, urlsplit

import pytest
import responses

from connectors.capabilities import Capability
from connectors.lengow import LengowConnector
from connectors.lengow.actions import action_state, action_status
from tests.conftest import real_fixture
from tests.connectors.test_contracts import lengow
from tests.connectors.test_http import BASE, TOKEN, TOKEN_URL

ACTIONS_URL = f"{BASE}/v3.0/orders/actions/"


def load(name: str):
    return json.loads(real_fixture("lengow", name).read_text(encoding="utf-8"))


def query(call) -> dict[str, list[str]]:
    return parse_qs(urlsplit(call.request.url).query)


@pytest.fixture
def rsps() -> Iterator[responses.RequestsMock]:
    with responses.RequestsMock(assert_all_requests_are_fired=True) as mock:
        mock.add(responses.POST, TOKEN_URL, json={"token": TOKEN, "account_id": 155})
        yield mock


@pytest.mark.parametrize(
    ("name", "state"),
    [
        ("prestashop_action_ship_post_response.json", "sent"),
        ("prestashop_action_cancel_post_response.json", "sent"),
        ("prestashop_action_ship_processed.json", "processed"),
    ],
)
def test_real_action_objects_in_mercato_states(name, state):
    raw = load(name)
    status = action_status(raw)
    assert (status.state, status.error) == (state, None)
    assert status.id == "1" and status.channel == "galeries_lafayette"
    assert status.channel_order_id == "1300435653833-A"
    assert status.final is (state == "processed")


def test_queued_and_failed_states():
    queued = load("prestashop_actions_list_queued.json")["results"][0]
    assert action_state(queued) == ("queued", None)
    # queued wins over an error text: the text is final only once queued is false
    assert action_state({**queued, "errors": "retrying"}) == ("queued", None)
    done = load("prestashop_action_ship_processed.json")
    failed = {**done, "processed": False, "errors": "Tracking number already used"}
    assert action_state(failed) == ("failed", "Tracking number already used")
    # processed with an error is a failure too, with the marketplace's text
    assert action_state({**done, "errors": "Carrier unknown"}) == ("failed", "Carrier unknown")
    assert action_state({**done, "errors": ["a", "b"]}) == ("failed", "a; b")


def test_lengow_tracks_its_actions():
    assert LengowConnector.supports(Capability.ORDER_ACTION_TRACKING)


def test_fetch_marketplace_rules(rsps: responses.RequestsMock) -> None:
    payload = load("prestashop_marketplace_amazon_fr_depends_on_2024.json")
    rsps.add(responses.GET, f"{BASE}/v3.0/marketplaces", json=payload)
    rules = lengow().fetch_marketplace_rules("amazon_fr")
    assert query(rsps.calls[1]) == {"account_id": ["155"], "marketplace": ["amazon_fr"]}
    assert rsps.calls[1].request.headers["Authorization"] == TOKEN
    ship = rules["amazon_fr"].actions["ship"]
    assert ship.required == ("carrier", "shipping_method")
    assert ship.args["carrier_name"].depends_on is not None


def test_list_actions_reads_page_by_page(rsps: responses.RequestsMock) -> None:
    queued = load("prestashop_actions_list_queued.json")
    first = queued["results"][0]
    second = load("prestashop_action_ship_processed.json")
    page1 = {
        **queued,
        "count": 3,
        "next": f"{ACTIONS_URL}?account_id=155&page=2&updated_from=2016-02-01",
        "results": [first, {**second, "id": 2}],
    }
    page2 = {
        "count": 3,
        "next": None,
        "previous": ACTIONS_URL,
        "results": [{**second, "id": 3, "errors": "Order already shipped"}],
    }
    rsps.add(responses.GET, ACTIONS_URL, json=page1)
    rsps.add(responses.GET, ACTIONS_URL, json=page2)
    pages = list(
        lengow().list_actions(updated_from="2016-02-01", channel_order_id="1300435653833-A")
    )
    assert [[(a.id, a.state) for a in page] for page in pages] == [
        [("1", "queued"), ("2", "processed")],
        [("3", "failed")],
    ]
    assert pages[1][0].error == "Order already shipped"
    assert len(rsps.calls) == 3  # the token, then one request per page
    assert query(rsps.calls[1]) == {
        "account_id": ["155"],
        "page_size": ["100"],
        "updated_from": ["2016-02-01"],
        "marketplace_order_id": ["1300435653833-A"],
    }
    assert query(rsps.calls[2])["page"] == ["2"]


def test_find_action_adopts_the_latest_match_only(rsps: responses.RequestsMock) -> None:
    base = load("prestashop_action_ship_processed.json")  # line 1300435581913-A-1
    other_line = {**base, "id": 5, "line": "OTHER-LINE", "created_at": "2016-02-09T00:00:00Z"}
    older = {**base, "id": 2, "queued": True, "processed": False}
    newer = {**base, "id": 7, "created_at": "2016-02-10T00:00:00Z"}
    other_tracking = {**base, "id": 8, "tracking_number": "ZZZ", "created_at": "2016-02-11T00:00Z"}
    # the API is asked with every filter; an answer that ignored them is checked again
    rsps.add(
        responses.GET,
        ACTIONS_URL,
        json={
            "count": 4,
            "next": None,
            "previous": None,
            "results": [older, other_line, newer, other_tracking],
        },
    )
    found = lengow().find_action(
        "galeries_lafayette", "1300435653833-A", "ship", "1300435581913-A-1", "tototo"
    )
    assert found is not None and (found.id, found.state) == ("7", "processed")
    assert query(rsps.calls[1]) == {
        "account_id": ["155"],
        "page_size": ["100"],
        "marketplace_order_id": ["1300435653833-A"],
        "marketplace": ["galeries_lafayette"],
        "action_type": ["ship"],
        "line": ["1300435581913-A-1"],
        "tracking_number": ["tototo"],
    }


def test_find_action_none_when_lengow_has_none(rsps: responses.RequestsMock) -> None:
    whole_order = load("prestashop_action_ship_post_response.json")  # line null
    rsps.add(
        responses.GET,
        ACTIONS_URL,
        json={"count": 1, "next": None, "previous": None, "results": [whole_order]},
    )
    rsps.add(
        responses.GET,
        ACTIONS_URL,
        json={"count": 1, "next": None, "previous": None, "results": [whole_order]},
    )
    connector = lengow()
    # an action for the whole order is not the action for one of its lines
    assert connector.find_action("galeries_lafayette", "1300435653833-A", "ship", "L-1") is None
    whole = connector.find_action("galeries_lafayette", "1300435653833-A", "ship")
    assert whole is not None and whole.state == "sent" and whole.line is None
