"""Giving a fulfillable order's digital lines their keys, never a key twice, never a purchase
twice.

For each digital line still ``pending`` (:func:`assign`, one transaction per order, the lines
locked ``FOR UPDATE`` so two workers on one order take turns):

1. keys from the store's pool: :func:`webapp.keys.pool.claim`, the one way a pool key is given
   (a guarded UPDATE per key: two claimers never get the same key);
2. what the pool lacks, bought from CodesWholesale through the store's supplier account: an
   outbound call ``supplier.buy_keys`` recorded in the same transaction, whose dedup key is
   Mercato's own reference for the line (``MER-<order>-<line>``), so a retried job or a second
   worker never records a second purchase; the one sender sends it once
   (:func:`webapp.outbound.send_owed`). Its answer (:func:`_bought`) stores the keys, encrypted,
   already given to the line, in the transaction that marks the call sent. An attempt whose
   answer was lost, or a sender that died between the purchase and its commit, is looked up by
   that reference in the supplier's order history (:func:`_look_up`) before anything is bought
   again. In test mode (the supplier account's) the purchase is a dry run: nothing is bought;
3. a line the pool cannot serve and nothing can buy waits with one inbox entry per order.

A text code is stored as text, an image code as an image key; a pre-order waits
(``pre_order``, :class:`webapp.models.digital.DigitalPreOrder`) until
:func:`recheck_pre_orders` finds its key. Once every digital line of an order has its keys,
:func:`deliver` queues the keys e-mail: the one place that does.
"""

from __future__ import annotations

import logging
from datetime import date

from sqlalchemy import case, func, insert, select, text

from connectors.codeswholesale import BUY_KEYS, parse_order
from connectors.errors import ConnectorError
from connectors.suppliers import CODE_IMAGE, CODE_PRE_ORDER, SupplierCode, SupplierOrder
from webapp.bulk import bulk_insert
from webapp.connector import connector_for
from webapp.digital.lines import with_keys
from webapp.digital.mail import order_language  # and registers the digital_keys e-mail
from webapp.extensions import db
from webapp.keys import codes, levels, pool
from webapp.models import (
    Account,
    DigitalKey,
    DigitalPreOrder,
    Message,
    Order,
    OrderItem,
    OutboundCall,
    Run,
)
from webapp.models import orders as O
from webapp.models import runs as R
from webapp.models.base import utcnow
from webapp.models.keys import IMAGE, SUPPLIER, TEXT
from webapp.models.outbound import DRY_RUN
from webapp.outbound.answers import answered
from webapp.outbound.record import call_row, record
from webapp.outbound.sender import send_owed
from webapp.runs import lifecycle
from webapp.runs.registry import OUT, flow
from webapp.runs.retries import Outcome, handler

log = logging.getLogger("mercato.digital")

NONE, PENDING, ASSIGNED, PRE_ORDER, SENT = "none", "pending", "assigned", "pre_order", "sent"
KEY_STATES = (NONE, PENDING, ASSIGNED, PRE_ORDER, SENT)
# An order is valid for fulfilment once paid and accepted, until it is shipped or cancelled.
FULFILLABLE = (O.CONFIRMED, O.PROCESSING, O.READY_FOR_SHIPMENT)
SUPPLIER_CONNECTOR = "codeswholesale"
LINE_SUBJECT = "order_item"
MISSING = "digital_keys_missing"
NO_ADDRESS = "digital_keys_no_address"
BATCH = 200  # orders per sweep step
ALERT_LOCK = 0x4B45_5950 << 20  # advisory lock namespace: a store's low-pool alerts

KEYS = DigitalKey.__table__
WAITING = DigitalPreOrder.__table__


def reference(line: OrderItem) -> str:
    """Mercato's own reference for the purchase of a line's keys (sent as the supplier order's
    ``orderId`` and echoed back): one line, one purchase, ever."""
    return f"MER-{line.order_id}-{line.id}"


def supplier_account(store_id: int) -> Account | None:
    """The store's supplier account (CodesWholesale), the oldest one not retired."""
    return db.session.scalar(
        select(Account)
        .where(
            Account.store_id == store_id,
            Account.connector == SUPPLIER_CONNECTOR,
            Account.retired_at.is_(None),
        )
        .order_by(Account.id)
        .limit(1)
    )


