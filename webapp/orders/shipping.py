"""The shipping-confirmation feed: what is owed to the marketplace is sent, and the order
actions sent are followed until the marketplace has processed (or refused) them.

One execution of an account's ``shipping_confirmation`` feed:

1. sends what is owed through the one sender (:func:`webapp.outbound.send_owed`: live, a run
   of ``send_outbound``; test mode, dry runs and nothing sent);
2. when the connector tracks order actions (:class:`connectors.capabilities.TracksOrderActions`),
   reads the account's actions changed since the feed's cursor, page by page (one listing,
   never one request per action), matches each to our ``order_actions`` row in flight (by the
   order's channel and channel order id, the action type, the line and the tracking number
   the outbound call sent) and moves its state: ``queued``, ``processed``, or ``failed`` with
   the marketplace's own text and an error message in the inbox about the order;
3. moves the cursor only after every page was read;
4. while actions it sent are still queued at the marketplace, asks for a follow-up run soon
   (:func:`follow_later`): a few seconds after a fresh action, longer as it ages, never later
   than the schedule. So an action recorded on the order page is seen processed within
   seconds, and nothing polls once no action is in flight.
5. flags the actions the marketplace has not settled long after they were sent (still
   ``sent`` or ``queued`` ``MERCATO_ACTION_STUCK_AFTER`` seconds later, 2 h by default): one
   inbox message per action (cause ``order_action_stuck``, grade "retry", about its order),
   closed when the action settles (processed or failed), here or by the inbox's retry.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from datetime import timedelta

from flask import current_app
from sqlalchemy import bindparam, func, select, update

from connectors import registry as connectors_registry
from connectors.base import Capability
from connectors.errors import ConnectorError
from webapp.connector import connector_for
from webapp.extensions import db, queue
from webapp.models import Feed, Message, OrderAction, OutboundCall, Run
from webapp.models import fulfilment as F
from webapp.models import runs as R
from webapp.models.base import utcnow
from webapp.outbound.sender import send_owed
from webapp.runs import lifecycle
from webapp.runs.registry import OUT, flow

log = logging.getLogger("mercato.orders")

ACTIONS = OrderAction.__table__
SYNC_OVERLAP = timedelta(minutes=10)
FOLLOW_JOB = "jobs.feeds.follow_up"
INTERVAL_SECONDS = 900
# What a listing can move a row from (recorded: the sender has not marked it sent yet).
FOLLOWED = (F.RECORDED, F.SENT, F.QUEUED)
# Where a marketplace state may take a row ("sent": still handed over, nothing to move).
MOVES = {F.QUEUED: (F.SENT,), F.PROCESSED: FOLLOWED, F.FAILED: FOLLOWED}
# An action sent and not settled by the marketplace after MERCATO_ACTION_STUCK_AFTER.
STUCK = "order_action_stuck"
UNSETTLED = (F.SENT, F.QUEUED)
SETTLED = (F.PROCESSED, F.FAILED)


def _key(channel, channel_order_id, action_type, line):
    return (str(channel or ""), str(channel_order_id or ""), str(action_type or ""), line or None)


@dataclass
class _Row:
    """An order action in flight, as the listing needs it (not an ORM object: a page's commit
    would expire it, and reading it again would cost a query per action)."""

    id: int
    order_id: int
    type: str
    state: str


def _followed(account_id: int) -> tuple[dict, object]:
    """Our rows in flight by (channel, channel order id, action type, line): [(row, tracking)],
    and the earliest time one was recorded (the listing must reach back to it)."""
    rows = db.session.execute(
        select(
            OrderAction.id,
            OrderAction.order_id,
            OrderAction.type,
            OrderAction.state,
            OrderAction.created_at,
            OutboundCall.params,
            OutboundCall.body,
        )
        .join(OutboundCall, OutboundCall.id == OrderAction.outbound_call_id)
        .where(OrderAction.account_id == account_id, OrderAction.state.in_(FOLLOWED))
        .order_by(OrderAction.id)
    ).all()
    index: dict = {}
    earliest = None
    for row in rows:
        params = row.params or {}
        body = row.body
        sent_type = body.get("action_type") if isinstance(body, dict) else None
        key = _key(
            params.get("channel"),
            params.get("channel_order_id"),
            sent_type or row.type,
            params.get("line"),
        )
        action = _Row(row.id, row.order_id, row.type, row.state)
        index.setdefault(key, []).append((action, params.get("tracking_number")))
        if earliest is None or row.created_at < earliest:
            earliest = row.created_at
    return index, earliest


def _match(index: dict, status):
    candidates = index.get(
        _key(status.channel, status.channel_order_id, status.action_type, status.line), []
    )
    for action, tracking in candidates:
        if tracking is None or str(tracking) == str(status.tracking_number or ""):
            return action
    return None


def _move(action: _Row, status, now, moves: list[dict]) -> bool:
    """Move the row to the marketplace's state (written with the page: ``moves``); True when
    it changed."""
    if status.state not in MOVES or action.state not in MOVES[status.state]:
        return False
    action.state = status.state
    moves.append(
        {
            "action_id": action.id,
            "state": status.state,
            "processed_at": now if status.state == F.PROCESSED else None,
            # The marketplace's text when it failed; processed (or still queued) has none.
            "error": status.error if status.state == F.FAILED else None,
        }
    )
    return True


def _stuck_messages(account_id: int) -> dict[int, Message]:
    """The open stuck-action messages of the account, by order action id."""
    found = db.session.scalars(
        select(Message).where(
            Message.error_type == STUCK,
            Message.account_id == account_id,
            Message.resolved_at.is_(None),
        )
    )
    return {
        int(m.row_data["order_action_id"]): m
        for m in found
        if isinstance(m.row_data, dict) and m.row_data.get("order_action_id") is not None
    }


def close_settled(account_id: int, now=None) -> int:
    """Close the stuck-action messages whose action has settled (processed or failed); the
    number closed."""
    now = now or utcnow()
    open_ = _stuck_messages(account_id)
    if not open_:
        return 0
    states = dict(
        db.session.execute(
            select(OrderAction.id, OrderAction.state).where(OrderAction.id.in_(list(open_)))
        ).all()
    )
    closed = 0
    for action_id, message in open_.items():
        state = states.get(action_id)
        if state in SETTLED or state is None:
            message.resolved_at = now
            message.resolved_by = f"action {state or 'gone'}"
            message.next_retry_at = None
            closed += 1
    db.session.commit()
    return closed


def flag_stuck(run: Run, account, now=None) -> int:
    """One "retry" inbox message per order action of the account still ``sent`` or
    ``queued`` at the marketplace ``MERCATO_ACTION_STUCK_AFTER`` seconds after it was sent
    (none twice for one action); the number raised."""
    now = now or utcnow()
    after = timedelta(seconds=float(current_app.config.get("MERCATO_ACTION_STUCK_AFTER", 7200)))
    since = func.coalesce(OrderAction.sent_at, OrderAction.created_at)
    stuck = db.session.scalars(
        select(OrderAction)
        .where(
            OrderAction.account_id == account.id,
            OrderAction.state.in_(UNSETTLED),
            since <= now - after,
        )
        .order_by(OrderAction.id)
    ).all()
    if not stuck:
        return 0
    flagged = _stuck_messages(account.id)
    raised = 0
    for action in stuck:
        if action.id in flagged:
            continue
        waited = now - (action.sent_at or action.created_at)
        hours = waited.total_seconds() / 3600
        where = "queued at" if action.state == F.QUEUED else "sent to"
        db.session.add(
            Message(
                import_job_id=run.id,
                severity=R.RETRY,
                error_type=STUCK,
                error_message=(
                    f"The {action.type} of order #{action.order_id} (action #{action.id}) is "
                    f"still {where} the marketplace {hours:.1f} h after it was sent, with no "
                    "answer: it closes by itself when the marketplace processes or refuses it."
                ),
                identifier=str(action.order_id),
                row_data={"order_action_id": action.id, "state": action.state},
                subject_type="order",
                subject_id=action.order_id,
                store_id=action.store_id,
                account_id=account.id,
                next_retry_at=now + after,
                created_at=now,
            )
        )
        raised += 1
    db.session.commit()
    if raised:
        log.warning(
            "job=shipping_confirmation run_id=%s account_id=%s stuck_actions=%s",
            run.id,
            account.id,
            raised,
        )
    return raised


def _write_moves(moves: list[dict], now) -> None:
    """A page's moves in one statement (executemany)."""
    if not moves:
        return
    db.session.execute(
        update(ACTIONS)
        .where(ACTIONS.c.id == bindparam("action_id"))
        .values(
            state=bindparam("state"),
            processed_at=bindparam("processed_at"),
            error=bindparam("error"),
            updated_at=now,
        ),
        moves,
    )


