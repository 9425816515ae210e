"""The shipping-confirmation feed, run through the lifecycle against the sandbox served over
real HTTP: it sends what is owed through the one sender, then reads the marketplace's actions
back (one listing since its cursor) and moves each order action sent to queued, processed or
failed with the marketplace's own text in the inbox; in test mode it sends nothing."""

from __future__ import annotations

from datetime import timedelta

import pytest
import requests
from sqlalchemy import select, update

from tests.orders.helpers import sandbox_counters
from tests.orders.test_acks_and_modes import fresh, lengow
from tests.orders.test_fulfilment import ready, ship_calls
from tests.sandbox_server import served_sandbox
from webapp.extensions import db
from webapp.models import Feed, Message, OrderAction, Run
from webapp.models import runs as R
from webapp.models.base import utcnow
from webapp.models.outbound import OutboundCall
from webapp.orders.fulfilment import record_shipment
from webapp.orders.service import import_orders
from webapp.outbound import send_owed
from webapp.runs import lifecycle


@pytest.fixture
def sandbox():
    # A Lengow action stays queued for the first read of the list that shows it, and is
    # processed (or fails) at the second.
    with served_sandbox(250, SANDBOX_ACTION_SECONDS=0, SANDBOX_ACTION_POLLS=2) as url:
        yield url


def shipping_feed(account) -> Feed:
    feed = db.session.scalar(
        select(Feed).where(Feed.account_id == account.id, Feed.kind == "shipping_confirmation")
    )
    lifecycle.set_enabled(feed, True)  # refused while the flow was not built
    db.session.commit()
    return feed


def execute(feed: Feed) -> Run:
    started = lifecycle.run_feed(feed.id, "cli")
    assert started.started
    fresh()
    return db.session.get(Run, started.run.id)


def shipped(app, store, sandbox, *, live: bool, tracking: str):
    account = lengow(app, store, sandbox, live=live)
    import_orders(account)
    send_owed(account)  # the acknowledgements
    order = ready(account)
    done = record_shipment(order, "colissimo", None, tracking, None, by="alice")
    return account, order, done.actions[0].id


def listing_reads(sandbox: str) -> int:
    return sandbox_counters(sandbox).get("requests", 0)


def test_a_live_shipment_is_sent_then_queued_then_processed(app, store, sandbox):
    account, order, action_id = shipped(app, store, sandbox, live=True, tracking="TRK-Q1")
    feed = shipping_feed(account)
    assert feed.last_sync_at is None

    first = execute(feed)
    assert first.status == R.COMPLETED and first.feed_id == feed.id
    assert first.kind == "shipping_confirmation"
    [call] = ship_calls(account)
    assert call.status == "sent"  # sent once, by the one sender
    action = db.session.get(OrderAction, action_id)
    assert action.state == "queued" and action.sent_at is not None
    assert first.updated_count == 1 and first.total_processed >= 1
    cursor = db.session.get(Feed, feed.id).last_sync_at
    assert cursor is not None

    second = execute(feed)
    assert second.status == R.COMPLETED
    action = db.session.get(OrderAction, action_id)
    assert (action.state, action.error) == ("processed", None)
    assert action.processed_at is not None and second.updated_count == 1
    assert db.session.get(Feed, feed.id).last_sync_at >= cursor
    [call] = ship_calls(account)
    assert call.attempts == 1  # nothing sent twice

    # A third execution finds nothing to move and sends nothing.
    before = listing_reads(sandbox)
    third = execute(feed)
    assert third.status == R.COMPLETED and third.updated_count == 0
    assert db.session.get(OrderAction, action_id).state == "processed"
    # Its token and one page of the actions list: nothing sent, no request per action.
    assert listing_reads(sandbox) - before == 2
    assert (
        db.session.scalars(
            select(Message).where(Message.import_job_id.in_((first.id, second.id, third.id)))
        ).all()
        == []
    )


def test_a_refused_action_ends_failed_with_the_marketplace_text_in_the_inbox(app, store, sandbox):
    account, order, action_id = shipped(app, store, sandbox, live=True, tracking="TRK-E1")
    answer = requests.post(
        f"{sandbox}/_sandbox/faults",
        json={"action_error": {"message": "Carrier unknown to Amazon", "times": 1}},
        timeout=5,
    )
    assert answer.status_code == 200, answer.text
    feed = shipping_feed(account)
    execute(feed)
    assert db.session.get(OrderAction, action_id).state == "queued"
    run = execute(feed)
    action = db.session.get(OrderAction, action_id)
    assert (action.state, action.error) == ("failed", "Carrier unknown to Amazon")
    assert action.processed_at is None
    assert run.status == R.COMPLETED_WITH_ERRORS and run.error_count == 1
    [message] = db.session.scalars(select(Message).where(Message.import_job_id == run.id)).all()
    assert (message.severity, message.error_type) == ("error", "order_action_failed")
    assert (message.subject_type, message.subject_id) == ("order", order.id)
    assert "Carrier unknown to Amazon" in message.error_message
    assert message.resolved_at is None  # open in the inbox
    # Failed is final: the next execution leaves it (and its message) as they are.
    again = execute(feed)
    assert db.session.get(OrderAction, action_id).state == "failed"
    assert again.error_count == 0


