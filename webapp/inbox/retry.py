"""Retrying what a message is about: by a person from the inbox, or by the sweep.

Each cause that can be retried registers a handler (``@handler("unknown_sku")``) that
redoes the failed operation for the message's subject and says whether it now works. A
message whose cause has no handler can only be marked resolved (a bad feed row is fixed
in the feed, then imported again).

Automatic retries (severity "retry"): the sweep, scheduled every 10 minutes (the seed's
``sync_retry_failed``), retries each due message; a failure waits ``backoff(attempts)``,
or the marketplace's Retry-After when longer, up to a ceiling; after ``MAX_ATTEMPTS`` the
message is raised to "error" and lands in the inbox, never silently dropped.
"""

from __future__ import annotations

import logging
import random
from datetime import timedelta

from flask import current_app
from sqlalchemy import select, update

from webapp.extensions import db, queue, redis_connection
from webapp.models import Account, Message, Run
from webapp.models import runs as R
from webapp.models.base import utcnow
from webapp.runs.retries import HANDLERS, RETRIED_ELSEWHERE, Outcome, handler  # noqa: F401

log = logging.getLogger(__name__)

MAX_ATTEMPTS = 5
BACKOFF_BASE = timedelta(minutes=1)
BACKOFF_CEILING = timedelta(hours=1)
SWEEP_BATCH = 200


def retryable(message: Message) -> bool:
    return message.error_type in HANDLERS


def backoff(attempts: int, retry_after: float | None = None) -> timedelta:
    """Exponential with full jitter on the upper half, capped; Retry-After wins if longer."""
    exp = min(BACKOFF_CEILING, BACKOFF_BASE * (2 ** max(0, attempts - 1)))
    wait = exp / 2 + (exp / 2) * random.random()  # noqa: S311 - jitter, not a secret
    if retry_after:
        wait = max(wait, timedelta(seconds=retry_after))
    return min(wait, BACKOFF_CEILING)


def retry_message(message: Message, by: str) -> Outcome:
    """Run the message's handler once; record the outcome on the message."""
    fn = HANDLERS.get(message.error_type)
    if fn is None:
        return Outcome(False, "This cause cannot be retried: fix it at the source.")
    try:
        outcome = fn(message)
    except Exception as exc:  # one failing retry never stops the others
        db.session.rollback()
        log.exception("retry of message %s failed", message.id)
        outcome = Outcome(False, f"{type(exc).__name__}: {exc}")
    message = db.session.get(Message, message.id)
    message.attempts += 1
    fresh = db.session.get(Message, outcome.superseded_by) if outcome.superseded_by else None
    if fresh is not None and fresh.id != message.id:
        # One failure, one open message: the old one closes, the fresh one inherits its count.
        message.resolved_at, message.resolved_by = utcnow(), f"superseded by #{fresh.id}"
        message.next_retry_at = None
        fresh.attempts = message.attempts
        fresh.severity = message.severity
        message = fresh
    if outcome.resolved:
        message.resolved_at = utcnow()
        message.resolved_by = by[:255]
        message.next_retry_at = None
        message.last_retry_error = None
    else:
        message.last_retry_error = outcome.detail[:2000]
        if message.severity == R.RETRY:
            if message.attempts >= MAX_ATTEMPTS:
                message.severity = R.ERROR  # out of attempts: a person must look
                message.next_retry_at = None
            else:
                message.next_retry_at = utcnow() + backoff(message.attempts, outcome.retry_after)
    db.session.commit()
    return outcome


def retry_ids(ids: list[int], by: str) -> dict[str, int]:
    """Retry these messages (an inbox click, one or a whole group); returns the tally.

    Unknown-SKU entries of a store are looked up in its catalog together (a group of
    thousands is a few statements, not one lookup each); the rest one by one."""
    tally = {"resolved": 0, "failed": 0, "skipped": 0}
    ids = _retry_unknown_skus(ids, by, tally)
    for message_id in ids:
        message = db.session.get(Message, message_id)
        if message is None or message.resolved_at is not None or not retryable(message):
            tally["skipped"] += 1
            continue
        outcome = retry_message(message, by)
        tally["resolved" if outcome.resolved else "failed"] += 1
    return tally


