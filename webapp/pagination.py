"""The back-office lists' paging: pages of a query, page numbers read from a query string, and
the distinct values a list's filter offers.

Generic: they know a query and a session, nothing of any area. Every list pages with a LIMIT
and a count on an indexed column; deep pages find their ids on an index first
(:func:`paginate` with ``key``), and a filter's choices walk an index once per value
(:func:`distinct_values`).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from sqlalchemy import Select, func, select

from webapp.extensions import db


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


def distinct_values(column, *conditions) -> list:
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
