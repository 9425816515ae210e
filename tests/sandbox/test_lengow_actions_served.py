"""The Lengow connector's order actions against the sandbox served over real HTTP: the
marketplace rules it declares, actions queued then processed or failed, the list read page by
page, and each fault on its own (429 with Retry-After, 500, the answer that never comes although
the action was taken, an action processed with an error, one still queued at the next poll)."""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest
import requests

from connectors.capabilities import Shipment
from connectors.egress import parse_allowlist
from connectors.errors import RequestRejected, RetryableError
from connectors.lengow import LengowConnector
from connectors.lengow.rules import validate
from tests.sandbox_server import served_sandbox

ACCOUNT = "5622"


@pytest.fixture
def sandbox() -> Iterator[str]:
    # Actions: processed at the second read of the list that shows them, no time needed.
    with served_sandbox(200, SANDBOX_ACTION_SECONDS=0, SANDBOX_ACTION_POLLS=2) as url:
        yield url


def connector(url: str, **http) -> LengowConnector:
    return LengowConnector.create(
        1,
        {"account_id": ACCOUNT, "base_url": url},
        {"access_token": f"sandbox-access-{ACCOUNT}", "secret": f"sandbox-secret-{ACCOUNT}"},
        allow=parse_allowlist([url.removeprefix("http://")]),
        **{"backoff_base": 0.01, "max_attempts": 3, **http},
    )


def faults(url: str, spec: dict) -> None:
    answer = requests.post(f"{url}/_sandbox/faults", json=spec, timeout=5)
    assert answer.status_code == 200, answer.text


def counters(url: str) -> dict:
    return requests.get(f"{url}/_sandbox/state?ids=0", timeout=5).json()["counters"]


def orders_in(lengow: LengowConnector, status: str) -> list[dict]:
    page = lengow.http.get(
        "/v3.0/orders/",
        params={"account_id": ACCOUNT, "lengow_status": status, "updated_from": "2000-01-01"},
    )
    assert page["results"], f"the sandbox has no order in {status}"
    return page["results"]


def ship(lengow: LengowConnector, order: dict, tracking: str, **extra) -> dict:
    return lengow.ship_order(
        order["marketplace"],
        order["marketplace_order_id"],
        Shipment(tracking, carrier=extra.pop("carrier", "UPS"), **extra),
    )


def states(lengow: LengowConnector, order_id: str) -> list[str]:
    return [a.state for page in lengow.list_actions(channel_order_id=order_id) for a in page]


def test_rules_served_validate_like_the_real_payloads(sandbox: str) -> None:
    lengow = connector(sandbox)
    rules = lengow.fetch_marketplace_rules()
    order = orders_in(lengow, "waiting_shipment")[0]
    code = order["marketplace"]
    assert code in rules
    ship_rule = rules[code].actions["ship"]
    assert ship_rule.args["carrier_name"].depends_on.operator == "allOf"
    other = {"carrier": "Other", "tracking_number": "T1"}
    problems = validate(rules, code, "ship", "waiting_shipment", other)
    assert [p.arg for p in problems] == ["carrier_name"]
    assert (
        validate(rules, code, "ship", "waiting_shipment", {**other, "carrier_name": "Mine"}) == []
    )
    bad_reason = validate(rules, code, "cancel", "waiting_shipment", {"reason": "Bored"})
    assert [p.arg for p in bad_reason] == ["reason"] and "NoInventory" in bad_reason[0].message
    refund = rules[code].actions["refund"].args["refund_reason"]
    assert refund.default == "ProductOutofStock" and not refund.accept_free_values
    # the sandbox refuses what the rules refuse: nothing is created
    with pytest.raises(RequestRejected, match="carrier_name is required"):
        ship(lengow, order, "T1", carrier="Other")
    assert counters(sandbox)["actions_created"] == 0
    one = lengow.fetch_marketplace_rules(code)
    assert list(one) == [code]


def test_action_queued_then_processed_and_partial_lines(sandbox: str) -> None:
    lengow = connector(sandbox)
    order = orders_in(lengow, "waiting_shipment")[0]
    order_id = order["marketplace_order_id"]
    lines = [line["marketplace_order_line_id"] for line in order["packages"][0]["cart"]]
    first = ship(lengow, order, "T-1", line=lines[0])
    assert first["queued"] is True and first["line"] == lines[0]
    assert states(lengow, order_id) == ["queued"]  # first read
    assert states(lengow, order_id) == ["processed"]  # second read
    if len(lines) > 1:
        # a partial shipment leaves the order waiting for the rest
        assert orders_in(lengow, "waiting_shipment")[0]["marketplace_order_id"] == order_id
        for n, line in enumerate(lines[1:], start=2):
            ship(lengow, order, f"T-{n}", line=line)
    assert all(o["marketplace_order_id"] != order_id for o in orders_in(lengow, "waiting_shipment"))
    found = lengow.find_action(order["marketplace"], order_id, "ship", lines[0], "T-1")
    assert found is not None and found.state == "processed" and found.line == lines[0]
    assert lengow.find_action(order["marketplace"], order_id, "ship", lines[0], "T-9") is None
    with pytest.raises(RequestRejected, match="not a line of this order"):
        ship(lengow, orders_in(lengow, "waiting_shipment")[0], "T-X", line="nope")