@flow(
    "shipping_confirmation",
    label="Shipping confirmation",
    direction=OUT,
    owner="account",
    capability=Capability.FULFILMENT_OUT,
    interval_seconds=INTERVAL_SECONDS,  # every 15 min, as accounts have had it since 0006
    cursor=True,
)
def confirm_shipping(run: Run) -> dict:
    """Send what is owed, then read back the states of the order actions sent."""
    account = run.account
    feed = run.feed
    summary = {"sent": 0, "dry_run": 0, "failed_to_send": 0}
    summary.update({F.QUEUED: 0, F.PROCESSED: 0, F.FAILED: 0, "stuck": 0})
    sent = send_owed(account, trigger=run.trigger or "schedule")
    summary["sent"], summary["dry_run"] = sent["sent"], sent["dry_run"]
    summary["failed_to_send"] = sent["failed"]
    run = db.session.get(Run, run.id)
    if not account.is_live:
        return summary
    if not connectors_registry.get(account.connector).has(Capability.ORDER_ACTION_TRACKING):
        return summary
    index, earliest = _followed(account.id)
    started = utcnow()
    # An action's ``updated_at`` moves when its state does: from the cursor on (less an
    # overlap) every change is seen; a first read reaches back to the oldest row in flight.
    if feed is not None and feed.last_sync_at:
        since = feed.last_sync_at - SYNC_OVERLAP
    else:
        since = (earliest or started) - SYNC_OVERLAP
    run.phase = "downloading"
    db.session.commit()
    failures = []
    try:
        connector = connector_for(account)
        for page in connector.list_actions(updated_from=since.strftime("%Y-%m-%dT%H:%M:%SZ")):
            now = utcnow()
            moves: list[dict] = []
            for status in page:
                run.total_processed += 1
                action = _match(index, status)
                if action is None:
                    run.unchanged_count += 1
                    continue
                if _move(action, status, now, moves):
                    run.updated_count += 1
                    summary[status.state] += 1
                    if status.state == F.FAILED:
                        failures.append((action.id, action.order_id, action.type, status.error))
                else:
                    run.unchanged_count += 1
            _write_moves(moves, now)
            db.session.commit()
    except ConnectorError as exc:
        db.session.rollback()
        run = db.session.get(Run, run.id)
        run.error_count += 1
        lifecycle.note(run, exc.severity, "connector_error", str(exc), account_id=account.id)
        lifecycle.finish(run, R.FAILED, str(exc))
        return summary
    for _action_id, order_id, action_type, error in failures:
        run.error_count += 1
        lifecycle.note(
            run,
            R.ERROR,
            "order_action_failed",
            f"The marketplace refused the {action_type} of order #{order_id}: {error}",
            identifier=str(order_id),
            subject_type="order",
            subject_id=order_id,
            account_id=account.id,
        )
    if feed is not None:
        feed.last_sync_at = started
    db.session.commit()
    close_settled(account.id)
    summary["stuck"] = flag_stuck(run, account)
    run = db.session.get(Run, run.id)
    if feed is not None:
        follow_later(feed, account.id)
    log.info(
        "job=shipping_confirmation run_id=%s account_id=%s listed=%s moved=%s failed=%s",
        run.id,
        account.id,
        run.total_processed,
        run.updated_count,
        summary["failed"],
    )
    return summary


