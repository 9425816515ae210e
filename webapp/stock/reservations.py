"""Reservations follow order events, each moving the stock once.

Two entry points, called in the transaction that changed the order:

- :func:`follow_orders` (the order book, after a page is written): an order booked in an
  open status reserves what remains of each line; an order whose status became shipped
  (or delivered, fulfilled) on the marketplace ships what is still reserved (on hand and
  reserved go down), one cancelled or refunded releases it. Set-based: one ``INSERT ...
  SELECT`` for the reservations of a whole page, one for the closings.
- :func:`follow_fulfilment` (an order action recorded in Mercato): each shipped fulfilment
  event deducts its quantity from on hand and releases up to that much of the reservation,
  each cancelled (cancel, partial cancel, refusal) event releases; a refund releases what was
  not shipped and puts back on hand what was, when the store restocks on refund.

Idempotent by the database: each movement has its unique key (reservation per order item,
closing per item, consumption per fulfilment event, refund per action and item, partial
unique indexes of ``stock_movements``); a clash inserts nothing and moves no level, so a
re-poll, a status flap (cancelled then confirmed again: the item was reserved once and stays
released) or two workers at once never reserve twice. An order first seen shipped or
cancelled reserves nothing: what it took left the stock before Mercato knew it.

Movements of an item after its reservation use the reservation's SKU and warehouse.
"""

from __future__ import annotations

from sqlalchemy import bindparam, select, text

from webapp.extensions import db
from webapp.models import FulfilmentEvent, Order, OrderAction, OrderItem
from webapp.models import fulfilment as F
from webapp.models import orders as O
from webapp.models import stock as S
from webapp.models.base import utcnow
from webapp.stock import levels

# Booked and not settled: what these orders' lines hold is reserved.
OPEN = (O.PENDING, O.AWAITING_ACCEPTANCE, O.CONFIRMED, O.PROCESSING, O.READY_FOR_SHIPMENT)
SHIPPED_LIKE = (O.SHIPPED, O.DELIVERED, O.FULFILLED)
CANCELLED_LIKE = (O.CANCELLED, O.REFUNDED)


def _sql_list(values) -> str:
    return ", ".join(f"'{v}'" for v in values)  # our own status constants


_SHIPPED = _sql_list(SHIPPED_LIKE)
_CLOSING = _sql_list(SHIPPED_LIKE + CANCELLED_LIKE)

# The SKU a line reserves: its catalog product's, else its own. A digital line (keys: its
# stock is the key pool and the supplier, webapp/digital) reserves nothing.
_SKU = "COALESCE(mp.marketplace_product_id, i.sku)"

RESERVE_SQL = f"""
INSERT INTO stock_movements (store_id, sku, warehouse_id, reason, on_hand_delta,
    reserved_delta, order_item_id, actor, created_at)
SELECT o.store_id, {_SKU}, :warehouse, 'order_reserved', 0,
    i.quantity - i.shipped_quantity - i.cancelled_quantity, i.id, :actor, :now
FROM orders o
JOIN order_items i ON i.order_id = o.id
LEFT JOIN marketplace_products mp ON mp.id = i.marketplace_product_id
WHERE o.id IN :orders AND o.status IN ({_sql_list(OPEN)})
  AND {_SKU} IS NOT NULL
  AND NOT i.is_digital
  AND i.quantity - i.shipped_quantity - i.cancelled_quantity > 0
ORDER BY i.id
ON CONFLICT DO NOTHING
RETURNING sku, warehouse_id, on_hand_delta, reserved_delta
"""  # noqa: S608 - constants only; every value is bound

# What each item of these orders still holds reserved, closed by the order's status: shipped
# (on hand goes down by it too) or cancelled.
CLOSE_SQL = f"""
INSERT INTO stock_movements (store_id, sku, warehouse_id, reason, on_hand_delta,
    reserved_delta, order_item_id, actor, created_at)
SELECT store_id, sku, warehouse_id,
    CASE WHEN status IN ({_SHIPPED}) THEN 'order_shipped' ELSE 'order_cancelled' END,
    CASE WHEN status IN ({_SHIPPED}) THEN -held ELSE 0 END,
    -held, order_item_id, :actor, :now
FROM (
    SELECT r.store_id, r.sku, r.warehouse_id, r.order_item_id, o.status,
        (SELECT SUM(m.reserved_delta) FROM stock_movements m
         WHERE m.order_item_id = r.order_item_id) AS held
    FROM orders o
    JOIN order_items i ON i.order_id = o.id
    JOIN stock_movements r ON r.order_item_id = i.id AND r.reason = 'order_reserved'
    WHERE o.id IN :orders AND o.status IN ({_CLOSING})
) c
WHERE held > 0
ORDER BY order_item_id
ON CONFLICT DO NOTHING
RETURNING sku, warehouse_id, on_hand_delta, reserved_delta
"""  # noqa: S608 - constants only; every value is bound