def test_list_actions_reads_pages_not_actions(sandbox: str) -> None:
    lengow = connector(sandbox)
    for n, order in enumerate(orders_in(lengow, "waiting_shipment")[:5]):
        ship(lengow, order, f"P-{n}")
    before = counters(sandbox)["requests"]
    pages = list(lengow.list_actions(page_size=2))
    assert [len(p) for p in pages] == [2, 2, 1]
    assert counters(sandbox)["requests"] - before == 3
    assert len({a.id for page in pages for a in page}) == 5
    # updated_from: nothing changed after the future
    assert list(lengow.list_actions(updated_from="2999-01-01T00:00:00Z")) == [[]]


def test_fault_processed_with_an_error(sandbox: str) -> None:
    lengow = connector(sandbox)
    faults(sandbox, {"action_error": {"message": "Carrier unknown to Amazon", "times": 1}})
    order, other = orders_in(lengow, "waiting_shipment")[:2]
    ship(lengow, order, "E-1")
    ship(lengow, other, "E-2")  # the fault was for one action only
    states(lengow, order["marketplace_order_id"])
    failed = lengow.find_action(order["marketplace"], order["marketplace_order_id"], "ship")
    assert failed.state == "failed" and failed.error == "Carrier unknown to Amazon"
    states(lengow, other["marketplace_order_id"])
    fine = lengow.find_action(other["marketplace"], other["marketplace_order_id"], "ship")
    assert fine.state == "processed" and fine.error is None


def test_fault_stays_queued_past_the_next_poll(sandbox: str) -> None:
    lengow = connector(sandbox)
    faults(sandbox, {"action_stuck": {"polls": 2}})
    order = orders_in(lengow, "waiting_shipment")[0]
    ship(lengow, order, "S-1")
    seen = [states(lengow, order["marketplace_order_id"])[0] for _ in range(5)]
    assert seen == ["queued", "queued", "queued", "processed", "processed"]


def test_fault_the_answer_never_comes_but_the_action_was_taken(sandbox: str) -> None:
    lengow = connector(sandbox, read_timeout=0.3)
    faults(sandbox, {"action_timeout": {"seconds": 1.0}})
    order = orders_in(lengow, "waiting_shipment")[0]
    with pytest.raises(RetryableError, match="not repeated|timed out|Read timed out"):
        ship(lengow, order, "TO-1")
    assert counters(sandbox)["actions_created"] == 1  # taken once, never posted again
    found = lengow.find_action(order["marketplace"], order["marketplace_order_id"], "ship")
    assert found is not None and found.tracking_number == "TO-1"
    assert found.state in ("queued", "processed")


def test_fault_500_before_the_action_is_looked_up_then_sent_once(sandbox: str) -> None:
    lengow = connector(sandbox)
    order = orders_in(lengow, "waiting_shipment")[0]  # token and a read first
    faults(sandbox, {"server_error": {"every": 1, "status": 500}})
    with pytest.raises(RetryableError):
        ship(lengow, order, "F-1")  # a POST is not repeated by the HTTP layer
    faults(sandbox, {"server_error": None})
    assert lengow.find_action(order["marketplace"], order["marketplace_order_id"], "ship") is None
    ship(lengow, order, "F-1")
    assert counters(sandbox)["actions_created"] == 1


def test_fault_429_with_retry_after_is_waited_and_sent_once(sandbox: str) -> None:
    lengow = connector(sandbox)
    order = orders_in(lengow, "waiting_shipment")[0]
    # the next request (the POST) is refused with Retry-After: 1; its retry is not
    every = counters(sandbox)["requests"] + 1
    faults(sandbox, {"rate_limit": {"every": every, "retry_after": 1}})
    started = time.monotonic()
    ship(lengow, order, "R-1")
    assert time.monotonic() - started >= 0.9  # Retry-After was waited
    faults(sandbox, {"rate_limit": None})
    seen = counters(sandbox)
    assert seen["rate_limited"] == 1 and seen["actions_created"] == 1
    found = lengow.find_action(order["marketplace"], order["marketplace_order_id"], "ship")
    assert found is not None and found.tracking_number == "R-1"


def test_action_fault_switches_are_checked_and_count_down() -> None:
    from sandbox.app import parse_faults

    assert parse_faults("timeout,action_error,stuck") == {
        "action_timeout": {"times": 1, "seconds": 2},
        "action_error": {
            "times": 1,
            "message": "The marketplace refused the action: tracking number already used",
        },
        "action_stuck": {"times": 1, "polls": 1},
    }
    with served_sandbox(1) as url:
        bad = requests.post(
            f"{url}/_sandbox/faults", json={"action_stuck": {"polls": 0}}, timeout=5
        )
        assert bad.status_code == 400 and "action_stuck.polls" in bad.text
        faults(url, {"action_error": {"times": 2}})
        assert (
            requests.get(f"{url}/_sandbox/faults", timeout=5).json()["faults"]["action_error"][
                "times"
            ]
            == 2
        )
