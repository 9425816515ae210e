from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql

from webapp.extensions import db


def utcnow() -> datetime:
    """Naive UTC, stored as such on SQLite and PostgreSQL alike."""
    return datetime.now(UTC).replace(tzinfo=None)


# JSON on both back-ends; JSONB on PostgreSQL for indexing and compact storage.
JSONType = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")
# A marketplace payload kept as received and only ever shown whole: json on PostgreSQL (the
# text as it arrived, not parsed into jsonb), lz4-compressed where the server has it
# (migration 0011).
PayloadJSON = sa.JSON()


class TimestampMixin:
    created_at = db.Column(db.DateTime, nullable=False, default=utcnow)
    updated_at = db.Column(db.DateTime, nullable=False, default=utcnow, onupdate=utcnow)


CENTS = Decimal("0.01")


def money_text(value) -> str | None:
    """An amount as text for exports: two decimals ("229.00"), more only when it has them."""
    if value is None:
        return None
    value = Decimal(value)
    cents = value.quantize(CENTS)
    return str(cents) if cents == value else format(value.normalize(), "f")
