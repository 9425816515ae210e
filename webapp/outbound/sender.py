"""The one sender: every outbound call due is sent once, with one backoff policy.

``send_outbound`` is a flow (:mod:`webapp.runs.registry`) of no feed of its own: the
lifecycle runs it as an execution of the account's order-import feed, after an order poll
that booked orders (:func:`webapp.runs.lifecycle.then`), when an account goes live, from
``flask orders acks`` and when a person retries a failed call from the inbox
(:func:`send_owed`, inline).  It is never run by anything else.

- live account: each due call is claimed (``pending``/``failed`` -> ``sending``, one UPDATE
  that only one sender can win), sent, then ``sent`` with its effect applied (the order shows
  ``acknowledged_at``, the order action ``sent``); those results are written a few dozen
  calls at a time (``FLUSH_CALLS``/``FLUSH_SECONDS``), except for a call that could neither be
  repeated nor looked up after a crash, which is written at once. A failure is ``failed``
  with ``next_attempt_at`` after the backoff (:func:`backoff`, or the marketplace's
  Retry-After when it gave one) and a ``retry`` message; the sender then wakes itself at the
  earliest ``next_attempt_at``
  (:func:`webapp.runs.lifecycle.wake_at`).
- test mode: nothing is sent; what is owed stays (or becomes) a ``dry_run``.
"""

from __future__ import annotations

import logging
import time
from datetime import timedelta

from sqlalchemy import bindparam, func, insert, select, update

from connectors.capabilities import Capability
from webapp.connector import connector_for
from webapp.extensions import db
from webapp.models import Account, Message, Run
from webapp.models import runs as R
from webapp.models.base import utcnow
from webapp.models.outbound import ACK_ORDER, DRY_RUN, FAILED, PENDING, SENDING, SENT, UNKNOWN
from webapp.models.pushes import PUSH_ACTIONS, acknowledge
from webapp.outbound.answers import for_action
from webapp.outbound.record import CALLS, _due, has_due
from webapp.runs import lifecycle
from webapp.runs.registry import OUT, flow

log = logging.getLogger("mercato.outbound")

ORDERS = db.Model.metadata.tables["orders"]
ACTIONS = db.Model.metadata.tables["order_actions"]
BATCH = 200
BACKOFF_BASE = timedelta(seconds=30)
BACKOFF_CAP = timedelta(hours=6)
GIVE_UP_AFTER = 3  # failures in a row before a step leaves the rest for the retry
# Sent calls whose results (``sent``, the effect) are written in one transaction: at most this
# many, or after this long. A call whose result is not written yet stays ``sending``; if the
# sender dies before writing it, the next sender takes the claim over (STALE_CLAIM) and, the
# call not being idempotent, asks the marketplace first (:func:`_taken_before`). A call that
# could be neither repeated nor looked up is written at once (:func:`_write_at_once`).
FLUSH_CALLS = 50
FLUSH_SECONDS = 0.5


def backoff(attempts: int) -> timedelta:
    """30 s, 1 min, 2 min ... capped at 6 h."""
    return min(BACKOFF_CAP, BACKOFF_BASE * (2 ** max(0, attempts - 1)))


def _effects(calls: list, now, answers: dict | None = None) -> None:
    """What sent calls change here, a statement per kind (not one per call); a call whose
    answer matters (:mod:`webapp.outbound.answers`: a purchase's keys) applies its answer."""
    for c in calls:
        handler = for_action(c.action)
        if handler is not None:
            handler.apply(c, (answers or {}).get(c.id), now)
        if c.action in PUSH_ACTIONS:  # a stock or price batch: the marketplace took its values
            acknowledge(c.account_id, c.action, c.params.get("items") or [], now)
    actions = [c.subject_id for c in calls if c.subject_type == "order_action"]
    if actions:  # webapp/orders/fulfilment.py recorded them
        db.session.execute(
            update(ACTIONS)
            .where(ACTIONS.c.id.in_(actions))
            .values(state="sent", sent_at=now, updated_at=now)
        )
    acks = [
        {"order": c.subject_id, "merchant_order_id": c.params["merchant_order_id"]}
        for c in calls
        if c.subject_type != "order_action" and c.action == ACK_ORDER
    ]
    if acks:
        db.session.execute(
            update(ORDERS)
            .where(ORDERS.c.id == bindparam("order"))
            .values(
                merchant_order_id=bindparam("merchant_order_id"),
                acknowledged_at=now,
                updated_at=now,
            ),
            acks,
        )


