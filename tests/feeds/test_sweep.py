"""The sweep and the retries, without killing a process (test_abandoned.py kills one)."""

from __future__ import annotations

from datetime import timedelta

import requests
from rq.job import Job
from rq.registry import StartedJobRegistry
from sqlalchemy import select

from tests.feeds.conftest import feed_of, fresh, runs_of, work
from webapp.extensions import db, queue, redis_connection
from webapp.feeds import sweep
from webapp.models import Message, Run
from webapp.models import runs as R
from webapp.models.base import utcnow
from webapp.runs import lifecycle, liveness

DONE = (R.COMPLETED, R.COMPLETED_WITH_ERRORS)


def processing_run(feed, *, minutes_ago: int, status=R.PROCESSING) -> Run:
    """A feed run as a killed inline (CLI) execution leaves it: processing, no job."""
    run = Run(
        kind="order_import",
        store_id=feed.store_id,
        account_id=feed.account_id,
        feed_id=feed.id,
        trigger="cli",
        status=status,
        started_at=utcnow() - timedelta(minutes=minutes_ago),
    )
    if status in R.FINISHED_STATUSES:
        run.completed_at = utcnow()
    db.session.add(run)
    db.session.commit()
    return run


def notes(run_id: int, error_type: str = "abandoned") -> list[Message]:
    return list(
        db.session.scalars(
            select(Message).where(Message.import_job_id == run_id, Message.error_type == error_type)
        )
    )


def test_rqs_own_abandoned_job_handling_lands_in_the_same_place(app, account):
    """RQ's StartedJobRegistry.cleanup finds the job's heartbeat expired, fails the job with
    AbandonedJobError and calls its on_failure callback: the run is abandoned and retried."""
    orders = feed_of(account, "import_orders")
    run_id = lifecycle.start_feed(orders, "run_now").run.id
    q = queue("default")
    job = Job.fetch(fresh(Run, run_id).rq_job_id, connection=q.connection)
    # What a worker killed mid-job leaves in Redis: the job started, its execution's
    # heartbeat expired, nothing in the queue any more.
    q.remove(job)
    job.set_status("started")
    registry = StartedJobRegistry(queue=q)
    q.connection.zadd(registry.key, {f"{job.id}:deadbeef": 1})
    fresh(Run, run_id).status = R.PROCESSING
    db.session.commit()

    registry.cleanup()

    abandoned = fresh(Run, run_id)
    assert abandoned.status == R.ABANDONED and "RQ found" in abandoned.error_message
    assert Job.fetch(job.id, connection=q.connection).get_status() == "failed"
    (retry_note,) = notes(run_id)
    assert retry_note.severity == R.RETRY
    runs = runs_of(orders.id)
    assert [r.trigger for r in runs] == ["run_now", "retry"]
    work(app)
    assert runs_of(orders.id)[1].status in DONE


def test_a_live_heartbeat_is_left_alone_and_a_dead_one_is_retried(app, account):
    orders = feed_of(account, "import_orders")
    run = processing_run(orders, minutes_ago=10)
    redis_connection().set(liveness.alive_key(run.id), "1", ex=30)
    assert sweep.sweep() == {"abandoned": []}
    assert fresh(Run, run.id).status == R.PROCESSING

    redis_connection().delete(liveness.alive_key(run.id))
    assert sweep.sweep() == {"abandoned": [run.id]}
    assert fresh(Run, run.id).status == R.ABANDONED
    retry = runs_of(orders.id)[-1]
    assert (retry.trigger, retry.status) == ("retry", R.PENDING) and retry.rq_job_id
    assert sweep.sweep() == {"abandoned": []}  # a queued retry is waiting, not dead


def test_retries_stop_after_the_cap_and_ask_a_person(app, account):
    orders = feed_of(account, "import_orders")
    for _ in range(2):
        processing_run(orders, minutes_ago=20, status=R.ABANDONED)
    run = processing_run(orders, minutes_ago=10)
    assert sweep.sweep() == {"abandoned": [run.id]}
    (note,) = notes(run.id)
    assert note.severity == R.ERROR and "not retried again" in note.error_message
    assert runs_of(orders.id)[-1].id == run.id  # no new execution


def test_failed_syncs_are_retried_only_when_retryable(app, account, sandbox):
    from webapp.inbox.retry import sweep as inbox_sweep

    orders = feed_of(account, "import_orders")
    requests.post(
        f"{sandbox}/_sandbox/faults", json={"server_error": {"every": 1, "status": 503}}, timeout=5
    )
    failed = lifecycle.run_feed(orders.id, "cli").run
    assert failed.status == R.FAILED
    assert {m.severity for m in notes(failed.id, "connector_error")} == {R.RETRY}
    requests.delete(f"{sandbox}/_sandbox/faults", timeout=5)

    # The inbox retries connector errors itself (with backoff), through the feed.
    assert sweep.retry_failed() == {"retried": []}
    assert inbox_sweep() == {"resolved": 1, "failed": 0, "raised": 0}
    retry = runs_of(orders.id)[-1]
    assert (retry.trigger, retry.feed_id) == ("retry", orders.id) and retry.status in DONE

    # A retryable failure the inbox cannot redo by itself: the feed is started again.
    recheck = feed_of(account, "recheck_parked_orders")
    run = processing_run(recheck, minutes_ago=1, status=R.FAILED)
    lifecycle.note(run, R.RETRY, "timeout", "The marketplace timed out")
    (retry_id,) = sweep.retry_failed()["retried"]
    work(app)
    retry = fresh(Run, retry_id)
    assert (retry.trigger, retry.feed_id) == ("retry", recheck.id) and retry.status in DONE
    assert sweep.retry_failed() == {"retried": []}  # the last execution succeeded
    assert inbox_sweep()["resolved"] == 1  # ...which closes the timeout message

    # A failure that needs a person (bad credentials: error severity) is not retried.
    recheck = feed_of(account, "recheck_parked_orders")
    run = processing_run(recheck, minutes_ago=1, status=R.FAILED)
    lifecycle.note(run, R.ERROR, "connector_error", "Unauthorized")
    assert sweep.retry_failed() == {"retried": []}
