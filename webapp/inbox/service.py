"""The error inbox: open messages about orders, SKUs, accounts and runs, grouped by cause.

A message about one row of a product feed stays in that run's error viewer (a feed with a
thousand bad rows is one problem: its run); everything else a run says with severity
"error" waits here until it is retried successfully or a person marks it resolved.
Messages graded "retry" are retried by :func:`webapp.inbox.retry.sweep` and join the inbox
when they run out of attempts (the severity filter shows them while they still retry).

Every read is a range of one partial index of the open messages (migration 0013): a
store's (``ix_inbox_store``), an account's (``ix_inbox_account``) or every store's
(``ix_messages_open``), each ordered (severity, cause, created_at, id). Counts per cause
are read from the index alone; a cause's pages are newest first and skip on the index
(:func:`webapp.pagination.paginate` with a key); the age filter is a range of
``created_at`` inside each cause. ``bench/inbox_pages.py`` measures it with 100,000 open
messages in one store.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sqlalchemy import func, select, update
from sqlalchemy.orm import joinedload

from webapp.extensions import db
from webapp.models import Account, Message, Run, Store
from webapp.models import runs as R
from webapp.models.base import utcnow
from webapp.pagination import Page, paginate

log = logging.getLogger("mercato.inbox")

SAMPLE_SUBJECTS = 5  # entries shown per cause on the overview; "Show all" pages the rest
PER_PAGE = 25
BELL_CAP = 999  # the bell says "999+" beyond this: counting further is work nobody reads

# severity filter -> severities shown
SEVERITIES = {
    "error": (R.ERROR,),  # needs a person (the default, what the bell counts)
    "retry": (R.RETRY,),  # still retried automatically
    "open": (R.ERROR, R.RETRY),
}
SEVERITY_LABELS = {
    "error": "Needs a person",
    "retry": "Retrying by itself",
    "open": "Both",
}
# age filter -> (newer or older than, how long)
AGES = {
    "1d": ("newer", timedelta(days=1)),
    "7d": ("newer", timedelta(days=7)),
    "old7": ("older", timedelta(days=7)),
    "old30": ("older", timedelta(days=30)),
}
AGE_LABELS = {
    "1d": "Last 24 hours",
    "7d": "Last 7 days",
    "old7": "Older than 7 days",
    "old30": "Older than 30 days",
}


def is_open():
    """The partial indexes' condition, word for word (SQLite matches it textually)."""
    return (Message.resolved_at.is_(None), Message.row_number.is_(None))


def open_query(store_id: int | None = None):
    """Open errors (a person's), of one store or every store."""
    query = select(Message).where(*is_open(), Message.severity == R.ERROR)
    if store_id is not None:
        query = query.where(Message.store_id == store_id)
    return query


def _digits(value) -> int | None:
    text = (value or "").strip()
    return int(text) if text.isascii() and text.isdigit() and len(text) < 10 else None


@dataclass
class Filters:
    cause: str = ""
    account_id: int | None = None
    severity: str = "error"
    age: str = ""
    store_id: int | None = None  # admins: one store

    @classmethod
    def from_args(cls, args) -> Filters:
        severity = (args.get("severity") or "").strip()
        age = (args.get("age") or "").strip()
        return cls(
            cause=(args.get("cause") or "").strip()[:64],
            account_id=_digits(args.get("account")),
            severity=severity if severity in SEVERITIES else "error",
            age=age if age in AGES else "",
            store_id=_digits(args.get("store")),
        )

    def params(self) -> dict[str, str]:
        """The filters as query-string parameters (only those not at their default)."""
        values = {
            "store": str(self.store_id) if self.store_id else "",
            "cause": self.cause,
            "account": str(self.account_id) if self.account_id else "",
            "severity": self.severity if self.severity != "error" else "",
            "age": self.age,
        }
        return {k: v for k, v in values.items() if v}

    @property
    def active(self) -> bool:
        return bool(self.params())

    def without_cause(self) -> Filters:
        return Filters("", self.account_id, self.severity, self.age, self.store_id)


