"""Default feeds and the reconciled rq-scheduler schedule (real Redis, real rq-scheduler)."""

from __future__ import annotations

import pytest
from rq.job import Job
from rq_scheduler import Scheduler
from sqlalchemy import select

from tests.feeds.conftest import entries, feed_entries, feed_of, fresh, runs_of, work
from webapp.extensions import db, queue
from webapp.feeds import schedule
from webapp.feeds.defaults import ensure_all, ensure_store_feeds
from webapp.models import Feed, ScheduledJob
from webapp.models import runs as R
from webapp.models.base import utcnow

DONE = (R.COMPLETED, R.COMPLETED_WITH_ERRORS)


def test_an_account_gets_its_default_feeds_and_schedules(app, store, account):
    feeds = {
        f.kind: f for f in db.session.scalars(select(Feed).where(Feed.account_id == account.id))
    }
    assert set(feeds) == {
        "import_orders",
        "recheck_parked_orders",
        "shipping_confirmation",
        "catalog_export",  # the daily check of the catalog feed the hub pulls (issue 15)
        "stock_check",  # what the hub last fetched against what it would get now
    }
    assert feeds["catalog_export"].schedule.cron_expression == "0 1 * * *"
    assert not feeds["catalog_export"].enabled
    assert feeds["import_orders"].schedule.interval_seconds == 300  # every 5 min
    assert feeds["recheck_parked_orders"].schedule.interval_seconds == 3600  # hourly
    # Inbound runs from the start; outbound waits for going live (seed 002).
    assert (feeds["import_orders"].enabled, feeds["import_orders"].direction) == (True, "in")
    assert (feeds["shipping_confirmation"].enabled, feeds["shipping_confirmation"].direction) == (
        False,
        "out",
    )
    # Created with the account, and reconciled at once: the two inbound feeds are scheduled.
    assert set(entries(app)) == {
        schedule.feed_job_id(feeds["import_orders"].id),
        schedule.feed_job_id(feeds["recheck_parked_orders"].id),
    }
    # Only the store's feed (and, on a truncated database, the global jobs) were missing...
    # (the daily marketplace-rules refresh came after migration 0006: it is created here)
    assert ensure_all() in (2, 5)
    assert ensure_all() == 0  # ...and nothing is created twice
    store_feed = db.session.scalar(select(Feed).where(Feed.account_id.is_(None)))
    assert (store_feed.kind, store_feed.enabled) == ("import_products", False)
    assert store_feed.schedule.cron_expression == "0 4 * * *"
    assert ensure_store_feeds(store) == []
    globals_ = {
        j.job_type: j.interval_seconds
        for j in db.session.scalars(select(ScheduledJob).where(ScheduledJob.feed_id.is_(None)))
    }
    assert globals_ == {
        "sync_retry_failed": 600,
        "sweep_abandoned_runs": 60,
        "reconcile_schedules": 300,
        "refresh_marketplace_rules": 86400,
    }


def test_reconcile_is_idempotent_across_restarts(app, store, account):
    ensure_all()
    first = schedule.reconcile()
    before = entries(app)
    assert len(before) == 6  # two feeds and four global jobs
    again = schedule.reconcile()
    assert again.as_dict() == {"added": 0, "replaced": 0, "removed": 0, "kept": 6}
    assert entries(app) == before  # same ids, same next times
    # A restart or a deploy: a new process, a new Scheduler object, the same answer.
    from webapp.extensions import redis_connection

    app.extensions.pop("mercato_redis", None)
    assert redis_connection() is not None
    assert schedule.reconcile().as_dict()["kept"] == 6
    assert entries(app) == before
    assert first.as_dict()["added"] + first.as_dict()["kept"] == 6
    job = Job.fetch(
        schedule.feed_job_id(feed_of(account, "import_orders").id), connection=queue().connection
    )
    assert job.meta["interval"] == 300 and job.func_name == "jobs.feeds.scheduled_tick"


