"""The error inbox: open messages about orders, accounts and runs, grouped by cause.

A message about one row of a product feed stays in that run's error viewer (a feed with a
thousand bad rows is one problem: its run); everything else a run says with severity
"error" waits here until it is retried successfully or a person marks it resolved.
Messages graded "retry" are retried by :func:`webapp.inbox.retry.sweep` and join the inbox
when they run out of attempts.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import func, select, update

from webapp.extensions import db
from webapp.models import Message, Run, Store
from webapp.models import runs as R
from webapp.models.base import utcnow

SAMPLE_SUBJECTS = 20


def is_open():
    return (
        Message.severity == R.ERROR,
        Message.resolved_at.is_(None),
        Message.row_number.is_(None),
    )


def open_query(store_id: int | None = None):
    query = select(Message).join(Run, Run.id == Message.import_job_id).where(*is_open())
    if store_id is not None:
        query = query.where(Run.store_id == store_id)
    return query


def open_count(store_ids: list[int] | None) -> int:
    """The bell: open errors of these stores (None: every store)."""
    query = select(func.count()).select_from(Message).where(*is_open())
    if store_ids is not None:
        query = query.join(Run, Run.id == Message.import_job_id).where(Run.store_id.in_(store_ids))
    return db.session.scalar(query) or 0


@dataclass
class Group:
    store: Store
    cause: str
    count: int
    first_seen: datetime
    last_seen: datetime
    messages: list[Message] = field(default_factory=list)  # the newest SAMPLE_SUBJECTS
    runs: dict[int, Run] = field(default_factory=dict)


def groups(store_id: int | None = None) -> list[Group]:
    """Open errors per (store, cause), busiest first, each with its newest messages."""
    query = (
        select(
            Run.store_id,
            Message.error_type,
            func.count(),
            func.min(Message.created_at),
            func.max(Message.created_at),
        )
        .join(Run, Run.id == Message.import_job_id)
        .where(*is_open())
        .group_by(Run.store_id, Message.error_type)
    )
    if store_id is not None:
        query = query.where(Run.store_id == store_id)
    rows = db.session.execute(query).all()
    stores = {
        s.id: s for s in db.session.scalars(select(Store).where(Store.id.in_({r[0] for r in rows})))
    }
    found = [
        Group(stores[sid], cause, count, first, last) for sid, cause, count, first, last in rows
    ]
    for group in found:
        group.messages = list(
            db.session.scalars(
                open_query(group.store.id)
                .where(Message.error_type == group.cause)
                .order_by(Message.id.desc())
                .limit(SAMPLE_SUBJECTS)
            )
        )
        run_ids = {m.import_job_id for m in group.messages}
        group.runs = {r.id: r for r in db.session.scalars(select(Run).where(Run.id.in_(run_ids)))}
    found.sort(key=lambda g: (-g.count, g.store.code, g.cause))
    return found


def message_of_store(message_id: int, store_id: int) -> Message | None:
    return db.session.scalar(
        select(Message)
        .join(Run, Run.id == Message.import_job_id)
        .where(Message.id == message_id, Run.store_id == store_id)
    )


def group_ids(store_id: int, cause: str) -> list[int]:
    return list(
        db.session.scalars(
            select(Message.id)
            .join(Run, Run.id == Message.import_job_id)
            .where(*is_open(), Run.store_id == store_id, Message.error_type == cause)
        )
    )


def resolve(ids: list[int], by: str) -> int:
    """Mark open messages resolved; returns how many were still open."""
    if not ids:
        return 0
    result = db.session.execute(
        update(Message)
        .where(Message.id.in_(ids), Message.resolved_at.is_(None))
        .values(resolved_at=utcnow(), resolved_by=by[:255], next_retry_at=None)
        .execution_options(synchronize_session=False)
    )
    db.session.commit()
    return result.rowcount