def follow_later(feed: Feed, account_id: int) -> float | None:
    """Ask for another run of the feed while actions sent are still in flight (sent, queued):
    after half the age of the newest one, at least ``MERCATO_SHIPPING_FOLLOW_SECONDS`` (5 s)
    and at most the feed's interval. One follow-up per feed is pending at a time (its job id
    is the feed's); none when nothing is in flight. Returns the delay in seconds, or None."""
    from datetime import UTC

    from flask import current_app

    from webapp.runs.lifecycle import job_prefix

    newest = db.session.scalar(
        select(OrderAction.updated_at)
        .where(OrderAction.account_id == account_id, OrderAction.state.in_((F.SENT, F.QUEUED)))
        .order_by(OrderAction.updated_at.desc())
        .limit(1)
    )
    if newest is None:
        return None
    now = utcnow()
    floor = float(current_app.config.get("MERCATO_SHIPPING_FOLLOW_SECONDS", 5))
    age = max(0.0, (now - newest).total_seconds())
    delay = min(max(floor, age / 2), float(INTERVAL_SECONDS))
    try:
        queue("default").enqueue_at(
            (now + timedelta(seconds=delay)).replace(tzinfo=UTC),
            FOLLOW_JOB,
            feed.id,
            job_id=f"{job_prefix()}follow-{feed.id}",
            description=f"follow the order actions of feed {feed.id}",
        )
    except Exception:  # noqa: BLE001 - a queue outage must not fail the run: the schedule follows
        log.warning("follow-up of feed %s not queued", feed.id, exc_info=True)
        return None
    return delay