def test_edit_disable_and_retire_reach_the_scheduler_without_restart(app, store, account):
    orders = feed_of(account, "import_orders")
    recheck = feed_of(account, "recheck_parked_orders")
    job_id = schedule.feed_job_id(orders.id)
    conn = queue().connection

    schedule.set_schedule(orders.schedule, cron="*/7 * * * *")
    db.session.commit()
    report = schedule.reconcile([orders.id])
    assert report.replaced == [job_id]
    job = Job.fetch(job_id, connection=conn)
    assert job.meta["cron_string"] == "*/7 * * * *" and "interval" not in job.meta
    assert len(feed_entries(app)) == 2

    orders.enabled = False
    db.session.commit()
    assert schedule.reconcile([orders.id]).removed == [job_id]
    assert set(feed_entries(app)) == {schedule.feed_job_id(recheck.id)}

    orders.enabled = True
    db.session.commit()
    schedule.reconcile([orders.id])
    runner = app.test_cli_runner()
    result = runner.invoke(args=["accounts", "retire", str(account.id)])
    assert result.exit_code == 0, result.output
    assert feed_entries(app) == {}  # a retired account's feeds are never scheduled
    result = runner.invoke(args=["accounts", "reinstate", str(account.id)])
    assert result.exit_code == 0, result.output
    assert set(feed_entries(app)) == {job_id, schedule.feed_job_id(recheck.id)}


@pytest.mark.parametrize(
    ("every", "seconds"), [("5m", 300), ("15 min", 900), ("6h", 21600), ("1d", 86400), ("90", 5400)]
)
def test_intervals_parse(every, seconds):
    assert schedule.parse_every(every) == seconds


@pytest.mark.parametrize("bad", ["", "5 fortnights", "30s", "0m", "40d", "-5m"])
def test_bad_intervals_are_refused(bad):
    with pytest.raises(schedule.ScheduleError):
        schedule.parse_every(bad)


@pytest.mark.parametrize(
    "bad", ["", "* * * *", "*/5 * * * * *", "61 * * * *", "* 25 * * *", "hello world x y z"]
)
def test_bad_cron_expressions_are_refused(bad):
    with pytest.raises(schedule.ScheduleError):
        schedule.check_cron(bad)


def test_a_due_entry_runs_the_feed_through_rq_scheduler(app, store, account, sandbox):
    """rq-scheduler moves the due tick to the queue; the tick starts one execution."""
    orders = feed_of(account, "import_orders")
    sched = Scheduler(connection=queue().connection, queue_name=schedule.queue_name())
    job = Job.fetch(schedule.feed_job_id(orders.id), connection=queue().connection)
    from datetime import UTC, datetime

    sched.change_execution_time(job, datetime.now(UTC))
    sched.enqueue_jobs()  # what the scheduler process does every few seconds
    work(app)
    (run,) = runs_of(orders.id)
    assert (run.trigger, run.kind, run.status in DONE) == ("schedule", "order_import", True)
    assert run.total_processed == 40
    # The entry is back in the set for its next time, still once.
    assert schedule.feed_job_id(orders.id) in entries(app)
    row = fresh(ScheduledJob, orders.schedule.id)
    assert row.last_run_at is not None and row.last_run_status in DONE
    assert row.next_run_at is not None


def test_a_tick_of_a_feed_that_should_not_run_unschedules_it(app, store, account):
    """The database changed behind the scheduler's back (no reconcile yet): the tick checks."""
    from jobs.feeds import scheduled_tick

    orders = feed_of(account, "import_orders")
    account.retire()
    db.session.commit()
    assert schedule.feed_job_id(orders.id) in entries(app)  # nobody reconciled yet
    assert scheduled_tick(orders.id)["state"] == "not_scheduled"
    assert schedule.feed_job_id(orders.id) not in entries(app)
    assert runs_of(orders.id) == []


def test_two_processes_creating_the_defaults_at_once_both_start(app, store, account):
    """The worker and the scheduler start together and both find a global job missing: the
    one whose insert meets the other's row looks again instead of failing."""
    from sqlalchemy import event

    from webapp.feeds.defaults import GLOBAL_JOBS

    db.session.execute(db.delete(ScheduledJob).where(ScheduledJob.feed_id.is_(None)))
    db.session.commit()
    name, (_, interval) = next(iter(GLOBAL_JOBS.items()))
    raced = []

    def the_other_process_first(session, *_):
        if raced:
            return
        raced.append(name)
        with db.engine.connect() as other:  # another connection: commits on its own
            other.execute(
                ScheduledJob.__table__.insert().values(
                    job_type=name,
                    interval_seconds=interval,
                    created_at=utcnow(),
                    updated_at=utcnow(),
                )
            )
            other.commit()

    event.listen(db.session, "before_flush", the_other_process_first)
    try:
        ensure_all()
    finally:
        event.remove(db.session, "before_flush", the_other_process_first)
    assert raced == [name]
    jobs = db.session.scalars(
        select(ScheduledJob.job_type).where(ScheduledJob.feed_id.is_(None))
    ).all()
    assert sorted(jobs) == sorted(GLOBAL_JOBS)  # each once: the other's row, then the rest
