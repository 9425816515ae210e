"""PLACEHOLDER, replaced by the stock engine (branch ``stock``) at merge.

The available quantity per account and SKU, as the rest of Mercato reads it: only through
:func:`available_quantities` and :func:`iter_available`. Until the stock engine lands, it is
computed from the store's published products: the product's imported quantity with the
store's overrides (inactive, or availability ``out_of_stock``, gives 0; no quantity gives 0).

:func:`iter_available` yields in SKU order by code point (``COLLATE "C"`` on PostgreSQL,
SQLite's binary order), the order Python compares strings in, so a caller can merge-join it
with another stream in that order. The stock engine's version keeps that guarantee.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator

import sqlalchemy as sa

from webapp.extensions import db
from webapp.models import Account, MarketplaceProduct, Product

_MP = MarketplaceProduct.__table__
_P = Product.__table__


def sku_order(column):
    """``column`` ordered by code point on every back-end."""
    if db.engine.dialect.name == "postgresql":
        return column.collate("C")
    return column


def _query(account: Account):
    sku = _MP.c.marketplace_product_id
    availability = sa.func.coalesce(_P.c.availability, _MP.c.availability, "")
    quantity = sa.case(
        (sa.not_(_P.c.is_active), 0),
        (availability == "out_of_stock", 0),
        (_MP.c.quantity > 0, _MP.c.quantity),
        else_=0,
    )
    return (
        sa.select(sku, quantity)
        .select_from(_P.join(_MP, _MP.c.id == _P.c.marketplace_product_id))
        .where(_P.c.store_id == account.store_id)
    )


def available_quantities(account: Account, skus: Iterable[str] | None = None) -> dict[str, int]:
    """SKU -> quantity the account may sell (``skus`` only, when given)."""
    query = _query(account)
    if skus is None:
        return {sku: int(qty) for sku, qty in db.session.execute(query)}
    wanted = list(dict.fromkeys(skus))
    found: dict[str, int] = {}
    for start in range(0, len(wanted), 1000):
        chunk = wanted[start : start + 1000]
        rows = db.session.execute(query.where(_MP.c.marketplace_product_id.in_(chunk)))
        found.update({sku: int(qty) for sku, qty in rows})
    return found


def iter_available(account: Account, batch: int = 5000) -> Iterator[tuple[str, int]]:
    """(SKU, quantity) for every SKU the account may sell, in SKU code-point order, streamed."""
    query = _query(account).order_by(sku_order(_MP.c.marketplace_product_id))
    result = db.session.execute(query.execution_options(stream_results=True, yield_per=batch))
    try:
        for sku, qty in result:
            yield sku, int(qty)
    finally:
        result.close()