def retry_delay(attempts: int, error=None) -> timedelta:
    """The one backoff policy: the marketplace's Retry-After when its error carries one, the
    delays a graded refusal states (a supplier out of stock...), otherwise :func:`backoff`."""
    delay_before = getattr(error, "delay_before", None)
    if callable(delay_before):
        seconds = delay_before(attempts)
        if seconds is not None:
            return timedelta(seconds=seconds)
    retry_after = getattr(error, "retry_after", None)
    if retry_after:
        return min(BACKOFF_CAP, timedelta(seconds=float(retry_after)))
    return backoff(attempts)


def _summary() -> dict:
    return {"sent": 0, "failed": 0, "deferred": 0, "dry_run": 0, "run_id": None, "retry_at": None}


def send_owed(account: Account, *, trigger: str = "schedule") -> dict:
    """Send (live) or record as dry runs (test mode) the account's owed calls that are due,
    now, inline.  A live account's sending is an execution of its feed (a run of the
    ``send_outbound`` flow), created only when something is due.

    Returns ``{"sent", "failed", "deferred", "dry_run", "run_id", "retry_at"}``."""
    if not account.is_live:
        return _record_dry_runs(account)
    if has_due(account):
        started = lifecycle.start_flow("send_outbound", account, trigger, inline=True)
        if started.started and started.run.outcome is not None:
            return started.run.outcome
    summary = _summary()
    summary["retry_at"] = _next_retry(account)
    return summary


def _record_dry_runs(account: Account) -> dict:
    now = utcnow()
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
    # The order actions those calls send are dry runs too (back in test mode).
    db.session.execute(
        update(ACTIONS)
        .where(
            ACTIONS.c.account_id == account.id,
            ACTIONS.c.state == "recorded",
            ACTIONS.c.outbound_call_id.in_(
                select(CALLS.c.id).where(
                    CALLS.c.account_id == account.id, CALLS.c.status == DRY_RUN
                )
            ),
        )
        .values(state="dry_run", updated_at=now)
    )
    db.session.commit()
    return {**_summary(), "dry_run": result.rowcount or 0}


def _next_retry(account: Account):
    return db.session.scalar(
        select(func.min(CALLS.c.next_attempt_at)).where(
            CALLS.c.account_id == account.id, CALLS.c.status == FAILED
        )
    )


def _claim(ids: list[int], account_id: int, now) -> list:
    """Claim the calls ``ids`` still due (status ``sending``, one more attempt) and commit: the
    rows claimed, which another sender can no longer take."""
    claimed = db.session.execute(
        update(CALLS)
        .where(CALLS.c.id.in_(ids), _due(account_id, now))
        .values(status=SENDING, attempts=CALLS.c.attempts + 1, updated_at=now)
        .returning(
            CALLS.c.id,
            CALLS.c.account_id,
            CALLS.c.action,
            CALLS.c.params,
            CALLS.c.subject_type,
            CALLS.c.subject_id,
            CALLS.c.attempts,
        )
    ).all()
    db.session.commit()
    return claimed


@flow("send_outbound", label="Send outbound calls", direction=OUT, owner=None, run_kind="outbound")
def send_outbound(run: Run) -> dict:
    """The sender's execution: every due call of the run's account, claimed and sent once.
    After ``GIVE_UP_AFTER`` failures in a row (the marketplace is down) it stops and leaves
    the rest (``deferred``) for the same retry, when it wakes itself."""
    account = run.account
    if not account.is_live:
        summary = {**_record_dry_runs(account), "run_id": run.id}
        lifecycle.finish(run, R.COMPLETED)
        return summary
    now = utcnow()
    summary = {**_summary(), "run_id": run.id}
    connector = None
    while True:
        ids = db.session.scalars(
            select(CALLS.c.id).where(_due(account.id, now)).order_by(CALLS.c.id).limit(BATCH)
        ).all()
        if not ids:
            break
        claimed = _claim(ids, account.id, now)
        if not claimed:
            continue  # another sender took them
        connector = connector or connector_for(account)
        streak = 0
        pending = sorted(claimed, key=lambda c: c.id)
        results = _Results()
        while pending and streak < GIVE_UP_AFTER:
            call = pending.pop(0)
            streak = 0 if _send_one(run, connector, call, summary, results) else streak + 1
        _flush(run, results)
        if pending:  # the marketplace keeps failing: the rest waits for the same retry
            _defer(pending, summary)
            break
    lifecycle.finish(run, R.COMPLETED if not summary["failed"] else R.COMPLETED_WITH_ERRORS)
    summary["retry_at"] = _next_retry(account)
    if summary["retry_at"] is not None:
        lifecycle.wake_at(summary["retry_at"], "send_outbound", account)
    return summary