def wanted(line: OrderItem) -> int:
    return max(0, (line.quantity or 0) - (line.cancelled_quantity or 0))


def keys_of(line_id: int) -> int:
    return db.session.scalar(
        select(func.count()).select_from(KEYS).where(KEYS.c.order_item_id == line_id)
    )


def waiting_of(line_id: int) -> int:
    return db.session.scalar(
        select(func.count())
        .select_from(WAITING)
        .where(WAITING.c.order_item_id == line_id, WAITING.c.resolved_at.is_(None))
    )


def purchase_of(line_id: int) -> OutboundCall | None:
    return db.session.scalar(
        select(OutboundCall).where(
            OutboundCall.action == BUY_KEYS,
            OutboundCall.subject_type == LINE_SUBJECT,
            OutboundCall.subject_id == line_id,
        )
    )


def settle(line: OrderItem) -> str:
    """The line's key state from what it holds: every key (assigned), keys on pre-order
    (pre_order), or still some to get (pending). A line whose e-mail went stays sent."""
    if line.key_state == SENT:
        return SENT
    have = keys_of(line.id)
    if have >= wanted(line):
        state = ASSIGNED
    elif waiting_of(line.id):
        state = PRE_ORDER
    else:
        state = PENDING
    if line.key_state != state:
        line.key_state = state
    return state


def _summary() -> dict:
    return {
        "orders": 0,
        "assigned": 0,
        "from_pool": 0,
        "purchases": 0,
        "dry_run": 0,
        "pre_order": 0,
        "missing": 0,
        "skipped": 0,
        "errors": 0,
    }


def assign(run: Run, order_id: int, summary: dict | None = None) -> dict:
    """Give one order's pending digital lines their keys (one transaction, committed)."""
    summary = summary if summary is not None else _summary()
    order = db.session.get(Order, order_id)
    if order is None or order.status not in FULFILLABLE:
        summary["skipped"] += 1
        return summary
    lines = db.session.scalars(
        select(OrderItem)
        .where(
            OrderItem.order_id == order_id,
            OrderItem.is_digital.is_(True),
            OrderItem.key_state == PENDING,
        )
        .order_by(OrderItem.id)
        .with_for_update()
    ).all()
    if not lines:
        db.session.commit()
        return summary
    summary["orders"] += 1
    supplier = connector = None
    missing: list[str] = []
    for line in lines:
        want, have = wanted(line), keys_of(line.id)
        if purchase_of(line.id) is None and have < want:
            if line.sku or line.supplier_product_id:
                got = pool.claim(
                    order.store_id,
                    # A supplier product's line has the supplier's id as its SKU: one
                    # condition then, which the pool's partial index serves in key order.
                    sku=line.sku if line.sku != line.supplier_product_id else None,
                    supplier_product_id=line.supplier_product_id,
                    quantity=want - have,
                    order_item_id=line.id,
                )
                have += len(got)
                summary["from_pool"] += len(got)
            if have < want:
                supplier = supplier or supplier_account(order.store_id)
                if line.supplier_product_id and supplier is not None:
                    connector = connector or connector_for(supplier)
                    ref = reference(line)
                    params = {
                        "reference": ref,
                        "product_id": line.supplier_product_id,
                        "quantity": want - have,
                        "order_item_id": line.id,
                    }
                    row = call_row(
                        supplier, connector, BUY_KEYS, params, LINE_SUBJECT, line.id, ref
                    )
                    record([row])
                    summary["purchases"] += 1
                    summary["dry_run"] += row["status"] == DRY_RUN
                else:
                    missing.append(
                        f"{want - have} for SKU {line.sku or line.supplier_product_id or '?'}"
                    )
        state = settle(line)
        summary["assigned"] += state == ASSIGNED
        summary["pre_order"] += state == PRE_ORDER
    if missing:
        summary["missing"] += 1
        _note_missing(run, order, missing, supplier is not None)
    db.session.commit()
    return summary


