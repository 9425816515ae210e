"""The schedule: ``scheduled_jobs`` rows are the truth, rq-scheduler's entries follow them.

Every row that should run has one rq-scheduler entry under a stable id
(``<prefix>mercato-feed-<feed id>`` or ``<prefix>mercato-job-<job type>``), carrying a hash
of its definition in ``meta``.  :func:`reconcile` adds what is missing, replaces what
changed (same id, so never a second copy), and removes Mercato entries that should no
longer run: a disabled feed, an edited schedule, a retired account.  It runs when the
worker and the scheduler start, after every change made through the app or the CLI, and
every few minutes as a job of its own, so a change made anywhere takes effect without a
restart, and a restart or a deploy reconciling again changes nothing.

rq-scheduler keeps the entries in one sorted set (member = job id, score = next time), so
one id can never be scheduled twice.  Intervals go through ``Scheduler.schedule(...,
interval=)``; cron expressions through ``Scheduler.cron`` (parsed by the ``crontab``
package, which rq-scheduler uses, and checked by ``croniter`` too).
"""

from __future__ import annotations

import hashlib
import json
import logging
import re
import warnings
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from flask import current_app
from rq_scheduler import Scheduler
from sqlalchemy import select
from sqlalchemy.orm import joinedload

from webapp.extensions import db, redis_connection
from webapp.feeds.defaults import GLOBAL_JOBS
from webapp.models import Account, Feed, InventorySyncConfig, ScheduledJob
from webapp.models.base import utcnow
from webapp.runs.lifecycle import job_prefix

log = logging.getLogger("mercato.feeds")

# rq-scheduler 0.14 calls crontab's next() the way crontab announces it will change; the
# hosts run in UTC, where both behaviours agree.
warnings.filterwarnings("ignore", message="Version 0.22.0", category=FutureWarning)

MIN_INTERVAL = 60
# The stock push of an account whose strategy is real time runs on its schedule as a safety net
# only, no more often than this (each change is sent within seconds: webapp.pushes.realtime);
# one whose strategy is manual is never scheduled (Run now only).
STOCK_PUSH = "stock_export"
REALTIME_SAFETY_NET = 3600
MAX_INTERVAL = 31 * 86400
TICK = "jobs.feeds.scheduled_tick"


class ScheduleError(ValueError):
    """The schedule asked for is invalid; nothing was saved."""


# -- parsing and validation ----------------------------------------------------------------

_EVERY = re.compile(r"^\s*(\d+)\s*(s|sec|m|min|h|d)?\s*$", re.IGNORECASE)
_UNITS = {"s": 1, "sec": 1, "m": 60, "min": 60, "h": 3600, "d": 86400}


def parse_every(text: str) -> int:
    """ "5m", "15 min", "6h", "1d", "300s" (a bare number is minutes) -> seconds."""
    match = _EVERY.match(text or "")
    if not match:
        raise ScheduleError(f"{text!r} is not an interval: write e.g. 5m, 6h or 1d.")
    seconds = int(match.group(1)) * _UNITS[(match.group(2) or "m").lower()]
    return check_interval(seconds)


def check_interval(seconds: int) -> int:
    if not MIN_INTERVAL <= seconds <= MAX_INTERVAL:
        raise ScheduleError("The interval must be between 1 minute and 31 days.")
    return seconds


def check_cron(expression: str) -> str:
    """A standard five-field cron expression, as both croniter and rq-scheduler read it."""
    import crontab
    from croniter import croniter

    expression = " ".join((expression or "").split())
    if len(expression.split(" ")) != 5:
        raise ScheduleError(
            "A cron expression has five fields: minute hour day-of-month month day-of-week "
            "(for example */5 * * * *)."
        )
    try:
        valid = croniter.is_valid(expression)
        crontab.CronTab(expression)
    except (ValueError, KeyError, TypeError) as exc:
        raise ScheduleError(f"{expression!r} is not a valid cron expression ({exc}).") from exc
    if not valid:
        raise ScheduleError(f"{expression!r} is not a valid cron expression.")
    return expression


def next_cron_time(expression: str, after: datetime | None = None) -> datetime:
    """The next time (naive UTC) a cron expression fires, as rq-scheduler computes it."""
    from croniter import croniter

    base = (after or utcnow()).replace(tzinfo=UTC)
    return croniter(expression, base).get_next(datetime).replace(tzinfo=None)


def next_time(job: ScheduledJob, after: datetime | None = None) -> datetime:
    after = after or utcnow()
    if job.cron_expression:
        return next_cron_time(job.cron_expression, after)
    return after + timedelta(seconds=job.interval_seconds or MIN_INTERVAL)


def set_schedule(job: ScheduledJob, *, every: str | int | None = None, cron: str | None = None):
    """Change a schedule (validated first; the caller commits and reconciles)."""
    if (every is None) == (cron is None):
        raise ScheduleError("Give either an interval or a cron expression.")
    if cron is not None:
        job.cron_expression, job.interval_seconds = check_cron(cron), None
    else:
        seconds = check_interval(every) if isinstance(every, int) else parse_every(every)
        job.interval_seconds, job.cron_expression = seconds, None
    job.next_run_at = next_time(job)