def send_calls(run: Run, ids: list[int]) -> dict:
    """Send the recorded calls ``ids`` of the run's (live) account now, as this run (a push
    sends its own batches): each claimed, sent once and its effect applied, or ``failed``
    with its retry, exactly as :func:`send_outbound` does. Returns the same summary."""
    summary = {**_summary(), "run_id": run.id}
    if not ids:
        return summary
    now = utcnow()
    connector = connector_for(run.account)
    for start in range(0, len(ids), BATCH):
        chunk = ids[start : start + BATCH]
        claimed = _claim(chunk, run.account_id, now)
        results = _Results()
        for call in sorted(claimed, key=lambda c: c.id):
            _send_one(run, connector, call, summary, results)
        _flush(run, results)
    return summary


def _defer(calls: list, summary: dict) -> None:
    """Claimed calls not tried because the marketplace failed ``GIVE_UP_AFTER`` times in a
    row: back to ``failed`` (their claim's attempt not counted), due with the last retry."""
    retry_at = utcnow() + retry_delay(1)
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


def _taken_before(connector, call, request) -> bool:
    """Whether an earlier attempt of this call, whose outcome was unknown, was taken after
    all. Marketplace APIs have no idempotency keys: before a call that is not idempotent is
    sent again, a marketplace that can be asked (TracksOrderActions) is asked, and an action
    it already has is adopted instead of posted twice."""
    if call.attempts <= 1 or request.idempotent:
        return False  # a first attempt, or one that may be repeated
    handler = for_action(call.action)
    if handler is not None and handler.look_up is not None:
        return False  # asked by its own look-up (:func:`_send_one`)
    if not connector.supports(Capability.ORDER_ACTION_TRACKING):
        return False
    found = connector.find_sent(call.action, call.params)
    if found is not None:
        log.info("outbound_call id=%s state=adopted marketplace_action=%s", call.id, found.state)
    return found is not None


def _in_doubt(connector, request, exc, call=None) -> bool:
    """The call may have been applied and nobody can tell: sending it again could apply it
    twice, and this marketplace cannot be asked (:func:`_taken_before`)."""
    handler = for_action(call.action) if call is not None else None
    return (
        getattr(exc, "outcome_unknown", False)
        and request is not None
        and not request.idempotent
        and not connector.supports(Capability.ORDER_ACTION_TRACKING)
        and (handler is None or handler.look_up is None)
    )


def _given_up(exc, attempts: int) -> bool:
    """A graded refusal (a supplier out of stock...) retried as often as it says: a person
    looks now."""
    delay_before = getattr(exc, "delay_before", None)
    return callable(delay_before) and delay_before(attempts) is None


def _hold(run: Run, call, exc, *, given_up: bool = False) -> None:
    """Keep a call in doubt from being sent again by itself: ``unknown``, with an error for a
    person, whose retry from the inbox sends it (once they know it was not applied). A call
    refused as many times as its refusal allows retries (``given_up``) waits the same way,
    with the other side's own words."""
    now = utcnow()
    if given_up:
        said = getattr(exc, "said", "") or str(exc)
        text = (
            f"{call.action} for {call.subject_type} {call.subject_id} was refused "
            f"{call.attempts} times: {said} ({exc}). It is not tried again by itself: "
            "retry from the inbox once it can succeed."
        )
    else:
        text = (
            f"{call.action} for {call.subject_type} {call.subject_id} may have been "
            f"applied ({exc}), and the marketplace cannot be asked: check it there, then "
            "retry from the inbox only if it was not applied. It is not sent again by "
            "itself."
        )
    db.session.execute(
        update(CALLS)
        .where(CALLS.c.id == call.id, CALLS.c.status == SENDING)
        .values(status=UNKNOWN, last_error=str(exc), next_attempt_at=None, updated_at=now)
    )
    db.session.execute(
        insert(Message),
        [
            {
                "import_job_id": run.id,
                "severity": R.ERROR,
                "error_type": "outbound_failed",
                "error_message": text,
                "identifier": str(call.subject_id),
                "subject_type": call.subject_type,
                "subject_id": call.subject_id,
                "created_at": now,
            }
        ],
    )
    run.error_count += 1
    db.session.commit()