def _open_entry(cause: str, order_id: int) -> bool:
    """Whether the order already has an open inbox entry of this cause (one per order)."""
    return (
        db.session.scalar(
            select(Message.id)
            .where(
                Message.error_type == cause,
                Message.subject_type == "order",
                Message.subject_id == order_id,
                Message.resolved_at.is_(None),
            )
            .limit(1)
        )
        is not None
    )


def _note_missing(run: Run, order: Order, missing: list[str], has_supplier: bool) -> None:
    """One open inbox entry per order whose keys nothing can provide."""
    if _open_entry(MISSING, order.id):
        return
    why = (
        "the store's key pool has none left"
        if has_supplier
        else "the store's key pool has none left and no CodesWholesale account buys them"
    )
    db.session.execute(
        insert(Message),
        [
            {
                "import_job_id": run.id,
                "severity": R.ERROR,
                "error_type": MISSING,
                "error_message": (
                    f"Order {order.channel_order_id} waits for keys ({', '.join(missing)}): "
                    f"{why}. Upload keys to the pool, then retry this order's fulfilment."
                ),
                "identifier": order.channel_order_id,
                "subject_type": "order",
                "subject_id": order.id,
                "created_at": utcnow(),
            }
        ],
    )
    run.error_count += 1


def assign_keys(run: Run, order_ids) -> dict:
    """Give the digital lines of these orders their keys, then have the purchases they owe
    sent (each supplier account's sender, inline). One bad order never stops the rest."""
    summary = _summary()
    stores: set[int] = set()
    claimed: set[int] = set()  # the stores whose pool gave keys
    for order_id in sorted(set(order_ids)):
        before = summary["from_pool"]
        try:
            assign(run, order_id, summary)
        except Exception as exc:  # noqa: BLE001 - one order's fault is its own
            db.session.rollback()
            log.exception("digital fulfilment of order %s failed", order_id)
            summary["errors"] += 1
            lifecycle.note(
                run,
                R.ERROR,
                "digital_fulfilment_failed",
                f"The digital lines of order #{order_id} could not be given keys: {exc}",
                subject_type="order",
                subject_id=order_id,
            )
            continue
        store_id = db.session.scalar(select(Order.store_id).where(Order.id == order_id))
        if store_id is not None:
            stores.add(store_id)
            if summary["from_pool"] > before:
                claimed.add(store_id)
    for store_id in sorted(claimed):
        # A pool that fell below the store's threshold raises its alert now, not at the
        # next upload.
        try:
            if db.session.get_bind().dialect.name == "postgresql":
                # Workers fulfilling at once take turns (one open alert per product): the
                # lock ends with refresh_alerts' commit.
                db.session.execute(
                    text("SELECT pg_advisory_xact_lock(:key)"), {"key": ALERT_LOCK + store_id}
                )
            levels.refresh_alerts(store_id, run.id)
        except Exception:  # noqa: BLE001 - the keys are given; the alert waits for the next run
            db.session.rollback()
            log.exception("key pool alerts of store %s not refreshed", store_id)
    if summary["purchases"]:
        for store_id in sorted(stores):
            supplier = supplier_account(store_id)
            if supplier is not None and supplier.is_live:
                sent = send_owed(supplier, trigger=run.trigger or "schedule")
                summary["sent"] = summary.get("sent", 0) + (sent.get("sent") or 0)
    return summary


# -- the purchase's answer ---------------------------------------------------------------------


def _look_up(connector, call) -> SupplierOrder | None:
    """The purchase made under the call's reference, if the supplier has one."""
    made = db.session.scalar(select(OutboundCall.created_at).where(OutboundCall.id == call.id))
    day = made.date() if made is not None else date.today()
    return connector.find_purchase(str(call.params["reference"]), day)


def key_row(store_id: int, line, code: SupplierCode, ref: str | None, now) -> dict:
    """A bought key as a ``digital_keys`` row, encrypted, already given to its line."""
    if code.kind == CODE_IMAGE:
        data = code.image_bytes()
        sealed, fingerprint, kind = (
            codes.seal_image(data),
            codes.fingerprint_image(store_id, data),
            IMAGE,
        )
    else:
        sealed, fingerprint, kind = (
            codes.seal(code.code),
            codes.fingerprint(store_id, code.code),
            TEXT,
        )
    return {
        "store_id": store_id,
        "sku": line.sku,
        "supplier_product_id": line.supplier_product_id,
        "source": SUPPLIER,
        "code_type": kind,
        "code_encrypted": sealed,
        "image_filename": code.filename if kind == IMAGE else None,
        "fingerprint": fingerprint,
        "supplier_order_ref": ref,
        "order_item_id": line.id,
        "assigned_at": now,
        "created_at": now,
        "updated_at": now,
    }


