"""Acknowledgements (merchant order ids) as their own step, test mode and going live,
against the sandbox over real HTTP, with real RQ workers on real Redis."""

from __future__ import annotations

import json
import threading
from datetime import timedelta

import pytest
import requests
from rq.registry import ScheduledJobRegistry
from sqlalchemy import func, select, update

from tests.orders.helpers import sandbox_counters, work_default_queue
from webapp.accounts import create_account
from webapp.extensions import db, queue
from webapp.models import AccountModeChange, Message, Order, OutboundCall
from webapp.models.base import utcnow
from webapp.orders.service import import_orders
from webapp.outbound import send_owed

SECRETS = {"access_token": "sandbox-access-5622", "secret": "sandbox-secret-5622"}


def lengow(app, store, url: str, *, live: bool):
    app.config["MERCATO_OUTBOUND_ALLOW"] = [url.removeprefix("http://")]
    app.config["MERCATO_CONNECTOR_BACKOFF_BASE"] = 0.01  # real retries, short waits
    return create_account(
        store,
        "lengow",
        "Lengow Menzzo",
        settings={"account_id": "5622", "base_url": url},
        secrets=dict(SECRETS),
        live=live,
        by="test-suite",
    )


def fresh():
    db.session.rollback()  # end our snapshot: workers wrote through their own sessions
    db.session.expire_all()


def booked_count(account) -> int:
    return db.session.scalar(select(func.count(Order.id)).where(Order.account_id == account.id))


def calls(account, **where) -> list[OutboundCall]:
    query = select(OutboundCall).where(OutboundCall.account_id == account.id)
    for name, value in where.items():
        query = query.where(getattr(OutboundCall, name) == value)
    return list(db.session.scalars(query.order_by(OutboundCall.id)))


def cli(app, *args):
    result = app.test_cli_runner().invoke(args=[str(a) for a in args])
    assert result.exit_code == 0, result.output
    return json.loads(result.output.strip().splitlines()[-1])


def test_test_mode_imports_for_real_and_only_records_what_it_would_send(app, store, sandbox):
    account = lengow(app, store, sandbox, live=False)
    run = import_orders(account)
    assert run.status != "failed", run.error_message
    booked = booked_count(account)
    assert booked > 0 and run.imported_count == booked  # inbound runs for real
    # Nothing queued, and the step itself (as a worker or the CLI would run it) sends nothing.
    assert queue("default").count == 0
    assert send_owed(account) == {
        "sent": 0,
        "failed": 0,
        "deferred": 0,
        "dry_run": 0,
        "run_id": None,
        "retry_at": None,
    }
    assert cli(app, "orders", "acks", "--account", account.id)["sent"] == 0
    counters = sandbox_counters(sandbox)
    assert counters["merchant_order_ids_set"] == 0
    state = requests.get(f"{sandbox}/_sandbox/state?ids=0", timeout=10).json()
    assert state["counters"]["requests"] == counters["requests"]  # no PATCH got through
    # One dry run per booked order, exactly what would have been sent.
    dry = calls(account)
    assert len(dry) == booked and {c.status for c in dry} == {"dry_run"}
    order = db.session.get(Order, dry[0].subject_id)
    assert (dry[0].method, dry[0].url) == ("PATCH", f"{sandbox}/v3.0/orders/moi/")
    assert dry[0].body == {
        "account_id": 5622,
        "marketplace": order.channel,
        "marketplace_order_id": order.channel_order_id,
        "merchant_order_id": [str(order.id)],
    }
    assert dry[0].dry_run_at is not None and dry[0].sent_at is None
    assert order.ack_state == "dry_run" and not order.acknowledged
    recorded = json.dumps([[c.url, c.body, c.params] for c in dry])
    assert all(secret not in recorded for secret in SECRETS.values())
    # A re-poll records nothing more: one dry run per order.
    import_orders(account)
    assert len(calls(account)) == booked