# -- sending and following from the CLI ------------------------------------------------------

# How often ``send_and_follow`` reads the marketplace's actions again while some are queued.
FOLLOW_EVERY = 2.0
# Order action states still waiting for the marketplace's answer.
AWAITING = (F.SENT, F.QUEUED)


class FollowError(Exception):
    """The account's shipping confirmation cannot run (no such feed, disabled, retired...)."""


def awaiting_count(account_id: int) -> int:
    """The account's order actions sent and not yet processed or failed."""
    return db.session.scalar(
        select(func.count())
        .select_from(OrderAction)
        .where(OrderAction.account_id == account_id, OrderAction.state.in_(AWAITING))
    )


def send_and_follow(account, *, wait: float = 0.0, trigger: str = "cli", sleep=time.sleep):
    """Send what the account owes, then follow its actions' states until none is queued or
    ``wait`` seconds are over: each step is one execution of the account's shipping
    confirmation feed, run inline through the lifecycle (the one sender, then one paged
    listing of the marketplace's actions; never a request per action).

    Returns ``{"sent", "processed", "failed", "queued", "dry_run", "runs", "run_ids",
    "status"}``: calls sent and dry runs recorded, actions that reached processed or failed,
    across the executions; ``queued``: the account's actions still awaiting the marketplace
    at the end. Raises :class:`FollowError` when the feed cannot run (a second command while
    one runs waits for it: that execution's outcome is not counted)."""
    feed = lifecycle.account_feed(account, "shipping_confirmation")
    if feed is None:
        raise FollowError(f"Account {account.id} has no shipping confirmation feed.")
    totals = {"sent": 0, "processed": 0, "failed": 0, "queued": 0, "dry_run": 0}
    run_ids: list[int] = []
    status = None
    deadline = time.monotonic() + max(0.0, wait)
    while True:
        try:
            started = lifecycle.run_feed(feed.id, trigger)
        except lifecycle.FeedError as exc:
            raise FollowError(str(exc)) from exc
        run = started.run
        if started.started:
            run_ids.append(run.id)
            outcome = getattr(run, "outcome", None) or {}
            for key in ("sent", "dry_run", F.PROCESSED, F.FAILED):
                totals[key] += int(outcome.get(key) or 0)
        status = run.status
        if status == R.FAILED:
            break
        db.session.expire_all()
        left = deadline - time.monotonic()
        if not account.is_live or left <= 0 or not awaiting_count(account.id):
            break
        sleep(min(FOLLOW_EVERY, left))
    totals["queued"] = awaiting_count(account.id)
    return {**totals, "runs": len(run_ids), "run_ids": run_ids, "status": status}
