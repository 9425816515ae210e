"""Which feeds a store and an account get, and when each runs by default.

Both derive from the flow registry (:mod:`webapp.runs.registry`): a flow declares its
schedule and the capability that gives an account its feed.  The schedules are the
seed's (001 Part 5): orders every 5 min, stock every 15 min, supplier
catalog every 6 h, prices daily, failed-sync retry every 10 min; parked orders are rechecked
hourly (seed 002).  Outbound feeds start disabled (seed 002: "only feeds from CMS to Connect
are enabled" until the integration goes live), and so does every feed whose flow is not
built yet (``webapp.runs.registry``).
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from connectors import registry as connectors_registry
from webapp.extensions import db
from webapp.models import Account, Feed, ScheduledJob, Store
from webapp.models.feeds import IN, flow_is_built
from webapp.runs import registry


@dataclass(frozen=True)
class Default:
    kind: str
    interval_seconds: int | None = None
    cron_expression: str | None = None
    direction: str = IN

    @property
    def enabled(self) -> bool:
        return self.direction == IN


def schedules() -> dict[str, Default]:
    """Default schedule of every feed kind, as its flow declares it (also what an account of
    a future connector gets)."""
    return {
        kind: Default(kind, flow.interval_seconds, flow.cron_expression, flow.direction)
        for kind, flow in registry.feed_kinds().items()
    }


# A store's own file imports (its configured feed URLs).  Off until the store turns it on.
STORE_KINDS = ("import_products",)

# Jobs of no feed: (dotted function, interval seconds).  The first is the seed's; the other
# two keep the schedule and the executions honest (see webapp.feeds.schedule and .sweep).
GLOBAL_JOBS: dict[str, tuple[str, int]] = {
    "sync_retry_failed": ("jobs.feeds.retry_failed_feeds", 600),
    "sweep_abandoned_runs": ("jobs.feeds.sweep_abandoned_runs", 60),
    "reconcile_schedules": ("jobs.feeds.reconcile_schedules", 300),
    # Each account's marketplace rules (Lengow's GET /v3.0/marketplaces), fetched again daily.
    "refresh_marketplace_rules": ("jobs.feeds.refresh_marketplace_rules", 86400),
}


def kinds_for(account: Account) -> tuple[str, ...]:
    """The feeds a connector's capabilities give an account: every flow declaring one of
    them.  An order poll reads every order updated since the last one, so "import orders"
    also updates them: no separate update_orders feed (it declares no capability)."""
    try:
        cls = connectors_registry.get(account.connector)
    except KeyError:
        return ()
    return tuple(
        kind
        for kind, flow in registry.feed_kinds().items()
        if any(cls.has(c) for c in _capabilities(flow.capability))
    )


def _capabilities(declared) -> tuple:
    """A flow's capability, or the tuple of them of which any gives an account the feed."""
    if declared is None:
        return ()
    return tuple(declared) if isinstance(declared, tuple | list) else (declared,)


def _add(store_id: int, account_id: int | None, kind: str) -> Feed:
    default = schedules()[kind]
    feed = Feed(
        store_id=store_id,
        account_id=account_id,
        kind=kind,
        direction=default.direction,
        # Never on when no flow is built for it (a supplier catalog, say): it could only
        # pretend to run.
        enabled=default.enabled and account_id is not None and flow_is_built(kind, account_id),
    )
    feed.schedule = ScheduledJob(
        store_id=store_id,
        job_type="feed",
        interval_seconds=default.interval_seconds,
        cron_expression=default.cron_expression,
    )
    db.session.add(feed)
    return feed


def ensure_default_feeds(account: Account) -> list[Feed]:
    """Create the account's missing default feeds (idempotent); returns the new ones."""
    have = set(db.session.scalars(select(Feed.kind).where(Feed.account_id == account.id)))
    return [_add(account.store_id, account.id, k) for k in kinds_for(account) if k not in have]


def ensure_store_feeds(store: Store) -> list[Feed]:
    have = set(
        db.session.scalars(
            select(Feed.kind).where(Feed.store_id == store.id, Feed.account_id.is_(None))
        )
    )
    return [_add(store.id, None, k) for k in STORE_KINDS if k not in have]


def ensure_store_feed(store: Store, kind: str) -> Feed:
    """The store's own feed of ``kind`` (a store flow: the stock file), created with its
    default schedule, disabled, when it has none yet."""
    feed = db.session.scalar(
        select(Feed).where(Feed.store_id == store.id, Feed.account_id.is_(None), Feed.kind == kind)
    )
    if feed is None:
        feed = _add(store.id, None, kind)
        db.session.flush()
    return feed


def ensure_global_jobs() -> list[ScheduledJob]:
    have = set(
        db.session.scalars(select(ScheduledJob.job_type).where(ScheduledJob.feed_id.is_(None)))
    )
    new = [
        ScheduledJob(job_type=name, interval_seconds=interval)
        for name, (_, interval) in GLOBAL_JOBS.items()
        if name not in have
    ]
    db.session.add_all(new)
    return new


def ensure_all() -> int:
    """Every store's, every account's and the global defaults that are missing; commits.

    Processes starting together (``make run``'s worker and scheduler) may both find a default
    missing: the later insert meets the unique index, and that process looks again (it then
    finds the other's rows) instead of failing its start-up."""
    for attempt in (1, 2, 3):
        try:
            created = len(ensure_global_jobs())
            for store in db.session.scalars(select(Store).order_by(Store.id)):
                created += len(ensure_store_feeds(store))
            for account in db.session.scalars(select(Account).order_by(Account.id)):
                created += len(ensure_default_feeds(account))
            db.session.commit()
            return created
        except IntegrityError:
            db.session.rollback()
            if attempt == 3:
                raise
    raise AssertionError("unreachable")
