"""Which order lines are digital, decided once when they are booked.

A line is digital when the product it was matched to is published and digital: a product of
the supplier's catalogue (marketplace ``codeswholesale``: the line then names the supplier's
product id, what a purchase buys), or a store's own product whose feed said so (``extra``
``is_digital`` true, or ``product_type`` digital: the import engine keeps unknown columns in
``extra``), served from the store's pool alone. One UPDATE per page of booked orders.
"""

from __future__ import annotations

from sqlalchemy import and_, case, func, or_, select, update

from webapp.extensions import db
from webapp.models import DigitalKey, MarketplaceProduct, OrderItem

SUPPLIER_MARKETPLACE = "codeswholesale"
TRUE_WORDS = ("true", "1", "yes", "y", "t")

ITEMS = OrderItem.__table__
MP = MarketplaceProduct.__table__
CHUNK = 1000


def digital_product():
    """The condition on a catalog product (``marketplace_products``) that makes it digital."""
    flag = func.lower(func.coalesce(MP.c.extra["is_digital"].as_string(), ""))
    kind = func.lower(func.coalesce(MP.c.extra["product_type"].as_string(), ""))
    return or_(MP.c.marketplace == SUPPLIER_MARKETPLACE, flag.in_(TRUE_WORDS), kind == "digital")


def mark_digital(order_ids) -> int:
    """Mark the digital lines of these (just booked) orders: ``is_digital``, the supplier's
    product id for a supplier product, ``key_state`` pending. Returns how many lines."""
    order_ids = sorted({i for i in order_ids if i is not None})
    marked = 0
    for start in range(0, len(order_ids), CHUNK):
        chunk = order_ids[start : start + CHUNK]
        marked += (
            db.session.execute(
                update(ITEMS)
                .where(
                    and_(
                        ITEMS.c.order_id.in_(chunk),
                        ITEMS.c.product_id.is_not(None),
                        ITEMS.c.is_digital.is_(False),
                        ITEMS.c.marketplace_product_id == MP.c.id,
                        digital_product(),
                    )
                )
                .values(
                    is_digital=True,
                    key_state="pending",
                    supplier_product_id=case(
                        (MP.c.marketplace == SUPPLIER_MARKETPLACE, MP.c.marketplace_product_id),
                        else_=None,
                    ),
                )
                .execution_options(synchronize_session=False)
            ).rowcount
            or 0
        )
    return marked


def with_keys(order_id: int) -> tuple[list[OrderItem], dict[int, list[DigitalKey]]]:
    """The order's digital lines, oldest first, and each line's keys (by line id, oldest
    first): two statements, whatever the number of lines."""
    lines = list(
        db.session.scalars(
            select(OrderItem)
            .where(OrderItem.order_id == order_id, OrderItem.is_digital.is_(True))
            .order_by(OrderItem.id)
        )
    )
    keys: dict[int, list[DigitalKey]] = {}
    if lines:
        for key in db.session.scalars(
            select(DigitalKey)
            .where(DigitalKey.order_item_id.in_([line.id for line in lines]))
            .order_by(DigitalKey.id)
        ):
            keys.setdefault(key.order_item_id, []).append(key)
    return lines, keys
