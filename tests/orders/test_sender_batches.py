"""The sender writes the results of sent calls a few at a time: a sender that dies after
sending and before writing leaves its calls ``sending``; the next sender takes them over once
the claim is stale, asks Lengow first and adopts what it has. Nothing is posted twice."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import select, update

from tests.orders.helpers import sandbox_counters, work_default_queue
from tests.orders.test_acks_and_modes import fresh, lengow
from webapp.extensions import db
from webapp.models import Order, OrderAction, OutboundCall
from webapp.models.base import utcnow
from webapp.orders.fulfilment import record_shipment
from webapp.orders.service import import_orders
from webapp.outbound import send_owed
from webapp.outbound import sender as sender_module
from webapp.outbound.record import STALE_CLAIM


class Died(BaseException):
    """The sender's process ending between sending and writing (not an error it handles)."""


def test_calls_sent_but_not_written_are_looked_up_not_posted_again(
    app, store, sandbox, monkeypatch
):
    account = lengow(app, store, sandbox, live=True)
    import_orders(account)
    send_owed(account)  # the acknowledgements
    orders = db.session.scalars(
        select(Order)
        .where(Order.account_id == account.id, Order.status == "confirmed")
        .order_by(Order.id)
        .limit(3)
    ).all()
    ids = [record_shipment(o, "colissimo", None, f"DIE-{o.id}", None).actions[0].id for o in orders]
    created = sandbox_counters(sandbox)["actions_created"]

    def die(run, results):
        if results.sent:
            raise Died

    monkeypatch.setattr(sender_module, "_flush", die)
    with pytest.raises(Died):
        send_owed(account)
    monkeypatch.undo()
    db.session.rollback()
    fresh()
    calls = db.session.scalars(
        select(OutboundCall).where(OutboundCall.action == "order.ship").order_by(OutboundCall.id)
    ).all()
    # Sent (Lengow has all three) but not written: still claimed, attempt 1.
    assert sandbox_counters(sandbox)["actions_created"] - created == 3
    assert [(c.status, c.attempts) for c in calls] == [("sending", 1)] * 3
    assert [db.session.get(OrderAction, i).state for i in ids] == ["recorded"] * 3

    # The sweep finds the dead execution (its heartbeat gone) and ends it; the claim goes
    # stale; the next sender takes it over, asks Lengow, adopts: no second POST.
    from webapp.feeds.sweep import sweep
    from webapp.models import Run
    from webapp.models import runs as R

    stale = utcnow() - STALE_CLAIM - timedelta(seconds=1)  # time passes
    db.session.execute(
        update(Run)
        .where(Run.status.in_(R.ACTIVE_STATUSES))
        .values(started_at=stale, created_at=stale, updated_at=stale)
    )
    db.session.commit()
    assert len(sweep()["abandoned"]) == 1
    db.session.execute(
        update(OutboundCall).where(OutboundCall.action == "order.ship").values(updated_at=stale)
    )
    db.session.commit()
    # The sweep queued the feed's retry (an order poll); the worker runs it, and the sender
    # follows it. Whatever runs it, the calls are looked up before anything is posted.
    work_default_queue()
    send_owed(account)
    fresh()
    assert sandbox_counters(sandbox)["actions_created"] - created == 3
    calls = db.session.scalars(
        select(OutboundCall).where(OutboundCall.action == "order.ship").order_by(OutboundCall.id)
    ).all()
    assert [(c.status, c.attempts) for c in calls] == [("sent", 2)] * 3
    assert [db.session.get(OrderAction, i).state for i in ids] == ["sent"] * 3


def test_a_batch_is_written_together_and_counted_on_the_run(app, store, sandbox):
    account = lengow(app, store, sandbox, live=True)
    import_orders(account)
    first = send_owed(account)  # the acknowledgements, more than one batch of results
    assert first["sent"] > sender_module.FLUSH_CALLS
    fresh()
    acks = db.session.scalars(
        select(OutboundCall).where(OutboundCall.action == "order.merchant_order_id")
    ).all()
    assert {c.status for c in acks} == {"sent"} and len(acks) == first["sent"]
    orders = db.session.scalars(select(Order).where(Order.account_id == account.id)).all()
    acknowledged = [o for o in orders if o.acknowledged_at is not None]
    assert {o.merchant_order_id for o in acknowledged} == {str(o.id) for o in acknowledged}
    assert len(acknowledged) == first["sent"]
    from webapp.models import Run

    run = db.session.get(Run, first["run_id"])
    assert (run.total_processed, run.imported_count) == (first["sent"], first["sent"])
