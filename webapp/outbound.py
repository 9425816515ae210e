"""Outbound calls: what Mercato changes on marketplaces, recorded first, sent once.

The order import records an acknowledgement (our merchant order id) for every order it
books, in the page's transaction (``record``). Nothing goes out during the import: the
outbound step (``send_owed``, run by the RQ job ``jobs.orders.send_outbound`` that the import
enqueues after its commit, by ``flask orders acks`` and by going live) sends what is owed:

- live account: each owed call is claimed (``pending``/``failed`` -> ``sending``, one UPDATE
  that only one sweep can win), sent, then ``sent`` with its effect applied (the order shows
  ``acknowledged_at``). A failure is ``failed`` with ``next_attempt_at`` after an exponential
  backoff, a ``retry`` message, and a delayed job that sends it again.
- test mode: nothing is sent. The call stays recorded as ``dry_run`` with the exact method,
  URL and body it would have sent (secrets masked). Going live turns every dry run back into
  ``pending`` and sends it, once: a call is ``sent`` only once, and a second go-live finds
  nothing owed.

A sweep that dies after claiming leaves ``sending`` rows; the next sweep takes them over after
``STALE_CLAIM`` (sending twice is harmless for idempotent calls such as the merchant order id).
"""

from __future__ import annotations

import logging
from datetime import UTC, timedelta

from sqlalchemy import and_, func, insert, or_, select, update

from webapp.extensions import db, queue
from webapp.models import Account, AccountModeChange, Message, Run
from webapp.models import runs as R
from webapp.models.base import utcnow
from webapp.models.outbound import (
    ACK_ORDER,
    DRY_RUN,
    FAILED,
    LIVE,
    PENDING,
    SENDING,
    SENT,
    TEST,
    OutboundCall,
)

log = logging.getLogger("mercato.outbound")

CALLS = OutboundCall.__table__
ORDERS = db.Model.metadata.tables["orders"]
BATCH = 200
STALE_CLAIM = timedelta(minutes=10)
BACKOFF_BASE = timedelta(seconds=30)
BACKOFF_CAP = timedelta(hours=6)
GIVE_UP_AFTER = 3  # failures in a row before a step leaves the rest for the retry


def backoff(attempts: int) -> timedelta:
    """30 s, 1 min, 2 min ... capped at 6 h."""
    return min(BACKOFF_CAP, BACKOFF_BASE * (2 ** max(0, attempts - 1)))


# -- recording ------------------------------------------------------------------------------


def ack_row(account: Account, connector, order_id: int, channel: str, channel_order_id: str):
    """The outbound call telling the marketplace our id for one order (a dict for
    :func:`record`), or None when the connector takes no merchant order id."""
    if ACK_ORDER not in getattr(connector, "outbound_actions", ()):
        return None
    params = {
        "channel": channel,
        "channel_order_id": channel_order_id,
        "merchant_order_id": str(order_id),
    }
    return call_row(account, connector, ACK_ORDER, params, "order", order_id, str(order_id))


def call_row(account, connector, action, params, subject_type, subject_id, dedup_key) -> dict:
    request = connector.outbound_request(action, params)
    shown = connector.describe(request)
    now = utcnow()
    live = account.is_live
    return {
        "store_id": account.store_id,
        "account_id": account.id,
        "action": action,
        "subject_type": subject_type,
        "subject_id": subject_id,
        "dedup_key": dedup_key,
        "params": params,
        "method": shown["method"],
        "url": shown["url"],
        "body": shown["body"],
        "status": PENDING if live else DRY_RUN,
        "attempts": 0,
        "dry_run_at": None if live else now,
        "created_at": now,
        "updated_at": now,
    }


def record(rows: list[dict], inserts=None) -> None:
    """Insert owed calls in the caller's transaction (or add them to its
    :class:`webapp.orders.book.Inserts`); one already recorded stays as it is."""
    if not rows:
        return
    from webapp.orders.book import bulk_insert

    if inserts is not None:
        inserts.add(CALLS, rows, conflict=["account_id", "action", "dedup_key"])
    else:
        bulk_insert(CALLS, rows, conflict=["account_id", "action", "dedup_key"])


# -- sending --------------------------------------------------------------------------------


def _due(account_id: int, now):
    return and_(
        CALLS.c.account_id == account_id,
        or_(
            and_(
                CALLS.c.status.in_((PENDING, FAILED)),
                or_(CALLS.c.next_attempt_at.is_(None), CALLS.c.next_attempt_at <= now),
            ),
            and_(CALLS.c.status == SENDING, CALLS.c.updated_at < now - STALE_CLAIM),
        ),
    )