class _Results:
    """Sent calls whose results are not written yet, and the calls tried since the last write."""

    def __init__(self) -> None:
        self.sent: list = []
        self.answers: dict = {}  # call id -> its answer, for the calls whose answer matters
        self.tried = 0
        self.since = time.monotonic()

    def due(self) -> bool:
        return len(self.sent) >= FLUSH_CALLS or time.monotonic() - self.since >= FLUSH_SECONDS


def _flush(run: Run, results: _Results) -> None:
    """Write the results of the calls sent since the last write, in one transaction: each
    call ``sent`` (one UPDATE), their effects, the inbox entries they answer, the run's
    counts."""
    if not results.sent and not results.tried:
        return
    now = utcnow()
    sent = results.sent
    if sent:
        db.session.execute(
            update(CALLS)
            .where(CALLS.c.id.in_([c.id for c in sent]))
            .values(status=SENT, sent_at=now, last_error=None, next_attempt_at=None, updated_at=now)
        )
        _effects(sent, now, results.answers)
        for call in sent:
            if call.attempts > 1:  # it failed before: its inbox entries are answered
                _close_failures(call, run, now)
    run.total_processed += results.tried
    run.imported_count += len(sent)
    db.session.commit()
    results.sent, results.tried, results.since = [], 0, time.monotonic()
    results.answers = {}


def _write_at_once(connector, request) -> bool:
    """A call sent again after a crash would be applied twice and cannot be looked up first:
    its result is written as soon as it is sent (the smallest window)."""
    return not request.idempotent and not connector.supports(Capability.ORDER_ACTION_TRACKING)


def _send_one(run: Run, connector, call, summary: dict, results: _Results) -> bool:
    from connectors.errors import ConnectorError

    results.tried += 1
    request = None
    handler = for_action(call.action)
    try:
        request = connector.outbound_request(call.action, call.params)
        answer = None
        if handler is not None and handler.look_up is not None and call.attempts > 1:
            # Tried before: the other side is asked by the call's own reference first.
            answer = handler.look_up(connector, call)
            if answer is not None:
                log.info("outbound_call id=%s state=adopted (found by its reference)", call.id)
        if answer is None and not _taken_before(connector, call, request):
            answer = connector.send(request)
    except ConnectorError as exc:
        _flush(run, results)  # what was sent before this one is written first
        if _in_doubt(connector, request, exc, call):
            _hold(run, call, exc)
            summary["failed"] += 1
            return False
        if _given_up(exc, call.attempts):
            _hold(run, call, exc, given_up=True)
            summary["failed"] += 1
            return False
        retry_at = utcnow() + retry_delay(call.attempts, exc)
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
    results.sent.append(call)
    if handler is not None:
        results.answers[call.id] = answer
    summary["sent"] += 1
    if handler is not None or _write_at_once(connector, request) or results.due():
        _flush(run, results)
    return True


def _close_failures(call, run: Run, now) -> None:
    """The open ``outbound_failed`` messages of a call that is now sent are resolved by the
    run that sent it: the sender's own retry answers the inbox, no sweep has to."""
    db.session.execute(
        update(Message)
        .where(
            Message.error_type == "outbound_failed",
            Message.subject_type == call.subject_type,
            Message.subject_id == call.subject_id,
            Message.resolved_at.is_(None),
        )
        .values(resolved_at=now, resolved_by=f"execution #{run.id}", next_retry_at=None)
        .execution_options(synchronize_session=False)
    )
