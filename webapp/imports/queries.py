"""Read side of imports: the lists and counts the pages and the API show.

Every list is ordered newest first with the id as tie-break, paginated with a
LIMIT and a count on an indexed column, and scoped by store before anything
else, so a store's pages never read another store's rows.

The counts are ``count(*)`` (PostgreSQL answers them from an index alone), a
deep page finds its ids on an index before reading any row, and the filter
choices walk an index once per distinct value.  ``bench/back_office.py``
measures the pages with 100,000 runs and 1,000,000 messages.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from sqlalchemy import Select, func, select
from sqlalchemy.orm import joinedload

from webapp.extensions import db
from webapp.models import Message, Run, Store
from webapp.models import runs as R

PRODUCT_IMPORT = "product_import"


@dataclass
class Page:
    items: list
    total: int
    page: int
    per_page: int

    @property
    def pages(self) -> int:
        return max(1, math.ceil(self.total / self.per_page))

    @property
    def has_prev(self) -> bool:
        return self.page > 1

    @property
    def has_next(self) -> bool:
        return self.page < self.pages


# The deepest page a query string may ask for: its OFFSET must fit a 64-bit integer.
MAX_PAGE = 999_999_999


def clamp_page(value, default: int = 1) -> int:
    try:
        return min(max(1, int(value)), MAX_PAGE)
    except (TypeError, ValueError):
        return default


def paginate(query: Select, count_query: Select, page: int, per_page: int, key=None) -> Page:
    """One page of ``query``; with ``key`` (a unique column), deep pages skip on an index.

    ``OFFSET n`` reads and throws away n rows.  With ``key`` the skipping happens in a
    subquery that selects the key alone, which an index holding the filter, the order
    and the key answers without reading the table; only the page's rows are then read.
    The rows and their order are the same either way.
    """
    total = db.session.scalar(count_query) or 0
    offset = (page - 1) * per_page
    if key is not None and offset:
        keys = query.with_only_columns(key).limit(per_page).offset(offset)
        items = db.session.scalars(query.where(key.in_(keys))).all()
    else:
        items = db.session.scalars(query.limit(per_page).offset(offset)).all()
    return Page(list(items), total, page, per_page)


def _distinct(column, *conditions) -> list:
    """The distinct non-null values of ``column``, in order, one index probe per value.

    A recursive "loose index scan": each step asks for the smallest value above the
    previous one, so an index on (conditions..., column) answers with as many probes as
    there are values instead of reading every row.  Same result as SELECT DISTINCT
    (the columns it serves are NOT NULL).
    """
    first = select(func.min(column).label("value")).where(*conditions)
    values = first.cte("distinct_values", recursive=True)
    following = (
        select(func.min(column)).where(*conditions, column > values.c.value).scalar_subquery()
    )
    values = values.union_all(select(following).where(values.c.value.is_not(None)))
    return list(
        db.session.scalars(
            select(values.c.value).where(values.c.value.is_not(None)).order_by(values.c.value)
        )
    )


def runs_query(
    *,
    store_id: int | None = None,
    store_ids: list[int] | None = None,
    user_id: int | None = None,
    status: str | None = None,
    marketplace: str | None = None,
) -> tuple[Select, Select]:
    conditions = [Run.kind == PRODUCT_IMPORT]
    if store_id is not None:
        conditions.append(Run.store_id == store_id)
    if store_ids is not None:
        conditions.append(Run.store_id.in_(store_ids))
    if user_id is not None:
        conditions.append(Run.user_id == user_id)
    if status:
        conditions.append(Run.status == status)
    if marketplace:
        conditions.append(Run.marketplace == marketplace)
    query = (
        select(Run)
        .where(*conditions)
        .options(joinedload(Run.store), joinedload(Run.user))
        .order_by(Run.id.desc())
    )
    count = select(func.count()).select_from(Run).where(*conditions)
    return query, count


def runs_page(page: int = 1, per_page: int = 20, **filters) -> Page:
    query, count = runs_query(**filters)
    return paginate(query, count, page, per_page, key=Run.id)


def any_active(**filters) -> bool:
    query, _ = runs_query(**filters)
    active = query.where(Run.status.in_(R.ACTIVE_STATUSES)).with_only_columns(Run.id).limit(1)
    return db.session.scalar(active) is not None


def stats(**filters) -> dict[str, int]:
    query, _ = runs_query(**filters)
    conditions = query.whereclause
    rows = db.session.execute(
        select(Run.status, func.count()).where(conditions).group_by(Run.status)
    ).all()
    by_status = {status: count for status, count in rows}
    result = {status: by_status.get(status, 0) for status in R.STATUSES}
    result["total"] = sum(by_status.values())
    result["active"] = result[R.PENDING] + result[R.PROCESSING]
    return result


def error_types(run_id: int) -> list[str]:
    return _distinct(Message.error_type, Message.import_job_id == run_id)


def messages_query(run_id: int, error_type: str | None = None, severity: str | None = None):
    conditions = [Message.import_job_id == run_id]
    if error_type:
        conditions.append(Message.error_type == error_type)
    if severity:
        conditions.append(Message.severity == severity)
    # Messages about the whole file (no row) come last, on both back-ends.
    query = (
        select(Message)
        .where(*conditions)
        .order_by(Message.row_number.asc().nulls_last(), Message.id)
    )
    count = select(func.count()).select_from(Message).where(*conditions)
    return query, count


def messages_page(run_id: int, page: int = 1, per_page: int = 25, **filters) -> Page:
    query, count = messages_query(run_id, **filters)
    return paginate(query, count, page, per_page, key=Message.id)


def stores() -> list[Store]:
    return list(db.session.scalars(select(Store).order_by(Store.name)))


def marketplaces() -> list[str]:
    return _distinct(Run.marketplace, Run.kind == PRODUCT_IMPORT)