def has_due(account: Account) -> bool:
    now = utcnow()
    return (
        db.session.execute(select(CALLS.c.id).where(_due(account.id, now)).limit(1)).first()
        is not None
    )


def _effect(call, now) -> None:
    """What a sent call changes here."""
    if call.action == ACK_ORDER:
        db.session.execute(
            update(ORDERS)
            .where(ORDERS.c.id == call.subject_id)
            .values(
                merchant_order_id=call.params["merchant_order_id"],
                acknowledged_at=now,
                updated_at=now,
            )
        )


def send_owed(account: Account, *, connector=None, trigger: str = "schedule") -> dict:
    """Send (live) or record as dry runs (test mode) the account's owed calls that are due.

    Returns ``{"sent", "failed", "deferred", "dry_run", "run_id", "retry_at"}``; commits as
    it goes. After ``GIVE_UP_AFTER`` failures in a row (the marketplace is down) the step stops
    and leaves the rest (``deferred``) for the same retry."""
    from webapp.orders.service import connector_for

    now = utcnow()
    summary = {
        "sent": 0,
        "failed": 0,
        "deferred": 0,
        "dry_run": 0,
        "run_id": None,
        "retry_at": None,
    }
    if not account.is_live:
        result = db.session.execute(
            update(CALLS)
            .where(CALLS.c.account_id == account.id, CALLS.c.status.in_((PENDING, FAILED)))
            .values(
                status=DRY_RUN,
                dry_run_at=func.coalesce(CALLS.c.dry_run_at, now),
                next_attempt_at=None,
                updated_at=now,
            )
        )
        db.session.commit()
        summary["dry_run"] = result.rowcount or 0
        return summary
    run = None
    while True:
        ids = db.session.scalars(
            select(CALLS.c.id).where(_due(account.id, now)).order_by(CALLS.c.id).limit(BATCH)
        ).all()
        if not ids:
            break
        claimed = db.session.execute(
            update(CALLS)
            .where(CALLS.c.id.in_(ids), _due(account.id, now))
            .values(status=SENDING, attempts=CALLS.c.attempts + 1, updated_at=now)
            .returning(
                CALLS.c.id,
                CALLS.c.action,
                CALLS.c.params,
                CALLS.c.subject_type,
                CALLS.c.subject_id,
                CALLS.c.attempts,
            )
        ).all()
        db.session.commit()
        if not claimed:
            continue  # another sweep took them
        if run is None:
            run = _start_run(account, trigger, now)
            summary["run_id"] = run.id
            if connector is None:
                connector = connector_for(account)
        streak = 0
        pending = sorted(claimed, key=lambda c: c.id)
        while pending and streak < GIVE_UP_AFTER:
            call = pending.pop(0)
            streak = 0 if _send_one(run, connector, call, summary) else streak + 1
        if pending:  # the marketplace keeps failing: the rest waits for the same retry
            _defer(pending, summary)
            break
    if run is not None:
        run.status = R.COMPLETED if not summary["failed"] else R.COMPLETED_WITH_ERRORS
        run.completed_at = utcnow()
        db.session.commit()
    retry_at = db.session.scalar(
        select(func.min(CALLS.c.next_attempt_at)).where(
            CALLS.c.account_id == account.id, CALLS.c.status == FAILED
        )
    )
    summary["retry_at"] = retry_at
    return summary


def _start_run(account: Account, trigger: str, now) -> Run:
    run = Run(
        kind="outbound",
        store_id=account.store_id,
        account_id=account.id,
        trigger=trigger,
        marketplace=account.connector,
        status=R.PROCESSING,
        started_at=now,
    )
    db.session.add(run)
    db.session.commit()
    return run


def _defer(calls: list, summary: dict) -> None:
    """Claimed calls not tried because the marketplace failed ``GIVE_UP_AFTER`` times in a
    row: back to ``failed`` (their claim's attempt not counted), due with the last retry."""
    retry_at = utcnow() + backoff(1)
    db.session.execute(
        update(CALLS)
        .where(CALLS.c.id.in_([c.id for c in calls]), CALLS.c.status == SENDING)
        .values(
            status=FAILED,
            attempts=CALLS.c.attempts - 1,
            last_error=(
                f"not tried: the marketplace failed {GIVE_UP_AFTER} calls in a row just before"
            ),
            next_attempt_at=retry_at,
            updated_at=utcnow(),
        )
    )
    db.session.commit()
    summary["deferred"] += len(calls)


