"""Feed jobs: executions, scheduled ticks, and the housekeeping rq-scheduler runs."""

from __future__ import annotations

import logging

from jobs import app

log = logging.getLogger("mercato.feeds")


def execute_feed_run(run_id: int) -> dict | None:
    """Execute the feed run ``run_id`` (created and enqueued by ``start_feed``)."""
    from webapp.extensions import db
    from webapp.feeds.service import execute_run

    with app().app_context():
        try:
            run = execute_run(run_id)
            return run.summary() if run else None
        finally:
            db.session.remove()


def scheduled_tick(feed_id: int) -> dict:
    """rq-scheduler's entry for a feed: start an execution unless one is running.  A feed
    that should no longer run (disabled, retired, edited meanwhile) reconciles itself away."""
    from webapp.extensions import db
    from webapp.feeds import schedule, service
    from webapp.models import Feed

    with app().app_context():
        try:
            feed = db.session.get(Feed, feed_id)
            if feed is None or not schedule.schedulable(feed):
                schedule.reconcile_quietly([feed_id])
                return {"feed_id": feed_id, "state": "not_scheduled"}
            feed.schedule.next_run_at = schedule.next_time(feed.schedule)
            db.session.commit()
            try:
                started = service.start_feed(feed, "schedule")
            except service.FeedError:  # changed between the check and the start
                schedule.reconcile_quietly([feed_id])
                return {"feed_id": feed_id, "state": "not_scheduled"}
            state = "started" if started.started else "skipped_running"
            log.info(
                "job=scheduled_tick feed_id=%s run_id=%s state=%s", feed_id, started.run.id, state
            )
            return {"feed_id": feed_id, "run_id": started.run.id, "state": state}
        finally:
            db.session.remove()


def on_execution_failure(job, connection, exc_type, exc_value, traceback) -> None:
    """RQ's failure callback: a timeout, a crash, or RQ finding the job abandoned."""
    from rq.exceptions import AbandonedJobError

    from webapp.extensions import db
    from webapp.feeds import sweep
    from webapp.feeds.service import finish
    from webapp.models import Run
    from webapp.models import runs as R

    run_id = job.args[0] if job.args else None
    if run_id is None:
        return
    with app().app_context():
        try:
            if exc_type is AbandonedJobError or isinstance(exc_value, AbandonedJobError):
                sweep.abandon(run_id, "RQ found this execution abandoned by its worker.")
                return
            run = db.session.get(Run, run_id)
            if run is not None and run.status in R.ACTIVE_STATUSES:
                finish(run, R.FAILED, f"The execution stopped: {exc_type.__name__}.")
        finally:
            db.session.remove()


def sweep_abandoned_runs() -> dict:
    from webapp.extensions import db
    from webapp.feeds.sweep import sweep

    with app().app_context():
        try:
            return sweep()
        finally:
            db.session.remove()


def retry_failed_feeds() -> dict:
    """The seed's failed-sync retry (every 10 min): failed feeds started again, then the
    error inbox's due "retry" messages retried with backoff (webapp.inbox.retry.sweep)."""
    from webapp.extensions import db
    from webapp.feeds.sweep import retry_failed
    from webapp.inbox.retry import sweep

    with app().app_context():
        try:
            return {**retry_failed(), "messages": sweep()}
        finally:
            db.session.remove()


def reconcile_schedules() -> dict:
    from webapp.extensions import db
    from webapp.feeds.defaults import ensure_all
    from webapp.feeds.schedule import reconcile

    with app().app_context():
        try:
            created = ensure_all()
            return {"created": created, **reconcile().as_dict()}
        finally:
            db.session.remove()