def _expanding(sql: str, *names: str):
    return text(sql).bindparams(*(bindparam(n, expanding=True) for n in names))


def follow_orders(store_id: int, order_ids, *, actor: str = "system") -> dict:
    """Reserve, ship or release the lines of these orders as their statuses say (the
    caller's transaction; the orders are the ones it just booked or moved). Returns the
    count of movements by kind."""
    order_ids = sorted({i for i in order_ids if i is not None})
    if not order_ids:
        return {"reserved": 0, "closed": 0}
    warehouse = levels.default_warehouse_id(store_id)
    now = utcnow()
    inserted = []
    reserved = closed = 0
    for start in range(0, len(order_ids), 1000):
        chunk = order_ids[start : start + 1000]
        # By primary key only: a condition on the store as well lets a planner without fresh
        # statistics (a new store's first orders) walk every order of the store instead.
        statuses = [
            (i, status)
            for i, status, store in db.session.execute(
                select(Order.id, Order.status, Order.store_id).where(Order.id.in_(chunk))
            )
            if store == store_id
        ]
        # Each statement only for the orders it concerns (a page of new orders closes none).
        opened = [i for i, status in statuses if status in OPEN]
        closing = [i for i, status in statuses if status in SHIPPED_LIKE + CANCELLED_LIKE]
        params = {"actor": actor, "now": now}
        if opened:
            rows = db.session.execute(
                _expanding(RESERVE_SQL, "orders"),
                {**params, "orders": opened, "warehouse": warehouse},
            ).all()
            reserved += len(rows)
            inserted += rows
        if closing:
            rows = db.session.execute(
                _expanding(CLOSE_SQL, "orders"), {**params, "orders": closing}
            ).all()
            closed += len(rows)
            inserted += rows
    _move(store_id, inserted, now)
    return {"reserved": reserved, "closed": closed}


def _move(store_id: int, inserted, now) -> None:
    deltas: dict[tuple[str, int], list[int]] = {}
    for sku, wh, d_on_hand, d_reserved in inserted:
        pair = deltas.setdefault((sku, wh), [0, 0])
        pair[0] += d_on_hand
        pair[1] += d_reserved
    levels.move_levels(store_id, {k: (a, b) for k, (a, b) in deltas.items()}, now)


def _lock_order(order_id: int) -> None:
    """Serialise the stock moves of one order (PostgreSQL): what is still reserved is read
    after any other transaction moving this order committed."""
    if db.session.get_bind().dialect.name == "postgresql":
        db.session.execute(
            text("SELECT id FROM orders WHERE id = :id FOR UPDATE"), {"id": order_id}
        )


