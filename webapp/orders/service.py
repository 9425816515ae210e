"""Order flows: the poll of one account's orders, and the recheck of its parked ones.

Both are flows (:mod:`webapp.runs.registry`): they receive the run the lifecycle created
for their feed and record on it.  Orders since the feed's cursor (its last successful sync,
less an overlap, so an order that moves while pages are read is seen again on the next
poll) are read page by page and written into the book; each page is one transaction.  The
cursor moves only when every page was read.  Afterwards the outbound sender follows the run
(:func:`webapp.runs.lifecycle.then`): every booked order the marketplace does not yet know
our id for is acknowledged, so a failed acknowledgement is retried by the next poll.

``import_orders`` and ``recheck_parked`` are the inline way in (the CLI, a person's retry):
an execution of the account's feed, through the lifecycle.
"""

from __future__ import annotations

import logging
from collections import Counter
from datetime import timedelta

from sqlalchemy import insert, select, text, update

from common.prefetch import prefetch
from connectors.base import Capability
from connectors.errors import ConnectorError
from webapp.bulk import Inserts
from webapp.connector import connector_for
from webapp.digital.fulfil import due_orders
from webapp.digital.lines import mark_digital
from webapp.extensions import db
from webapp.models import Account, Feed, Message, Run
from webapp.models import runs as R
from webapp.models.base import utcnow
from webapp.orders import matching
from webapp.orders.book import (
    CREATED,
    DROPPED,
    PARKED,
    RECHECK_EVERY,
    UNCHANGED,
    UPDATED,
    Note,
    apply_page,
    stock_subjects,
)
from webapp.outbound.record import ack_row, has_due, record
from webapp.runs import lifecycle
from webapp.runs.registry import flow
from webapp.stock.reservations import follow_orders

log = logging.getLogger("mercato.orders")

FIRST_SYNC_LOOKBACK = timedelta(days=7)
SYNC_OVERLAP = timedelta(minutes=10)


def _note(
    run_id: int,
    note: Note,
    *,
    order_id: int | None = None,
    account: Account | None = None,
    identifier: str | None = None,
) -> dict:
    return {
        "import_job_id": run_id,
        "severity": note.severity,
        "error_type": note.error_type,
        "error_message": note.message,
        "identifier": identifier,
        "subject_type": "order" if order_id is not None else ("account" if account else None),
        "subject_id": order_id if order_id is not None else (account.id if account else None),
        "created_at": utcnow(),
    }


def _write_page(run_id: int, account: Account, connector, page, changed_by: str):
    """Book one page, record its messages and the acknowledgements its new orders owe (in
    one statement with the page's lines and history). Returns the outcomes and the number of
    error messages, for the caller to count on the run; the caller commits."""
    inserts = Inserts()
    outcomes = apply_page(account, page, changed_by=changed_by, inserts=inserts)
    messages, acks, errors = [], [], 0
    for outcome in outcomes:
        if outcome.kind == CREATED and not outcome.unified.merchant_order_ids:
            row = ack_row(
                account,
                connector,
                outcome.order_id,
                outcome.unified.channel,
                outcome.unified.channel_order_id,
            )
            if row is not None:
                acks.append(row)
        for note in outcome.notes:
            errors += note.severity == "error"
            messages.append(
                _note(
                    run_id,
                    note,
                    order_id=outcome.order_id,
                    identifier=outcome.unified.channel_order_id,
                )
            )
    inserts.add(Message.__table__, messages)
    record(acks, inserts)
    inserts.write()
    # Lines of digital products get their keys later (webapp/digital): marked now, at once,
    # before the stock follows the orders booked or moved (reserve, ship, release; once
    # each): a digital line reserves no stock.
    digital = mark_digital([o.order_id for o in outcomes if o.kind == CREATED])
    follow_orders(account.store_id, stock_subjects(outcomes), actor=changed_by)
    # One inbox entry per SKU no catalog product has, not one per line (after the lines
    # are written: an entry closes at once if the catalog got the product meanwhile).
    unknown = {sku for outcome in outcomes for sku in outcome.unmatched}
    if unknown:
        errors += len(matching.record_unknown(run_id, account.store_id, account.id, unknown))
    return outcomes, errors, digital


RUNS = Run.__table__

COUNTERS = {
    CREATED: "imported_count",
    UPDATED: "updated_count",
    UNCHANGED: "unchanged_count",
    PARKED: "parked_count",
    DROPPED: "updated_count",  # a parked order resolved as cancelled
}


def _fail(run: Run, account: Account, exc: ConnectorError) -> None:
    """The marketplace could not be read: the run fails with a message graded as the error
    is (retry: it will work again by itself; error: a person must act), about the account."""
    db.session.rollback()
    db.session.execute(
        insert(Message),
        [_note(run.id, Note(exc.severity, "connector_error", str(exc)), account=account)],
    )
    run.error_count += 1
    run.status = R.FAILED
    run.error_message = str(exc)


