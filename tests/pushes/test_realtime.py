"""The real-time strategy against the served sandbox, on SQLite and PostgreSQL: a stock change
of a real-time account is marked in its transaction (``push_dirty``) and pushed by one
debounced job per account, as an execution of its stock feed: a burst of changes to one SKU is
one update; a scheduled account's change waits for its schedule; test mode records a dry run;
a manual account's push is never scheduled and a real-time one's hourly only."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest
from sqlalchemy import func, select

from tests.feeds.conftest import work
from tests.pushes.test_shoppingfeed_push import (
    account_on,
    held,
    inventory,
    publish,
    run,
    set_quantity,
)
from webapp.extensions import db, queue
from webapp.models import Feed, Message, OutboundCall, PushDirty, Run
from webapp.models import runs as R
from webapp.models.base import utcnow
from webapp.models.stock import MANUAL
from webapp.pushes import realtime
from webapp.runs.gate import set_enabled
from webapp.stock import dirty, levels, service
from webapp.stock.availability import available_quantities


def realtime_account(app, store, url, *, live=True, strategy="realtime"):
    """A ShoppingFeed account told everything once (a full push), then set to ``strategy``."""
    app.config["MERCATO_REALTIME_PUSH_DELAY"] = 0  # the test drains the queue itself
    account = account_on(app, store, url, live=live)
    run(account, "stock_export")  # enables the feed; the first push sends the whole stock
    service.update_settings(account, strategy=strategy)
    work(app)  # becoming real time queued a full push (it finds nothing left to send)
    return account


def queued() -> int:
    """The real-time push jobs waiting in the queue."""
    return sum(1 for job in queue("default").jobs if job.func_name == dirty.JOB)


def dirty_rows(account) -> dict[str, int]:
    db.session.rollback()
    return dict(
        db.session.execute(
            select(PushDirty.sku, PushDirty.touches).where(PushDirty.account_id == account.id)
        ).all()
    )


def realtime_runs(account) -> list[Run]:
    db.session.rollback()
    return list(
        db.session.scalars(
            select(Run).where(Run.account_id == account.id, Run.trigger == "realtime")
        )
    )


def test_a_burst_of_changes_to_one_sku_is_one_update(app, store, sandbox):
    publish(store, 5, quantity=lambda i: 10)
    account = realtime_account(app, store, sandbox)
    before = held(sandbox)["counters"]
    for n in range(20):
        set_quantity(store, "SKU-0003", 30 + n)  # each one its own transaction
    assert dirty_rows(account) == {"SKU-0003": 20}
    assert queued() == 1  # one job for the burst
    work(app)
    counters = held(sandbox)["counters"]
    assert counters["inventory_updates"] == before["inventory_updates"] + 1
    assert counters["inventory_items"] == before["inventory_items"] + 1  # the SKU once
    assert inventory(sandbox)["SKU-0003"] == 49
    assert inventory(sandbox) == available_quantities(account)
    [done] = realtime_runs(account)
    assert done.status == R.COMPLETED, done.error_message
    assert done.feed.kind == "stock_export"
    [call] = db.session.scalars(select(OutboundCall).where(OutboundCall.subject_id == done.id))
    assert call.status == "sent"
    assert call.body == {"inventory": [{"reference": "SKU-0003", "quantity": 49}]}
    note = db.session.scalar(
        select(Message.error_message).where(
            Message.import_job_id == done.id, Message.error_type == "realtime"
        )
    )
    assert note == "Real time: 1 SKU(s) changed (20 change(s) coalesced); 1 to send."
    assert dirty_rows(account) == {}
    assert queued() == 0


def test_every_kind_of_movement_marks_and_one_batch_carries_them(app, store, sandbox):
    publish(store, 4, quantity=lambda i: 10)
    account = realtime_account(app, store, sandbox)
    warehouse = levels.default_warehouse_id(store.id)
    # a stock file's batch (absolute quantities) and an order's reservation (a delta)
    levels.set_on_hand(
        store.id, [("SKU-0000", warehouse, 3), ("SKU-0001", warehouse, 4)], reason=MANUAL
    )
    levels.apply(
        store.id,
        [
            {
                "store_id": store.id,
                "sku": "SKU-0002",
                "warehouse_id": warehouse,
                "reason": "order_reserved",
                "on_hand_delta": 0,
                "reserved_delta": 2,
            }
        ],
    )
    db.session.commit()
    assert dirty_rows(account) == {"SKU-0000": 1, "SKU-0001": 1, "SKU-0002": 1}
    work(app)
    assert inventory(sandbox) == {"SKU-0000": 3, "SKU-0001": 4, "SKU-0002": 8, "SKU-0003": 10}
    [done] = realtime_runs(account)
    assert (done.status, done.total_processed) == (R.COMPLETED, 3)
    assert held(sandbox)["counters"]["inventory_updates"] == 2  # the first full push + one


def test_a_rules_change_of_a_real_time_account_pushes_every_sku_at_once(app, store, sandbox):
    publish(store, 3, quantity=lambda i: 10)
    account = realtime_account(app, store, sandbox)
    service.update_settings(account, safety_stock=2)
    work(app)
    assert inventory(sandbox) == {"SKU-0000": 8, "SKU-0001": 8, "SKU-0002": 8}
    [full] = db.session.scalars(
        select(Run)
        .where(Run.account_id == account.id, Run.trigger == service.RULES_TRIGGER)
        .order_by(Run.id.desc())
    ).all()[:1]
    assert full.status == R.COMPLETED and full.total_processed == 3


def test_a_real_time_push_sends_again_what_a_failed_push_left(app, store, sandbox):
    import requests

    publish(store, 150, quantity=lambda i: 5)
    app.config["MERCATO_REALTIME_PUSH_DELAY"] = 0
    account = account_on(app, store, sandbox)
    feed = realtime.stock_feed(account)
    set_enabled(feed, True)
    db.session.commit()
    service.update_settings(account, strategy="realtime")  # its full push: one batch fails
    requests.post(
        f"{sandbox}/_sandbox/shoppingfeed/faults", json={"server_error": {"times": 5}}, timeout=10
    )
    work(app)
    assert len(inventory(sandbox)) == 50
    set_quantity(store, "SKU-0149", 1)
    work(app)
    [done] = realtime_runs(account)
    assert done.status == R.COMPLETED, done.error_message
    assert inventory(sandbox) == available_quantities(account)  # the failed batch went again
    assert dirty_rows(account) == {}


def test_a_change_committed_while_the_push_runs_is_pushed_next(app, store, sandbox):
    publish(store, 2, quantity=lambda i: 10)
    account = realtime_account(app, store, sandbox)
    set_quantity(store, "SKU-0000", 5)
    read = realtime.pending(account.id)
    set_quantity(store, "SKU-0000", 6)  # after the push read its rows
    realtime.clear(account.id, read)
    db.session.commit()
    assert dirty_rows(account) == {"SKU-0000": 2}  # kept for the next push


def test_a_scheduled_account_sends_nothing_until_its_schedule(app, store, sandbox):
    publish(store, 3, quantity=lambda i: 10)
    account = realtime_account(app, store, sandbox, strategy="scheduled")
    before = held(sandbox)["counters"]["inventory_updates"]
    set_quantity(store, "SKU-0001", 2)
    assert dirty_rows(account) == {}
    assert queued() == 0
    work(app)
    assert held(sandbox)["counters"]["inventory_updates"] == before
    assert inventory(sandbox)["SKU-0001"] == 10
    run(account, "stock_export", trigger="schedule")
    assert inventory(sandbox)["SKU-0001"] == 2


def test_test_mode_records_a_dry_run_and_sends_nothing(app, store, sandbox):
    publish(store, 2, quantity=lambda i: 10)
    account = realtime_account(app, store, sandbox, live=False)
    set_quantity(store, "SKU-0001", 7)
    work(app)
    [done] = realtime_runs(account)
    assert done.status == R.COMPLETED
    calls = db.session.scalars(select(OutboundCall).where(OutboundCall.subject_id == done.id))
    assert [(c.status, c.body) for c in calls] == [
        ("dry_run", {"inventory": [{"reference": "SKU-0001", "quantity": 7}]})
    ]
    assert held(sandbox)["counters"]["inventory_updates"] == 0
    assert dirty_rows(account) == {}


def test_a_disabled_push_feed_or_another_strategy_marks_nothing(app, store, sandbox):
    publish(store, 1, quantity=lambda i: 10)
    account = realtime_account(app, store, sandbox)
    feed = db.session.scalar(
        select(Feed).where(Feed.account_id == account.id, Feed.kind == "stock_export")
    )
    set_enabled(feed, False)
    db.session.commit()
    set_quantity(store, "SKU-0000", 1)
    assert dirty_rows(account) == {} and queued() == 0


def test_a_busy_feed_asks_again_and_a_lost_job_is_asked_for_by_the_sweep(app, store, sandbox):
    from webapp.runs import lifecycle

    publish(store, 1, quantity=lambda i: 10)
    account = realtime_account(app, store, sandbox)
    feed = realtime.stock_feed(account)
    busy = lifecycle.create_execution(feed, "cli").run  # holds the feed's lock
    set_quantity(store, "SKU-0000", 4)
    assert realtime.push_account(account.id)["state"] == "busy"
    assert queued() == 1 and dirty_rows(account) == {"SKU-0000": 1}
    lifecycle.finish(busy, R.COMPLETED)
    # the job was lost (Redis flushed): the sweep asks again once the rows are stale
    app.extensions["mercato_redis"].flushdb()
    assert realtime.kick_stale()["kicked"] == 0  # not stale yet
    later = utcnow() + timedelta(seconds=realtime.STALE_SECONDS + 1)
    assert realtime.kick_stale(later) == {"stale_accounts": 1, "kicked": 1}
    work(app)
    assert inventory(sandbox)["SKU-0000"] == 4
    assert dirty_rows(account) == {}


def test_the_schedule_follows_the_strategy(app, store, sandbox):
    from webapp.feeds.schedule import desired, feed_job_id

    account = realtime_account(app, store, sandbox, strategy="scheduled")
    feed = realtime.stock_feed(account)
    assert desired()[feed_job_id(feed.id)].interval == 900
    service.update_settings(account, strategy="realtime")
    assert desired()[feed_job_id(feed.id)].interval == 3600  # the safety net
    service.update_settings(account, strategy="manual")
    assert feed_job_id(feed.id) not in desired()  # Run now only
    out = app.test_cli_runner().invoke(
        args=["accounts", "stock-settings", str(account.id), "--strategy", "scheduled"]
        + ["--interval", "30"]
    )
    assert out.exit_code == 0, out.output
    printed = json.loads(out.output.strip().splitlines()[-1])
    assert (printed["strategy"], printed["interval_minutes"]) == ("scheduled", 30)
    db.session.expire_all()
    assert desired()[feed_job_id(feed.id)].interval == 1800  # the strategy's interval
    # the change asked the scheduler to follow it at once
    assert "jobs.feeds.reconcile_schedules" in {j.func_name for j in queue("default").jobs}


def test_a_debounced_push_waits_in_rq_s_scheduled_registry(app, store, sandbox):
    from rq.registry import ScheduledJobRegistry

    publish(store, 1, quantity=lambda i: 10)
    account = realtime_account(app, store, sandbox)
    app.config["MERCATO_REALTIME_PUSH_DELAY"] = 30
    for n in range(5):
        set_quantity(store, "SKU-0000", n)
    registry = ScheduledJobRegistry(queue=queue("default"))
    [job_id] = registry.get_job_ids()
    assert list(queue("default").fetch_job(job_id).args) == [account.id]
    assert queued() == 0  # not before its time: the worker's scheduler enqueues it


def test_the_sync_settings_page_shows_the_strategy_and_what_waits(
    app, store, sandbox, store_client
):
    publish(store, 2, quantity=lambda i: 10)
    account = realtime_account(app, store, sandbox)
    url = f"/store/acme/accounts/{account.id}/stock"
    page = store_client.get(url).text
    assert "Real time" in page and 'id="realtime-pending">0' in page
    assert 'id="realtime-last">none yet' in page
    set_quantity(store, "SKU-0000", 1)
    set_quantity(store, "SKU-0001", 1)
    assert 'id="realtime-pending">2 ' in store_client.get(url).text
    work(app)
    [done] = realtime_runs(account)
    page = store_client.get(url).text
    assert 'id="realtime-pending">0' in page
    assert f"#{done.id}</a> completed" in page
    service.update_settings(account, strategy="manual")
    page = store_client.get(url).text
    assert "Nothing is sent until someone runs the stock push" in page
    assert "realtime-pending" not in page


@pytest.mark.parametrize("changes", [3])
def test_marking_is_one_statement_per_batch(app, store, sandbox, changes):
    """A batch of movements (an order page) marks its SKUs with one statement."""
    from sqlalchemy import event

    publish(store, changes, quantity=lambda i: 10)
    realtime_account(app, store, sandbox)
    warehouse = levels.default_warehouse_id(store.id)
    seen = []

    def count(conn, cursor, statement, *args):
        if "push_dirty" in statement:
            seen.append(statement)

    event.listen(db.engine, "before_cursor_execute", count)
    try:
        levels.set_on_hand(
            store.id, [(f"SKU-{i:04d}", warehouse, 1) for i in range(changes)], reason=MANUAL
        )
        db.session.commit()
    finally:
        event.remove(db.engine, "before_cursor_execute", count)
    assert len(seen) == 1
    assert db.session.scalar(select(func.count()).select_from(PushDirty)) == changes
    assert dirty.realtime_accounts(store.id)  # the cache went with the transaction
