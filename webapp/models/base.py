from __future__ import annotations

from datetime import UTC, datetime

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql

from webapp.extensions import db


def utcnow() -> datetime:
    """Naive UTC, stored as such on SQLite and PostgreSQL alike."""
    return datetime.now(UTC).replace(tzinfo=None)


# JSON on both back-ends; JSONB on PostgreSQL for indexing and compact storage.
JSONType = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")


class TimestampMixin:
    created_at = db.Column(db.DateTime, nullable=False, default=utcnow)
    updated_at = db.Column(db.DateTime, nullable=False, default=utcnow, onupdate=utcnow)