@answered(BUY_KEYS, look_up=_look_up)
def _bought(call, answer, now) -> None:
    """The keys a purchase bought, stored given to its line (in the sender's transaction that
    marks the call sent); its pre-orders wait; the line's state follows."""
    bought = answer if isinstance(answer, SupplierOrder) else parse_order(answer)
    line = db.session.get(OrderItem, call.subject_id)
    if line is None:  # the order went away: the keys are kept, given to nobody
        log.warning("purchase %s answered for a line that is gone", call.id)
        return
    store_id = db.session.scalar(select(Order.store_id).where(Order.id == line.order_id))
    ref = str(call.params.get("reference") or reference(line))
    got = bought.keys_for(str(call.params["product_id"])) or bought.codes
    keys, waits = [], []
    for code in got:
        if code.kind == CODE_PRE_ORDER or not code.code:
            waits.append(
                {
                    "store_id": store_id,
                    "account_id": call.account_id,
                    "order_item_id": line.id,
                    "supplier_order_ref": ref,
                    "code_id": code.code_id,
                    "created_at": now,
                }
            )
        else:
            keys.append(key_row(store_id, line, code, ref, now))
    bulk_insert(KEYS, keys, conflict=["store_id", "fingerprint"])
    bulk_insert(WAITING, waits, conflict=["account_id", "code_id"])
    settle(line)
    # The order's last keys came with this answer (a purchase the sender retried later):
    # its e-mail is queued in this transaction.
    queue_if_complete(line.order_id)


# -- pre-orders ----------------------------------------------------------------------------------


def recheck_pre_orders(run: Run, account: Account, limit: int = 500) -> dict:
    """Read the account's pre-ordered codes again; each that has its key now is stored and
    given to its line. Returns ``{"checked", "delivered", "errors"}`` and the orders touched."""
    summary = {"checked": 0, "delivered": 0, "errors": 0, "orders": []}
    rows = db.session.scalars(
        select(DigitalPreOrder)
        .where(DigitalPreOrder.account_id == account.id, DigitalPreOrder.resolved_at.is_(None))
        .order_by(DigitalPreOrder.id)
        .limit(limit)
    ).all()
    if not rows:
        return summary
    connector = connector_for(account)
    for waiting in rows:
        summary["checked"] += 1
        now = utcnow()
        try:
            code = connector.fetch_code(waiting.code_id)
        except ConnectorError as exc:
            db.session.rollback()
            summary["errors"] += 1
            lifecycle.note(
                run,
                exc.severity,
                "pre_order_check_failed",
                f"The pre-ordered key {waiting.code_id} could not be read: {exc}",
                subject_type="order_item",
                subject_id=waiting.order_item_id,
            )
            continue
        waiting.checked_at = now
        if code.ready:
            line = db.session.get(OrderItem, waiting.order_item_id)
            bulk_insert(
                KEYS,
                [key_row(waiting.store_id, line, code, waiting.supplier_order_ref, now)],
                conflict=["store_id", "fingerprint"],
            )
            waiting.resolved_at = now
            db.session.flush()
            settle(line)
            queue_if_complete(line.order_id)  # its last key: the e-mail goes
            summary["delivered"] += 1
            summary["orders"].append(line.order_id)
        db.session.commit()
    return summary


# -- the e-mail ----------------------------------------------------------------------------------


def complete(order_id: int) -> bool:
    """Every digital line of the order has its keys (and one at least still to be sent)."""
    states = db.session.scalars(
        select(OrderItem.key_state).where(
            OrderItem.order_id == order_id, OrderItem.is_digital.is_(True)
        )
    ).all()
    return bool(states) and all(s in (ASSIGNED, SENT) for s in states) and ASSIGNED in states