def test_going_live_sends_each_owed_acknowledgement_once(app, store, sandbox):
    account = lengow(app, store, sandbox, live=False)
    import_orders(account)
    booked = booked_count(account)
    summary = cli(app, "accounts", "live", account.id, "--by", "alice", "--yes")
    oldest = db.session.scalar(
        select(func.min(OutboundCall.created_at)).where(OutboundCall.account_id == account.id)
    )
    assert summary == {
        "account_id": account.id,
        "mode": "live",
        "changed": True,
        "confirmed": True,
        "choice": "send",
        "owed_total": booked,
        "owed": {"order.merchant_order_id": {"count": booked, "oldest": oldest.isoformat()}},
        "released": booked,
        "discarded": 0,
        "sent": booked,
        "failed": 0,
        "deferred": 0,
        "dry_run": 0,
    }
    assert sandbox_counters(sandbox)["merchant_order_ids_set"] == booked
    fresh()
    assert {c.status for c in calls(account)} == {"sent"}
    assert all(c.dry_run_at and c.sent_at for c in calls(account))  # the dry run stays visible
    orders = db.session.scalars(select(Order).where(Order.account_id == account.id)).all()
    assert all(o.ack_state == "acknowledged" and o.merchant_order_id == str(o.id) for o in orders)
    # Lengow holds our id now.
    one = orders[0]
    token = requests.post(f"{sandbox}/access/get_token", data=SECRETS, timeout=10).json()["token"]
    seen = requests.get(
        f"{sandbox}/v3.0/orders/",
        params={"account_id": 5622, "marketplace_order_id": one.channel_order_id},
        headers={"Authorization": token},
        timeout=10,
    ).json()["results"][0]
    assert seen["merchant_order_id"] == [str(one.id)]
    # Going live again sends nothing more.
    again = cli(app, "accounts", "live", account.id)
    assert (again["changed"], again["sent"]) == (False, 0)
    assert sandbox_counters(sandbox)["merchant_order_ids_set"] == booked
    changes = db.session.scalars(
        select(AccountModeChange)
        .where(AccountModeChange.account_id == account.id)
        .order_by(AccountModeChange.id)
    ).all()
    assert [(c.from_mode, c.to_mode, c.changed_by) for c in changes] == [
        (None, "test", "test-suite"),
        ("test", "live", "alice"),
    ]


def test_a_failed_acknowledgement_is_retried_and_ends_acknowledged(app, store, sandbox):
    account = lengow(app, store, sandbox, live=True)
    import_orders(account)
    booked = booked_count(account)
    # Lengow answers 500 to everything while the step runs (and the HTTP layer's own retries).
    requests.post(f"{sandbox}/_sandbox/faults", json={"server_error": {"every": 1}}, timeout=10)
    assert work_default_queue()
    fresh()
    # Three tries failed in a row (each after the HTTP layer's own retries): the step stopped
    # there. The rest of its batch waits, untried, for the same retry; the calls beyond the
    # batch were never claimed and stay pending.
    owed = calls(account)
    failed = [c for c in owed if c.status == "failed"]
    assert len(owed) == booked and {c.status for c in owed} == {"failed", "pending"}
    assert [c.attempts for c in failed[:3]] == [1, 1, 1] and all(c.last_error for c in failed)
    assert all(c.attempts == 0 for c in owed if c not in failed[:3])
    assert all(c.next_attempt_at - c.updated_at >= timedelta(seconds=29) for c in failed)
    order = db.session.get(Order, failed[0].subject_id)
    assert order.ack_state == "failed"
    message = db.session.scalar(
        select(Message).where(
            Message.error_type == "outbound_failed", Message.subject_id == order.id
        )
    )
    assert message.severity == "retry" and message.subject_type == "order"
    # The job put itself back for when the backoff ends (RQ's scheduler enqueues it then).
    scheduled = ScheduledJobRegistry(queue=queue("default"))
    assert len(scheduled) == 1
    # Lengow recovers; the backoff ends; the retry sends each one, once.
    requests.delete(f"{sandbox}/_sandbox/faults", timeout=10)
    db.session.execute(update(OutboundCall).values(next_attempt_at=utcnow() - timedelta(seconds=1)))
    db.session.commit()
    job = queue("default").fetch_job(scheduled.get_job_ids()[0])
    queue("default").enqueue_job(job)  # what the scheduler does when the time comes
    assert work_default_queue()
    fresh()
    assert {c.status for c in calls(account)} == {"sent"}
    assert sorted(c.attempts for c in calls(account)) == [1] * (booked - 3) + [2] * 3
    assert sandbox_counters(sandbox)["merchant_order_ids_set"] == booked
    assert (
        db.session.scalar(
            select(func.count(Order.id)).where(
                Order.account_id == account.id, Order.acknowledged_at.is_(None)
            )
        )
        == 0
    )
    # The retry that sent them answered the inbox: no failure is left open for a person.
    unresolved = select(func.count(Message.id)).where(
        Message.error_type == "outbound_failed", Message.resolved_at.is_(None)
    )
    assert db.session.scalar(unresolved) == 0


