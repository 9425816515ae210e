"""Which order lines are digital, decided once when they are booked.

A line is digital when the product it was matched to is published and digital: a product of
the supplier's catalogue (marketplace ``codeswholesale``: the line then names the supplier's
product id, what a purchase buys), or a store's own product whose feed said so (``extra``
``is_digital`` true, or ``product_type`` digital: the import engine keeps unknown columns in
``extra``), served from the store's pool alone. One UPDATE per page of booked orders.
"""

from __future__ import annotations

from sqlalchemy import and_, case, func, or_, update

from webapp.extensions import db
from webapp.models import MarketplaceProduct, OrderItem

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