# -- a person's retries, run by a worker ----------------------------------------------------

PENDING_TTL = 600  # seconds a "retrying" mark lives if a worker never picks the job up
RETRY_BATCH = 500  # messages per retry job


def pending_key(message_id: int) -> str:
    prefix = current_app.config.get("MERCATO_QUEUE_PREFIX", "")
    return f"{prefix}mercato:inbox:retrying:{message_id}"


def pending(ids: list[int]) -> set[int]:
    """The messages with a retry in flight. Raises OUTAGE_ERRORS when Redis is away."""
    if not ids:
        return set()
    values = redis_connection().mget([pending_key(i) for i in ids])
    return {i for i, v in zip(ids, values, strict=True) if v is not None}


def clear_pending(ids: list[int]) -> None:
    """The retry job is done with these messages: the inbox stops showing them retrying."""
    redis_connection().delete(*[pending_key(i) for i in ids])


def enqueue_retries(ids: list[int], by: str) -> str:
    """Queue a retry of these messages (jobs of RETRY_BATCH); the inbox shows them as
    retrying until the worker is done (or PENDING_TTL passes). Returns the sentence that
    says so."""
    if not ids:
        return "Nothing to retry."
    conn = redis_connection()
    with conn.pipeline(transaction=False) as pipe:
        for message_id in ids:
            pipe.set(pending_key(message_id), "1", ex=PENDING_TTL)
        pipe.execute()
    for start in range(0, len(ids), RETRY_BATCH):
        queue("default").enqueue(
            "jobs.inbox.retry_messages",
            ids[start : start + RETRY_BATCH],
            by,
            job_timeout=PENDING_TTL,
        )
    return f"Retrying {len(ids)} message{'s' if len(ids) != 1 else ''}…"


def _retry_unknown_skus(ids: list[int], by: str, tally: dict[str, int]) -> list[int]:
    """Retry the open unknown-SKU entries among ``ids`` store by store; returns the others."""
    from webapp.orders import matching

    entries: dict[int, dict[str, int]] = {}  # store -> SKU -> entry id
    for start in range(0, len(ids), 500):
        for mid, store_id, sku in db.session.execute(
            select(Message.id, Message.store_id, Message.identifier).where(
                Message.id.in_(ids[start : start + 500]),
                Message.error_type == "unknown_sku",
                Message.subject_type == matching.SKU_SUBJECT,
                Message.resolved_at.is_(None),
                Message.store_id.is_not(None),
            )
        ):
            entries.setdefault(store_id, {})[sku or ""] = mid
    if not entries:
        return ids
    done: set[int] = set()
    for store_id, by_sku in entries.items():
        matching.rematch(store_id, list(by_sku), by=by)
        entry_ids = list(by_sku.values())
        for start in range(0, len(entry_ids), 500):
            chunk = entry_ids[start : start + 500]
            resolved = set(
                db.session.scalars(
                    select(Message.id).where(
                        Message.id.in_(chunk), Message.resolved_at.is_not(None)
                    )
                )
            )
            tally["resolved"] += len(resolved)
            tally["failed"] += len(chunk) - len(resolved)
            db.session.execute(
                update(Message)
                .where(Message.id.in_(chunk))
                .values(attempts=Message.attempts + 1)
                .execution_options(synchronize_session=False)
            )
            db.session.execute(
                update(Message)
                .where(Message.id.in_(set(chunk) - resolved))
                .values(last_retry_error="Still no product with this id or GTIN in the catalog.")
                .execution_options(synchronize_session=False)
            )
            done.update(chunk)
        db.session.commit()
    return [i for i in ids if i not in done]


def later_success(message: Message) -> Run | None:
    """A run of the same flow (same feed; else same account or store and kind) that
    succeeded after the message's run: what failed works again."""
    run = db.session.get(Run, message.import_job_id)
    if run is None:
        return None
    query = select(Run).where(
        Run.id > run.id, Run.status.in_((R.COMPLETED, R.COMPLETED_WITH_ERRORS))
    )
    if run.feed_id is not None:
        query = query.where(Run.feed_id == run.feed_id)
    elif run.account_id is not None:
        query = query.where(Run.account_id == run.account_id, Run.kind == run.kind)
    else:
        query = query.where(Run.store_id == run.store_id, Run.kind == run.kind)
    return db.session.scalar(query.order_by(Run.id).limit(1))


