"""Executions nobody is running any more: found, marked ``abandoned``, retried (capped).

A worker killed mid-execution (SIGKILL, an out-of-memory kill, a dyno restart past its
grace period) cannot mark its run.  Two signals find it:

* our own: a feed execution renews ``mercato:alive:run:<id>`` while it runs
  (:func:`webapp.runs.liveness.heartbeat`); once the key has expired, no process is
  executing the run;
* RQ's: each queue's ``StartedJobRegistry`` drops a job whose worker stopped sending
  heartbeats (``cleanup()``), marks it failed with ``AbandonedJobError`` and calls the job's
  ``on_failure`` callback (``jobs.runs.on_execution_failure``), which lands here too; a run
  whose RQ job is gone, failed or stopped while the run still says pending/processing is
  abandoned as well (this also covers ad-hoc product imports, which are not retried).

An abandoned feed execution is retried as a new run with the trigger ``retry``, unless the
feed's last ``MERCATO_FEED_ABANDON_RETRIES`` executions were all abandoned: then an error
message on the run asks a person to look.
"""

from __future__ import annotations

import logging
from datetime import timedelta

from flask import current_app
from rq.exceptions import NoSuchJobError
from rq.job import Job
from rq.registry import StartedJobRegistry
from sqlalchemy import select

from webapp.extensions import QUEUE_NAMES, db, queue, redis_connection
from webapp.models import Feed, Message, Run
from webapp.models import runs as R
from webapp.models.base import utcnow
from webapp.runs import lifecycle as service
from webapp.runs import liveness
from webapp.runs.registry import follower_run_kinds

log = logging.getLogger("mercato.feeds")

DEAD_JOB_STATUSES = ("failed", "stopped", "canceled", "finished")


def max_retries() -> int:
    return int(current_app.config.get("MERCATO_FEED_ABANDON_RETRIES", 3))


def _job(run: Run) -> Job | None:
    if not run.rq_job_id:
        return None
    try:
        return Job.fetch(run.rq_job_id, connection=redis_connection())
    except NoSuchJobError:
        return None


def is_abandoned(run: Run) -> bool:
    """True when no process executes ``run`` and none will (see the module doc)."""
    now = utcnow()
    grace = timedelta(seconds=liveness.heartbeat_ttl())
    if run.feed_id is not None and liveness.is_alive(run.id):
        return False
    job = _job(run)
    if run.rq_job_id and job is None:
        # The job is gone (a flushed Redis, an expired failure): nothing will run it.
        return (now - (run.updated_at or run.created_at)) > grace
    if job is None:
        # Inline (CLI) feed run: only the heartbeat speaks for it.
        started = run.started_at or run.created_at
        return run.feed_id is not None and (now - started) > grace
    status = job.get_status(refresh=False)
    if status in DEAD_JOB_STATUSES:
        return True
    if status == "started":
        if run.feed_id is not None:  # started, no heartbeat for longer than its TTL
            began = job.started_at.replace(tzinfo=None) if job.started_at else run.created_at
            return (now - began) > grace
        return False  # RQ's own registry cleanup decides for ad-hoc imports
    return False  # queued, deferred, scheduled: waiting for a worker


def abandon(run_id: int, reason: str) -> Run | None:
    """Mark the run abandoned (once) and retry its feed unless the cap is reached."""
    run = db.session.get(Run, run_id)
    if run is None or run.status not in R.ACTIVE_STATUSES:
        return None
    run.status = R.ABANDONED
    run.phase = None
    run.completed_at = utcnow()
    run.error_message = reason
    db.session.commit()
    log.warning("job=sweep run_id=%s feed_id=%s state=abandoned", run.id, run.feed_id)
    feed = db.session.get(Feed, run.feed_id) if run.feed_id else None
    if feed is None:
        service.note(run, R.ERROR, "abandoned", reason + " It was not retried automatically.")
        return run
    recent = db.session.scalars(
        select(Run.status)
        .where(Run.feed_id == feed.id)
        .order_by(Run.id.desc())
        .limit(max_retries())
    ).all()
    capped = len(recent) >= max_retries() and all(s == R.ABANDONED for s in recent)
    if capped:
        service.note(
            run,
            R.ERROR,
            "abandoned",
            f"{reason} The last {max_retries()} executions of this feed were all abandoned: "
            "not retried again. Check the workers, then use Run now.",
        )
        return run
    try:
        started = service.start_feed(feed, "retry")
    except service.FeedError as exc:
        service.note(run, R.ERROR, "abandoned", f"{reason} Not retried: {exc}")
        return run
    service.note(
        run,
        R.RETRY,
        "abandoned",
        f"{reason} Retried as execution #{started.run.id}.",
    )
    return run


def sweep() -> dict:
    """One pass: RQ's registry cleanup, then every active run whose job is dead."""
    for name in QUEUE_NAMES:
        q = queue(name)
        try:
            StartedJobRegistry(queue=q).cleanup()
        except Exception:  # noqa: BLE001 - a bad job must not stop the sweep
            log.exception("job=sweep queue=%s state=registry_cleanup_failed", q.name)
    abandoned = []
    active = db.session.scalars(
        select(Run)
        .where(Run.status.in_(R.ACTIVE_STATUSES))
        .where((Run.feed_id.is_not(None)) | (Run.rq_job_id.is_not(None)))
        .order_by(Run.id)
    ).all()
    for run in active:
        if run.status not in R.ACTIVE_STATUSES:
            continue  # finished meanwhile (an on_failure callback ran during cleanup)
        try:
            dead = is_abandoned(run)
        except Exception:  # noqa: BLE001
            log.exception("job=sweep run_id=%s state=check_failed", run.id)
            continue
        if dead:
            abandon(
                run.id,
                "The worker running this execution stopped (killed or restarted) "
                "before it finished.",
            )
            abandoned.append(run.id)
    return {"abandoned": abandoned}


def _inbox_retries(run_id: int) -> bool:
    """Whether every retry message of the run has an inbox handler (webapp.inbox.retry)."""
    from webapp.runs.retries import HANDLERS

    causes = set(
        db.session.scalars(
            select(Message.error_type)
            .where(Message.import_job_id == run_id, Message.severity == R.RETRY)
            .distinct()
        )
    )
    return bool(causes) and causes <= set(HANDLERS)


def retry_failed() -> dict:
    """The seed's failed-sync retry: start again each enabled feed whose last execution of
    its own flow (not the sender's that followed it) failed with only retryable messages (the
    marketplace was down, rate-limited...), at most
    ``max_retries`` failures in a row.  Errors that need a person are left to the inbox."""
    retried = []
    limit = max_retries()
    for feed in db.session.scalars(select(Feed).where(Feed.enabled.is_(True)).order_by(Feed.id)):
        recent = db.session.scalars(
            select(Run)
            .where(Run.feed_id == feed.id, Run.kind.notin_(follower_run_kinds()))
            .order_by(Run.id.desc())
            .limit(limit + 1)
        ).all()
        if not recent or recent[0].status != R.FAILED:
            continue
        failures = 0
        for run in recent:
            if run.status != R.FAILED:
                break
            failures += 1
        if failures > limit:
            continue
        severities = set(
            db.session.scalars(
                select(Message.severity).where(Message.import_job_id == recent[0].id).distinct()
            )
        )
        if R.ERROR in severities or R.RETRY not in severities:
            continue
        if _inbox_retries(recent[0].id):
            continue  # the inbox sweep retries these messages itself, with backoff
        try:
            started = service.start_feed(feed, "retry")
        except service.FeedError:
            continue
        if started.started:
            retried.append(started.run.id)
    return {"retried": retried}