def test_test_mode_records_dry_runs_and_sends_nothing(app, store, sandbox):
    account, order, action_id = shipped(app, store, sandbox, live=False, tracking="TRK-T1")
    feed = shipping_feed(account)
    before = sandbox_counters(sandbox)
    run = execute(feed)
    assert run.status == R.COMPLETED and run.feed_id == feed.id
    assert sandbox_counters(sandbox) == before  # not a request: nothing sent, nothing read
    [call] = ship_calls(account)
    assert call.status == "dry_run" and call.sent_at is None
    assert db.session.get(OrderAction, action_id).state == "dry_run"


def test_a_failing_listing_fails_the_execution_and_keeps_the_cursor(app, store, sandbox):
    account, order, action_id = shipped(app, store, sandbox, live=True, tracking="TRK-F1")
    feed = shipping_feed(account)
    execute(feed)
    cursor = db.session.get(Feed, feed.id).last_sync_at
    assert db.session.get(OrderAction, action_id).state == "queued" and cursor is not None
    answer = requests.post(
        f"{sandbox}/_sandbox/faults", json={"server_error": {"every": 1, "status": 500}}, timeout=5
    )
    assert answer.status_code == 200, answer.text
    run = execute(feed)
    assert run.status == R.FAILED and run.error_count == 1
    [message] = db.session.scalars(select(Message).where(Message.import_job_id == run.id)).all()
    assert message.error_type == "connector_error" and message.account_id == account.id
    assert db.session.get(Feed, feed.id).last_sync_at == cursor  # read again next time
    assert db.session.get(OrderAction, action_id).state == "queued"


def test_an_action_whose_answer_never_came_is_looked_up_and_adopted_not_posted_again(
    app, store, sandbox
):
    """Lengow takes the ship action but its answer never comes (the client times out): the
    sender's retry asks Lengow first, finds the action and adopts it; no second POST."""
    app.config["MERCATO_CONNECTOR_READ_TIMEOUT"] = 1.0
    account, order, action_id = shipped(app, store, sandbox, live=True, tracking="TRK-T1")
    fault = {"action_timeout": {"times": 1, "seconds": 2}}
    requests.post(f"{sandbox}/_sandbox/faults", json=fault, timeout=5)
    send_owed(account)
    fresh()
    [call] = ship_calls(account)
    assert (call.status, call.attempts) == ("failed", 1)
    assert sandbox_counters(sandbox)["actions_created"] == 1  # taken, though unanswered
    due = update(OutboundCall).where(OutboundCall.id == call.id)
    db.session.execute(due.values(next_attempt_at=utcnow() - timedelta(seconds=1)))
    db.session.commit()

    send_owed(account)  # the backoff is over: look it up, then adopt it
    fresh()
    [call] = ship_calls(account)
    assert (call.status, call.attempts) == ("sent", 2)
    assert sandbox_counters(sandbox)["actions_created"] == 1  # never posted twice
    assert db.session.get(OrderAction, action_id).state == "sent"


def test_an_action_queued_too_long_raises_an_inbox_message_closed_when_it_settles(
    app, store, sandbox
):
    """Fault action_stuck: the marketplace keeps the ship queued for three more reads. Sent
    longer ago than MERCATO_ACTION_STUCK_AFTER and still queued, it raises one "retry" message
    about its order (never a second one); the inbox sweep does not close it while the action is
    in flight, the execution that sees it processed does."""
    from webapp.inbox import retry

    app.config["MERCATO_ACTION_STUCK_AFTER"] = 3600
    account, order, action_id = shipped(app, store, sandbox, live=True, tracking="TRK-S1")
    answer = requests.post(
        f"{sandbox}/_sandbox/faults", json={"action_stuck": {"polls": 3, "times": 1}}, timeout=5
    )
    assert answer.status_code == 200, answer.text
    feed = shipping_feed(account)

    def stuck_messages():
        return db.session.scalars(
            select(Message).where(Message.error_type == "order_action_stuck").order_by(Message.id)
        ).all()

    first = execute(feed)
    assert db.session.get(OrderAction, action_id).state == "queued"
    assert stuck_messages() == [] and first.outcome["stuck"] == 0  # sent just now
    # two hours pass
    db.session.execute(
        update(OrderAction)
        .where(OrderAction.id == action_id)
        .values(sent_at=utcnow() - timedelta(hours=2))
    )
    db.session.commit()
    second = execute(feed)
    assert db.session.get(OrderAction, action_id).state == "queued"
    assert second.outcome["stuck"] == 1 and second.status == R.COMPLETED
    [message] = stuck_messages()
    assert (message.severity, message.subject_type, message.subject_id) == (
        "retry",
        "order",
        order.id,
    )
    assert (message.account_id, message.store_id) == (account.id, order.store_id)
    assert message.row_data["order_action_id"] == action_id and message.resolved_at is None
    assert (
        f"ship of order #{order.id}" in message.error_message and "2.0 h" in message.error_message
    )
    # in the store's inbox (grade retry), under its own cause
    from tests.webapp.conftest import logged_in, make_user

    make_user("stuck@acme.test", store=store)
    client = logged_in(app, "stuck@acme.test")
    inbox = client.get(f"/store/{store.code}/inbox?cause=order_action_stuck&severity=retry").text
    assert "Order actions with no answer" in inbox and f"ship of order #{order.id}" in inbox

    third = execute(feed)  # still queued: no second message
    assert third.outcome["stuck"] == 0 and len(stuck_messages()) == 1
    # the inbox sweep retries it when due: still in flight, it stays open (a later successful
    # execution of the feed does not close it)
    db.session.execute(
        update(Message)
        .where(Message.id == message.id)
        .values(next_retry_at=utcnow() - timedelta(seconds=1))
    )
    db.session.commit()
    assert retry.sweep()["failed"] == 1
    fresh()
    message = db.session.get(Message, message.id)
    assert message.resolved_at is None and message.attempts == 1
    assert "Still queued" in message.last_retry_error

    for _ in range(3):
        if db.session.get(OrderAction, action_id).state == "processed":
            break
        execute(feed)
    assert db.session.get(OrderAction, action_id).state == "processed"
    message = db.session.get(Message, message.id)
    assert message.resolved_at is not None and message.resolved_by == "action processed"
    assert sandbox_counters(sandbox)["actions_created"] == 1  # processed once, never re-sent