# -- what should be scheduled --------------------------------------------------------------


@dataclass(frozen=True)
class Entry:
    job_id: str
    func: str
    args: tuple
    interval: int | None
    cron: str | None
    description: str

    @property
    def digest(self) -> str:
        spec = [self.func, list(self.args), self.interval, self.cron, queue_name()]
        return hashlib.sha256(json.dumps(spec).encode()).hexdigest()[:16]


def prefix() -> str:
    """This deployment's job-id prefix (RQ ids allow letters, digits, _ and - only)."""
    return job_prefix()


def feed_job_id(feed_id: int) -> str:
    return f"{prefix()}feed-{feed_id}"


def global_job_id(job_type: str) -> str:
    return f"{prefix()}job-{job_type}"


def queue_name() -> str:
    return current_app.config.get("MERCATO_QUEUE_PREFIX", "") + "default"


def stock_strategy(feed: Feed, strategies: dict[int, str] | None = None) -> str | None:
    """The push strategy of a stock push feed's account (None for any other feed; an
    account that never set one is ``scheduled``)."""
    if feed.kind != STOCK_PUSH or feed.account_id is None:
        return None
    if strategies is not None:
        return strategies.get(feed.account_id, "scheduled")
    found = db.session.scalar(
        select(InventorySyncConfig.sync_strategy).where(
            InventorySyncConfig.account_id == feed.account_id
        )
    )
    return found or "scheduled"


def schedulable(feed: Feed, strategies: dict[int, str] | None = None) -> bool:
    """A feed runs on its schedule only when its flow is built and it, its schedule, its
    store and its account (when it has one) are all active.  A retired account's feeds, and
    feeds whose flow is not built, are never scheduled; nor is the stock push of an account
    whose strategy is manual (Run now only)."""
    job = feed.schedule
    return bool(
        feed.is_built
        and feed.enabled
        and job is not None
        and job.is_enabled
        and feed.store.is_active
        and (feed.account is None or not feed.account.is_retired)
        and stock_strategy(feed, strategies) != "manual"
    )


def desired(feed_ids: list[int] | None = None) -> dict[str, Entry]:
    entries: dict[str, Entry] = {}
    query = select(Feed).options(
        joinedload(Feed.schedule), joinedload(Feed.store), joinedload(Feed.account)
    )
    if feed_ids is not None:
        query = query.where(Feed.id.in_(feed_ids))
    strategies = dict(
        db.session.execute(
            select(InventorySyncConfig.account_id, InventorySyncConfig.sync_strategy)
        ).all()
    )
    for feed in db.session.scalars(query):
        if schedulable(feed, strategies):
            entry = _entry(feed_job_id(feed.id), TICK, (feed.id,), feed.schedule, f"feed {feed.id}")
            if stock_strategy(feed, strategies) == "realtime":
                entry = _safety_net(entry)
            entries[feed_job_id(feed.id)] = entry
    if feed_ids is None:
        for job in db.session.scalars(
            select(ScheduledJob).where(
                ScheduledJob.feed_id.is_(None), ScheduledJob.is_enabled.is_(True)
            )
        ):
            if job.job_type in GLOBAL_JOBS:
                func = GLOBAL_JOBS[job.job_type][0]
                entries[global_job_id(job.job_type)] = _entry(
                    global_job_id(job.job_type), func, (), job, job.job_type
                )
    return entries


def _entry(job_id: str, func: str, args: tuple, job: ScheduledJob, what: str) -> Entry:
    return Entry(
        job_id=job_id,
        func=func,
        args=args,
        interval=None if job.cron_expression else job.interval_seconds,
        cron=job.cron_expression,
        description=f"mercato {what} ({job.text})",
    )


def _safety_net(entry: Entry) -> Entry:
    """A real-time account's stock push: its schedule, no more often than hourly."""
    if entry.interval is not None and entry.interval >= REALTIME_SAFETY_NET:
        return entry
    return Entry(
        job_id=entry.job_id,
        func=entry.func,
        args=entry.args,
        interval=REALTIME_SAFETY_NET,
        cron=None,
        description=entry.description.rsplit(" (", 1)[0] + " (real time; hourly safety net)",
    )


# -- reconciling ---------------------------------------------------------------------------


def scheduler() -> Scheduler:
    return Scheduler(queue_name=queue_name(), connection=redis_connection())


@dataclass
class Report:
    added: list[str]
    replaced: list[str]
    removed: list[str]
    kept: list[str]
    disabled_not_built: list[int] = field(default_factory=list)

    def as_dict(self) -> dict:
        counts = {
            "added": len(self.added),
            "replaced": len(self.replaced),
            "removed": len(self.removed),
            "kept": len(self.kept),
        }
        if self.disabled_not_built:  # said only when it happened: the ids turned off
            counts["disabled_not_built"] = self.disabled_not_built
        return counts


