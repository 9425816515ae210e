"""The run lifecycle: the one place a run is created, enqueued, executed and finished.

Every trigger comes through here: a schedule tick, Run now, a retry, the API, the CLI, an
upload.  ``create`` writes the pending run (for a feed: under the feed's lock), ``enqueue``
queues ``jobs.runs.execute_run(run_id)`` with a job id derived from the run id, and
``execute`` runs the flow the registry names for it (:mod:`webapp.runs.registry`), then
finishes the run.  A flow function receives its run and records on it; it never creates one.

The lock is the database's: a partial unique index allows one pending or processing run per
feed (``uq_runs_feed_active``), so two Run-now clicks, a click and a scheduled tick, or two
schedulers can never start two executions; every path that is refused says so in the same
words (:func:`already_running`).  While an execution runs its process renews a Redis key
(:mod:`webapp.runs.liveness`); the sweep marks an execution whose key expired ``abandoned``.

A flow may ask for another flow to follow it (:func:`then`: the order poll asks for the
outbound sender): the follower is started once the run is finished, when the feed's lock is
free again.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass

from flask import current_app
from sqlalchemy import insert, select
from sqlalchemy.exc import IntegrityError

from webapp.extensions import db, queue
from webapp.models import Account, Feed, Message, Run
from webapp.models import runs as R
from webapp.models.base import utcnow
from webapp.models.feeds import NOT_BUILT_RUN_KIND, not_built_reason
from webapp.runs import registry
from webapp.runs.gate import (  # noqa: F401 - the lifecycle's callers ask it these too
    FeedError,
    FeedNotBuilt,
    active_run,
    already_running,
    check_buildable,
    check_startable,
    set_enabled,
)
from webapp.runs.liveness import heartbeat

log = logging.getLogger("mercato.runs")

JOB = "jobs.runs.execute_run"


@dataclass
class Started:
    run: Run
    started: bool  # False: ``run`` is the execution already running


# -- creating ----------------------------------------------------------------------------------


def create(
    *,
    kind: str,
    store_id: int,
    trigger: str,
    feed: Feed | None = None,
    account: Account | None = None,
    user_id: int | None = None,
    **fields,
) -> Started:
    """A new pending run; for a feed, the one already active instead when there is one."""
    account = account or (feed.account if feed is not None else None)
    values = {
        "kind": kind,
        "store_id": store_id,
        "account_id": account.id if account is not None else None,
        "feed_id": feed.id if feed is not None else None,
        "trigger": trigger,
        "user_id": user_id,
        "status": R.PENDING,
        **fields,
    }
    if account is not None:
        values.setdefault("marketplace", account.connector)
    for _ in range(3):
        if feed is not None:
            active = active_run(feed.id)
            if active is not None:
                return Started(active, False)
        run = Run(**values)
        db.session.add(run)
        try:
            db.session.commit()
            return Started(run, True)
        except IntegrityError:  # another start won the race: report the one it started
            db.session.rollback()
            if feed is None:
                raise
    raise FeedError(f"Feed #{feed.id} could not be started; try again.")


def create_execution(
    feed: Feed, trigger: str, user_id: int | None = None, kind: str | None = None
) -> Started:
    """The feed's new pending run of its flow (or of ``kind``), or the one already active."""
    flow = registry.get(feed.kind)
    return create(
        kind=kind or (flow.run_kind if flow else feed.kind),
        store_id=feed.store_id,
        feed=feed,
        trigger=trigger,
        user_id=user_id,
        language=feed.store.default_language,
    )


def job_prefix() -> str:
    """This deployment's job-id prefix (RQ ids allow letters, digits, _ and - only); the
    scheduler's entries share it (:func:`webapp.feeds.schedule.prefix`)."""
    raw = current_app.config.get("MERCATO_QUEUE_PREFIX", "")
    return re.sub(r"[^A-Za-z0-9_-]", "-", raw) + "mercato-"


def job_id_for(run: Run) -> str:
    """The RQ job id of a run's execution: derived from the run id, so a run has one job."""
    return f"{job_prefix()}run-{run.id}"


def queue_for(run: Run) -> str:
    flow = registry.for_run(run.kind, run.feed.kind if run.feed else None)
    return flow.queue if flow is not None else "default"


