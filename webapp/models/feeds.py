"""Feeds and their schedules (DOMAIN.md: one flow of one account, or of a store's files).

A feed says *what* flows (its kind and direction) and whether it may run at all; its
``scheduled_jobs`` row says *when* (an interval or a cron expression).  The rows are the
source of truth: the rq-scheduler entries are reconciled from them
(:mod:`webapp.feeds.schedule`).  ``scheduled_jobs`` also holds the global jobs of the seed
(failed-sync retry) and Mercato's own housekeeping (reconcile, abandoned-run sweep), with no
feed.
"""

from __future__ import annotations

from webapp.extensions import db
from webapp.models.base import TimestampMixin

IN, OUT = "in", "out"

# The feed kinds, kind -> (direction, label), and the built flows, kind -> whose feed runs
# them ("store": the store's own file imports, no account; "account"). Each kind is declared
# once, by the function that runs it (webapp.runs.registry, ``@flow``); the registry writes
# its declarations here as it loads them (create_app loads it), so the models can name a
# feed's kind without importing the areas. Every other (kind, owner) has no flow behind it
# yet: such a feed cannot be enabled, run or scheduled, and says so
# (webapp.runs.gate.check_startable, webapp.feeds.schedule.schedulable).
KINDS: dict[str, tuple[str, str]] = {}
BUILT_FLOWS: dict[str, str] = {}
# What an execution of a feed whose flow is not built is recorded as (such runs did
# nothing, so monitoring counts them neither as successes nor as failures).
NOT_BUILT_RUN_KIND = "not_built"


def flow_is_built(kind: str, account_id: int | None) -> bool:
    owner = BUILT_FLOWS.get(kind)
    return owner is not None and (owner == "account") == (account_id is not None)


def not_built_reason(kind: str, account_id: int | None) -> str:
    label = KINDS.get(kind, (None, kind))[1]
    whose = "an account" if account_id is not None else "a store's own files"
    return (
        f"{label} is not built yet for {whose}: Mercato would read or send nothing, "
        "so this feed cannot be enabled or run."
    )


class Feed(TimestampMixin, db.Model):
    __tablename__ = "feeds"

    id = db.Column(db.Integer, primary_key=True)
    store_id = db.Column(db.Integer, db.ForeignKey("stores.id", ondelete="CASCADE"), nullable=False)
    # None for the store's own file imports (its configured feed URLs).
    account_id = db.Column(db.Integer, db.ForeignKey("accounts.id", ondelete="CASCADE"))
    kind = db.Column(db.String(32), nullable=False)
    direction = db.Column(db.String(3), nullable=False)
    enabled = db.Column(db.Boolean, nullable=False, default=True)
    # The feed's cursor: its last successful sync (an order poll reads what changed since,
    # less an overlap).  Migration 0018 moved it here from the account.
    last_sync_at = db.Column(db.DateTime)

    store = db.relationship("Store")
    account = db.relationship("Account")
    schedule = db.relationship(
        "ScheduledJob", uselist=False, back_populates="feed", cascade="all, delete-orphan"
    )

    __table_args__ = (
        db.CheckConstraint("direction IN ('in', 'out')", name="direction"),
        # One feed of a kind per account, and per store for the store's own files.
        db.Index("uq_feeds_account_kind", "account_id", "kind", unique=True),
        db.Index(
            "uq_feeds_store_kind_no_account",
            "store_id",
            "kind",
            unique=True,
            sqlite_where=db.text("account_id IS NULL"),
            postgresql_where=db.text("account_id IS NULL"),
        ),
        db.Index("ix_feeds_store", "store_id", "id"),
    )

    @property
    def label(self) -> str:
        return KINDS.get(self.kind, (None, self.kind))[1]

    @property
    def is_built(self) -> bool:
        """Whether a flow is built for this feed (see ``BUILT_FLOWS``)."""
        return flow_is_built(self.kind, self.account_id)

    @property
    def not_built_reason(self) -> str | None:
        return None if self.is_built else not_built_reason(self.kind, self.account_id)

    @property
    def is_retired(self) -> bool:
        return self.account is not None and self.account.is_retired

    def __repr__(self) -> str:
        return f"<Feed {self.id} {self.kind} store={self.store_id} account={self.account_id}>"


class ScheduledJob(TimestampMixin, db.Model):
    """When a feed (or a global job) runs: every ``interval_seconds`` or on ``cron_expression``."""

    __tablename__ = "scheduled_jobs"

    id = db.Column(db.Integer, primary_key=True)
    feed_id = db.Column(db.Integer, db.ForeignKey("feeds.id", ondelete="CASCADE"))
    store_id = db.Column(db.Integer, db.ForeignKey("stores.id", ondelete="CASCADE"))
    job_type = db.Column(db.String(64), nullable=False)  # "feed" or a global job's name
    is_enabled = db.Column(db.Boolean, nullable=False, default=True)
    interval_seconds = db.Column(db.Integer)
    cron_expression = db.Column(db.String(120))
    last_run_at = db.Column(db.DateTime)
    last_run_status = db.Column(db.String(32))
    next_run_at = db.Column(db.DateTime)
    max_retries = db.Column(db.Integer, nullable=False, default=3)
    retry_delay_seconds = db.Column(db.Integer, nullable=False, default=60)

    feed = db.relationship("Feed", back_populates="schedule")

    __table_args__ = (
        db.CheckConstraint(
            "(interval_seconds IS NULL) <> (cron_expression IS NULL)", name="one_schedule"
        ),
        db.Index("uq_scheduled_jobs_feed", "feed_id", unique=True),
        db.Index(
            "uq_scheduled_jobs_global_type",
            "job_type",
            unique=True,
            sqlite_where=db.text("feed_id IS NULL"),
            postgresql_where=db.text("feed_id IS NULL"),
        ),
    )

    @property
    def text(self) -> str:
        """The schedule as people write it: "every 5 min", "cron 0 3 * * *"."""
        if self.cron_expression:
            return f"cron {self.cron_expression}"
        return "every " + interval_text(self.interval_seconds or 0)


def interval_text(seconds: int) -> str:
    for unit, size in (("d", 86400), ("h", 3600), ("min", 60)):
        if seconds >= size and seconds % size == 0:
            return f"{seconds // size} {unit}"
    return f"{seconds} s"
