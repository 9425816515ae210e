"""Write unified orders into the order book, one page at a time.

The first sighting of an order decides where it goes: the book (with its
status, lines and addresses) or the parked list (not yet paid or authorised).
Later sightings move its status only, with a history entry, and never touch
its lines or addresses.

A page costs a handful of statements whatever its size: one query reads the
page's booked and one its parked orders (id and statuses only; one query for
both on PostgreSQL), new orders go in with one multi-row ``INSERT ... ON
CONFLICT DO NOTHING RETURNING``, their lines and first history entries with one
executemany each on SQLite, and on PostgreSQL in one statement together with the
page's messages and acknowledgements (:class:`webapp.bulk.Inserts`).  An unchanged order
(same marketplace status) costs nothing more than its share of the lookup.
Uniqueness is the database's: an order another worker booked between our
lookup and our insert is skipped by ``ON CONFLICT`` and then treated as the
existing order it is; a status move updates only a row still in the status we
read, so two workers moving the same order leave one history entry.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import timedelta

from sqlalchemy import and_, bindparam, select, text, update

from connectors.orders import BOOK, UnifiedOrder
from webapp.bulk import Inserts, bulk_insert
from webapp.digital.lines import mark_digital
from webapp.extensions import db
from webapp.models import (
    Account,
    Order,
    OrderItem,
    OrderStatusHistory,
    ParkedOrder,
)
from webapp.models.base import utcnow
from webapp.models.orders import CANCELLED
from webapp.orders import matching
from webapp.stock.reservations import follow_orders

RECHECK_EVERY = timedelta(hours=1)
CREATED, UPDATED, UNCHANGED, PARKED, DROPPED = (
    "created",
    "updated",
    "unchanged",
    "parked",
    "dropped",
)

ORDERS = Order.__table__
ITEMS = OrderItem.__table__
HISTORY = OrderStatusHistory.__table__
PARKED_TABLE = ParkedOrder.__table__


@dataclass
class Note:
    severity: str  # info | warning | retry | error
    error_type: str
    message: str


@dataclass
class Outcome:
    kind: str
    unified: UnifiedOrder
    order_id: int | None = None
    notes: list[Note] = field(default_factory=list)
    # SKUs of the order's lines no catalog product matched (webapp/orders/matching.py): the
    # caller opens one inbox entry per SKU, not one per line.
    unmatched: list[str] = field(default_factory=list)


@dataclass
class _Booked:
    """What the page needs to know of a booked order: never the whole row."""

    id: int | None
    marketplace_status: str | None
    status: str


@dataclass
class _Parked:
    id: int | None
    marketplace_status: str | None
    outcome: str | None


@dataclass
class _New:
    """An order first seen on this page, booked when the page is written."""

    unified: UnifiedOrder
    outcomes: list[Outcome]
    # (from_status, to_status, from_marketplace_status, to_marketplace_status), first: None ->
    moves: list[tuple] = field(default_factory=list)


def _key(unified: UnifiedOrder) -> tuple[str, str]:
    return (unified.channel, unified.channel_order_id)


# PostgreSQL: one index probe per key, whatever the statistics say. With lists on two of the
# unique index's three columns, a planner without fresh statistics (a new account's first
# import) scans every order of the account on each page instead.
PG_LOOKUP = """
SELECT o.id, o.channel, o.channel_order_id, o.marketplace_status, o.{extra}
FROM unnest(CAST(:channels AS text[]), CAST(:ids AS text[])) AS k(channel, channel_order_id)
CROSS JOIN LATERAL (
    SELECT id, channel, channel_order_id, marketplace_status, {extra} FROM {table} AS t
    WHERE t.account_id = :account AND t.channel = k.channel
      AND t.channel_order_id = k.channel_order_id
    LIMIT 1
) AS o
"""


# Both tables in one round trip; each row says which it came from. (Table and column names
# are constants.)
PG_LOOKUP_BOTH = (  # noqa: S608
    "SELECT 'booked' AS found, b.* FROM ({booked}) AS b UNION ALL "
    "SELECT 'parked', p.* FROM ({parked}) AS p"
).format(
    booked=PG_LOOKUP.format(table="orders", extra="status"),
    parked=PG_LOOKUP.format(table="parked_orders", extra="outcome"),
)


def _rows(table, extra: str, account: Account, keys: set[tuple[str, str]]):
    """SQLite: both key columns in the condition, so the unique index answers with probes."""
    return db.session.execute(
        select(table.c.id, table.c.channel, table.c.channel_order_id)
        .add_columns(table.c.marketplace_status, table.c[extra])
        .where(
            table.c.account_id == account.id,
            table.c.channel.in_(sorted({k[0] for k in keys})),
            table.c.channel_order_id.in_(sorted({k[1] for k in keys})),
        )
    )


def _lookup(account: Account, keys: set[tuple[str, str]]):
    booked: dict[tuple[str, str], _Booked] = {}
    parked: dict[tuple[str, str], _Parked] = {}
    if not keys:
        return booked, parked
    if db.session.get_bind().dialect.name == "postgresql":
        ordered = sorted(keys)
        for found, *row in db.session.execute(
            text(PG_LOOKUP_BOTH),
            {
                "channels": [k[0] for k in ordered],
                "ids": [k[1] for k in ordered],
                "account": account.id,
            },
        ):
            key = (row[1], row[2])
            if found == "booked":
                booked[key] = _Booked(row[0], row[3], row[4])
            else:
                parked[key] = _Parked(row[0], row[3], row[4])
        return booked, parked
    for row in _rows(ORDERS, "status", account, keys):
        key = (row[1], row[2])
        if key in keys:
            booked[key] = _Booked(row[0], row[3], row[4])
    for row in _rows(PARKED_TABLE, "outcome", account, keys):
        key = (row[1], row[2])
        if key in keys:
            parked[key] = _Parked(row[0], row[3], row[4])
    return booked, parked


def apply_page(
    account: Account,
    page: list[UnifiedOrder],
    *,
    changed_by: str,
    inserts: Inserts | None = None,
) -> list[Outcome]:
    """Put every order of a page where it belongs; one outcome per order, in page order.

    The caller commits (one transaction per page). The same order twice on a page is
    written once: later sightings act on what the earlier ones left. New orders are inserted
    at once (their ids are needed); their lines and history, and new parked orders, go into
    ``inserts`` when given, for the caller to write with its own rows, else are written here.
    """
    own = inserts is None
    if inserts is None:
        inserts = Inserts()
    now = utcnow()
    booked, parked = _lookup(account, {_key(u) for u in page})
    outcomes: list[Outcome] = []
    new: dict[tuple[str, str], _New] = {}
    moves: list[tuple[_Booked, Outcome, tuple]] = []
    park_inserts: dict[tuple[str, str], dict] = {}
    park_updates: dict[int, dict] = {}
    resolved: dict[int, tuple[str, object]] = {}

    for unified in page:
        key = _key(unified)
        mp, status = unified.marketplace_status, unified.status
        order = booked.get(key)
        if order is not None:
            outcome = Outcome(UNCHANGED, unified, order.id)
            if (order.marketplace_status, order.status) != (mp, status):
                outcome.kind = UPDATED
                moves.append((order, outcome, (order.status, status, order.marketplace_status, mp)))
                order.marketplace_status, order.status = mp, status
            outcomes.append(outcome)
            continue
        pending = new.get(key)
        if pending is not None:  # booked earlier on this very page
            outcome = Outcome(UNCHANGED, unified)
            last = pending.moves[-1]
            if (last[3], last[1]) != (mp, status):
                outcome.kind = UPDATED
                pending.moves.append((last[1], status, last[3], mp))
            pending.outcomes.append(outcome)
            outcomes.append(outcome)
            continue
        waiting = parked.get(key)
        if unified.disposition != BOOK:
            outcomes.append(
                _park(account, unified, waiting, parked, park_inserts, park_updates, now)
            )
            continue
        if waiting is not None and waiting.outcome == "cancelled" and status == CANCELLED:
            outcomes.append(Outcome(UNCHANGED, unified))  # dropped before, still cancelled
            continue
        if waiting is not None and waiting.outcome is None and status == CANCELLED:
            waiting.outcome = "cancelled"
            _resolve(waiting, key, "cancelled", park_inserts, resolved, now)
            outcomes.append(
                Outcome(
                    DROPPED,
                    unified,
                    notes=[
                        Note(
                            "info",
                            "cancelled_before_payment",
                            f"Order {unified.channel_order_id} ({unified.channel}) was "
                            "cancelled before it was paid: nothing to do.",
                        )
                    ],
                )
            )
            continue
        if waiting is not None and waiting.outcome is None:
            waiting.outcome = "imported"
            _resolve(waiting, key, "imported", park_inserts, resolved, now)
        outcome = Outcome(CREATED, unified)
        new[key] = _New(unified, [outcome], [(None, status, None, mp)])
        outcomes.append(outcome)

    if new:
        _book(account, new, booked, moves, changed_by, now, inserts)
    if moves:
        _move(moves, changed_by, now, inserts)
    if park_inserts:
        inserts.add(
            PARKED_TABLE,
            [_park_row(park_inserts[k]) for k in sorted(park_inserts)],
            conflict=["account_id", "channel", "channel_order_id"],
        )
    if park_updates:
        db.session.execute(
            update(PARKED_TABLE)
            .where(PARKED_TABLE.c.id == bindparam("b_id"))
            .values(
                marketplace_status=bindparam("b_status"),
                payload=bindparam("b_payload"),
                next_check_at=bindparam("b_next"),
                outcome=None,
                resolved_at=None,
                updated_at=now,
            ),
            [park_updates[k] for k in sorted(park_updates)],
        )
    for parked_id, (resolution, when) in sorted(resolved.items()):
        db.session.execute(
            update(PARKED_TABLE)
            .where(PARKED_TABLE.c.id == parked_id)
            .values(outcome=resolution, resolved_at=when, updated_at=now)
        )
    if own:
        inserts.write()
        mark_digital([o.order_id for o in outcomes if o.kind == CREATED])  # reserve no stock
        follow_orders(account.store_id, stock_subjects(outcomes), actor=changed_by)
    return outcomes


def stock_subjects(outcomes: list[Outcome]) -> list[int]:
    """The orders whose stock may move after a page: those booked or moved on it (once its
    lines are written, the caller calls :func:`webapp.stock.reservations.follow_orders`)."""
    return [o.order_id for o in outcomes if o.kind in (CREATED, UPDATED) and o.order_id]


def _park(account, unified, waiting, parked, park_inserts, park_updates, now) -> Outcome:
    key = _key(unified)
    mp = unified.marketplace_status
    note = Note(
        "info",
        "order_parked",
        f"Order {unified.channel_order_id} ({unified.channel}) is not paid or "
        f"authorised yet ({mp}); it is rechecked every hour.",
    )
    if waiting is None:
        park_inserts[key] = {
            "store_id": account.store_id,
            "account_id": account.id,
            "channel": unified.channel,
            "channel_order_id": unified.channel_order_id,
            "marketplace_status": mp,
            "payload": unified.raw,
            "next_check_at": now + RECHECK_EVERY,
            "checks": 0,
            "created_at": now,
            "updated_at": now,
        }
        parked[key] = _Parked(None, mp, None)
        return Outcome(PARKED, unified, notes=[note])
    if waiting.outcome is None and waiting.marketplace_status == mp:
        return Outcome(PARKED, unified)  # still waiting, nothing new to say
    waiting.marketplace_status, waiting.outcome = mp, None
    if waiting.id is None:  # parked earlier on this page
        park_inserts[key].update(marketplace_status=mp, payload=unified.raw)
    else:
        park_updates[waiting.id] = {
            "b_id": waiting.id,
            "b_status": mp,
            "b_payload": unified.raw,
            "b_next": now + RECHECK_EVERY,
        }
    return Outcome(PARKED, unified, notes=[note])


PARK_COLUMNS = ("outcome", "resolved_at")


def _park_row(row: dict) -> dict:
    """Every parked row of a statement has the same keys (resolved on the page or not)."""
    return {**dict.fromkeys(PARK_COLUMNS), **row}


def _resolve(waiting: _Parked, key, resolution: str, park_inserts, resolved, now) -> None:
    if waiting.id is None:
        park_inserts[key].update(outcome=resolution, resolved_at=now)
    else:
        resolved[waiting.id] = (resolution, now)


def _order_row(account: Account, unified: UnifiedOrder, status: str, mp, now) -> dict:
    unified = unified.unified  # a lazily read order, normalised now
    merchant_ids = unified.merchant_order_ids
    return {
        "store_id": account.store_id,
        "account_id": account.id,
        "channel": unified.channel,
        "channel_order_id": unified.channel_order_id,
        "channel_order_url": None,
        "marketplace_status": mp,
        "status": status,
        "customer_email": unified.customer_email,
        "customer_name": unified.customer_name,
        "customer_phone": unified.customer_phone,
        "shipping_address": unified.shipping_address,
        "billing_address": unified.billing_address,
        "anonymized": unified.anonymized,
        "subtotal": unified.subtotal,
        "shipping_cost": unified.shipping_cost,
        "tax_amount": unified.tax_amount,
        "discount_amount": unified.discount_amount,
        "total": unified.total,
        "currency": unified.currency,
        "original_total": unified.original_total,
        "original_currency": unified.original_currency,
        "ordered_at": unified.ordered_at,
        "marketplace_updated_at": unified.updated_at,
        # The marketplace already holds a merchant order id: nothing to acknowledge.
        "merchant_order_id": merchant_ids[0] if merchant_ids else None,
        "acknowledged_at": now if merchant_ids else None,
        "raw": unified.raw,
        "created_at": now,
        "updated_at": now,
    }


def _book(account, new: dict, booked: dict, moves: list, changed_by: str, now, inserts) -> None:
    """Insert the page's new orders (sorted by key, so two workers lock in the same order),
    then their lines and history; an order another worker won becomes a status move."""
    rows = []
    for key in sorted(new):
        pending = new[key]
        _, status, _, mp = pending.moves[-1]
        rows.append(_order_row(account, pending.unified, status, mp, now))
    inserted = bulk_insert(
        ORDERS,
        rows,
        conflict=["account_id", "channel", "channel_order_id"],
        returning=("id", "channel", "channel_order_id"),
    )
    won = {(r.channel, r.channel_order_id): r.id for r in inserted}
    lost = sorted(set(new) - set(won))
    if lost:
        winners, _ = _lookup(account, set(lost))
        for key in lost:
            pending = new.pop(key)
            order = winners[key]
            booked[key] = order
            _, status, _, mp = pending.moves[-1]
            for outcome in pending.outcomes:
                outcome.kind, outcome.order_id = UNCHANGED, order.id
            if (order.marketplace_status, order.status) != (mp, status):
                outcome = pending.outcomes[-1]
                outcome.kind = UPDATED
                moves.append((order, outcome, (order.status, status, order.marketplace_status, mp)))
                order.marketplace_status, order.status = mp, status
    if not new:
        return
    found = matching.find(
        account.store_id,
        [(line.sku, line.gtin) for p in new.values() for line in p.unified.unified.lines],
    )
    items, history = [], []
    for key, pending in new.items():
        order_id = won[key]
        booked[key] = _Booked(order_id, pending.moves[-1][3], pending.moves[-1][1])
        for outcome in pending.outcomes:
            outcome.order_id = order_id
        unified = pending.unified.unified
        unmatched = pending.outcomes[0].unmatched
        for line in unified.lines:
            match = found.get((line.sku or None, line.gtin or None))
            items.append(
                {
                    "order_id": order_id,
                    "product_id": match.product_id if match else None,
                    "marketplace_product_id": match.marketplace_product_id if match else None,
                    "channel_line_id": line.channel_line_id,
                    "sku": line.sku,
                    "product_name": line.title,
                    "gtin": line.gtin,
                    "quantity": line.quantity,
                    "unit_price": line.unit_price,
                    "total": line.total,
                    "line_status": line.line_status,
                    "matched": match is not None,
                }
            )
            if match is None:
                unmatched.append(line.sku or line.gtin or "")
        for from_status, to_status, from_mp, to_mp in pending.moves:
            history.append(
                _history(order_id, from_status, to_status, from_mp, to_mp, changed_by, now)
            )
    inserts.add(ITEMS, items)
    inserts.add(HISTORY, history)


def _history(order_id, from_status, to_status, from_mp, to_mp, changed_by, now) -> dict:
    return {
        "order_id": order_id,
        "from_status": from_status,
        "to_status": to_status,
        "from_marketplace_status": from_mp,
        "to_marketplace_status": to_mp,
        "changed_by": changed_by,
        "reason": None,
        "created_at": now,
    }


def _move(moves: list, changed_by: str, now, inserts) -> None:
    """Status moves: each updates its order only if it is still in the status we read (a
    concurrent poll that moved it first wins, and only one history entry is written)."""
    history = []
    for order, outcome, (from_status, to_status, from_mp, to_mp) in sorted(
        moves, key=lambda m: m[0].id
    ):
        result = db.session.execute(
            update(ORDERS)
            .where(
                and_(
                    ORDERS.c.id == order.id,
                    ORDERS.c.status == from_status,
                    ORDERS.c.marketplace_status.is_not_distinct_from(from_mp),
                )
            )
            .values(
                status=to_status,
                marketplace_status=to_mp,
                marketplace_updated_at=outcome.unified.updated_at,
                updated_at=now,
            )
        )
        if result.rowcount == 1:
            history.append(
                _history(order.id, from_status, to_status, from_mp, to_mp, changed_by, now)
            )
        else:
            outcome.kind = UNCHANGED  # another worker moved it first
    inserts.add(HISTORY, history)