def enqueue(run: Run) -> Run:
    """Queue the run's execution.  No RQ retry is declared (``retry=None``): a crashed
    execution is finished ``failed`` and retried, as a new run with trigger "retry", by the
    failed-feed sweep, so there is one retry policy per run, not two."""
    from rq import Callback

    try:
        job = queue(queue_for(run)).enqueue(
            JOB,
            run.id,
            job_id=job_id_for(run),
            job_timeout=current_app.config["MERCATO_IMPORT_JOB_TIMEOUT"],
            result_ttl=86400,
            failure_ttl=7 * 86400,
            retry=None,
            on_failure=Callback("jobs.runs.on_execution_failure"),
            description=f"{run.kind} run {run.id}"
            + (f" of feed {run.feed_id}" if run.feed_id else ""),
        )
    except Exception as exc:  # Redis down: say so on the run instead of leaving it pending
        log.exception("job=execute_run run_id=%s state=enqueue_failed", run.id)
        finish(
            run,
            R.FAILED,
            f"The execution could not be queued: the job queue could not be reached "
            f"({exc.__class__.__name__}); try again soon.",
        )
        return run
    run.rq_job_id = job.id
    db.session.commit()
    return run


def start_feed(feed: Feed, trigger: str, user_id: int | None = None) -> Started:
    """Run now / a scheduled tick / a retry: enqueue an execution, or report the one that
    is already running (a scheduled tick records the skip on it)."""
    check_startable(feed)
    started = create_execution(feed, trigger, user_id)
    if not started.started:
        if trigger == "schedule":
            note(
                started.run,
                R.INFO,
                "schedule_skipped",
                f"A scheduled execution was skipped at {utcnow():%H:%M:%S} UTC: "
                "this one was still running.",
            )
        return started
    enqueue(started.run)
    return started


def run_feed(feed_id: int, trigger: str = "cli", user_id: int | None = None) -> Started:
    """Execute a feed inline (the CLI, a person's retry): one run, linked to the feed."""
    feed = db.session.get(Feed, feed_id)
    if feed is None:
        raise FeedError(f"No feed {feed_id}.")
    check_startable(feed)
    started = create_execution(feed, trigger, user_id)
    if not started.started:
        return started
    return Started(execute(started.run.id), True)


def start_flow(kind: str, account: Account, trigger: str, *, inline: bool = False) -> Started:
    """Start the flow ``kind`` of no feed of its own (the outbound sender) as an execution
    of the account's main feed (the one of its flow's capability), or of none."""
    flow = registry.get(kind)
    feed = account_feed(account)
    started = create(
        kind=flow.run_kind, store_id=account.store_id, feed=feed, account=account, trigger=trigger
    )
    if started.started:
        if inline:
            return Started(execute(started.run.id), True)
        enqueue(started.run)
    return started


def account_feed(account: Account, kind: str = "import_orders") -> Feed | None:
    return db.session.scalar(
        select(Feed).where(Feed.account_id == account.id, Feed.kind == kind).limit(1)
    )


# -- recording -------------------------------------------------------------------------------


def note(run: Run, severity: str, error_type: str, message: str, **subject) -> None:
    """A message of the run (committed)."""
    db.session.execute(
        insert(Message),
        [
            {
                "import_job_id": run.id,
                "severity": severity,
                "error_type": error_type,
                "error_message": message,
                "created_at": utcnow(),
                **subject,
            }
        ],
    )
    db.session.commit()


def begin(run: Run, phase: str | None = None) -> None:
    run.status = R.PROCESSING
    run.phase = phase
    run.started_at = run.started_at or utcnow()
    db.session.commit()


def finish(run: Run, status: str, error: str | None = None) -> Run:
    run.status = status
    run.phase = None
    run.progress = 100
    run.error_message = error
    run.started_at = run.started_at or utcnow()
    run.completed_at = utcnow()
    db.session.commit()
    return run


_followers: dict[int, list[str]] = {}


def then(run: Run, kind: str) -> None:
    """Start the flow ``kind`` for the run's account once ``run`` is finished."""
    if kind not in _followers.setdefault(run.id, []):
        _followers[run.id].append(kind)


# -- executing -------------------------------------------------------------------------------