def conditions(store_id: int | None, filters: Filters, now: datetime | None = None) -> list:
    """Open messages matching ``filters``, of ``store_id`` (None: every store, or the
    admin's store filter)."""
    severities = SEVERITIES[filters.severity]
    found = [
        *is_open(),
        Message.severity == severities[0]
        if len(severities) == 1
        else Message.severity.in_(severities),
    ]
    store_id = store_id if store_id is not None else filters.store_id
    if store_id is not None:
        found.append(Message.store_id == store_id)
    if filters.account_id:
        found.append(Message.account_id == filters.account_id)
    if filters.cause:
        found.append(Message.error_type == filters.cause)
    if filters.age:
        direction, span = AGES[filters.age]
        edge = (now or utcnow()) - span
        found.append(
            Message.created_at >= edge if direction == "newer" else Message.created_at < edge
        )
    return found


def open_count(store_ids: list[int] | None) -> int:
    """The bell: open errors of these stores (None: every store), up to BELL_CAP + 1."""
    query = select(Message.id).where(*is_open(), Message.severity == R.ERROR)
    if store_ids is not None:
        query = query.where(Message.store_id.in_(store_ids))
    capped = query.limit(BELL_CAP + 1).subquery()
    return db.session.scalar(select(func.count()).select_from(capped)) or 0


@dataclass
class Group:
    store: Store
    cause: str
    count: int
    first_seen: datetime
    last_seen: datetime
    messages: list[Message] = field(default_factory=list)  # the newest SAMPLE_SUBJECTS


def _stores(ids) -> dict[int, Store]:
    ids = {i for i in ids if i is not None}
    if not ids:
        return {}
    return {s.id: s for s in db.session.scalars(select(Store).where(Store.id.in_(ids)))}


def all_stores() -> list[Store]:
    """The admin's store filter."""
    return list(db.session.scalars(select(Store).order_by(Store.name, Store.code)))


def _as_datetime(value) -> datetime:
    return datetime.fromisoformat(value) if isinstance(value, str) else value


def groups(store_id: int | None, filters: Filters, *, sample: int = SAMPLE_SUBJECTS) -> list[Group]:
    """Open messages per (store, cause) under the filters, busiest first, each with its
    newest ``sample`` messages (none when ``sample`` is 0).

    The counts are one GROUP BY read from the index alone; each group's first and last
    time are then two ends of its index range (an aggregate of min and max over every row
    beside the count doubled the cost of the count)."""
    query = (
        select(Message.store_id, Message.error_type, func.count())
        .where(*conditions(store_id, filters))
        .group_by(Message.store_id, Message.error_type)
    )
    rows = [r for r in db.session.execute(query).all() if r[0] is not None]
    stores = _stores(r[0] for r in rows)
    found = []
    for sid, cause, count in rows:
        if sid not in stores:
            continue
        where = conditions(
            sid, Filters(cause, filters.account_id, filters.severity, filters.age, sid)
        )
        first, last = db.session.execute(
            select(func.min(Message.created_at), func.max(Message.created_at)).where(*where)
        ).one()
        group = Group(stores[sid], cause, count, _as_datetime(first), _as_datetime(last))
        if sample:
            group.messages = list(
                db.session.scalars(
                    select(Message)
                    .where(*where)
                    .order_by(Message.created_at.desc(), Message.id.desc())
                    .limit(sample)
                )
            )
        found.append(group)
    found.sort(key=lambda g: (-g.count, g.store.code, g.cause))
    return found


def entries(store_id: int | None, filters: Filters, page: int, per_page: int = PER_PAGE) -> Page:
    """One page of the open messages under the filters (a cause's, usually), newest first;
    deep pages skip on the index before reading any message."""
    where = conditions(store_id, filters)
    query = select(Message).where(*where).order_by(Message.created_at.desc(), Message.id.desc())
    count = select(func.count()).select_from(Message).where(*where)
    return paginate(query, count, page, per_page, key=Message.id)


def message_of_store(message_id: int, store_id: int) -> Message | None:
    return db.session.scalar(
        select(Message).where(Message.id == message_id, Message.store_id == store_id)
    )


def matching_ids(store_id: int, filters: Filters) -> list[int]:
    """Ids of the open messages under the filters (a group's Retry all)."""
    return list(db.session.scalars(select(Message.id).where(*conditions(store_id, filters))))


