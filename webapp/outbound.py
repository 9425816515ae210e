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
  URL and body it would have sent (secrets masked).

Going live is a decision (:func:`go_live`): it is taken against a summary of what test mode
left owed (:func:`owed`: per action, count and oldest), and either releases those calls to be
sent (``pending``, then sent once by the step: a second go-live finds nothing owed) or
discards them (``discarded``: never sent). Either way the change is recorded with who, when,
what was owed and the choice, and each call keeps the change that released or discarded it.

A sweep that dies after claiming leaves ``sending`` rows; the next sweep takes them over after
``STALE_CLAIM`` (sending twice is harmless for idempotent calls such as the merchant order id).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from sqlalchemy import and_, func, insert, or_, select, update

from webapp.bulk import bulk_insert
from webapp.connector import connector_for
from webapp.extensions import db, queue
from webapp.models import Account, AccountModeChange, Message, Run
from webapp.models import runs as R
from webapp.models.base import utcnow
from webapp.models.outbound import (
    ACK_ORDER,
    DISCARD,
    DISCARDED,
    DRY_RUN,
    FAILED,
    LIVE,
    OWED,
    PENDING,
    SEND,
    SENDING,
    SENT,
    TEST,
    OutboundCall,
    action_label,
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
    :class:`webapp.bulk.Inserts`); one already recorded stays as it is."""
    if not rows:
        return
    if inserts is not None:
        inserts.add(CALLS, rows, conflict=["account_id", "action", "dedup_key"])
    else:
        bulk_insert(CALLS, rows, conflict=["account_id", "action", "dedup_key"])


# -- sending --------------------------------------------------------------------------------


def _due(account_id: int, now):
    """What a live account's step sends now. A ``dry_run`` on a live account is owed too: an
    import that began in test mode and committed after the account went live recorded it
    (going live itself leaves no dry run behind), so it is a call of the live account."""
    return and_(
        CALLS.c.account_id == account_id,
        or_(
            and_(
                CALLS.c.status.in_((PENDING, FAILED, DRY_RUN)),
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


@dataclass
class Owed:
    """What an account owes the marketplace: the calls recorded and not sent (dry runs in test
    mode; pending or failed ones when live), per action, as the go-live page and the CLI show
    them before an administrator decides."""

    actions: list[dict] = field(default_factory=list)  # action, label, count, oldest, example
    total: int = 0
    last_id: int = 0  # the newest owed call: a discard never reaches past what was shown

    @property
    def token(self) -> str:
        """Names exactly this set of owed calls (calls are only ever added with higher ids,
        and leave it only by being sent or discarded): the confirmation carries it back."""
        return f"{self.total}-{self.last_id}"

    def as_json(self) -> dict:
        return {
            a["action"]: {"count": a["count"], "oldest": a["oldest"].isoformat()}
            for a in self.actions
        }

    def lines(self) -> list[str]:
        """The summary as the CLI prints it."""
        if not self.total:
            return ["Nothing is owed: test mode recorded no call to the marketplace."]
        lines = [f"{self.total} call(s) to the marketplace recorded in test mode, not sent:"]
        for a in self.actions:
            lines.append(
                f"  {a['count']:>6}  {a['label']} ({a['action']}), oldest "
                f"{a['oldest']:%Y-%m-%d %H:%M} UTC"
            )
            example = a["example"]
            if example is not None:
                lines.append(f"          e.g. {example.method} {example.url}")
        return lines


def owed(account: Account) -> Owed:
    """The account's owed calls per action: count, oldest, and the oldest call itself (its
    exact request is what going live would send first)."""
    rows = db.session.execute(
        select(
            CALLS.c.action,
            func.count(),
            func.min(CALLS.c.created_at),
            func.min(CALLS.c.id),
            func.max(CALLS.c.id),
        )
        .where(CALLS.c.account_id == account.id, CALLS.c.status.in_(OWED))
        .group_by(CALLS.c.action)
        .order_by(CALLS.c.action)
    ).all()
    result = Owed()
    for action, count, oldest, first_id, last_id in rows:
        result.actions.append(
            {
                "action": action,
                "label": action_label(action),
                "count": count,
                "oldest": oldest,
                "example": db.session.get(OutboundCall, first_id),
            }
        )
        result.total += count
        result.last_id = max(result.last_id, last_id)
    return result


class OwedChanged(Exception):
    """What is owed changed between the summary an administrator confirmed and the moment
    of going live (an import recorded more): nothing was done; show the new summary."""

    def __init__(self, now_owed: Owed):
        super().__init__(
            f"What is owed changed since the summary was shown: {now_owed.total} call(s) now."
        )
        self.owed = now_owed


@dataclass
class WentLive:
    changed: bool  # False: it was live already, nothing done
    owed: Owed
    choice: str | None = None  # SEND or DISCARD
    released: int = 0  # calls now pending, for the step to send once
    discarded: int = 0
    change: AccountModeChange | None = None


def go_live(
    account: Account, *, by: str, discard: bool = False, expected: str | None = None
) -> WentLive:
    """Switch a test-mode account live, in one transaction: record who, when, what was owed
    (:func:`owed`) and the choice; release the owed calls to be sent (the caller runs or
    queues :func:`send_owed`) or discard them (never sent; their open ``outbound_failed``
    messages resolved). ``expected`` is the :attr:`Owed.token` the administrator confirmed:
    if the owed calls are no longer those, nothing is done and :class:`OwedChanged` says so.

    Two go-lives at once: the conditional update of the account lets one through; the other
    finds the account live and does nothing."""
    now = utcnow()
    won = db.session.execute(
        update(Account)
        .where(Account.id == account.id, Account.is_live.is_(False))
        .values(is_live=True, updated_at=now)
        .execution_options(synchronize_session=False)
    ).rowcount
    if not won:
        db.session.rollback()
        db.session.refresh(account)
        return WentLive(changed=False, owed=owed(account))
    summary = owed(account)  # read after the account's row is ours: no second decision
    if expected is not None and expected != summary.token:
        db.session.rollback()
        db.session.refresh(account)
        raise OwedChanged(summary)
    choice = DISCARD if discard else SEND
    change = AccountModeChange(
        account_id=account.id,
        from_mode=TEST,
        to_mode=LIVE,
        changed_by=by[:255],
        changed_at=now,
        owed=summary.as_json(),
        owed_count=summary.total,
        owed_choice=choice,
    )
    db.session.add(change)
    db.session.flush()
    result = WentLive(changed=True, owed=summary, choice=choice, change=change)
    owed_now = and_(CALLS.c.account_id == account.id, CALLS.c.status.in_(OWED))
    if discard:
        # Only what the summary counted: a call an import records from now on is live traffic.
        result.discarded = (
            db.session.execute(
                update(CALLS)
                .where(owed_now, CALLS.c.id <= summary.last_id)
                .values(
                    status=DISCARDED,
                    discarded_at=now,
                    next_attempt_at=None,
                    mode_change_id=change.id,
                    updated_at=now,
                )
            ).rowcount
            or 0
        )
        _resolve_failures(account, change, by, now)
    else:
        result.released = (
            db.session.execute(
                update(CALLS)
                .where(owed_now)
                .values(
                    status=PENDING, next_attempt_at=None, mode_change_id=change.id, updated_at=now
                )
            ).rowcount
            or 0
        )
    db.session.commit()
    db.session.refresh(account)
    log.info(
        "event=account_live account_id=%s by=%s owed=%s choice=%s released=%s discarded=%s",
        account.id,
        by,
        summary.total,
        choice,
        result.released,
        result.discarded,
    )
    return result


def _resolve_failures(account: Account, change: AccountModeChange, by: str, now) -> None:
    """A discarded call will never be sent: its retry messages have nothing left to retry."""
    discarded = select(CALLS.c.subject_id).where(
        CALLS.c.account_id == account.id,
        CALLS.c.mode_change_id == change.id,
        CALLS.c.status == DISCARDED,
    )
    messages = Message.__table__
    db.session.execute(
        update(messages)
        .where(
            messages.c.error_type == "outbound_failed",
            messages.c.resolved_at.is_(None),
            messages.c.subject_type == "order",
            messages.c.subject_id.in_(discarded),
        )
        .values(resolved_at=now, resolved_by=f"discarded by {by}"[:255])
    )


def go_test(account: Account, *, by: str) -> bool:
    """Back to test mode, recorded with who and when; False when it already was (nothing
    recorded). What is owed stops being sent and waits as dry runs again."""
    now = utcnow()
    won = db.session.execute(
        update(Account)
        .where(Account.id == account.id, Account.is_live.is_(True))
        .values(is_live=False, updated_at=now)
        .execution_options(synchronize_session=False)
    ).rowcount
    if not won:
        db.session.rollback()
        db.session.refresh(account)
        return False
    db.session.add(
        AccountModeChange(
            account_id=account.id,
            from_mode=LIVE,
            to_mode=TEST,
            changed_by=by[:255],
            changed_at=now,
        )
    )
    db.session.execute(
        update(CALLS)
        .where(CALLS.c.account_id == account.id, CALLS.c.status.in_((PENDING, FAILED)))
        .values(status=DRY_RUN, dry_run_at=func.coalesce(CALLS.c.dry_run_at, now), updated_at=now)
    )
    db.session.commit()
    db.session.refresh(account)
    return True


def mode_history(account_id: int) -> list[AccountModeChange]:
    """The account's mode changes, newest first (its creation last)."""
    return list(
        db.session.scalars(
            select(AccountModeChange)
            .where(AccountModeChange.account_id == account_id)
            .order_by(AccountModeChange.changed_at.desc(), AccountModeChange.id.desc())
        )
    )


