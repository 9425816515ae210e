"""What the stock tests read back: levels, movements, reservations per item."""

from __future__ import annotations

from sqlalchemy import func, select

from webapp.extensions import db
from webapp.models import Order, OrderItem, StockLevel, StockMovement


def level(store_id: int, sku: str) -> tuple[int, int]:
    row = db.session.execute(
        select(func.sum(StockLevel.on_hand), func.sum(StockLevel.reserved)).where(
            StockLevel.store_id == store_id, StockLevel.sku == sku
        )
    ).one()
    return (int(row[0] or 0), int(row[1] or 0))


def movements(store_id: int, reason: str | None = None) -> list[StockMovement]:
    query = select(StockMovement).where(StockMovement.store_id == store_id)
    if reason:
        query = query.where(StockMovement.reason == reason)
    return list(db.session.scalars(query.order_by(StockMovement.id)))


def levels_match_movements(store_id: int) -> None:
    """Every level is exactly the sum of its movements (nothing moved a level unrecorded)."""
    sums = {
        (sku, wh): (int(a), int(b))
        for sku, wh, a, b in db.session.execute(
            select(
                StockMovement.sku,
                StockMovement.warehouse_id,
                func.sum(StockMovement.on_hand_delta),
                func.sum(StockMovement.reserved_delta),
            )
            .where(StockMovement.store_id == store_id)
            .group_by(StockMovement.sku, StockMovement.warehouse_id)
        )
    }
    held = {
        (sku, wh): (a, b)
        for sku, wh, a, b in db.session.execute(
            select(
                StockLevel.sku, StockLevel.warehouse_id, StockLevel.on_hand, StockLevel.reserved
            ).where(StockLevel.store_id == store_id)
        )
    }
    for key, value in sums.items():
        assert held.get(key, (0, 0)) == value, key
    for key, value in held.items():
        assert sums.get(key, (0, 0)) == value, key


def open_reservations(account_id: int) -> int:
    """What the account's open orders' lines hold (quantity not shipped nor cancelled)."""
    from webapp.stock.reservations import OPEN

    return int(
        db.session.scalar(
            select(
                func.coalesce(
                    func.sum(
                        OrderItem.quantity
                        - OrderItem.shipped_quantity
                        - OrderItem.cancelled_quantity
                    ),
                    0,
                )
            )
            .join(Order, Order.id == OrderItem.order_id)
            .where(Order.account_id == account_id, Order.status.in_(OPEN))
        )
    )
