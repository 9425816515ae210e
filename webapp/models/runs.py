"""Runs and their messages: one model for every kind of execution.

A product import is the first kind of run, so the storage keeps the seed's
names (``marketplace_import_jobs``, ``marketplace_import_errors``) that the
REST API and operators' SQL use.  Order imports, stock exports and every
later feed record their executions here too, told apart by ``kind``.
"""

from __future__ import annotations

from datetime import datetime

from webapp.extensions import db
from webapp.models.base import JSONType, TimestampMixin, utcnow
from webapp.models.catalog import DEFAULT_MARKETPLACE

# Lifecycle
PENDING = "pending"
PROCESSING = "processing"
COMPLETED = "completed"
COMPLETED_WITH_ERRORS = "completed_with_errors"
FAILED = "failed"
ABANDONED = "abandoned"
ACTIVE_STATUSES = (PENDING, PROCESSING)
FINISHED_STATUSES = (COMPLETED, COMPLETED_WITH_ERRORS, FAILED, ABANDONED)
STATUSES = ACTIVE_STATUSES + FINISHED_STATUSES

# Phases while processing a product import
PHASES = ("downloading", "parsing", "upserting")

# What a person reads for a run in flight: (kind or None for any kind, phase) -> words.
PHASE_WORDS: dict[tuple[str | None, str | None], str] = {
    (None, None): "Running",
    (None, "downloading"): "Downloading the feed",
    (None, "parsing"): "Reading the feed",
    (None, "upserting"): "Writing products",
    ("order_import", "downloading"): "Fetching orders",
    ("order_import", None): "Fetching orders",
    ("order_recheck", None): "Rechecking parked orders",
    ("order_recheck", "downloading"): "Rechecking parked orders",
    ("bulk_shipping", None): "Recording shipments",
    ("key_import", "parsing"): "Reading the key file",
    ("key_import", None): "Checking the key pool",
}
# Kinds whose ``progress`` is a real percentage (the others count what they have read).
PERCENT_KINDS = ("product_import",)

# Triggers
TRIGGERS = ("ui", "api", "cli", "schedule", "run_now", "retry")

# Message severities (DOMAIN.md): info and warning need nothing; retry retries itself;
# error waits for a person.
INFO, WARNING, RETRY, ERROR = "info", "warning", "retry", "error"
SEVERITIES = (INFO, WARNING, RETRY, ERROR)


class Run(TimestampMixin, db.Model):
    __tablename__ = "marketplace_import_jobs"

    id = db.Column(db.Integer, primary_key=True)
    kind = db.Column(db.String(32), nullable=False, default="product_import")
    store_id = db.Column(db.Integer, db.ForeignKey("stores.id", ondelete="CASCADE"), nullable=False)
    user_id = db.Column(db.Integer, db.ForeignKey("users.id", ondelete="SET NULL"))
    # The account an order import or export ran for (product imports from files have none).
    account_id = db.Column(db.Integer, db.ForeignKey("accounts.id", ondelete="SET NULL"))
    trigger = db.Column(db.String(16), nullable=False, default="ui")
    # The feed this run executed (None for ad-hoc imports and runs older than feeds).
    feed_id = db.Column(db.Integer, db.ForeignKey("feeds.id", ondelete="SET NULL"))

    # Product import configuration
    marketplace = db.Column(db.String(64), nullable=False, default=DEFAULT_MARKETPLACE)
    language = db.Column(db.String(2), nullable=False, default="en")
    batch_size = db.Column(db.Integer, nullable=False, default=1000)
    source_url = db.Column(db.Text)  # masked: safe to show
    source_secret = db.Column(db.Text)  # the real URL, encrypted, when it carries credentials
    source_path = db.Column(db.Text)  # uploaded file or CLI path on the worker's disk
    source_name = db.Column(db.String(255))  # original file name of an upload

    # Lifecycle and progress
    status = db.Column(db.String(32), nullable=False, default=PENDING)
    phase = db.Column(db.String(16))
    progress = db.Column(db.Integer, nullable=False, default=0)  # percent, 0..100
    rq_job_id = db.Column(db.String(64))
    error_message = db.Column(db.Text)

    imported_count = db.Column(db.Integer, nullable=False, default=0)
    updated_count = db.Column(db.Integer, nullable=False, default=0)
    unchanged_count = db.Column(db.Integer, nullable=False, default=0)
    error_count = db.Column(db.Integer, nullable=False, default=0)
    warning_count = db.Column(db.Integer, nullable=False, default=0)
    total_processed = db.Column(db.Integer, nullable=False, default=0)
    parked_count = db.Column(db.Integer, nullable=False, default=0)  # orders not yet valid

    started_at = db.Column(db.DateTime)
    completed_at = db.Column(db.DateTime)

    store = db.relationship("Store")
    user = db.relationship("User")
    feed = db.relationship("Feed")
    account = db.relationship("Account")

    # Every list filters on kind and pages newest first (by id); each index holds what its
    # page filters on, so counts are answered from the index alone (migration 0003).
    __table_args__ = (
        db.Index("ix_runs_store_kind", "store_id", "kind", "id"),  # a store's history
        db.Index("ix_runs_user_kind", "user_id", "kind", "id"),  # "my imports"
        db.Index("ix_runs_kind_status", "kind", "status"),  # stats, status filter, polling
        db.Index("ix_runs_kind_marketplace", "kind", "marketplace"),  # the filter's choices
        db.Index("ix_runs_feed", "feed_id", "id"),  # a feed's executions, its last run
        db.Index("ix_runs_store_feed", "store_id", "feed_id", "id"),  # a store's executions
        # The lock: one pending or processing execution per feed, enforced by the database.
        db.Index(
            "uq_runs_feed_active",
            "feed_id",
            unique=True,
            sqlite_where=db.text("status IN ('pending', 'processing')"),
            postgresql_where=db.text("status IN ('pending', 'processing')"),
        ),
    )

    @property
    def is_active(self) -> bool:
        return self.status in ACTIVE_STATUSES

    @property
    def phase_text(self) -> str:
        """The state of a run in words: "Waiting for a worker", "Writing products"..."""
        if self.status == PENDING:
            return "Waiting for a worker"
        if self.status != PROCESSING:
            return self.status.replace("_", " ").capitalize()
        return (
            PHASE_WORDS.get((self.kind, self.phase))
            or PHASE_WORDS.get((None, self.phase))
            or (self.phase or "Running").replace("_", " ").capitalize()
        )

    @property
    def shows_percent(self) -> bool:
        return self.kind in PERCENT_KINDS

    @property
    def duration_seconds(self) -> float | None:
        if not self.started_at:
            return None
        end = self.completed_at or utcnow()
        return max(0.0, (end - self.started_at).total_seconds())

    def counts(self) -> dict[str, int]:
        return {
            "imported": self.imported_count,
            "updated": self.updated_count,
            "unchanged": self.unchanged_count,
            "errors": self.error_count,
            "warnings": self.warning_count,
            "total": self.total_processed,
        }

    def summary(self) -> dict:
        """The JSON line the CLI prints and the API returns at the end of a run."""
        return {"job_id": self.id, "status": self.status, **self.counts()}

    def mark(self, status: str, *, phase: str | None = None, when: datetime | None = None):
        self.status = status
        self.phase = phase
        now = when or utcnow()
        if status == PROCESSING and not self.started_at:
            self.started_at = now
        if status in FINISHED_STATUSES:
            self.completed_at = now


