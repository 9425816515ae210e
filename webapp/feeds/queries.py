"""Read side of feeds: the lists the pages, the CLI and (later) monitoring show."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import Select, func, select
from sqlalchemy.orm import joinedload

from webapp.extensions import db
from webapp.models import Account, Feed, Run, Store
from webapp.models import runs as R
from webapp.models.base import utcnow
from webapp.pagination import Page, paginate
from webapp.runs.registry import follower_run_kinds

PERIODS = {"24h": timedelta(hours=24), "7d": timedelta(days=7), "30d": timedelta(days=30)}


def is_scheduled(feed: Feed) -> bool:
    from webapp.feeds.schedule import schedulable

    return schedulable(feed)


def store_feeds(store_id: int) -> list[Feed]:
    return list(
        db.session.scalars(
            select(Feed)
            .where(Feed.store_id == store_id)
            .options(joinedload(Feed.account), joinedload(Feed.schedule), joinedload(Feed.store))
            .order_by(Feed.account_id.is_not(None), Feed.account_id, Feed.direction, Feed.id)
        )
    )


def last_runs(feed_ids: list[int]) -> dict[int, Run]:
    """Each feed's newest run of its own flow (not the sender's that followed it), one query
    (the newest id per feed on ix_runs_feed)."""
    if not feed_ids:
        return {}
    newest = (
        select(func.max(Run.id))
        .where(Run.feed_id.in_(feed_ids), Run.kind.notin_(follower_run_kinds()))
        .group_by(Run.feed_id)
        .scalar_subquery()
    )
    return {run.feed_id: run for run in db.session.scalars(select(Run).where(Run.id.in_(newest)))}


def summary(run: Run) -> dict:
    return {
        "execution_id": run.id,
        "feed_id": run.feed_id,
        "kind": run.kind,
        "trigger": run.trigger,
        "status": run.status,
        "fetched": run.total_processed,
        "imported": run.imported_count,
        "updated": run.updated_count,
        "unchanged": run.unchanged_count,
        "parked": run.parked_count,
        "errors": run.error_count,
        "warnings": run.warning_count,
        "error": run.error_message,
    }


def executions_query(
    *,
    store_id: int | None = None,
    account_id: int | None = None,
    feed_id: int | None = None,
    kind: str | None = None,
    status: str | None = None,
    period: str | None = None,
) -> tuple[Select, Select]:
    conditions = [Run.feed_id.is_not(None)]
    if store_id is not None:
        conditions.append(Run.store_id == store_id)
    if account_id is not None:
        conditions.append(Run.account_id == account_id)
    if feed_id is not None:
        conditions.append(Run.feed_id == feed_id)
    if kind:
        conditions.append(Run.feed_id.in_(select(Feed.id).where(Feed.kind == kind)))
    if status:
        conditions.append(Run.status == status)
    if period in PERIODS:
        conditions.append(Run.created_at >= utcnow() - PERIODS[period])
    query = (
        select(Run)
        .where(*conditions)
        .options(joinedload(Run.store), joinedload(Run.feed), joinedload(Run.account))
        .order_by(Run.id.desc())
    )
    count = select(func.count()).select_from(Run).where(*conditions)
    return query, count


def executions_page(page: int = 1, per_page: int = 25, **filters) -> Page:
    query, count = executions_query(**filters)
    return paginate(query, count, page, per_page, key=Run.id)


def any_active(**filters) -> bool:
    query, _ = executions_query(**filters)
    active = query.where(Run.status.in_(R.ACTIVE_STATUSES)).with_only_columns(Run.id).limit(1)
    return db.session.scalar(active) is not None


def accounts(store_id: int | None) -> list[Account]:
    query = select(Account).order_by(Account.name)
    if store_id is not None:
        query = query.where(Account.store_id == store_id)
    return list(db.session.scalars(query))


def stores() -> list[Store]:
    return list(db.session.scalars(select(Store).order_by(Store.name)))
