"""Feeds against the marketplace sandbox served over real HTTP, real Redis and real RQ."""

from __future__ import annotations

import pytest
from rq_scheduler import Scheduler
from sqlalchemy import select

from tests.inprocess_worker import InProcessWorker
from tests.sandbox_server import sandbox_account, served_sandbox
from tests.webapp.conftest import admin_user, store_user  # noqa: F401 (fixtures)
from webapp.extensions import QUEUE_NAMES, db, queue
from webapp.models import Feed, Run


@pytest.fixture
def sandbox():
    with served_sandbox(40) as url:
        yield url


@pytest.fixture
def account(app, store, sandbox):
    return sandbox_account(app, store, sandbox)


def feed_of(account, kind: str) -> Feed:
    return db.session.scalar(select(Feed).where(Feed.account_id == account.id, Feed.kind == kind))


def not_built_feed(account, kind: str = "import_products") -> Feed:
    """A feed with no flow behind it, for the tests of what such a feed does: an account's
    own product import (the store's file import is built; an account's is not), as an older
    release or a hand edit would have left it. Every declared feed kind is built today."""
    from webapp.feeds import defaults

    feed = feed_of(account, kind) or defaults._add(account.store_id, account.id, kind)
    db.session.commit()
    return feed


def fresh(model, ident):
    db.session.rollback()
    db.session.expire_all()
    return db.session.get(model, ident)


def work(app) -> None:
    """Drain every Mercato queue with a real RQ worker, in this process."""
    queues = [queue(name) for name in QUEUE_NAMES]
    InProcessWorker(queues, connection=queues[0].connection).work(burst=True)


def runs_of(feed_id: int, *, with_sender: bool = False) -> list[Run]:
    """The feed's executions of its own flow; the outbound sender's runs, which follow a
    poll that booked orders of a live account, only when asked."""
    db.session.rollback()
    query = select(Run).where(Run.feed_id == feed_id)
    if not with_sender:
        query = query.where(Run.kind != "outbound")
    return list(db.session.scalars(query.order_by(Run.id)))


def entries(app) -> dict[str, float]:
    """rq-scheduler's Mercato entries: job id -> next time (the sorted set itself)."""
    sched = Scheduler(connection=queue().connection)
    raw = sched.connection.zrange(sched.scheduled_jobs_key, 0, -1, withscores=True)
    return {k.decode(): v for k, v in raw if k.decode().startswith("mercato-")}


def feed_entries(app) -> dict[str, float]:
    return {k: v for k, v in entries(app).items() if k.startswith("mercato-feed-")}
