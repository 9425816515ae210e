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

from sqlalchemy import Select, func, select
from sqlalchemy.orm import joinedload

from webapp.extensions import db
from webapp.models import Run, Store
from webapp.models import runs as R
from webapp.pagination import Page, distinct_values, paginate
from webapp.runs.messages import (  # noqa: F401 - the imports pages read them from here
    ERRORS_PER_PAGE,
    error_types,
    messages_page,
    messages_query,
)

PRODUCT_IMPORT = "product_import"


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


def stores() -> list[Store]:
    return list(db.session.scalars(select(Store).order_by(Store.name)))


def marketplaces() -> list[str]:
    return distinct_values(Run.marketplace, Run.kind == PRODUCT_IMPORT)
