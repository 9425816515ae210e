"""Write unified orders into the order book.

The first sighting of an order decides where it goes: the book (with its
status, lines and addresses) or the parked list (not yet paid or authorised).
Later sightings move its status only, with a history entry, and never touch
its lines or addresses.  Uniqueness is the database's: an insert that loses a
race to another worker becomes an update of the winner's row.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import timedelta

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import defer

from connectors.orders import BOOK, UnifiedOrder
from webapp.extensions import db
from webapp.models import (
    Account,
    MarketplaceProduct,
    Order,
    OrderItem,
    OrderStatusHistory,
    ParkedOrder,
    Product,
)
from webapp.models.base import utcnow
from webapp.models.orders import CANCELLED

RECHECK_EVERY = timedelta(hours=1)
CREATED, UPDATED, UNCHANGED, PARKED, DROPPED = (
    "created",
    "updated",
    "unchanged",
    "parked",
    "dropped",
)


@dataclass
class Note:
    severity: str  # info | warning | retry | error
    error_type: str
    message: str


@dataclass
class Outcome:
    kind: str
    order: Order | None = None
    notes: list[Note] = field(default_factory=list)
    parked: ParkedOrder | None = None


def _find(model, account: Account, unified: UnifiedOrder):
    return db.session.scalar(
        select(model).where(
            model.account_id == account.id,
            model.channel == unified.channel,
            model.channel_order_id == unified.channel_order_id,
        )
    )


class PageLookup:
    """The orders and parked orders of one page, read in two queries instead of two each."""

    def __init__(self, account: Account, page: list[UnifiedOrder]):
        keys = {(u.channel, u.channel_order_id) for u in page}
        ids = sorted({key[1] for key in keys})
        self.orders = self._load(Order, account, ids, keys)
        self.parked = self._load(ParkedOrder, account, ids, keys)

    @staticmethod
    def _load(model, account, ids, keys) -> dict:
        if not ids:
            return {}
        query = select(model).where(model.account_id == account.id, model.channel_order_id.in_(ids))
        # A poll compares statuses: the payloads (JSON) are loaded only if something reads them.
        heavy = ("raw", "shipping_address", "billing_address", "payload")
        query = query.options(*(defer(getattr(model, c)) for c in heavy if hasattr(model, c)))
        rows = db.session.scalars(query)
        return {
            (row.channel, row.channel_order_id): row
            for row in rows
            if (row.channel, row.channel_order_id) in keys
        }


def apply(
    account: Account, unified: UnifiedOrder, *, changed_by: str, lookup: PageLookup | None = None
) -> Outcome:
    """Put one order where it belongs; the caller commits."""
    key = (unified.channel, unified.channel_order_id)
    order = lookup.orders.get(key) if lookup else _find(Order, account, unified)
    if order is not None:
        return _move_status(order, unified, changed_by)
    parked = lookup.parked.get(key) if lookup else _find(ParkedOrder, account, unified)
    if unified.disposition != BOOK:
        outcome = _park(account, unified, parked)
        if lookup is not None and parked is None:
            lookup.parked[key] = outcome.parked  # the same order twice in a page parks once
        return outcome
    if parked is not None and parked.outcome is None and unified.status == CANCELLED:
        parked.outcome, parked.resolved_at = "cancelled", utcnow()
        return Outcome(
            DROPPED,
            notes=[
                Note(
                    "info",
                    "cancelled_before_payment",
                    f"Order {unified.channel_order_id} ({unified.channel}) was cancelled "
                    "before it was paid: nothing to do.",
                )
            ],
        )
    outcome = _create(account, unified, changed_by)
    if parked is not None and parked.outcome is None:
        parked.outcome, parked.resolved_at = "imported", utcnow()
    if lookup is not None and outcome.order is not None:
        lookup.orders[key] = outcome.order
    return outcome


def _move_status(order: Order, unified: UnifiedOrder, changed_by: str) -> Outcome:
    if (order.marketplace_status, order.status) == (unified.marketplace_status, unified.status):
        return Outcome(UNCHANGED, order)
    order.status_history.append(
        OrderStatusHistory(
            from_status=order.status,
            to_status=unified.status,
            from_marketplace_status=order.marketplace_status,
            to_marketplace_status=unified.marketplace_status,
            changed_by=changed_by,
        )
    )
    order.status = unified.status
    order.marketplace_status = unified.marketplace_status
    order.marketplace_updated_at = unified.updated_at
    return Outcome(UPDATED, order)


def _park(account: Account, unified: UnifiedOrder, parked: ParkedOrder | None) -> Outcome:
    now = utcnow()
    if parked is None:
        parked = ParkedOrder(
            store_id=account.store_id,
            account_id=account.id,
            channel=unified.channel,
            channel_order_id=unified.channel_order_id,
            marketplace_status=unified.marketplace_status,
            payload=unified.raw,
            next_check_at=now + RECHECK_EVERY,
        )
        savepoint = db.session.begin_nested()
        db.session.add(parked)
        try:
            savepoint.commit()
        except IntegrityError:
            # Another worker parked it first: update theirs.
            savepoint.rollback()
            parked = _find(ParkedOrder, account, unified)
    parked.marketplace_status = unified.marketplace_status
    parked.payload = unified.raw
    parked.next_check_at = now + RECHECK_EVERY
    parked.outcome = None
    return Outcome(
        PARKED,
        parked=parked,
        notes=[
            Note(
                "info",
                "order_parked",
                f"Order {unified.channel_order_id} ({unified.channel}) is not paid or "
                f"authorised yet ({unified.marketplace_status}); it is rechecked every hour.",
            )
        ],
    )


def _create(account: Account, unified: UnifiedOrder, changed_by: str) -> Outcome:
    order = Order(
        store_id=account.store_id,
        account_id=account.id,
        channel=unified.channel,
        channel_order_id=unified.channel_order_id,
        marketplace_status=unified.marketplace_status,
        status=unified.status,
        customer_email=unified.customer_email,
        customer_name=unified.customer_name,
        customer_phone=unified.customer_phone,
        shipping_address=unified.shipping_address,
        billing_address=unified.billing_address,
        anonymized=unified.anonymized,
        subtotal=unified.subtotal,
        shipping_cost=unified.shipping_cost,
        tax_amount=unified.tax_amount,
        discount_amount=unified.discount_amount,
        total=unified.total,
        currency=unified.currency,
        original_total=unified.original_total,
        original_currency=unified.original_currency,
        ordered_at=unified.ordered_at,
        marketplace_updated_at=unified.updated_at,
        raw=unified.raw,
    )
    if unified.merchant_order_ids:  # the marketplace already holds a merchant order id
        order.merchant_order_id = unified.merchant_order_ids[0]
        order.acknowledged_at = utcnow()
    products = _products_by_sku(account.store_id, [line.sku for line in unified.lines])
    notes = []
    for line in unified.lines:
        product_id = products.get(line.sku) if line.sku else None
        order.items.append(
            OrderItem(
                channel_line_id=line.channel_line_id,
                sku=line.sku,
                product_name=line.title,
                gtin=line.gtin,
                quantity=line.quantity,
                unit_price=line.unit_price,
                total=line.total,
                line_status=line.line_status,
                product_id=product_id,
                matched=product_id is not None,
            )
        )
        if product_id is None:
            notes.append(
                Note(
                    "error",
                    "unknown_sku",
                    f"Order {unified.channel_order_id}: no product of the store has SKU "
                    f"{line.sku!r}; the line was imported unmatched.",
                )
            )
    order.status_history.append(
        OrderStatusHistory(
            from_status=None,
            to_status=order.status,
            to_marketplace_status=order.marketplace_status,
            changed_by=changed_by,
        )
    )
    savepoint = db.session.begin_nested()
    db.session.add(order)
    try:
        savepoint.commit()
    except IntegrityError:
        # Another worker booked it between our lookup and our insert: theirs stands.
        savepoint.rollback()
        winner = _find(Order, db.session.get(Account, order.account_id), unified)
        return _move_status(winner, unified, changed_by)
    return Outcome(CREATED, order, notes)


def _products_by_sku(store_id: int, skus: list[str | None]) -> dict[str, int]:
    wanted = sorted({s for s in skus if s})
    if not wanted:
        return {}
    rows = db.session.execute(
        select(MarketplaceProduct.marketplace_product_id, Product.id)
        .join(Product, Product.marketplace_product_id == MarketplaceProduct.id)
        .where(Product.store_id == store_id, MarketplaceProduct.marketplace_product_id.in_(wanted))
    ).all()
    return dict(rows)
