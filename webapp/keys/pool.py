"""Giving keys to order lines: the one place a key is assigned.

:func:`claim` takes free keys of one product for one line in a single guarded UPDATE per key
(``assigned_at IS NULL``): two workers claiming at once never get the same key, and the
loser simply takes the next one. A key is never unassigned.
"""

from __future__ import annotations

from sqlalchemy import or_, select, update

from webapp.extensions import db
from webapp.models.base import utcnow
from webapp.models.keys import POOL, DigitalKey, DigitalKeyReveal


def _free(store_id: int, sku: str | None, supplier_product_id: str | None, now):
    if not sku and not supplier_product_id:
        raise ValueError("a claim names a SKU or a supplier product id")
    product = []
    if sku:
        product.append(DigitalKey.sku == sku)
    if supplier_product_id:
        product.append(DigitalKey.supplier_product_id == supplier_product_id)
    return (
        DigitalKey.store_id == store_id,
        DigitalKey.source == POOL,
        DigitalKey.assigned_at.is_(None),
        or_(DigitalKey.expires_at.is_(None), DigitalKey.expires_at > now),
        or_(*product),
    )


def claim(
    store_id: int,
    *,
    sku: str | None,
    supplier_product_id: str | None,
    quantity: int,
    order_item_id: int,
    now=None,
) -> list[DigitalKey]:
    """Up to ``quantity`` free, unexpired pool keys of the product (by SKU or supplier
    product id), oldest first, given to ``order_item_id`` in the caller's transaction. Fewer
    when the pool runs short (the caller buys the rest or waits)."""
    now = now or utcnow()
    taken: list[int] = []
    while len(taken) < quantity:
        want = quantity - len(taken)
        candidates = db.session.scalars(
            select(DigitalKey.id)
            .where(*_free(store_id, sku, supplier_product_id, now))
            .order_by(DigitalKey.id)
            # Exactly what is wanted: a row locked here is skipped by the other claimers,
            # so locking more than we take could leave them short while keys are free.
            .limit(want)
            .with_for_update(skip_locked=True)
        ).all()
        if not candidates:
            break
        for key_id in candidates:
            won = db.session.execute(
                update(DigitalKey)
                .where(DigitalKey.id == key_id, DigitalKey.assigned_at.is_(None))
                .values(order_item_id=order_item_id, assigned_at=now, updated_at=now)
            ).rowcount
            if won:
                taken.append(key_id)
                if len(taken) == quantity:
                    break
    if not taken:
        return []
    return list(
        db.session.scalars(
            select(DigitalKey).where(DigitalKey.id.in_(taken)).order_by(DigitalKey.id)
        )
    )


def has_free(store_id: int, *, sku: str | None, supplier_product_id: str | None) -> bool:
    now = utcnow()
    return (
        db.session.scalar(
            select(DigitalKey.id).where(*_free(store_id, sku, supplier_product_id, now)).limit(1)
        )
        is not None
    )


def reveal(key: DigitalKey, user) -> None:
    """Record that ``user`` saw ``key`` in clear (the caller then opens it)."""
    db.session.add(
        DigitalKeyReveal(
            key_id=key.id,
            user_id=getattr(user, "id", None),
            revealed_by=getattr(user, "email", None) or str(user),
            revealed_at=utcnow(),
        )
    )
