"""Feed jobs: scheduled ticks, and the housekeeping rq-scheduler runs (executions are
``jobs.runs.execute_run``)."""

from __future__ import annotations

import logging

from jobs import app

log = logging.getLogger("mercato.feeds")


def scheduled_tick(feed_id: int) -> dict:
    """rq-scheduler's entry for a feed: start an execution unless one is running.  A feed
    that should no longer run (disabled, retired, edited meanwhile) reconciles itself away."""
    from webapp.extensions import db
    from webapp.feeds import schedule
    from webapp.models import Feed
    from webapp.runs import lifecycle

    with app().app_context():
        try:
            feed = db.session.get(Feed, feed_id)
            if feed is None or not schedule.schedulable(feed):
                schedule.reconcile_quietly([feed_id])
                return {"feed_id": feed_id, "state": "not_scheduled"}
            feed.schedule.next_run_at = schedule.next_time(feed.schedule)
            db.session.commit()
            try:
                started = lifecycle.start_feed(feed, "schedule")
            except lifecycle.FeedError:  # changed between the check and the start
                schedule.reconcile_quietly([feed_id])
                return {"feed_id": feed_id, "state": "not_scheduled"}
            state = "started" if started.started else "skipped_running"
            log.info(
                "job=scheduled_tick feed_id=%s run_id=%s state=%s", feed_id, started.run.id, state
            )
            return {"feed_id": feed_id, "run_id": started.run.id, "state": state}
        finally:
            db.session.remove()


def follow_up(feed_id: int) -> dict:
    """A feed's own follow-up came due (the shipping confirmation following order actions
    still queued at the marketplace): start an execution unless one is running or the feed
    may no longer run. The schedule is left as it is."""
    from webapp.extensions import db
    from webapp.models import Feed
    from webapp.runs import lifecycle

    with app().app_context():
        try:
            feed = db.session.get(Feed, feed_id)
            if feed is None:
                return {"feed_id": feed_id, "state": "gone"}
            try:
                started = lifecycle.start_feed(feed, "schedule")
            except lifecycle.FeedError as exc:
                return {"feed_id": feed_id, "state": "not_started", "reason": str(exc)}
            state = "started" if started.started else "skipped_running"
            return {"feed_id": feed_id, "run_id": started.run.id, "state": state}
        finally:
            db.session.remove()


def sweep_abandoned_runs() -> dict:
    """Every minute: executions nobody runs any more, and real-time stock pushes whose job
    was lost (webapp.pushes.realtime.kick_stale)."""
    from webapp.extensions import db
    from webapp.feeds.sweep import sweep
    from webapp.pushes.realtime import kick_stale

    with app().app_context():
        try:
            result = sweep()
            try:
                result["realtime"] = kick_stale()
            except Exception:  # noqa: BLE001 - the next sweep tries again
                log.warning("job=sweep realtime=failed", exc_info=True)
                db.session.rollback()
            return result
        finally:
            db.session.remove()


def retry_failed_feeds() -> dict:
    """The seed's failed-sync retry (every 10 min): failed feeds started again, then the
    error inbox's due "retry" messages retried with backoff (webapp.inbox.retry.sweep), then
    every store's due e-mail (webapp.mail.sender.sweep, behind the after-commit wake-up)."""
    from webapp.extensions import db
    from webapp.feeds.sweep import retry_failed
    from webapp.inbox.retry import sweep

    with app().app_context():
        try:
            from webapp.mail.sender import sweep as mail_sweep

            return {**retry_failed(), "messages": sweep(), "mail": mail_sweep()}
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


def refresh_marketplace_rules() -> dict:
    """Daily: every account's marketplace rules fetched again and kept (one failing account
    does not stop the others: webapp.orders.marketplace_rules.refresh_all)."""
    from webapp.extensions import db
    from webapp.orders.marketplace_rules import refresh_all

    with app().app_context():
        try:
            return refresh_all()
        finally:
            db.session.remove()