# Causes a later successful execution of the same flow proves fixed. A failed call to the
# marketplace is not: the next execution may have sent other calls, so its handler checks.
FLOW_CAUSES = {"connector_error"}


def _flow_closes(message: Message) -> bool:
    return message.error_type in FLOW_CAUSES or message.error_type not in HANDLERS


def _wait(message: Message, detail: str) -> None:
    """No handler: the feed's own retry redoes it; count the pass, raise it when exhausted."""
    message.attempts += 1
    message.last_retry_error = detail
    if message.attempts >= MAX_ATTEMPTS:
        message.severity = R.ERROR
        message.next_retry_at = None
    else:
        message.next_retry_at = utcnow() + backoff(message.attempts)
    db.session.commit()


def sweep(now=None) -> dict[str, int]:
    """Retry every due "retry" message (oldest first, a batch at a time).

    A message whose flow has succeeded since is resolved without a new call. A failed call
    to a marketplace is left to the one sender's backoff, which closes it when it is sent.
    One with a handler is retried by it; one without is left to its feed's retry
    (webapp.feeds.sweep) and counted, so it still reaches a person after MAX_ATTEMPTS passes.
    """
    now = now or utcnow()
    # Every open retry message, not only the due ones: a later success closes a message at
    # once, however long its backoff still runs; only the due ones are retried.
    ids = list(
        db.session.scalars(
            select(Message.id)
            .where(
                Message.severity == R.RETRY,
                Message.resolved_at.is_(None),
                Message.row_number.is_(None),
            )
            .order_by(Message.id)
            .limit(SWEEP_BATCH)
        )
    )
    tally = {"resolved": 0, "failed": 0, "raised": 0}
    for message_id in ids:
        message = db.session.get(Message, message_id)
        if message.resolved_at is not None or message.severity != R.RETRY:
            continue  # closed or superseded by an earlier retry in this pass
        if message.error_type in RETRIED_ELSEWHERE:
            continue  # its own retry sends it and closes it: no second loop
        success = later_success(message) if _flow_closes(message) else None
        if success is not None:
            message.resolved_at, message.resolved_by = utcnow(), f"execution #{success.id}"
            message.next_retry_at = None
            db.session.commit()
            tally["resolved"] += 1
            continue
        if message.next_retry_at is not None and message.next_retry_at > now:
            continue  # still backing off
        if retryable(message):
            outcome = retry_message(message, "sweep")
            current = db.session.get(Message, outcome.superseded_by or message_id)
        else:
            _wait(message, "Waiting for the feed's next execution.")
            current, outcome = message, Outcome(False)
        if outcome.resolved:
            tally["resolved"] += 1
        elif current.severity == R.ERROR:
            tally["raised"] += 1
        else:
            tally["failed"] += 1
    return tally


# Handlers --------------------------------------------------------------------------------


def _subject(message: Message, kind: str):
    if message.subject_type != kind or message.subject_id is None:
        return None
    from webapp.models import Order

    model = {"order": Order, "account": Account}[kind]
    return db.session.get(model, message.subject_id)


@handler("unknown_sku")
def rematch_order_lines(message: Message) -> Outcome:
    """The catalog may have the product now: match the waiting lines against it again.

    An entry per SKU (the inbox's) rematches every waiting line of that SKU in the store;
    an older entry per order (before migration 0013) that order's unmatched lines."""
    from webapp.models import OrderItem
    from webapp.orders import matching

    if message.subject_type == matching.SKU_SUBJECT:
        sku = message.identifier or ""
        summary = matching.rematch(message.store_id, [sku], by=f"retry of #{message.id}")
        if summary["resolved"]:
            return Outcome(True, "The catalog has it now: the waiting lines are matched.")
        if not sku:
            return Outcome(False, "These lines have no SKU: nothing to look up.")
        return Outcome(False, f'Still no product with the id or GTIN "{sku}".')
    order = _subject(message, "order")
    if order is None:
        return Outcome(False, "The order no longer exists.")
    lines = list(
        db.session.scalars(
            select(OrderItem).where(OrderItem.order_id == order.id, ~OrderItem.matched)
        )
    )
    found = matching.find(order.store_id, [(line.sku, line.gtin) for line in lines])
    missing = []
    for line in lines:
        match = found.get((line.sku or None, line.gtin or None))
        if match is None:
            missing.append(line.sku)
            continue
        line.marketplace_product_id, line.product_id = (
            match.marketplace_product_id,
            match.product_id,
        )
        line.matched = True
    db.session.commit()
    if missing:
        return Outcome(False, f"Still no product with SKU {', '.join(map(repr, missing))}.")
    return Outcome(True, "Every line now matches a product.")