@flow("update_orders", label="Update orders", run_kind="order_import", interval_seconds=300)
@flow(
    "import_orders",
    label="Import new orders",
    run_kind="order_import",
    capability=Capability.ORDERS_IN,
    interval_seconds=300,
    cursor=True,
)
def poll_orders(run: Run) -> None:
    """Read the account's orders since its feed's cursor into the book."""
    account = run.account
    feed = _cursor_feed(run)
    started = utcnow()
    run.phase = "downloading"
    db.session.commit()
    since = (
        (feed.last_sync_at - SYNC_OVERLAP)
        if feed is not None and feed.last_sync_at
        else (started - FIRST_SYNC_LOOKBACK)
    )
    changed_by = f"marketplace:{account.connector}"
    try:
        connector = connector_for(account)
        # The next page is fetched while this one is written.
        pages = prefetch(connector.fetch_orders(since.strftime("%Y-%m-%dT%H:%M:%SZ")))
        postgresql = db.session.get_bind().dialect.name == "postgresql"
        # The run's counters as this import has them, written to its row after each page
        # with one UPDATE: through the ORM, each page's commit would expire the run and the
        # next page's flush read it back first.
        run_id, totals = run.id, Counter()
        for page in pages:
            if postgresql:
                # A page's commit does not wait for its WAL flush. Nothing is lost that
                # matters: the run's final commit, and the claim commit of the step that
                # sends acknowledgements, are synchronous and flush every earlier page first,
                # and a page lost in a crash is read again (the sync cursor moves at the end).
                db.session.execute(text("SET LOCAL synchronous_commit TO OFF"))
            outcomes, errors, _ = _write_page(run_id, account, connector, page, changed_by)
            totals.update(COUNTERS[o.kind] for o in outcomes)
            totals["error_count"] += errors
            totals["total_processed"] += len(page)
            db.session.execute(update(RUNS).where(RUNS.c.id == run_id).values(**totals))
            db.session.commit()
        if feed is not None:
            feed.last_sync_at = started
        db.session.commit()
    except ConnectorError as exc:
        _fail(run, account, exc)
    else:
        run.status = R.COMPLETED_WITH_ERRORS if run.error_count else R.COMPLETED
    lifecycle.finish(run, run.status, run.error_message)
    if account.is_live and has_due(account):
        # Acknowledgements are their own step, after the orders are committed.
        lifecycle.then(run, "send_outbound")
    if due_orders(account.id, limit=1):
        # Digital lines get their keys in their own step too (webapp/digital).
        lifecycle.then(run, "fulfil_digital")
    log.info(
        "job=import_orders run_id=%s account_id=%s state=%s fetched=%s created=%s "
        "updated=%s unchanged=%s parked=%s errors=%s",
        run.id,
        account.id,
        run.status,
        run.total_processed,
        run.imported_count,
        run.updated_count,
        run.unchanged_count,
        run.parked_count,
        run.error_count,
    )


def _cursor_feed(run: Run) -> Feed | None:
    """The feed whose cursor the poll reads and moves: its own, or (a poll of no feed) the
    account's order-import feed."""
    if run.feed is not None and run.feed.kind == "import_orders":
        return run.feed
    return lifecycle.account_feed(run.account, "import_orders")


def import_orders(account: Account, *, trigger: str = "cli", user_id: int | None = None) -> Run:
    """Poll the account now, inline, as an execution of its order-import feed; the run
    already executing that feed when there is one."""
    return _inline(account, "import_orders", "order_import", trigger, user_id)


def _inline(account: Account, feed_kind: str, run_kind: str, trigger: str, user_id=None) -> Run:
    feed = lifecycle.account_feed(account, feed_kind)
    started = lifecycle.create(
        kind=run_kind,
        store_id=account.store_id,
        feed=feed,
        account=account,
        trigger=trigger,
        user_id=user_id,
    )
    if not started.started:
        return started.run
    return lifecycle.execute(started.run.id)


@flow(
    "recheck_parked_orders",
    label="Recheck parked orders",
    run_kind="order_recheck",
    capability=Capability.ORDERS_IN,
    interval_seconds=3600,
)
def recheck_due(run: Run, limit: int = 500) -> None:
    """Look again at the account's parked orders that are due: imported once valid, dropped
    (with an info message) once cancelled, otherwise rechecked an hour later."""
    from webapp.models import ParkedOrder

    account = run.account
    now = utcnow()
    due = db.session.scalars(
        select(ParkedOrder)
        .where(
            ParkedOrder.account_id == account.id,
            ParkedOrder.outcome.is_(None),
            ParkedOrder.next_check_at <= now,
        )
        .order_by(ParkedOrder.next_check_at)
        .limit(limit)
    ).all()
    try:
        connector = connector_for(account)
        if not connector.supports(Capability.ORDER_LOOKUP):
            raise ConnectorError(f"{account.connector} cannot look up one order")
        for parked in due:
            run.total_processed += 1
            parked.checks += 1
            unified = connector.fetch_order(parked.channel, parked.channel_order_id)
            if unified is None:
                parked.next_check_at = now + timedelta(hours=1)
                continue
            changed_by = f"marketplace:{account.connector}"
            (outcome,), errors, _ = _write_page(run.id, account, connector, [unified], changed_by)
            run.error_count += errors
            if outcome.kind == CREATED:
                run.imported_count += 1
            elif outcome.kind == PARKED:
                run.parked_count += 1
                parked.next_check_at = now + RECHECK_EVERY
            else:
                run.updated_count += 1
            db.session.commit()
        run.status = R.COMPLETED
    except ConnectorError as exc:
        _fail(run, account, exc)
    lifecycle.finish(run, run.status, run.error_message)
    if account.is_live and run.imported_count and has_due(account):
        lifecycle.then(run, "send_outbound")  # orders booked now owe their acknowledgement


def recheck_parked(account: Account, *, trigger: str = "schedule") -> Run:
    """Recheck the account's parked orders now, inline, as an execution of its feed."""
    return _inline(account, "recheck_parked_orders", "order_recheck", trigger)
