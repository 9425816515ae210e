"""The platform's figures: integration lag, error rate, queues, and the alerts they raise.

One module computes them; the health endpoint, the Prometheus exposition and the admin
monitoring page only present them, so the three never disagree. Thresholds are the seed's
(001, "Monitoring & Observability").
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta

from croniter import croniter
from flask import current_app
from redis.exceptions import RedisError
from sqlalchemy import case, func, select
from sqlalchemy.orm import joinedload

from webapp.extensions import QUEUE_NAMES, db, queue
from webapp.models import (
    Account,
    DigitalKey,
    Feed,
    Message,
    OrderAction,
    OutboundCall,
    Run,
    ScheduledJob,
)
from webapp.models import runs as R
from webapp.models.base import utcnow
from webapp.models.feeds import NOT_BUILT_RUN_KIND
from webapp.models.fulfilment import IN_FLIGHT
from webapp.runs.registry import follower_run_kinds

# metric -> (threshold, "max" if crossing above alerts, "min" if falling below alerts)
THRESHOLDS: dict[str, tuple[float, str]] = {
    "order_import_lag_seconds": (15 * 60, "max"),
    "inventory_sync_lag_seconds": (30 * 60, "max"),
    "fulfillment_sync_queue_depth": (100, "max"),
    "sync_error_rate": (0.05, "max"),
    "digital_fulfillment_success_rate": (0.95, "min"),
}
ERROR_RATE_WINDOW = timedelta(hours=1)
# Digital orders come fewer than order polls: their success rate is read over a day.
DIGITAL_WINDOW = timedelta(hours=24)
SUCCESS = (R.COMPLETED, R.COMPLETED_WITH_ERRORS)
FAILURE = (R.FAILED, R.ABANDONED)
# Executions of a feed whose flow is not built did nothing: neither a success nor a failure.
COUNTED = Run.kind != NOT_BUILT_RUN_KIND

# Feeds whose lag is one of the seed's metrics; every other watched feed is "late" after
# QUIET_PERIODS of its own schedule without a success (mercato_feed_lag_seconds).
LAG_METRICS = {
    "import_orders": "order_import_lag_seconds",
    "stock_export": "inventory_sync_lag_seconds",
}
FEED_LAG_METRIC = "mercato_feed_lag_seconds"
QUIET_PERIODS = 3

OK, LATE, NEVER, PENDING = "ok", "late", "never", "pending"


@dataclass
class Check:
    """One feed: when it last succeeded and whether that is too long ago."""

    store_id: int
    store_code: str
    feed_id: int
    account_id: int | None
    account_name: str | None
    connector: str | None
    live: bool
    flow: str  # the feed's kind
    metric: str
    threshold_seconds: float
    last_success: datetime | None
    last_run_at: datetime | None
    last_status: str | None
    lag_seconds: float | None
    status: str

    @property
    def alert(self) -> bool:
        return self.status in (LATE, NEVER)

    @property
    def owner(self) -> str:
        return self.account_name or f"{self.store_code} files"

    def as_json(self) -> dict:
        return {
            "feed_id": self.feed_id,
            "account_id": self.account_id,
            "account": self.account_name,
            "connector": self.connector,
            "mode": "live" if self.live else "test",
            "flow": self.flow,
            "status": self.status,
            "last_success": _iso(self.last_success),
            "last_run_at": _iso(self.last_run_at),
            "last_run_status": self.last_status,
            "lag_seconds": None if self.lag_seconds is None else round(self.lag_seconds, 1),
            "threshold_seconds": self.threshold_seconds,
        }


@dataclass
class Figures:
    checked_at: datetime
    checks: list[Check]
    sync_error_rate: float
    finished_last_hour: int
    failed_last_hour: int
    fulfillment_sync_queue_depth: int | None  # fulfilment_queue_depth(): owed order actions
    digital_fulfillment_success_rate: float | None
    queues: dict[str, dict[str, int]]
    codeswholesale: list[dict] = field(default_factory=list)
    alerts: list[dict] = field(default_factory=list)

    @property
    def healthy(self) -> bool:
        return not self.alerts


def _iso(value: datetime | None) -> str | None:
    return None if value is None else value.replace(microsecond=0).isoformat() + "Z"


def _period_seconds(job: ScheduledJob | None, now: datetime) -> float | None:
    if job is None or not job.is_enabled:
        return None
    if job.interval_seconds:
        return float(job.interval_seconds)
    if job.cron_expression:
        fires = croniter(job.cron_expression, now)
        first = fires.get_next(datetime)
        return (fires.get_next(datetime) - first).total_seconds()
    return None


def _watched_feeds(store_id: int | None) -> list[Feed]:
    """Enabled, scheduled feeds of active accounts (and stores' own file feeds)."""
    query = (
        select(Feed)
        .options(joinedload(Feed.store), joinedload(Feed.account), joinedload(Feed.schedule))
        .outerjoin(Account, Account.id == Feed.account_id)
        .where(Feed.enabled.is_(True), Account.retired_at.is_(None))
        .order_by(Feed.store_id, Feed.account_id, Feed.id)
    )
    if store_id is not None:
        query = query.where(Feed.store_id == store_id)
    return list(db.session.scalars(query).unique())


def integration_checks(now: datetime | None = None, store_id: int | None = None) -> list[Check]:
    """Every watched feed with its lag against its threshold.

    Three queries whatever the number of feeds: the feeds, the last success and last run
    per feed, then the status of each last run.
    """
    now = now or utcnow()
    feeds = _watched_feeds(store_id)
    if not feeds:
        return []
    rows = db.session.execute(
        select(
            Run.feed_id,
            func.max(case((Run.status.in_(SUCCESS), Run.completed_at))),
            func.max(Run.id),
        )
        .where(
            Run.feed_id.in_([f.id for f in feeds]),
            COUNTED,
            Run.kind.notin_(follower_run_kinds()),
        )
        .group_by(Run.feed_id)
    ).all()
    last = {feed_id: (success, last_id) for feed_id, success, last_id in rows}
    last_runs = {
        run_id: (created, status)
        for run_id, created, status in db.session.execute(
            select(Run.id, Run.created_at, Run.status).where(
                Run.id.in_([v[1] for v in last.values()])
            )
        )
    }
    checks = []
    for feed in feeds:
        period = _period_seconds(feed.schedule, now)
        if period is None:
            continue  # not scheduled: nothing says when it should have run
        metric = LAG_METRICS.get(feed.kind, FEED_LAG_METRIC)
        if metric in THRESHOLDS:
            threshold = max(THRESHOLDS[metric][0], period)
        else:
            threshold = QUIET_PERIODS * period
        success, last_id = last.get(feed.id, (None, None))
        last_run_at, last_status = last_runs.get(last_id, (None, None))
        if success is not None:
            lag = max(0.0, (now - success).total_seconds())
            status = LATE if lag > threshold else OK
        else:
            # Never succeeded: an alert only once the feed is older than its threshold.
            lag = max(0.0, (now - feed.created_at).total_seconds())
            status = NEVER if lag > threshold else PENDING
        account = feed.account
        checks.append(
            Check(
                store_id=feed.store_id,
                store_code=feed.store.code,
                feed_id=feed.id,
                account_id=account.id if account else None,
                account_name=account.name if account else None,
                connector=account.connector if account else None,
                live=account.is_live if account else True,
                flow=feed.kind,
                metric=metric,
                threshold_seconds=threshold,
                last_success=success,
                last_run_at=last_run_at,
                last_status=last_status,
                lag_seconds=lag,
                status=status,
            )
        )
    return checks


def error_rate(now: datetime, store_id: int | None = None) -> tuple[float, int, int]:
    """(failed / finished, finished, failed) over the integration's runs that finished in the
    last hour: executions for a marketplace account (order polls, rechecks, sends).

    A store's own product imports are left out: a file a merchant uploads or points at (an
    HTML page, an empty file) fails that store's run, which its import history and its inbox
    show; it says nothing about the integration, and must not page the operator."""
    query = select(func.count(), func.count(case((Run.status.in_(FAILURE), 1)))).where(
        Run.completed_at >= now - ERROR_RATE_WINDOW,
        Run.status.in_(SUCCESS + FAILURE),
        Run.account_id.is_not(None),
        COUNTED,
    )
    if store_id is not None:
        query = query.where(Run.store_id == store_id)
    finished, failed = db.session.execute(query).one()
    return (failed / finished if finished else 0.0), finished, failed


# The order actions counted by ``fulfillment_sync_queue_depth``: owed to a marketplace and not
# settled yet. ``recorded``: its outbound call not sent yet (pending, failed and waiting for
# its retry, being sent, or held as unknown for a person); ``sent`` and ``queued``: sent, the
# marketplace has not processed it yet. Not counted: dry runs (test mode owes nothing),
# processed, failed (final: the inbox has them).
OWED_ACTION_STATES = IN_FLIGHT


def digital_success_rate(now: datetime, store_id: int | None = None) -> float | None:
    """Successful key retrievals / attempts over the last day (None: no attempt): a line
    that got keys (from the pool or bought) is a success; a line left without keys (nothing
    in the pool, nothing to buy them) and each refused or failed purchase is a failure."""
    since = now - DIGITAL_WINDOW
    served_q = select(func.count(func.distinct(DigitalKey.order_item_id))).where(
        DigitalKey.assigned_at >= since, DigitalKey.order_item_id.is_not(None)
    )
    failed_q = (
        select(func.count(Message.id))
        .join(Run, Run.id == Message.import_job_id)
        .where(
            Message.created_at >= since,
            (Message.error_type == "digital_keys_missing")
            | ((Message.error_type == "outbound_failed") & (Message.subject_type == "order_item")),
        )
    )
    if store_id is not None:
        served_q = served_q.where(DigitalKey.store_id == store_id)
        failed_q = failed_q.where(Run.store_id == store_id)
    served = db.session.scalar(served_q) or 0
    failed = db.session.scalar(failed_q) or 0
    if not served + failed:
        return None
    return round(served / (served + failed), 4)


def codeswholesale_health(checks: list, store_id: int | None = None) -> list[dict]:
    """Each CodesWholesale account: its catalogue sync (the feed's check), the API as its
    last balance read found it, the balance, and the purchases waiting for a person."""
    from webapp.digital.balance import last_balance

    query = select(Account).where(
        Account.connector == "codeswholesale", Account.retired_at.is_(None)
    )
    if store_id is not None:
        query = query.where(Account.store_id == store_id)
    found = []
    for account in db.session.scalars(query.order_by(Account.id)):
        by_flow = {c.flow: c for c in checks if c.account_id == account.id}
        catalog = by_flow.get("supplier_catalog")
        read = last_balance(account.id)
        last_keys_run = db.session.scalar(
            select(Run.status)
            .where(Run.account_id == account.id, Run.kind == "supplier_keys", COUNTED)
            .order_by(Run.id.desc())
            .limit(1)
        )
        held = db.session.scalar(
            select(func.count(OutboundCall.id)).where(
                OutboundCall.account_id == account.id,
                OutboundCall.action == "supplier.buy_keys",
                OutboundCall.status.in_(("unknown", "failed")),
            )
        )
        found.append(
            {
                "account_id": account.id,
                "store_id": account.store_id,
                "name": account.name,
                "mode": "live" if account.is_live else "test",
                "catalog_sync": catalog.status if catalog else NEVER,
                "catalog_last_success": _iso(catalog.last_success) if catalog else None,
                "api_status": (
                    "unknown"
                    if last_keys_run is None
                    else ("ok" if last_keys_run in SUCCESS else "failing")
                ),
                "balance": (read.row_data or {}).get("total_to_use") if read else None,
                "currency": (read.row_data or {}).get("currency") if read else None,
                "balance_read_at": _iso(read.created_at) if read else None,
                "balance_alert": bool(read and (read.row_data or {}).get("alert")),
                "purchases_failing": held or 0,
            }
        )
    return found


def fulfilment_queue_depth(store_id: int | None = None) -> int:
    """Order actions (ship, accept, refuse, cancel, refund...) owed to the marketplaces and not
    settled yet: recorded and not sent, or sent and not processed (:data:`OWED_ACTION_STATES`).
    Counted per account on ``ix_order_actions_account_state``."""
    accounts = select(Account.id)
    if store_id is not None:
        accounts = accounts.where(Account.store_id == store_id)
    return (
        db.session.scalar(
            select(func.count())
            .select_from(OrderAction)
            .where(
                OrderAction.account_id.in_(accounts),
                OrderAction.state.in_(OWED_ACTION_STATES),
            )
        )
        or 0
    )


def queue_figures() -> dict[str, dict[str, int]]:
    """Per RQ queue: jobs waiting, running, failed, scheduled (deferred by a retry)."""
    figures = {}
    for name in QUEUE_NAMES:
        q = queue(name)
        figures[name] = {
            "queued": q.count,
            "started": q.started_job_registry.count,
            "failed": q.failed_job_registry.count,
            "scheduled": q.scheduled_job_registry.count,
        }
    return figures


def compute(now: datetime | None = None, store_id: int | None = None) -> Figures:
    now = now or utcnow()
    checks = integration_checks(now, store_id)
    rate, finished, failed = error_rate(now, store_id)
    try:
        queues = queue_figures()
    except RedisError:
        queues = {}
    figures = Figures(
        checked_at=now,
        checks=checks,
        sync_error_rate=rate,
        finished_last_hour=finished,
        failed_last_hour=failed,
        fulfillment_sync_queue_depth=fulfilment_queue_depth(store_id),
        digital_fulfillment_success_rate=digital_success_rate(now, store_id),
        queues=queues,
        codeswholesale=codeswholesale_health(checks, store_id),
    )
    figures.alerts = alerts(figures)
    if not queues:
        figures.alerts.append(
            {"kind": "queue", "metric": "redis", "message": "Redis does not answer: no job runs."}
        )
    return figures


def _crossed(metric: str, value: float | None) -> bool:
    if value is None:
        return False
    threshold, direction = THRESHOLDS[metric]
    return value > threshold if direction == "max" else value < threshold


def alerts(figures: Figures) -> list[dict]:
    """What crossed a threshold; "gone quiet" is a flow with no success within its threshold."""
    found = []
    for check in figures.checks:
        if not check.alert:
            continue
        minutes = round(check.threshold_seconds / 60)
        flow = check.flow.replace("_", " ")
        if check.status == NEVER:
            text = f"{check.owner}: no successful {flow} since the feed was set up"
        else:
            text = (
                f"{check.owner}: no successful {flow} for "
                f"{_duration(check.lag_seconds)} (threshold {minutes} min)"
            )
        found.append(
            {
                "kind": "gone_quiet",
                "metric": check.metric,
                "store": check.store_code,
                "account_id": check.account_id,
                "feed_id": check.feed_id,
                "flow": check.flow,
                "value": round(check.lag_seconds or 0, 1),
                "threshold": check.threshold_seconds,
                "message": text,
            }
        )
    platform = {
        "sync_error_rate": figures.sync_error_rate if figures.finished_last_hour else None,
        "fulfillment_sync_queue_depth": figures.fulfillment_sync_queue_depth,
        "digital_fulfillment_success_rate": figures.digital_fulfillment_success_rate,
    }
    for metric, value in platform.items():
        if _crossed(metric, value):
            threshold, direction = THRESHOLDS[metric]
            found.append(
                {
                    "kind": "threshold",
                    "metric": metric,
                    "value": value,
                    "threshold": threshold,
                    "message": f"{metric} is {_fmt(metric, value)} "
                    f"({'above' if direction == 'max' else 'below'} {_fmt(metric, threshold)})",
                }
            )
    return found


def _fmt(metric: str, value: float) -> str:
    return f"{value:.1%}" if metric.endswith("rate") else f"{value:g}"


def _duration(seconds: float | None) -> str:
    seconds = int(seconds or 0)
    if seconds < 3600:
        return f"{seconds // 60} min"
    if seconds < 2 * 86400:
        return f"{seconds // 3600} h {seconds % 3600 // 60:02d} min"
    return f"{seconds // 86400} days"


# Charts: executions and errors per hour -------------------------------------------------


def _hour(column):
    if db.engine.dialect.name == "postgresql":
        return func.date_trunc("hour", column)
    return func.strftime("%Y-%m-%d %H:00:00", column)


def _as_hour(value) -> datetime:
    if isinstance(value, str):
        value = datetime.fromisoformat(value)
    return value.replace(minute=0, second=0, microsecond=0, tzinfo=None)


@dataclass
class Bucket:
    hour: datetime
    succeeded: int = 0
    failed: int = 0
    errors: int = 0


def hourly(hours: int, now: datetime | None = None, store_id: int | None = None) -> list[Bucket]:
    """One bucket per hour over the last ``hours``: executions by outcome, error messages."""
    now = (now or utcnow()).replace(minute=0, second=0, microsecond=0)
    start = now - timedelta(hours=hours - 1)
    buckets = {start + timedelta(hours=i): Bucket(start + timedelta(hours=i)) for i in range(hours)}
    hour = _hour(Run.created_at)
    runs = select(hour, func.count(case((Run.status.in_(FAILURE), 1))), func.count()).where(
        Run.created_at >= start, COUNTED
    )
    if store_id is not None:
        runs = runs.where(Run.store_id == store_id)
    for when, failed, total in db.session.execute(runs.group_by(hour)):
        bucket = buckets.get(_as_hour(when))
        if bucket is not None:
            bucket.failed, bucket.succeeded = failed, total - failed
    mhour = _hour(Message.created_at)
    messages = select(mhour, func.count()).where(
        Message.created_at >= start, Message.severity == R.ERROR
    )
    if store_id is not None:
        messages = messages.join(Run, Run.id == Message.import_job_id).where(
            Run.store_id == store_id
        )
    for when, count in db.session.execute(messages.group_by(mhour)):
        bucket = buckets.get(_as_hour(when))
        if bucket is not None:
            bucket.errors = count
    return list(buckets.values())


def poll_seconds() -> int:
    return current_app.config.get("MERCATO_ADMIN_POLL_SECONDS", 15)
