"""Test mode and going live: what an account owes, and the recorded decision to send it.

Going live is a decision (:func:`go_live`): it is taken against a summary of what test mode
left owed (:func:`owed`: per action, count and oldest), and either releases those calls to be
sent (``pending``, then sent once by the sender: a second go-live finds nothing owed) or
discards them (``discarded``: never sent). Either way the change is recorded with who, when,
what was owed and the choice, and each call keeps the change that released or discarded it.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import and_, func, select, update

from webapp.extensions import db
from webapp.models import Account, AccountModeChange, Message
from webapp.models.base import utcnow
from webapp.models.outbound import (
    DISCARD,
    DISCARDED,
    DRY_RUN,
    FAILED,
    LIVE,
    OWED,
    PENDING,
    SEND,
    TEST,
    OutboundCall,
    action_label,
)
from webapp.outbound.record import CALLS

log = logging.getLogger("mercato.outbound")


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
        _order_actions(change, now, "discarded by " + by)
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
        _order_actions(change, now, None)
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
    """A discarded call will never be sent: its retry messages have nothing left to retry
    (messages about the call's own subject: an order, an order action)."""
    messages = Message.__table__
    kinds = db.session.scalars(
        select(CALLS.c.subject_type)
        .where(CALLS.c.mode_change_id == change.id, CALLS.c.status == DISCARDED)
        .distinct()
    ).all()
    for kind in kinds:
        discarded = select(CALLS.c.subject_id).where(
            CALLS.c.account_id == account.id,
            CALLS.c.mode_change_id == change.id,
            CALLS.c.status == DISCARDED,
            CALLS.c.subject_type == kind,
        )
        db.session.execute(
            update(messages)
            .where(
                messages.c.error_type == "outbound_failed",
                messages.c.resolved_at.is_(None),
                messages.c.subject_type == kind,
                messages.c.subject_id.in_(discarded),
            )
            .values(resolved_at=now, resolved_by=f"discarded by {by}"[:255])
        )


def _order_actions(change: AccountModeChange, now, discarded_by: str | None) -> None:
    """The order actions whose calls this change released are owed again ("recorded": the
    sender sends each once, then the shipping confirmation follows it); those it discarded
    stay dry runs, with why they will never be sent."""
    actions = db.Model.metadata.tables["order_actions"]
    theirs = select(CALLS.c.subject_id).where(
        CALLS.c.mode_change_id == change.id, CALLS.c.subject_type == "order_action"
    )
    values = {"updated_at": now}
    if discarded_by is None:
        values["state"] = "recorded"
    else:
        values["error"] = f"Not sent: {discarded_by} when the account went live."[:2000]
    db.session.execute(
        update(actions)
        .where(actions.c.id.in_(theirs), actions.c.state == "dry_run")
        .values(values)
        .execution_options(synchronize_session=False)
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
