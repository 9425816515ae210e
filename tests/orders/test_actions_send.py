"""``flask orders actions send --account ID [--wait SECONDS]`` against the sandbox served over
real HTTP: what is owed is sent once through the one sender (as an execution of the account's
shipping confirmation feed), then the actions' states are read back, one paged listing per
step and never a request per action, until none is queued or the wait is over."""

from __future__ import annotations

import json

import pytest
import requests
from sqlalchemy import select

from tests.orders.helpers import sandbox_counters
from tests.orders.test_acks_and_modes import fresh, lengow
from tests.orders.test_shipping_confirmation import shipping_feed
from tests.sandbox_server import served_sandbox
from webapp.extensions import db
from webapp.models import Message, Order, OrderAction, Run
from webapp.orders.fulfilment import record_shipment
from webapp.orders.service import import_orders
from webapp.outbound import send_owed

SUMMARY_KEYS = {"sent", "processed", "failed", "queued", "dry_run"}


@pytest.fixture
def sandbox():
    # An action stays queued for the first read of the list that shows it, and is processed
    # (or fails) at the second.
    with served_sandbox(250, SANDBOX_ACTION_SECONDS=0, SANDBOX_ACTION_POLLS=2) as url:
        yield url


def shipped(app, store, sandbox, *, live: bool, count: int):
    """An account with ``count`` confirmed orders shipped (their ship actions owed)."""
    account = lengow(app, store, sandbox, live=live)
    import_orders(account)
    send_owed(account)  # the acknowledgements
    orders = db.session.scalars(
        select(Order)
        .where(Order.account_id == account.id, Order.status == "confirmed")
        .order_by(Order.id)
        .limit(count)
    ).all()
    assert len(orders) == count
    ids = [
        record_shipment(order, "colissimo", None, f"SEND-{order.id}", None).actions[0].id
        for order in orders
    ]
    return account, ids


def send(app, account, *extra):
    result = app.test_cli_runner().invoke(
        args=["orders", "actions", "send", "--account", str(account.id), *map(str, extra)]
    )
    fresh()
    return result


def summary_of(result) -> dict:
    assert result.exit_code == 0, result.output + result.stderr
    summary = json.loads(result.stdout.strip().splitlines()[-1])
    assert SUMMARY_KEYS <= set(summary)
    return summary


def states(ids) -> list[str]:
    return [db.session.get(OrderAction, i).state for i in ids]


def test_it_sends_once_and_follows_until_every_action_is_processed(app, store, sandbox):
    account, ids = shipped(app, store, sandbox, live=True, count=5)
    feed = shipping_feed(account)
    before = sandbox_counters(sandbox)
    summary = summary_of(send(app, account, "--wait", 30))
    assert {k: summary[k] for k in SUMMARY_KEYS} == {
        "sent": 5,
        "processed": 5,
        "failed": 0,
        "queued": 0,
        "dry_run": 0,
    }
    assert states(ids) == ["processed"] * 5
    # Two executions of the shipping feed: the first sent and saw them queued, the second
    # (a few seconds later) saw them processed.
    runs = [db.session.get(Run, i) for i in summary["run_ids"]]
    assert len(runs) == summary["runs"] == 2
    assert {(r.feed_id, r.kind, r.trigger) for r in runs} == {
        (feed.id, "shipping_confirmation", "cli")
    }
    after = sandbox_counters(sandbox)
    assert after["actions_created"] - before["actions_created"] == 5  # each sent once
    # 5 POSTs, then per step one page of the list and at most two tokens (sender, listing):
    # following 5 actions never costs a request each.
    assert after["requests"] - before["requests"] <= 5 + 3 * len(runs)
    # Nothing left: again, it sends nothing and reads once.
    again = summary_of(send(app, account, "--wait", 30))
    assert (again["sent"], again["processed"], again["queued"], again["runs"]) == (0, 0, 0, 1)
    assert sandbox_counters(sandbox)["actions_created"] == after["actions_created"]


def test_without_wait_it_reads_once_and_reports_what_is_still_queued(app, store, sandbox):
    account, ids = shipped(app, store, sandbox, live=True, count=2)
    shipping_feed(account)
    summary = summary_of(send(app, account))
    assert (summary["sent"], summary["processed"], summary["queued"], summary["runs"]) == (
        2,
        0,
        2,
        1,
    )
    assert states(ids) == ["queued", "queued"]
    # A stuck action: the wait ends with it still queued; the first two are processed.
    stuck = {"action_stuck": {"times": 1, "polls": 10}}
    requests.post(f"{sandbox}/_sandbox/faults", json=stuck, timeout=5)
    [third] = shipped_more(account, 1)
    summary = summary_of(send(app, account, "--wait", 3))
    assert (summary["sent"], summary["processed"], summary["queued"]) == (1, 2, 1)
    assert summary["runs"] >= 2
    assert states([*ids, third]) == ["processed", "processed", "queued"]


def shipped_more(account, count):
    orders = db.session.scalars(
        select(Order)
        .where(Order.account_id == account.id, Order.status == "confirmed")
        .order_by(Order.id)
        .limit(count)
    ).all()
    ids = [
        record_shipment(order, "colissimo", None, f"MORE-{order.id}", None).actions[0].id
        for order in orders
    ]
    return ids


def test_a_refused_action_counts_failed_with_the_marketplace_text_in_the_inbox(app, store, sandbox):
    requests.post(
        f"{sandbox}/_sandbox/faults",
        json={"action_error": {"message": "Carrier unknown to Amazon", "times": 1}},
        timeout=5,
    )
    account, [action_id] = shipped(app, store, sandbox, live=True, count=1)
    shipping_feed(account)
    summary = summary_of(send(app, account, "--wait", 30))
    assert (summary["sent"], summary["failed"], summary["processed"], summary["queued"]) == (
        1,
        1,
        0,
        0,
    )
    action = db.session.get(OrderAction, action_id)
    assert (action.state, action.error) == ("failed", "Carrier unknown to Amazon")
    [message] = db.session.scalars(
        select(Message).where(Message.error_type == "order_action_failed")
    ).all()
    assert "Carrier unknown to Amazon" in message.error_message


def test_test_mode_records_dry_runs_and_sends_nothing(app, store, sandbox):
    account, ids = shipped(app, store, sandbox, live=False, count=2)
    shipping_feed(account)
    before = sandbox_counters(sandbox)
    summary = summary_of(send(app, account, "--wait", 30))
    assert {k: summary[k] for k in SUMMARY_KEYS} == {
        "sent": 0,
        "processed": 0,
        "failed": 0,
        "queued": 0,
        "dry_run": 0,  # recorded as dry runs when they were recorded: nothing left to mark
    }
    assert summary["runs"] == 1
    assert states(ids) == ["dry_run", "dry_run"]
    assert sandbox_counters(sandbox) == before


def test_a_disabled_feed_is_refused_in_words(app, store, sandbox):
    account = lengow(app, store, sandbox, live=True)
    result = send(app, account, "--wait", 1)
    assert result.exit_code == 1
    assert "disabled; enable it first" in result.stderr
