"""The quantity available to sell per account: PLACEHOLDER.

The stock engine (on hand - reserved - the account's safety stock, the out-of-stock threshold
and the zero-stock rule; branch ``stock``) replaces this module with the same two functions.
Until then the quantity is the store's published products' own: the imported feed's quantity
(none: 0), 0 for a product that is inactive or whose availability (the store's override, else
the feed's) is ``out_of_stock``. The pushes and the stock check read quantities only here.
"""

from __future__ import annotations

from collections.abc import Iterator

from sqlalchemy import and_, case, func, select

from webapp.extensions import db
from webapp.models import Account
from webapp.models.catalog import MarketplaceProduct, Product

__all__ = ["available_quantities", "iter_available"]

OUT_OF_STOCK = "out_of_stock"


def _query(account: Account, skus=None):
    mp, p = MarketplaceProduct.__table__, Product.__table__
    availability = func.coalesce(p.c.availability, mp.c.availability)
    quantity = case(
        (
            and_(p.c.is_active, func.coalesce(availability, "") != OUT_OF_STOCK),
            func.greatest(func.coalesce(mp.c.quantity, 0), 0)
            if db.engine.dialect.name == "postgresql"
            else func.max(func.coalesce(mp.c.quantity, 0), 0),
        ),
        else_=0,
    )
    query = (
        select(mp.c.marketplace_product_id, quantity)
        .select_from(p.join(mp, mp.c.id == p.c.marketplace_product_id))
        .where(p.c.store_id == account.store_id)
    )
    if skus is not None:
        query = query.where(mp.c.marketplace_product_id.in_(list(skus)))
    return query


def available_quantities(account: Account, skus=None) -> dict[str, int]:
    """``{sku: available}`` for the account's store (only ``skus`` when given)."""
    if skus is not None and not skus:
        return {}
    rows = db.session.execute(_query(account, skus)).all()
    return {sku: int(qty) for sku, qty in rows}


def iter_available(account: Account, batch: int = 5000) -> Iterator[tuple[str, int]]:
    """Every ``(sku, available)`` of the account's store, streamed ``batch`` rows at a time
    (on PostgreSQL a server-side cursor read through the driver: a push reads a million rows,
    and wrapping each in a result row cost more than the query)."""
    connection = db.session.connection()
    dbapi = connection.connection.dbapi_connection
    sql = str(
        _query(account).compile(dialect=connection.dialect, compile_kwargs={"literal_binds": True})
    )
    postgresql = connection.dialect.name == "postgresql"
    cursor = dbapi.cursor(name="mercato_iter_available") if postgresql else dbapi.cursor()
    try:
        cursor.execute(sql)
        while rows := cursor.fetchmany(batch):
            yield from rows
    finally:
        cursor.close()
