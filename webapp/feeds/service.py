"""Executing a feed: one run per execution, one execution per feed at a time.

``start_feed`` creates the execution's run (pending, linked to the feed, with its trigger)
and enqueues ``jobs.feeds.execute_feed_run(run_id)``; ``run_feed`` does the same inline
(the CLI).  ``execute_run`` dispatches by kind to the existing services: the product import
engine for a store's feed URLs, ``import_orders`` and ``recheck_parked`` for an account;
the outbound kinds, not built yet, finish with an info message saying so.

The lock is the database's: a partial unique index allows one pending or processing run
per feed (``uq_runs_feed_active``), so two Run-now clicks, a click and a scheduled tick, or
two schedulers can never start two executions.  While an execution runs, its process
renews a Redis key (``heartbeat``); :mod:`webapp.feeds.sweep` marks an execution whose key
expired (its worker was killed) ``abandoned`` and retries it.

The order services create their own run.  Rather than a second row, the pending run
created at start is *adopted*: while ``adopt(run, call)`` runs the service, the first run it
inserts takes over the pending run's id, feed, trigger, creator and job id (the pending row
is deleted in the same transaction), so the execution a page linked to is the one that
runs.
"""

from __future__ import annotations

import contextvars
import logging
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

from flask import current_app
from sqlalchemy import delete, event, insert, select
from sqlalchemy.exc import IntegrityError

from webapp.extensions import db, queue, redis_connection
from webapp.models import Feed, Message, Run
from webapp.models import runs as R
from webapp.models.base import utcnow
from webapp.models.catalog import DEFAULT_MARKETPLACE
from webapp.models.feeds import NOT_BUILT_RUN_KIND, not_built_reason

log = logging.getLogger("mercato.feeds")

PRODUCT_KINDS = ("import_products", "update_products")
ORDER_KINDS = ("import_orders", "update_orders")
RUN_KIND = {
    "import_products": "product_import",
    "update_products": "product_import",
    "import_orders": "order_import",
    "update_orders": "order_import",
    "recheck_parked_orders": "order_recheck",
}


class FeedError(ValueError):
    """The feed cannot be started (disabled, retired account...); nothing was created."""


@dataclass
class Started:
    run: Run
    started: bool  # False: ``run`` is the execution already running


def run_kind(feed: Feed) -> str:
    return RUN_KIND.get(feed.kind, feed.kind)


def active_run(feed_id: int) -> Run | None:
    return db.session.scalar(
        select(Run).where(Run.feed_id == feed_id, Run.status.in_(R.ACTIVE_STATUSES)).limit(1)
    )


class FeedNotBuilt(FeedError):
    """The feed's flow is not built: it cannot be enabled or run."""


def check_buildable(feed: Feed) -> None:
    if not feed.is_built:
        raise FeedNotBuilt(feed.not_built_reason)


def set_enabled(feed: Feed, enabled: bool) -> None:
    """Enable or disable a feed (the caller commits and reconciles).  A feed whose flow is
    not built cannot be enabled; disabling is always allowed."""
    if enabled:
        check_buildable(feed)
    feed.enabled = enabled


def check_startable(feed: Feed) -> None:
    check_buildable(feed)
    if not feed.enabled:
        raise FeedError(f"Feed #{feed.id} ({feed.label}) is disabled; enable it first.")
    if feed.is_retired:
        raise FeedError(
            f"Feed #{feed.id} belongs to the retired account {feed.account.name}; "
            "reinstate the account first."
        )


def create_execution(feed: Feed, trigger: str, user_id: int | None = None) -> Started:
    """The feed's new pending run, or the one already active (the lock said no)."""
    for _ in range(3):
        active = active_run(feed.id)
        if active is not None:
            return Started(active, False)
        run = Run(
            kind=run_kind(feed),
            store_id=feed.store_id,
            account_id=feed.account_id,
            feed_id=feed.id,
            trigger=trigger,
            user_id=user_id,
            marketplace=feed.account.connector if feed.account else DEFAULT_MARKETPLACE,
            language=feed.store.default_language,
            status=R.PENDING,
        )
        db.session.add(run)
        try:
            db.session.commit()
            return Started(run, True)
        except IntegrityError:  # another start won the race: report the one it started
            db.session.rollback()
    raise FeedError(f"Feed #{feed.id} could not be started; try again.")


def job_id_for(run: Run) -> str:
    from webapp.feeds.schedule import prefix

    return f"{prefix()}run-{run.id}"


def queue_for(feed: Feed) -> str:
    return "imports" if feed.kind in PRODUCT_KINDS else "default"