def undelivered_orders(store_id: int, limit: int = BATCH) -> list[int]:
    """Orders of the store whose digital lines all have their keys and some still wait for
    the e-mail: those whose last keys came later than their fulfilment (a purchase retried by
    the sender, a pre-order delivered). Queuing their e-mail again is harmless (one message
    per order)."""
    line = OrderItem.__table__
    digital = line.c.is_digital.is_(True)
    return list(
        db.session.scalars(
            select(line.c.order_id)
            .join(Order, Order.id == line.c.order_id)
            .where(Order.store_id == store_id, Order.status.in_(FULFILLABLE), digital)
            .group_by(line.c.order_id)
            .having(
                func.sum(case((line.c.key_state.in_((ASSIGNED, SENT)), 0), else_=1)) == 0,
                func.sum(case((line.c.key_state == ASSIGNED, 1), else_=0)) > 0,
            )
            .order_by(line.c.order_id)
            .limit(limit)
        )
    )


def _queue(order: Order, *, resend: bool = False) -> int:
    """Record the order's keys e-mail in the caller's transaction (sent after its commit;
    once per order unless ``resend``). Raises ValueError when the order has no usable
    e-mail address."""
    from webapp.mail import queue_mail

    return queue_mail(
        store_id=order.store_id,
        account_id=order.account_id,  # the channel account's mode: test mode -> a dry run
        kind="digital_keys",
        to=order.customer_email or "",
        subject_type="order",
        subject_id=order.id,
        language=order_language(order),
        resend=resend,
    )


def queue_if_complete(order_id: int) -> bool:
    """Queue the keys e-mail, in the caller's transaction, if the order's last keys just came
    (a purchase answered later by the sender, a pre-order delivered). An order without a
    usable address is left for :func:`deliver`, which tells the inbox."""
    from webapp.mail import valid_address

    if not complete(order_id):
        return False
    order = db.session.get(Order, order_id)
    if order is None or not valid_address((order.customer_email or "").strip()):
        return False
    _queue(order)
    return True


def _note_no_address(run: Run, order: Order) -> None:
    """One open inbox entry per order whose keys cannot be e-mailed (no usable address)."""
    if _open_entry(NO_ADDRESS, order.id):
        return
    shown = order.customer_email or "none"
    lifecycle.note(
        run,
        R.ERROR,
        NO_ADDRESS,
        f"Order {order.channel_order_id} has its keys, but they cannot be e-mailed: the "
        f"customer's e-mail address ({shown}) is not one. Send the keys another way (they "
        "are revealed on the order's page).",
        identifier=order.channel_order_id,
        subject_type="order",
        subject_id=order.id,
        store_id=order.store_id,
    )
    run.error_count += 1


def deliver(order_id: int, *, resend: bool = False, run: Run | None = None) -> bool:
    """Queue the keys e-mail of an order whose digital lines all have their keys (the one
    place that does, with :func:`queue_if_complete`; the mail records one message per
    order, so calling it again is harmless) and commit. Returns whether it was queued; an
    order whose customer has no usable address is not (the ``run``'s inbox says so)."""
    if not resend and not complete(order_id):
        return False
    order = db.session.get(Order, order_id)
    try:
        _queue(order, resend=resend)
    except ValueError:
        db.session.rollback()
        if run is not None:
            _note_no_address(run, db.session.get(Order, order_id))
        return False
    db.session.commit()
    return True


# -- the flow ------------------------------------------------------------------------------------


def due_orders(account_id: int, limit: int = BATCH) -> list[int]:
    """Fulfillable orders of a channel account with digital lines still pending."""
    return list(
        db.session.scalars(
            select(Order.id)
            .where(
                Order.account_id == account_id,
                Order.status.in_(FULFILLABLE),
                select(OrderItem.id)
                .where(
                    OrderItem.order_id == Order.id,
                    OrderItem.is_digital.is_(True),
                    OrderItem.key_state == PENDING,
                )
                .exists(),
            )
            .order_by(Order.id)
            .limit(limit)
        )
    )


