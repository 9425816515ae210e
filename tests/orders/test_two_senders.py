"""Two senders at once, in two real ``python -m jobs.worker`` processes on PostgreSQL: each
order action owed is claimed by one of them and posted to the marketplace once."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from tests.feeds.test_abandoned import start_worker, stop, wait_for
from tests.orders.helpers import sandbox_counters
from tests.orders.test_acks_and_modes import calls, fresh, lengow
from webapp.extensions import db, queue
from webapp.models import Order, OrderAction, Run
from webapp.models import runs as R
from webapp.orders.fulfilment import record_shipment
from webapp.orders.service import import_orders
from webapp.outbound import send_owed
from webapp.runs import lifecycle

DONE = (R.COMPLETED, R.COMPLETED_WITH_ERRORS, R.FAILED)


def test_two_worker_processes_send_each_order_action_once(app, backend, store, sandbox, tmp_path):
    if backend != "postgresql":
        pytest.skip("two concurrent senders are asserted on PostgreSQL; SQLite serialises them")
    from rq import Worker

    account = lengow(app, store, sandbox, live=True)
    import_orders(account)
    send_owed(account)  # the acknowledgements: only ship actions are owed from here
    confirmed = db.session.scalars(
        select(Order)
        .where(Order.account_id == account.id, Order.status == "confirmed")
        .order_by(Order.id)
        .limit(30)
    ).all()
    action_ids = []
    for order in confirmed:  # a parcel per line: one ship action each
        for item in list(order.items):
            parcel = [(item.channel_line_id, None)]
            done = record_shipment(order, "UPS", None, f"2W-{item.id}", None, parcel)
            action_ids += [a.id for a in done.actions]
    owed = len(action_ids)
    assert owed >= 7
    before = sandbox_counters(sandbox)["actions_created"]
    log = tmp_path / "workers.log"
    workers = [start_worker(app, sandbox, log), start_worker(app, sandbox, log)]
    try:
        connection = queue("default").connection
        wait_for(lambda: len(Worker.all(connection=connection)) >= 2, 60, "two workers", log)
        # Two executions of the sender for the same account, queued together: each worker
        # takes one and both claim the owed calls at the same moment.
        runs = [
            lifecycle.create(
                kind="outbound", store_id=account.store_id, account=account, trigger="test"
            ).run
            for _ in range(2)
        ]
        for run in runs:
            lifecycle.enqueue(run)
        run_ids = [r.id for r in runs]

        def finished():
            fresh()
            return all(db.session.get(Run, i).status in DONE for i in run_ids)

        wait_for(finished, 120, "both senders to finish", log)
    finally:
        for worker in workers:
            stop(worker)
    fresh()
    done_runs = [db.session.get(Run, i) for i in run_ids]
    assert [r.status for r in done_runs] == [R.COMPLETED, R.COMPLETED]
    ships = calls(account, action="order.ship")
    assert len(ships) == owed
    assert {(c.status, c.attempts) for c in ships} == {("sent", 1)}
    assert sandbox_counters(sandbox)["actions_created"] - before == owed  # each posted once
    states = db.session.scalars(select(OrderAction.state).where(OrderAction.id.in_(action_ids)))
    assert set(states) == {"sent"}