def execute(run_id: int) -> Run | None:
    """Execute a pending run to its end (in the RQ job, or inline): the flow the registry
    names for it receives the run; the run is finished here if the flow did not."""
    run = db.session.get(Run, run_id)
    if run is None or run.status in R.FINISHED_STATUSES:
        return run
    feed = run.feed
    flow = registry.for_run(run.kind, feed.kind if feed is not None else None)
    with heartbeat(run.id):
        log.info("job=execute_run run_id=%s kind=%s state=start", run.id, run.kind)
        try:
            run = _execute(run, feed, flow)
        except Exception as exc:
            log.exception("job=execute_run run_id=%s state=crashed", run_id)
            db.session.rollback()
            _followers.pop(run_id, None)
            run = db.session.get(Run, run_id)
            if run is not None and run.status in R.ACTIVE_STATUSES:
                finish(
                    run,
                    R.FAILED,
                    f"The execution stopped on an internal error ({exc.__class__.__name__}).",
                )
            raise
    _record_on_schedule(feed, run)
    log.info("job=execute_run run_id=%s state=%s", run.id, run.status)
    for kind in _followers.pop(run.id, []):
        if run.account is not None and not run.account.is_retired:
            wake_at(None, kind, run.account)
    return run


def _execute(run: Run, feed: Feed | None, flow) -> Run:
    if flow is None or (flow.owner == "account" and run.account is None):
        return finish(run, R.FAILED, "The feed of this execution no longer exists.")
    if run.account is not None and run.account.is_retired:
        note(run, R.INFO, "account_retired", "The account is retired: nothing was done.")
        return finish(run, R.COMPLETED)
    if not flow.built or (feed is not None and not registry.is_built(feed.kind, feed.account_id)):
        # Unreachable through start_feed/run_feed (they refuse such a feed); a run enqueued
        # before its flow was found not built ends here, and says that nothing happened.
        kind = feed.kind if feed is not None else flow.kind
        reason = not_built_reason(kind, feed.account_id if feed is not None else run.account_id)
        run.kind = NOT_BUILT_RUN_KIND
        note(run, R.INFO, "not_built", reason + " Nothing was read or sent.")
        return finish(run, R.FAILED, reason)
    begin(run)
    outcome = flow.func(run)
    run = db.session.get(Run, run.id)
    if run.status in R.ACTIVE_STATUSES:
        finish(run, R.COMPLETED_WITH_ERRORS if run.error_count else R.COMPLETED)
    run.outcome = outcome  # what the flow returned, for an inline caller (not stored)
    return run


def _record_on_schedule(feed: Feed | None, run: Run | None) -> None:
    if feed is None or run is None or feed.schedule is None:
        return
    if run.kind != (registry.get(feed.kind).run_kind if registry.get(feed.kind) else run.kind):
        return  # a follower (the sender) is not the feed's scheduled flow
    feed.schedule.last_run_at = run.started_at or utcnow()
    feed.schedule.last_run_status = run.status
    db.session.commit()


def wake_at(when, kind: str, account: Account) -> None:
    """Start the flow ``kind`` for the account in a worker, now (``when`` None: a follower)
    or at ``when`` (a flow's own retry: the sender after its backoff).  The run is created
    and executed by the wake-up job itself (``jobs.runs.wake``), so no pending run holds the
    feed's lock while it waits.  Redis being away loses nothing: what is owed is sent after
    the account's next order poll."""
    from datetime import UTC

    options = {
        "job_id": f"{job_prefix()}wake-{kind}-{account.id}" + ("" if when is None else "-later"),
        "description": f"wake {kind} for account {account.id}",
    }
    try:
        if when is None:
            queue("default").enqueue("jobs.runs.wake", kind, account.id, **options)
        else:
            # Stored times are naive UTC; RQ reads a naive time as local time.
            # The flow a wake-up runs may put the same wake-up back (the sender failing again
            # asks for its next retry) while that wake-up's job is still running; RQ then ends
            # the running job by setting the key they share to expire after its result_ttl
            # (500 s by default), and the scheduler drops a wake-up whose key has expired: a
            # retry due later than that would never run. Such a key is kept instead (-1): one
            # per account and flow, overwritten each time.
            queue("default").enqueue_at(
                when.replace(tzinfo=UTC),
                "jobs.runs.wake",
                kind,
                account.id,
                result_ttl=-1,
                **options,
            )
    except Exception:  # noqa: BLE001 - a queue outage must not fail the run
        log.warning("wake-up of %s for account %s not queued", kind, account.id, exc_info=True)