def _send_one(run: Run, connector, call, summary: dict) -> bool:
    from connectors.errors import ConnectorError

    run.total_processed += 1
    try:
        connector.send(connector.outbound_request(call.action, call.params))
    except ConnectorError as exc:
        retry_at = utcnow() + backoff(call.attempts)
        db.session.execute(
            update(CALLS)
            .where(CALLS.c.id == call.id, CALLS.c.status == SENDING)
            .values(
                status=FAILED, last_error=str(exc), next_attempt_at=retry_at, updated_at=utcnow()
            )
        )
        db.session.execute(
            insert(Message),
            [
                {
                    "import_job_id": run.id,
                    "severity": "retry",
                    "error_type": "outbound_failed",
                    "error_message": (
                        f"{call.action} for {call.subject_type} {call.subject_id} was not sent "
                        f"(attempt {call.attempts}: {exc}); it is sent again from "
                        f"{retry_at:%Y-%m-%d %H:%M} UTC."
                    ),
                    "identifier": str(call.subject_id),
                    "subject_type": call.subject_type,
                    "subject_id": call.subject_id,
                    "created_at": utcnow(),
                }
            ],
        )
        run.warning_count += 1
        summary["failed"] += 1
        db.session.commit()
        return False
    else:
        now = utcnow()
        db.session.execute(
            update(CALLS)
            .where(CALLS.c.id == call.id)
            .values(status=SENT, sent_at=now, last_error=None, next_attempt_at=None, updated_at=now)
        )
        _effect(call, now)
        run.imported_count += 1
        summary["sent"] += 1
        db.session.commit()
        return True


# -- the job --------------------------------------------------------------------------------


def enqueue_send(account_id: int, *, at=None) -> None:
    """Queue the outbound step for an account (after the caller's commit). Redis being away
    loses nothing: the calls stay owed for the next poll's step or ``flask orders acks``."""
    try:
        q = queue("default")
        if at is None:
            q.enqueue("jobs.orders.send_outbound", account_id)
        else:
            # Stored times are naive UTC; RQ reads a naive time as local time.
            q.enqueue_at(at.replace(tzinfo=UTC), "jobs.orders.send_outbound", account_id)
    except Exception:  # noqa: BLE001 - a queue outage must not fail the import
        log.warning(
            "outbound step for account %s not queued; it runs on the next poll",
            account_id,
            exc_info=True,
        )


# -- modes ----------------------------------------------------------------------------------


def set_mode(account: Account, live: bool, *, by: str) -> bool:
    """Switch the account to live or test mode, recording who and when; False when it was
    already in that mode (nothing recorded). Going live turns the dry runs into owed calls
    (send them with :func:`send_owed`); going back to test stops sending what is owed."""
    if account.is_live == live:
        return False
    now = utcnow()
    db.session.add(
        AccountModeChange(
            account_id=account.id,
            from_mode=LIVE if account.is_live else TEST,
            to_mode=LIVE if live else TEST,
            changed_by=by[:255],
            changed_at=now,
        )
    )
    account.is_live = live
    if live:
        db.session.execute(
            update(CALLS)
            .where(CALLS.c.account_id == account.id, CALLS.c.status == DRY_RUN)
            .values(status=PENDING, next_attempt_at=None, updated_at=now)
        )
    else:
        db.session.execute(
            update(CALLS)
            .where(CALLS.c.account_id == account.id, CALLS.c.status.in_((PENDING, FAILED)))
            .values(
                status=DRY_RUN, dry_run_at=func.coalesce(CALLS.c.dry_run_at, now), updated_at=now
            )
        )
    db.session.commit()
    return True


def record_creation(account: Account, *, by: str) -> None:
    """The mode a new account starts in (flushed account; the caller commits)."""
    db.session.add(
        AccountModeChange(
            account_id=account.id,
            from_mode=None,
            to_mode=account.mode,
            changed_by=by[:255],
            changed_at=utcnow(),
        )
    )


def default_actor() -> str:
    """Who is acting from the command line: the OS user."""
    import getpass

    try:
        return f"cli:{getpass.getuser()}"
    except Exception:  # noqa: BLE001 - no user name in this environment
        return "cli"