def follow_fulfilment(order, *, actor: str = "system") -> int:
    """Consume the order's fulfilment events and refunds not yet in the stock (the caller's
    transaction, after it recorded them). Returns how many movements were written."""
    _lock_order(order.id)
    store_id = order.store_id
    items = {
        i.id: i
        for i in db.session.scalars(select(OrderItem).where(OrderItem.order_id == order.id))
        if not i.is_digital  # its keys are its stock (webapp/digital)
    }
    if not items:
        return 0
    done = db.session.execute(
        select(
            S.StockMovement.order_item_id,
            S.StockMovement.reason,
            S.StockMovement.fulfilment_event_id,
            S.StockMovement.order_action_id,
            S.StockMovement.reserved_delta,
            S.StockMovement.sku,
            S.StockMovement.warehouse_id,
            S.StockMovement.on_hand_delta,
        ).where(S.StockMovement.order_item_id.in_(list(items)))
    ).all()
    held = dict.fromkeys(items, 0)
    # What the marketplace's shipped status already took off the shelf, per item: a ship
    # recorded in Mercato afterwards deducts only what goes beyond it.
    by_status = dict.fromkeys(items, 0)
    place: dict[int, tuple[str, int]] = {}
    seen_events, seen_refunds = set(), set()
    for item_id, reason, event_id, action_id, d_reserved, sku, wh, d_on_hand in done:
        held[item_id] += d_reserved
        if reason == S.ORDER_SHIPPED and event_id is None and action_id is None:
            by_status[item_id] -= d_on_hand
        if reason == S.ORDER_RESERVED:
            place[item_id] = (sku, wh)
        if event_id is not None:
            seen_events.add(event_id)
        if reason == S.ORDER_REFUNDED:
            seen_refunds.add((action_id, item_id))
    warehouse = None

    def where(item) -> tuple[str, int] | None:
        nonlocal warehouse
        if item.id in place:
            return place[item.id]
        sku = _catalog_sku(item)
        if not sku:
            return None
        if warehouse is None:
            warehouse = levels.default_warehouse_id(store_id)
        return (sku, warehouse)

    movements = []
    events = db.session.scalars(
        select(FulfilmentEvent)
        .where(FulfilmentEvent.order_item_id.in_(list(items)))
        .order_by(FulfilmentEvent.id)
    ).all()
    shipped_events = dict.fromkeys(items, 0)  # quantities of the ship events so far
    for event in events:
        item_id = event.order_item_id
        before = shipped_events[item_id]
        if event.kind == F.SHIPPED_EVENT:
            shipped_events[item_id] += event.quantity
        if event.id in seen_events:
            continue
        # The line's shipped quantity is the larger of the status's and the events'.
        leaves = max(by_status[item_id], shipped_events[item_id]) - max(by_status[item_id], before)
        item = items[item_id]
        spot = where(item)
        if spot is None:
            continue
        release = min(event.quantity, max(held[item.id], 0))
        held[item.id] -= release
        shipped = event.kind == F.SHIPPED_EVENT
        movements.append(
            {
                "store_id": store_id,
                "sku": spot[0],
                "warehouse_id": spot[1],
                "reason": S.ORDER_SHIPPED if shipped else S.ORDER_CANCELLED,
                "on_hand_delta": -leaves if shipped else 0,
                "reserved_delta": -release,
                "order_item_id": item.id,
                "fulfilment_event_id": event.id,
                "order_action_id": event.order_action_id,
                "actor": actor,
            }
        )
    restock = levels.store_settings(store_id).restock_on_refund
    refunds = db.session.scalars(
        select(OrderAction)
        .where(OrderAction.order_id == order.id, OrderAction.type == F.REFUND)
        .order_by(OrderAction.id)
    ).all()
    shipped_left = {i.id: i.shipped_quantity for i in items.values()}
    for action in refunds:
        for line in action.lines or []:
            item = items.get(line.get("item_id"))
            if item is None or (action.id, item.id) in seen_refunds:
                if item is not None:
                    shipped_left[item.id] -= min(line.get("quantity") or 0, shipped_left[item.id])
                continue
            spot = where(item)
            if spot is None:
                continue
            quantity = int(line.get("quantity") or 0)
            from_shipped = min(quantity, max(shipped_left[item.id], 0))
            shipped_left[item.id] -= from_shipped
            release = min(quantity - from_shipped, max(held[item.id], 0))
            held[item.id] -= release
            movements.append(
                {
                    "store_id": store_id,
                    "sku": spot[0],
                    "warehouse_id": spot[1],
                    "reason": S.ORDER_REFUNDED,
                    "on_hand_delta": from_shipped if restock else 0,
                    "reserved_delta": -release,
                    "order_item_id": item.id,
                    "order_action_id": action.id,
                    "actor": actor,
                    "note": None if restock or not from_shipped else "not restocked",
                }
            )
    return len(levels.apply(store_id, movements))


def _catalog_sku(item) -> str | None:
    if item.marketplace_product_id is not None:
        from webapp.models import MarketplaceProduct

        sku = db.session.scalar(
            select(MarketplaceProduct.marketplace_product_id).where(
                MarketplaceProduct.id == item.marketplace_product_id
            )
        )
        if sku:
            return sku
    return item.sku or None