@handler("connector_error")
def reimport_account_orders(message: Message) -> Outcome:
    """The marketplace could not be read: poll the account again (a later success counts)."""

    account = _subject(message, "account")
    if account is None:
        return Outcome(False, "The account no longer exists.")
    if account.is_retired:
        return Outcome(False, "The account is retired: reinstate it to poll it again.")
    # A poll that succeeded after the failed one already proves it works again.
    later = later_success(message)
    if later is not None:
        return Outcome(True, f"Execution #{later.id} read the marketplace since.")
    run = _poll_again(account)
    if run is None:
        return Outcome(False, "An execution of this feed is running: the next sweep checks it.")
    if run.status in (R.COMPLETED, R.COMPLETED_WITH_ERRORS):
        return Outcome(True, f"Execution #{run.id} read the marketplace.")
    fresh = db.session.scalar(
        select(Message.id)
        .where(Message.import_job_id == run.id, Message.error_type == "connector_error")
        .limit(1)
    )
    return Outcome(False, run.error_message or "The marketplace still fails.", superseded_by=fresh)


def _poll_again(account: Account) -> Run | None:
    """Poll the account through its order-import feed (one execution per feed, trigger
    "retry"), or directly when it has none. None: the feed is running right now."""
    from webapp.orders.service import import_orders

    run = import_orders(account, trigger="retry")
    return None if run.status in R.ACTIVE_STATUSES else run


@handler("outbound_failed", swept=False)
def resend_outbound(message: Message) -> Outcome:
    """A call to the marketplace (a merchant order id...) was not sent: send it now, once."""
    from webapp.models.outbound import FAILED, SENT, UNKNOWN, OutboundCall
    from webapp.outbound import send_owed

    def calls():
        return db.session.scalars(
            select(OutboundCall).where(
                OutboundCall.subject_type == message.subject_type,
                OutboundCall.subject_id == message.subject_id,
            )
        ).all()

    found = calls()
    if not found:
        return Outcome(False, "Nothing was recorded to send for this subject.")
    if all(c.status == SENT for c in found):
        return Outcome(True, "Sent.")
    account = db.session.get(Account, found[0].account_id)
    if account is None or account.is_retired:
        return Outcome(False, "The account is retired: reinstate it to send.")
    for call in found:
        if call.status in (FAILED, UNKNOWN):  # a person asked (and checked): due now
            call.status, call.next_attempt_at = FAILED, utcnow()
    db.session.commit()
    send_owed(account, trigger="retry")
    db.session.expire_all()
    found = calls()
    if all(c.status == SENT for c in found):
        return Outcome(True, "Sent.")
    errors = sorted({c.last_error for c in found if c.last_error})
    return Outcome(False, "; ".join(errors) or "Not sent yet (test mode records, never sends).")


@handler("order_action_stuck")
def check_stuck_action(message: Message) -> Outcome:
    """An order action the marketplace had not settled long after it was sent
    (webapp/orders/shipping.py flags it): closed once the shipping confirmation saw it
    processed or failed; still in flight, it waits (and reaches a person after MAX_ATTEMPTS)."""
    from webapp.models import OrderAction

    data = message.row_data if isinstance(message.row_data, dict) else {}
    action = db.session.get(OrderAction, data.get("order_action_id") or 0)
    if action is None:
        return Outcome(True, "The order action no longer exists.")
    if action.state in ("processed", "failed"):
        return Outcome(True, f"The marketplace has {action.state} it.")
    return Outcome(
        False,
        f"Still {action.state} at the marketplace: the shipping confirmation follows it.",
    )