def resolve(ids: list[int], by: str) -> int:
    """Mark open messages resolved; returns how many were still open."""
    if not ids:
        return 0
    resolved = 0
    for start in range(0, len(ids), 500):
        result = db.session.execute(
            update(Message)
            .where(Message.id.in_(ids[start : start + 500]), Message.resolved_at.is_(None))
            .values(resolved_at=utcnow(), resolved_by=by[:255], next_retry_at=None)
            .execution_options(synchronize_session=False)
        )
        resolved += result.rowcount
    db.session.commit()
    return resolved


def resolve_matching(store_id: int, filters: Filters, by: str) -> int:
    """Resolve every open message under the filters with one statement (a group's Resolve
    all, however large the group)."""
    result = db.session.execute(
        update(Message)
        .where(*conditions(store_id, filters))
        .values(resolved_at=utcnow(), resolved_by=by[:255], next_retry_at=None)
        .execution_options(synchronize_session=False)
    )
    db.session.commit()
    return result.rowcount


# -- what the page shows next to each message -----------------------------------------------


def runs_of(messages: list[Message]) -> dict[int, Run]:
    ids = {m.import_job_id for m in messages}
    if not ids:
        return {}
    return {r.id: r for r in db.session.scalars(select(Run).where(Run.id.in_(ids)))}


def accounts_of(store_ids: list[int] | None) -> list[Account]:
    """Accounts for the filter and for names: the store's (retired ones too: their messages
    stay), every store's for admins."""
    query = select(Account)
    if store_ids is not None:
        query = query.where(Account.store_id.in_(store_ids))
    else:
        query = query.options(joinedload(Account.store))  # the admin's filter names stores
    return list(db.session.scalars(query.order_by(Account.store_id, Account.name, Account.id)))


def affected_orders(messages: list[Message]) -> dict[tuple[int, str], dict]:
    """(store id, SKU) -> the orders waiting for that unknown SKU (count, newest few)."""
    from webapp.orders.matching import SKU_SUBJECT
    from webapp.orders.matching import affected_orders as per_store

    by_store: dict[int, set[str]] = {}
    for m in messages:
        if m.subject_type == SKU_SUBJECT and m.store_id is not None:
            by_store.setdefault(m.store_id, set()).add(m.identifier or "")
    found = {}
    for store_id, skus in by_store.items():
        for sku, value in per_store(store_id, sorted(skus)).items():
            found[(store_id, sku)] = value
    return found


# -- the same entries for the CLI and the API --------------------------------------------------


def _iso(value: datetime | None) -> str | None:
    return value.isoformat(timespec="seconds") + "Z" if value else None


def records(messages: list[Message]) -> list[dict]:
    """Open messages as the CLI and the API give them (webapp/api/openapi.py: InboxEntry)."""
    stores = _stores(m.store_id for m in messages)
    runs = runs_of(messages)
    account_ids = {m.account_id for m in messages if m.account_id}
    account_ids |= {m.subject_id for m in messages if m.subject_type == "account" and m.subject_id}
    names = {}
    if account_ids:
        query = select(Account.id, Account.name).where(Account.id.in_(account_ids))
        names = dict(db.session.execute(query).all())
    waiting = affected_orders(messages)
    found = []
    for m in messages:
        run = runs.get(m.import_job_id)
        store = stores.get(m.store_id)
        orders = waiting.get((m.store_id, m.identifier or "")) if m.subject_type == "sku" else None
        found.append(
            {
                "id": m.id,
                "store": {"id": store.id, "code": store.code} if store else None,
                "cause": m.error_type,
                "severity": m.severity,
                "message": m.error_message,
                "subject": {
                    "type": m.subject_type or "run",
                    "id": m.subject_id if m.subject_type else m.import_job_id,
                    "identifier": m.identifier,
                },
                "account": (
                    {"id": m.account_id, "name": names.get(m.account_id)} if m.account_id else None
                ),
                "execution": {"id": m.import_job_id, "kind": run.kind if run else None},
                "orders_waiting": orders["count"] if orders is not None else None,
                "created_at": _iso(m.created_at),
                "attempts": m.attempts,
                "next_retry_at": _iso(m.next_retry_at),
                "last_retry_error": m.last_retry_error,
            }
        )
    return found


def cause_counts(store_id: int | None, filters: Filters) -> dict[str, int]:
    counts: dict[str, int] = {}
    for group in groups(store_id, filters.without_cause(), sample=0):
        counts[group.cause] = counts.get(group.cause, 0) + group.count
    return counts