def fulfil_orders(run: Run, order_ids) -> dict:
    """Keys for these orders, then the e-mail of each that has all its keys."""
    summary = assign_keys(run, order_ids)
    delivered = 0
    for order_id in sorted(set(order_ids)):
        delivered += deliver(order_id, run=run)
    summary["delivered"] = delivered
    return summary


@flow(
    "fulfil_digital",
    label="Fulfil digital orders",
    direction=OUT,
    owner=None,
    run_kind="digital_fulfilment",
)
def fulfil_digital(run: Run) -> dict:
    """The channel account's fulfillable orders with digital lines still pending, a batch at
    a time: their keys, then their e-mails."""
    lifecycle.begin(run, "fulfilling")
    total = _summary()
    seen: set[int] = set()
    while True:
        ids = [i for i in due_orders(run.account_id) if i not in seen]
        if not ids:
            break
        seen.update(ids)
        part = fulfil_orders(run, ids)
        for k, v in part.items():
            total[k] = total.get(k, 0) + v
    run.total_processed = total["orders"]
    run.imported_count = total["assigned"]
    lifecycle.finish(run, R.COMPLETED_WITH_ERRORS if run.error_count else R.COMPLETED)
    return total


def start(account: Account, trigger: str = "schedule", *, inline: bool = False):
    """Start the digital fulfilment of a channel account (after its orders were booked)."""
    started = lifecycle.create(
        kind="digital_fulfilment", store_id=account.store_id, account=account, trigger=trigger
    )
    if started.started:
        if inline:
            return lifecycle.execute(started.run.id)
        lifecycle.enqueue(started.run)
    return started.run


def fulfil_now(order: Order, *, trigger: str = "cli", user_id: int | None = None) -> dict:
    """Fulfil one order inline (the CLI, the order page): an execution of the digital
    fulfilment for the order's channel account, finished before it returns."""
    account = db.session.get(Account, order.account_id)
    run = lifecycle.create(
        kind="digital_fulfilment",
        store_id=order.store_id,
        account=account,
        trigger=trigger,
        user_id=user_id,
    ).run
    lifecycle.begin(run, "fulfilling")
    summary = fulfil_orders(run, [order.id])
    run = db.session.get(Run, run.id)
    run.total_processed = summary["orders"]
    run.imported_count = summary["assigned"]
    lifecycle.finish(run, R.COMPLETED_WITH_ERRORS if run.error_count else R.COMPLETED)
    return {**summary, "run_id": run.id}


def masked_key(key: DigitalKey) -> str:
    """What a page or the CLI shows of a key without revealing it."""
    if key.code_type == IMAGE:
        return f"image {key.image_filename or ''}".strip()
    return codes.masked(codes.open_text(key))


def digital_lines(order_id: int) -> list[dict]:
    """The order's digital lines with their state and their keys masked."""
    lines, keys = with_keys(order_id)
    return [
        {
            "line_id": line.id,
            "sku": line.sku,
            "supplier_product_id": line.supplier_product_id,
            "quantity": line.quantity,
            "key_state": line.key_state,
            "keys": [
                {"id": k.id, "source": k.source, "type": k.code_type, "masked": masked_key(k)}
                for k in keys.get(line.id, [])
            ],
            "pre_orders_waiting": waiting_of(line.id),
        }
        for line in lines
    ]


@handler("digital_keys_missing")
def refulfil_digital(message: Message) -> Outcome:
    """An order waited for keys nothing could provide (the pool was empty): try again now
    (keys uploaded since are given, a purchase recorded if a supplier account came)."""

    order = db.session.get(Order, message.subject_id) if message.subject_id else None
    if order is None:
        return Outcome(True, "The order is gone.")
    if order.status not in FULFILLABLE:
        return Outcome(True, f"The order is {order.status}: no longer to fulfil.")
    fulfil_now(order, trigger="retry")
    db.session.expire_all()
    waiting = [
        f"{line['sku']}: {line['key_state']}"
        for line in digital_lines(order.id)
        if line["key_state"] == PENDING and purchase_of(line["line_id"]) is None
    ]
    if not waiting:
        return Outcome(True, "Every digital line has its keys or a purchase under way.")
    return Outcome(False, "Still waiting for keys (" + ", ".join(waiting) + ").")
