"""Feeds whose flow is not built (issue 11): they cannot be enabled, run or scheduled, they
say so everywhere, and what they did before does not count as a success."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest
from sqlalchemy import select, update

from tests.feeds.conftest import entries, fresh, not_built_feed, runs_of, work
from tests.webapp.conftest import csrf_from, logged_in
from webapp.accounts import create_account
from webapp.extensions import db
from webapp.feeds import defaults, schedule
from webapp.models import Feed, Message, Run
from webapp.models import runs as R
from webapp.models.base import utcnow
from webapp.models.feeds import BUILT_FLOWS, IN, KINDS, NOT_BUILT_RUN_KIND, flow_is_built
from webapp.runs import registry


@pytest.fixture
def letzshop(app, store):
    return create_account(store, "letzshop", "Letzshop", secrets={"api_token": "t0ken"})


def feed_of(account, kind: str) -> Feed:
    return db.session.scalar(select(Feed).where(Feed.account_id == account.id, Feed.kind == kind))


def force_enable(feed: Feed) -> None:
    """What an older release, or a hand edit in the database, leaves behind."""
    db.session.execute(update(Feed).where(Feed.id == feed.id).values(enabled=True))
    db.session.commit()


def test_which_flows_are_built():
    registry.load()  # without an app fixture nothing has loaded the flows yet (run alone)
    assert flow_is_built("import_orders", 1) and flow_is_built("import_products", None)
    assert not flow_is_built("import_products", 1)  # an account's product feed: no flow yet
    assert not flow_is_built("import_orders", None)
    # (supplier_catalog is built on main by the CodesWholesale branch: not named here)
    # Built (issue 15): an account's stock and price pushes, its stock check and its catalog
    # export (the daily check of the feed the hub pulls).
    for kind in ("stock_export", "stock_check", "price_export", "catalog_export"):
        assert flow_is_built(kind, 1) and not flow_is_built(kind, None)
    assert set(BUILT_FLOWS) <= set(KINDS)  # every declared kind is built today
    # Built (issue 14): an account's shipping confirmation; there is no store-owned one.
    assert flow_is_built("shipping_confirmation", 1)
    assert not flow_is_built("shipping_confirmation", None)


def test_defaults_never_enable_a_feed_without_a_flow(app, store, letzshop):
    # Every inbound flow is built today (the supplier catalogue was the last, issue 16): a
    # throwaway inbound one that is not stands in.
    registry.declare("inbound_stub", label="Inbound stub", direction=IN, interval_seconds=60)
    try:
        built = defaults._add(store.id, letzshop.id, "import_orders")
        stub = defaults._add(store.id, letzshop.id, "inbound_stub")  # inbound, not built
        assert built.enabled and not stub.enabled
    finally:
        db.session.rollback()
        registry.unregister("inbound_stub")


def test_pages_say_not_built_and_refuse_enable_and_run_now(app, store_user, letzshop):
    client = logged_in(app, store_user.email)
    stub = not_built_feed(letzshop)
    orders = feed_of(letzshop, "import_orders")

    listing = client.get("/store/acme/feeds").text
    row = listing[listing.index(f'id="feed-{stub.id}"') :]
    row = row[: row.index("</tr>")]
    assert "not built" in row and "cannot be enabled or run" in row
    assert "hx-post" not in row  # no live Run now button on it
    other = listing[listing.index(f'id="feed-{orders.id}"') :]
    assert "hx-post" in other[: other.index("</tr>")]

    page = client.get(f"/store/acme/feeds/{stub.id}").text
    assert "Not built yet." in page and ">Enable<" not in page
    token = csrf_from(page)

    refused = client.post(
        f"/store/acme/feeds/{stub.id}/enabled",
        data={"enabled": "1", "csrf_token": token},
        follow_redirects=True,
    )
    assert refused.status_code == 200 and "is not built yet" in refused.text
    assert 'class="flash flash-error"' in refused.text
    assert fresh(Feed, stub.id).enabled is False
    assert schedule.feed_job_id(stub.id) not in entries(app)

    force_enable(stub)
    run_now = client.post(
        f"/store/acme/feeds/{stub.id}/run",
        headers={"HX-Request": "true"},
        data={"csrf_token": token},
    )
    assert run_now.status_code == 200
    assert "not built yet" in run_now.text and 'role="alert"' in run_now.text
    assert runs_of(stub.id) == []


def test_cli_refuses_enable_and_run_with_a_json_last_line(app, letzshop):
    stub = not_built_feed(letzshop)
    runner = app.test_cli_runner()
    enable = runner.invoke(args=["feeds", "enable", str(stub.id)])
    assert enable.exit_code == 1
    last = json.loads(enable.stdout.splitlines()[-1])
    assert last["feed_id"] == stub.id and "not built" in last["refused"]
    assert "Error:" in enable.output and fresh(Feed, stub.id).enabled is False

    force_enable(stub)
    run = runner.invoke(args=["feeds", "run", str(stub.id)])
    assert run.exit_code == 1 and "not built" in json.loads(run.stdout.splitlines()[-1])["refused"]
    assert runs_of(stub.id) == []

    listed = runner.invoke(args=["feeds", "list", "--format", "json"]).output.splitlines()
    record = next(r for r in map(json.loads, listed) if r["id"] == stub.id)
    assert record["built"] is False and record["scheduled"] is False


def test_reconcile_disables_enabled_stub_feeds_and_never_schedules_them(app, letzshop):
    stub = not_built_feed(letzshop)
    force_enable(stub)
    # An entry an older release scheduled for it.
    sched = schedule.scheduler()
    job_id = schedule.feed_job_id(stub.id)
    schedule._schedule(
        sched, schedule._entry(job_id, schedule.TICK, (stub.id,), stub.schedule, "old")
    )
    assert job_id in entries(app)

    result = app.test_cli_runner().invoke(args=["feeds", "reconcile"])
    assert result.exit_code == 0, result.output
    summary = json.loads(result.stdout.splitlines()[-1])
    assert summary["disabled_not_built"] == [stub.id] and summary["removed"] == 1
    assert fresh(Feed, stub.id).enabled is False
    assert job_id not in entries(app)
    assert schedule.feed_job_id(feed_of(letzshop, "import_orders").id) in entries(app)
    # Said once: the next reconcile has nothing to turn off.
    assert "disabled_not_built" not in schedule.reconcile().as_dict()


def test_a_run_queued_before_the_flow_was_refused_fails_and_says_so(app, letzshop):
    stub = not_built_feed(letzshop)
    force_enable(stub)
    run = Run(
        kind=stub.kind,
        store_id=stub.store_id,
        account_id=letzshop.id,
        feed_id=stub.id,
        trigger="schedule",
        status=R.PENDING,
    )
    db.session.add(run)
    db.session.commit()
    from webapp.extensions import queue

    queue("default").enqueue("jobs.runs.execute_run", run.id)
    work(app)
    done = fresh(Run, run.id)
    assert (done.status, done.kind) == (R.FAILED, NOT_BUILT_RUN_KIND)
    assert "not built" in done.error_message
    note = db.session.scalar(select(Message).where(Message.import_job_id == run.id))
    assert note.error_type == "not_built" and "Nothing was read or sent" in note.error_message


def test_monitoring_counts_stub_runs_neither_as_success_nor_failure(app, letzshop):
    from webapp.monitoring import figures

    orders = feed_of(letzshop, "import_orders")
    stub = not_built_feed(letzshop)
    now = utcnow()
    done = {"started_at": now - timedelta(minutes=2), "completed_at": now - timedelta(minutes=1)}
    db.session.add_all(
        [
            Run(
                kind="order_import",
                store_id=orders.store_id,
                account_id=orders.account_id,
                feed_id=orders.id,
                status=R.COMPLETED,
                **done,
            ),  # fmt: skip
            Run(
                kind=NOT_BUILT_RUN_KIND,
                store_id=stub.store_id,
                account_id=stub.account_id,
                feed_id=stub.id,
                status=R.FAILED,
                **done,
            ),  # fmt: skip
            Run(
                kind=NOT_BUILT_RUN_KIND,
                store_id=stub.store_id,
                account_id=stub.account_id,
                feed_id=stub.id,
                status=R.COMPLETED,
                **done,
            ),  # fmt: skip
        ]
    )
    db.session.commit()
    rate, finished, failed = figures.error_rate(now)
    assert (rate, finished, failed) == (0.0, 1, 0)
    hour = figures.hourly(2, now)
    assert sum(b.succeeded for b in hour) == 1 and sum(b.failed for b in hour) == 0
    force_enable(stub)  # even watched, a not-built run is no success
    checks = {c.feed_id: c for c in figures.integration_checks(now)}
    assert checks[stub.id].last_success is None
    assert checks[orders.id].last_success is not None