# The partial indexes' conditions (the queries repeat them word for word: SQLite uses a
# partial index only for a query whose WHERE contains its terms).
OPEN = "resolved_at IS NULL AND row_number IS NULL"
UNKNOWN_SKU_OPEN = "error_type = 'unknown_sku' AND subject_type = 'sku' AND resolved_at IS NULL"


class Message(db.Model):
    """Something a run has to say about one subject (a row, an order, the account)."""

    __tablename__ = "marketplace_import_errors"

    id = db.Column(db.Integer, primary_key=True)
    import_job_id = db.Column(
        db.Integer,
        db.ForeignKey("marketplace_import_jobs.id", ondelete="CASCADE"),
        nullable=False,
    )
    severity = db.Column(db.String(8), nullable=False, default=ERROR)
    error_type = db.Column(db.String(64), nullable=False)
    row_number = db.Column(db.Integer)
    identifier = db.Column(db.String(255))
    error_message = db.Column(db.Text, nullable=False)
    row_data = db.Column(JSONType)
    # What the message is about when it is not a feed row: ("order", id), ("account", id).
    subject_type = db.Column(db.String(16))
    subject_id = db.Column(db.Integer)
    created_at = db.Column(db.DateTime, nullable=False, default=utcnow)
    # The run's store and account, copied onto every message that is not about one feed row
    # (a trigger fills them when the writer did not: migration 0013), so the inbox reads and
    # counts one store's open messages on its own indexes, never through the runs.
    store_id = db.Column(db.Integer)
    account_id = db.Column(db.Integer)

    # The error inbox (webapp/inbox): messages about a subject, not about one feed row, are
    # open until retried successfully or marked resolved. "retry" messages are retried by the
    # sweep with backoff; after MAX_ATTEMPTS they are raised to "error" for a person.
    resolved_at = db.Column(db.DateTime)
    resolved_by = db.Column(db.String(255))  # a person's email, or "retry" / "sweep"
    attempts = db.Column(db.Integer, nullable=False, default=0, server_default="0")
    next_retry_at = db.Column(db.DateTime)
    last_retry_error = db.Column(db.Text)

    __table_args__ = (
        # A run's messages in file order (row_number, then id): pages and counts.
        db.Index("ix_messages_job_row_id", "import_job_id", "row_number", "id"),
        db.Index("ix_messages_job_type", "import_job_id", "error_type"),
        # A stock check's drift of the SKUs of a stock page (migration 0026).
        db.Index("ix_messages_job_identifier", "import_job_id", "identifier"),
        db.Index("ix_messages_created_severity", "created_at", "severity"),  # monitoring charts
        # The inbox: open messages that are not about one feed row (a small, hot set), newest
        # first within a cause; per store, per account and (admins) across stores. Counts per
        # cause, a cause's pages and the age filter are ranges of one of these (migration 0013).
        db.Index(
            "ix_messages_open",
            "severity",
            "error_type",
            "created_at",
            "id",
            "store_id",  # the admin's counts per store, from the index alone
            postgresql_where=db.text(OPEN),
            sqlite_where=db.text(OPEN),
        ),
        db.Index(
            "ix_inbox_store",
            "store_id",
            "severity",
            "error_type",
            "created_at",
            "id",
            postgresql_where=db.text(OPEN),
            sqlite_where=db.text(OPEN),
        ),
        db.Index(
            "ix_inbox_account",
            "store_id",  # an account filter stays inside the store, on the index alone
            "account_id",
            "severity",
            "error_type",
            "created_at",
            "id",
            postgresql_where=db.text(OPEN),
            sqlite_where=db.text(OPEN),
        ),
        # One open entry per unknown SKU of a store, whoever polls (webapp/orders/matching.py).
        db.Index(
            "uq_inbox_unknown_sku",
            "store_id",
            "identifier",
            unique=True,
            postgresql_where=db.text(UNKNOWN_SKU_OPEN),
            sqlite_where=db.text(UNKNOWN_SKU_OPEN),
        ),
    )