def disable_not_built(feed_ids: list[int] | None = None) -> list[int]:
    """Turn off enabled feeds whose flow is not built (left on by an older release, or set
    in the database by hand), saying so in the log; returns their ids (committed)."""
    query = select(Feed).where(Feed.enabled.is_(True)).order_by(Feed.id)
    if feed_ids is not None:
        query = query.where(Feed.id.in_(feed_ids))
    disabled = []
    for feed in db.session.scalars(query):
        if feed.is_built:
            continue
        feed.enabled = False
        disabled.append(feed.id)
        log.warning(
            "job=reconcile_schedules feed_id=%s kind=%s store_id=%s account_id=%s "
            "state=disabled_not_built reason=%r",
            feed.id,
            feed.kind,
            feed.store_id,
            feed.account_id,
            feed.not_built_reason,
        )
    if disabled:
        db.session.commit()
    return disabled


def current_entries(sched: Scheduler) -> dict[str, object]:
    """Mercato's entries in rq-scheduler (this deployment's prefix only), by id."""
    mine = prefix()
    ids = [raw.decode() for raw in sched.connection.zrange(sched.scheduled_jobs_key, 0, -1)]
    result = {}
    for job_id in ids:
        if not job_id.startswith(mine):
            continue
        try:
            result[job_id] = sched.job_class.fetch(job_id, connection=sched.connection)
        except Exception:  # noqa: BLE001 - a broken entry is replaced like a missing one
            result[job_id] = None
    return result


def reconcile(feed_ids: list[int] | None = None) -> Report:
    """Make rq-scheduler match the database (all of it, or only these feeds' entries)."""
    disabled = disable_not_built(feed_ids)
    sched = scheduler()
    want = desired(feed_ids)
    have = current_entries(sched)
    if feed_ids is not None:
        scope = {feed_job_id(i) for i in feed_ids}
        have = {k: v for k, v in have.items() if k in scope}
    report = Report([], [], [], [], disabled)
    for job_id, entry in want.items():
        job = have.get(job_id)
        if job is not None and job.meta.get("mercato_spec") == entry.digest:
            report.kept.append(job_id)
            continue
        if job_id in have:
            sched.cancel(job_id)
            report.replaced.append(job_id)
        else:
            report.added.append(job_id)
        _schedule(sched, entry)
    for job_id, job in have.items():
        if job_id not in want:
            sched.cancel(job_id)
            if job is not None and job.get_status(refresh=False) not in ("queued", "started"):
                job.delete(remove_from_queue=False)
            report.removed.append(job_id)
    _record_next_runs(sched, want)
    if report.added or report.replaced or report.removed or disabled:
        log.info(
            "job=reconcile_schedules added=%s replaced=%s removed=%s kept=%s disabled_not_built=%s",
            *(len(x) for x in (report.added, report.replaced, report.removed, report.kept)),
            len(disabled),
        )
    return report


def _schedule(sched: Scheduler, entry: Entry) -> None:
    common = {
        "id": entry.job_id,
        "description": entry.description,
        "queue_name": queue_name(),
        "meta": {"mercato_spec": entry.digest},
        "timeout": 600,
        # Kept: rq-scheduler drops an entry whose job hash has expired (as its default -1).
        "result_ttl": -1,
    }
    if entry.cron:
        sched.cron(entry.cron, func=entry.func, args=list(entry.args), **common)
    else:
        first = datetime.now(UTC) + timedelta(seconds=entry.interval)
        sched.schedule(first, entry.func, args=list(entry.args), interval=entry.interval, **common)


def _record_next_runs(sched: Scheduler, want: dict[str, Entry]) -> None:
    """Copy each entry's next time into its row, for the pages and ``feeds list``."""
    if not want:
        return
    ids = list(want)
    scores = sched.connection.zmscore(sched.scheduled_jobs_key, ids)
    when = {
        job_id: datetime.fromtimestamp(score, UTC).replace(tzinfo=None)
        for job_id, score in zip(ids, scores, strict=True)
        if score is not None
    }
    by_feed = {feed_job_id(fid): fid for fid in _feed_ids(ids)}
    rows = db.session.scalars(
        select(ScheduledJob).where(
            ScheduledJob.feed_id.in_(list(by_feed.values())) | ScheduledJob.feed_id.is_(None)
        )
    )
    for row in rows:
        job_id = feed_job_id(row.feed_id) if row.feed_id else global_job_id(row.job_type)
        if job_id in when and row.next_run_at != when[job_id]:
            row.next_run_at = when[job_id]
    db.session.commit()


def _feed_ids(job_ids: list[str]) -> list[int]:
    start = prefix() + "feed-"
    return [int(j[len(start) :]) for j in job_ids if j.startswith(start)]


def reconcile_quietly(feed_ids: list[int] | None = None) -> bool:
    """Reconcile after a change made through a page or the CLI.  Redis down must not undo
    the change: the database keeps it and the periodic reconcile applies it later."""
    try:
        reconcile(feed_ids)
        return True
    except Exception:  # noqa: BLE001
        log.warning("job=reconcile_schedules state=deferred", exc_info=True)
        db.session.rollback()
        return False


def feeds_of_account(account: Account) -> list[int]:
    return list(db.session.scalars(select(Feed.id).where(Feed.account_id == account.id)))