def test_a_retry_that_fails_again_keeps_its_next_wake_up_however_far(app, store, sandbox):
    """The wake-up job puts itself back while it runs; a backoff longer than RQ's result
    lifetime (500 s) must not lose it: the scheduler drops a wake-up whose key expired."""
    account = lengow(app, store, sandbox, live=True)
    import_orders(account)
    requests.post(f"{sandbox}/_sandbox/faults", json={"server_error": {"every": 1}}, timeout=10)
    assert work_default_queue()  # the follower: three calls fail, a wake-up is scheduled
    scheduled = ScheduledJobRegistry(queue=queue("default"))
    (wake_id,) = scheduled.get_job_ids()
    # Two calls owed, five failures each already: the next one waits 30 s * 2**5 = 16 min.
    owed = [c.id for c in calls(account)]
    db.session.execute(
        update(OutboundCall)
        .where(OutboundCall.id.in_(owed[:2]))
        .values(status="failed", attempts=5, next_attempt_at=utcnow() - timedelta(seconds=1))
    )
    db.session.execute(
        update(OutboundCall).where(OutboundCall.id.in_(owed[2:])).values(status="discarded")
    )
    db.session.commit()
    queue("default").enqueue_job(queue("default").fetch_job(wake_id))  # its time has come
    assert work_default_queue()  # the wake-up runs the sender: it fails again
    fresh()
    retry_at = min(c.next_attempt_at for c in calls(account, status="failed"))
    assert retry_at - utcnow() > timedelta(minutes=15)
    # The same wake-up is scheduled again, for then, and its key outlives the wait.
    assert scheduled.get_job_ids() == [wake_id]
    due = scheduled.get_scheduled_time(wake_id)
    assert abs(due.replace(tzinfo=None) - retry_at) < timedelta(seconds=2)
    connection = queue("default").connection
    ttl = connection.ttl(queue("default").fetch_job(wake_id).key)
    assert ttl == -1 or ttl > (retry_at - utcnow()).total_seconds()


def test_back_to_test_mode_stops_sending_and_going_live_again_sends_the_rest(app, store, sandbox):
    account = lengow(app, store, sandbox, live=True)
    import_orders(account)  # queues the step; switch before a worker runs it
    booked = booked_count(account)
    assert cli(app, "accounts", "test", account.id, "--by", "bob")["changed"] is True
    assert work_default_queue()  # the queued step now finds a test-mode account
    assert sandbox_counters(sandbox)["merchant_order_ids_set"] == 0
    fresh()
    assert {c.status for c in calls(account)} == {"dry_run"}
    assert cli(app, "accounts", "live", account.id, "--yes")["sent"] == booked
    assert sandbox_counters(sandbox)["merchant_order_ids_set"] == booked


def test_two_steps_at_once_send_each_acknowledgement_once(app, backend, store, sandbox):
    if backend != "postgresql":
        pytest.skip("two concurrent senders are asserted on PostgreSQL; SQLite serialises them")
    account = lengow(app, store, sandbox, live=True)
    import_orders(account)
    booked = booked_count(account)
    account_id = account.id
    db.session.commit()
    barrier = threading.Barrier(2)
    results, failures = [], []

    def sender():
        try:
            with app.app_context():
                from webapp.models import Account

                mine = db.session.get(Account, account_id)
                barrier.wait(timeout=10)
                results.append(send_owed(mine)["sent"])
                db.session.remove()
        except Exception as exc:  # noqa: BLE001 - reported by the assertion below
            failures.append(repr(exc))

    threads = [threading.Thread(target=sender) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert not failures, failures
    assert sum(results) == booked
    assert sandbox_counters(sandbox)["merchant_order_ids_set"] == booked