def enqueue(run: Run, feed: Feed) -> Run:
    from rq import Callback

    timeout = current_app.config["MERCATO_IMPORT_JOB_TIMEOUT"]
    try:
        job = queue(queue_for(feed)).enqueue(
            "jobs.feeds.execute_feed_run",
            run.id,
            job_id=job_id_for(run),
            job_timeout=timeout,
            result_ttl=86400,
            failure_ttl=7 * 86400,
            on_failure=Callback("jobs.feeds.on_execution_failure"),
            description=f"feed {feed.id} run {run.id}",
        )
    except Exception as exc:  # Redis down: say so on the run instead of leaving it pending
        log.exception("job=run_feed run_id=%s state=enqueue_failed", run.id)
        finish(
            run,
            R.FAILED,
            f"The job queue could not be reached ({exc.__class__.__name__}); try again soon.",
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
    enqueue(started.run, feed)
    return started


def run_feed(feed_id: int, trigger: str = "cli", user_id: int | None = None) -> Started:
    """Execute a feed inline (the CLI): one run, linked to the feed, executed here."""
    feed = db.session.get(Feed, feed_id)
    if feed is None:
        raise FeedError(f"No feed {feed_id}.")
    check_startable(feed)
    started = create_execution(feed, trigger, user_id)
    if not started.started:
        return started
    return Started(execute_run(started.run.id), True)


# -- execution -----------------------------------------------------------------------------


def note(run: Run, severity: str, error_type: str, message: str, **subject) -> None:
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


def finish(run: Run, status: str, error: str | None = None) -> Run:
    run.status = status
    run.phase = None
    run.progress = 100
    run.error_message = error
    run.started_at = run.started_at or utcnow()
    run.completed_at = utcnow()
    db.session.commit()
    return run


def execute_run(run_id: int) -> Run | None:
    """Execute a feed's pending run to its end (in the RQ job, or inline)."""
    run = db.session.get(Run, run_id)
    if run is None or run.status in R.FINISHED_STATUSES:
        return run
    feed = run.feed
    with heartbeat(run.id):
        if feed is None:
            return finish(run, R.FAILED, "The feed of this execution no longer exists.")
        log.info(
            "job=run_feed feed_id=%s run_id=%s kind=%s state=start", feed.id, run.id, feed.kind
        )
        try:
            run = _dispatch(run, feed)
        except Exception as exc:
            log.exception("job=run_feed run_id=%s state=crashed", run_id)
            db.session.rollback()
            run = db.session.get(Run, run_id)
            if run is not None and run.status in R.ACTIVE_STATUSES:
                finish(
                    run,
                    R.FAILED,
                    f"The execution stopped on an internal error ({exc.__class__.__name__}).",
                )
            raise
    _record_on_schedule(feed, run)
    log.info("job=run_feed feed_id=%s run_id=%s state=%s", feed.id, run.id, run.status)
    return run


def _dispatch(run: Run, feed: Feed) -> Run:
    if feed.account is not None and feed.account.is_retired:
        note(run, R.INFO, "account_retired", "The account is retired: nothing was done.")
        return finish(run, R.COMPLETED)
    if feed.kind in PRODUCT_KINDS and feed.account_id is None:
        return _import_store_feed(run, feed)
    if feed.kind in ORDER_KINDS and feed.account is not None:
        from webapp.orders.service import import_orders

        return adopt(
            run, lambda: import_orders(feed.account, trigger=run.trigger, user_id=run.user_id)
        )
    if feed.kind == "recheck_parked_orders" and feed.account is not None:
        from webapp.orders.service import recheck_parked

        return adopt(run, lambda: recheck_parked(feed.account, trigger=run.trigger))
    # Unreachable through start_feed/run_feed (they refuse such a feed); a run enqueued
    # before its flow was found not built ends here, and says that nothing happened.
    reason = not_built_reason(feed.kind, feed.account_id)
    run.kind = NOT_BUILT_RUN_KIND
    note(run, R.INFO, "not_built", reason + " Nothing was read or sent.")
    return finish(run, R.FAILED, reason)


def store_feed_urls(store) -> list[tuple[str, str]]:
    """The store's configured feed URLs, its default language first."""
    urls = [
        (lang, url)
        for lang in ("fr", "en", "de")
        if (url := (getattr(store, f"letzshop_csv_url_{lang}") or "").strip())
    ]
    return sorted(urls, key=lambda item: item[0] != store.default_language)


def _import_store_feed(run: Run, feed: Feed) -> Run:
    """One run per configured language, one after another; the first is ``run`` itself."""
    from webapp.imports.request import ImportRequestError
    from webapp.imports.service import create_run, execute, validate_url

    urls = store_feed_urls(feed.store)
    if not urls:
        note(
            run,
            R.INFO,
            "no_feed_url",
            "No feed URL is configured in the store's settings: nothing to import.",
        )
        return finish(run, R.COMPLETED)
    first = run
    for index, (language, url) in enumerate(urls):
        if index:
            try:
                run = create_run(
                    feed.store,
                    source_url=url,
                    language=language,
                    user_id=first.user_id,
                    trigger=first.trigger,
                )
            except ImportRequestError as exc:
                log.warning(
                    "job=run_feed feed_id=%s language=%s refused=%s", feed.id, language, exc
                )
                continue
            run.feed_id = feed.id
            db.session.commit()
        else:
            try:
                url = validate_url(url)
            except ImportRequestError as exc:
                note(run, R.ERROR, "bad_feed_url", f"The {language} feed URL is refused: {exc}")
                return finish(run, R.FAILED, str(exc))
            _set_source(run, url, language)
        execute(run.id)
    db.session.refresh(first)
    return first


def _set_source(run: Run, url: str, language: str) -> None:
    from connectors.egress import mask_url
    from webapp.crypto import encrypt

    masked = mask_url(url)
    run.source_url = masked
    run.source_secret = encrypt(url) if masked != url else None
    run.language = language
    db.session.commit()


def _record_on_schedule(feed: Feed | None, run: Run | None) -> None:
    if feed is None or run is None or feed.schedule is None:
        return
    feed.schedule.last_run_at = run.started_at or utcnow()
    feed.schedule.last_run_status = run.status
    db.session.commit()


# -- adopting the run a service creates -----------------------------------------------------

_adopt: contextvars.ContextVar[dict | None] = contextvars.ContextVar("mercato_adopt", default=None)


def adopt(run: Run, call) -> Run:
    """Call a service that creates its own run; that run becomes ``run`` (same id, feed,
    trigger, creator and job id).  See the module doc."""
    pending = {
        "id": run.id,
        "kind": run.kind,
        "feed_id": run.feed_id,
        "trigger": run.trigger,
        "user_id": run.user_id,
        "rq_job_id": run.rq_job_id,
        "created_at": run.created_at,
        "adopted": False,
    }
    db.session.expunge(run)
    token = _adopt.set(pending)
    result = None
    try:
        result = call()
    finally:
        _adopt.reset(token)
        if not pending["adopted"]:
            leftover = db.session.get(Run, pending["id"])
            if leftover is not None and leftover.status in R.ACTIVE_STATUSES:
                if isinstance(result, Run) and result.id != leftover.id:
                    # The service wrote its run without the ORM (nothing to adopt): link
                    # that run to the feed, and let the pending one point at it.
                    result.rq_job_id = pending["rq_job_id"]
                    finish(leftover, result.status, f"Executed as run #{result.id}.")
                    result.feed_id = pending["feed_id"]
                    db.session.commit()
                else:
                    finish(leftover, R.FAILED, "The execution stopped before it started.")
    return result


@event.listens_for(Run, "before_insert")
def _adopt_pending_run(_mapper, connection, target: Run) -> None:
    pending = _adopt.get()
    if pending is None or pending["adopted"] or target.id is not None:
        return
    if target.kind != pending["kind"]:
        return
    pending["adopted"] = True
    # Messages already said about the pending run (a skipped tick) move with it.
    messages = Message.__table__
    pending["messages"] = [
        dict(row._mapping)
        for row in connection.execute(
            messages.select().where(messages.c.import_job_id == pending["id"])
        )
    ]
    connection.execute(delete(Run.__table__).where(Run.__table__.c.id == pending["id"]))
    target.id = pending["id"]
    target.feed_id = pending["feed_id"]
    target.trigger = pending["trigger"]
    target.user_id = target.user_id or pending["user_id"]
    target.rq_job_id = pending["rq_job_id"]
    target.created_at = pending["created_at"]


@event.listens_for(Run, "after_insert")
def _restore_adopted_messages(_mapper, connection, target: Run) -> None:
    pending = _adopt.get()
    if pending is None or target.id != pending["id"] or not pending.get("messages"):
        return
    connection.execute(insert(Message.__table__), pending.pop("messages"))


# -- liveness ------------------------------------------------------------------------------


def alive_key(run_id: int) -> str:
    return f"{current_app.config.get('MERCATO_QUEUE_PREFIX', '')}mercato:alive:run:{run_id}"


def heartbeat_ttl() -> float:
    return float(current_app.config.get("MERCATO_RUN_HEARTBEAT_TTL", 60))


@contextmanager
def heartbeat(run_id: int) -> Iterator[None]:
    """Keep ``alive_key(run_id)`` alive while the block runs (renewed every third of its
    TTL by a daemon thread of this worker process).  A SIGKILL stops the renewals and the
    key expires: that is how the sweep tells a dead execution from a slow one."""
    ttl = heartbeat_ttl()
    key = alive_key(run_id)
    try:
        conn = redis_connection()
        conn.set(key, "1", px=int(ttl * 1000))
    except Exception:  # noqa: BLE001 - no Redis (an inline CLI run): nothing to renew
        log.warning("job=run_feed run_id=%s heartbeat=unavailable", run_id)
        yield
        return
    stop = threading.Event()

    def renew() -> None:
        while not stop.wait(ttl / 3):
            try:
                conn.set(key, "1", px=int(ttl * 1000))
            except Exception:  # noqa: BLE001
                log.warning("job=run_feed run_id=%s heartbeat=failed", run_id)

    thread = threading.Thread(target=renew, name=f"heartbeat-run-{run_id}", daemon=True)
    thread.start()
    try:
        yield
    finally:
        stop.set()
        thread.join(timeout=5)
        try:
            conn.delete(key)
        except Exception:  # noqa: BLE001 - it expires by itself
            log.warning("job=run_feed run_id=%s heartbeat=not_cleared", run_id)


def is_alive(run_id: int) -> bool:
    return bool(redis_connection().exists(alive_key(run_id)))