FAULTS = {
    "429": ({"rate_limit": {"every": 2, "retry_after": 1}}, None),
    # the POST of the first execution (its token, then the POST): "every" is set below
    "500": ({"server_error": {"every": 2, "status": 500}}, None),
    "timeout": ({"action_timeout": {"seconds": 2, "times": 1}}, None),
    "action_error": (
        {"action_error": {"message": "Tracking number already used", "times": 1}},
        "Tracking number already used",
    ),
    "stuck": ({"action_stuck": {"polls": 2, "times": 1}}, None),
}


@pytest.mark.parametrize("fault", list(FAULTS))
def test_each_fault_on_its_own_ends_processed_once_or_failed_in_the_inbox(
    app, store, sandbox, fault
):
    """End to end, one fault switched on at a time: the ship is recorded, the feed's executions
    send it (the one sender, its backoff made due at once) and follow it until the marketplace
    settles it. The sandbox holds exactly one ship action for the shipment, processed; or, with
    the marketplace's error, the action is failed with its text in the inbox."""
    app.config["MERCATO_CONNECTOR_READ_TIMEOUT"] = 1.0
    spec, error = FAULTS[fault]
    account, order, action_id = shipped(app, store, sandbox, live=True, tracking=f"TRK-{fault}")
    feed = shipping_feed(account)
    if fault == "500":  # the next execution's second request, the POST; then none for long
        spec = {"server_error": {"every": sandbox_counters(sandbox)["requests"] + 2}}
    answer = requests.post(f"{sandbox}/_sandbox/faults", json=spec, timeout=5)
    assert answer.status_code == 200, answer.text
    states = []
    for _ in range(10):
        execute(feed)
        action = db.session.get(OrderAction, action_id)
        states.append(action.state)
        if action.state in ("processed", "failed"):
            break
        # the sender's backoff (a failed or doubtful attempt) is over at once
        db.session.execute(
            update(OutboundCall)
            .where(OutboundCall.account_id == account.id, OutboundCall.status == "failed")
            .values(next_attempt_at=utcnow() - timedelta(seconds=1))
        )
        db.session.commit()
    requests.delete(f"{sandbox}/_sandbox/faults", timeout=5)
    fresh()
    action = db.session.get(OrderAction, action_id)
    [call] = ship_calls(account)
    assert call.status == "sent", (states, call.status, call.last_error)
    seen = sandbox_counters(sandbox)
    assert seen["actions_created"] == 1, (states, seen)  # one ship for one shipment
    if fault == "429":
        assert seen["rate_limited"] >= 1
    if fault == "500":
        assert seen["server_errors"] >= 1
        assert call.attempts >= 2  # a POST answered 500, looked up, then sent
    if fault == "timeout":
        assert seen["actions_timed_out"] == 1
        assert call.attempts == 2  # taken unanswered, then found and adopted: not posted again
    if error is None:
        assert action.state == "processed", states
        assert action.processed_at is not None and action.error is None
    else:
        assert (action.state, action.error) == ("failed", error)
        [message] = db.session.scalars(
            select(Message).where(
                Message.error_type == "order_action_failed", Message.subject_id == order.id
            )
        ).all()
        assert error in message.error_message and message.resolved_at is None
    if fault == "stuck":
        assert states.count("queued") >= 2  # still queued past the next poll