def mode_at(changes: list[AccountModeChange], when: datetime | None, current: str) -> str:
    """The mode an account was in at ``when``, from its history (newest first); accounts
    older than their history are taken to have been in the first recorded mode."""
    if when is None:
        return current
    for change in changes:
        if change.changed_at <= when:
            return change.to_mode
    if not changes:
        return current
    return changes[-1].from_mode or changes[-1].to_mode


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


# -- what the pages show --------------------------------------------------------------------


def ack_calls(order_ids: list[int]) -> dict[int, OutboundCall]:
    """Each order's acknowledgement call, for a page of orders (one query on the subject
    index)."""
    if not order_ids:
        return {}
    return {
        call.subject_id: call
        for call in db.session.scalars(
            select(OutboundCall).where(
                OutboundCall.subject_type == "order",
                OutboundCall.subject_id.in_(order_ids),
                OutboundCall.action == ACK_ORDER,
            )
        )
    }


def shown_request(call: OutboundCall, secrets: dict | None) -> dict:
    """A recorded call's request as a page shows it: method, URL and pretty JSON body, with
    the account's secrets masked again (they were masked when recorded; a secret changed
    since cannot be in it, but a page never trusts that) and a URL password masked."""
    import json

    from connectors.base import mask_values
    from connectors.egress import mask_url

    url, body = call.url, call.body
    if secrets:
        url, body = mask_values(url, secrets), mask_values(body, secrets)
    return {
        "method": call.method,
        "url": mask_url(url),
        "body": None
        if body is None
        else json.dumps(body, indent=2, ensure_ascii=False, sort_keys=True),
    }


