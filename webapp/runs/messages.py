"""A run's messages as its page lists them: filtered by cause and severity, the messages
about the whole file (no row) last, paginated. Every run page reads them (imports, feeds)."""

from __future__ import annotations

from sqlalchemy import func, select

from webapp.models import Message
from webapp.pagination import Page, distinct_values, paginate

ERRORS_PER_PAGE = 25  # a run's messages viewer


def error_types(run_id: int) -> list[str]:
    return distinct_values(Message.error_type, Message.import_job_id == run_id)


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
