"""Whether a feed may run, and what every path answers when it may not.

The feed's flow must be built (the registry says, :func:`webapp.runs.registry.is_built`), the
feed enabled and its account not retired; and only one execution of a feed runs at a time
(the database's lock, ``uq_runs_feed_active``), which every path refuses in the same words
(:func:`already_running`).
"""

from __future__ import annotations

from sqlalchemy import select

from webapp.extensions import db
from webapp.models import Feed, Run
from webapp.models import runs as R
from webapp.models.feeds import not_built_reason
from webapp.runs import registry


class FeedError(ValueError):
    """The feed cannot be started (disabled, retired account...); nothing was created."""


class FeedNotBuilt(FeedError):
    """The feed's flow is not built: it cannot be enabled or run."""


def already_running(run: Run) -> str:
    """What every path (page, API, CLI) answers when a feed is already executing."""
    return f"Feed #{run.feed_id} is already running: execution #{run.id} ({run.status})."


def active_run(feed_id: int) -> Run | None:
    return db.session.scalar(
        select(Run).where(Run.feed_id == feed_id, Run.status.in_(R.ACTIVE_STATUSES)).limit(1)
    )


def check_buildable(feed: Feed) -> None:
    """The registry decides (the model's ``BUILT_FLOWS`` is written by it, for the pages)."""
    if not registry.is_built(feed.kind, feed.account_id):
        raise FeedNotBuilt(not_built_reason(feed.kind, feed.account_id))


def set_enabled(feed: Feed, enabled: bool) -> None:
    """Enable or disable a feed (the caller commits and reconciles).  A feed whose flow is
    not built cannot be enabled; disabling is always allowed."""
    if enabled:
        check_buildable(feed)
    feed.enabled = enabled


def check_startable(feed: Feed) -> None:
    check_buildable(feed)
    if not feed.enabled:
        raise FeedError(f"Feed #{feed.id} ({feed.label}) is disabled; enable it first.")
    if feed.is_retired:
        raise FeedError(
            f"Feed #{feed.id} belongs to the retired account {feed.account.name}; "
            "reinstate the account first."
        )