def readable_secrets(account: Account) -> dict:
    try:
        return account.secrets()
    except ValueError:  # the current keys cannot read them: the recorded masking stands
        return {}


def calls_query(account_id: int, status: str | None):
    conditions = [CALLS.c.account_id == account_id]
    if status == "owed":
        conditions.append(CALLS.c.status.in_(OWED))
    elif status:
        conditions.append(CALLS.c.status == status)
    query = select(OutboundCall).where(*conditions).order_by(OutboundCall.id.desc())
    count = select(func.count()).select_from(CALLS).where(*conditions)
    return query, count


def owed_counts(account_ids: list[int]) -> dict[int, int]:
    """Owed calls per account, for the accounts list."""
    if not account_ids:
        return {}
    rows = db.session.execute(
        select(CALLS.c.account_id, func.count())
        .where(CALLS.c.account_id.in_(account_ids), CALLS.c.status.in_(OWED))
        .group_by(CALLS.c.account_id)
    )
    return dict(rows.all())


def in_flight(account_id: int) -> bool:
    """Calls of a live account the step is about to send or sending: the page follows them."""
    return (
        db.session.execute(
            select(CALLS.c.id)
            .where(CALLS.c.account_id == account_id, CALLS.c.status.in_((PENDING, SENDING)))
            .limit(1)
        ).first()
        is not None
    )


def run_modes(runs) -> dict[int, str]:
    """The mode each run's account was in when the run started (one query for the page)."""
    account_ids = {run.account_id for run in runs if run.account_id is not None}
    if not account_ids:
        return {}
    history: dict[int, list[AccountModeChange]] = {}
    for change in db.session.scalars(
        select(AccountModeChange)
        .where(AccountModeChange.account_id.in_(account_ids))
        .order_by(AccountModeChange.changed_at.desc(), AccountModeChange.id.desc())
    ):
        history.setdefault(change.account_id, []).append(change)
    modes = {}
    for run in runs:
        if run.account_id is None or run.account is None:
            continue
        when = run.started_at or run.created_at
        modes[run.id] = mode_at(history.get(run.account_id, []), when, run.account.mode)
    return modes
