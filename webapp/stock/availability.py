"""What each account may sell: the available-to-sell quantity of a store's SKUs.

Seed 001 4.4, per account (its ``inventory_sync_configs`` row, defaults when it has none)::

    available = on_hand - reserved - safety_stock        (summed over the warehouses)
    available <= oos_threshold  ->  0 (zero_stock "send") or oos_threshold ("hold")
    never below 0

and the store's overrides: a SKU whose published products are all inactive or out of stock
(the product's availability, else its source's) is 0. A SKU no product publishes keeps its
figure (the stock knows it; which products a channel lists is the caller's business).

Set-based: one query per batch of SKUs (the levels grouped by SKU in the unique index's
order, each SKU's overrides read by one index probe); the arithmetic is done on the batch.
The SKUs are those the stock knows (a level in any warehouse); :func:`available_quantities`
with ``skus`` answers 0 for one it does not know.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass

from sqlalchemy import bindparam, select, text

from webapp.extensions import db
from webapp.models import Account, InventorySyncConfig
from webapp.models.stock import ZERO_HOLD


@dataclass(frozen=True)
class Rules:
    safety_stock: int = 0
    oos_threshold: int = 0
    zero_stock: str = "send"

    def available(self, on_hand: int, reserved: int, sellable: bool = True) -> int:
        if not sellable:
            return 0
        value = on_hand - reserved - self.safety_stock
        if value <= self.oos_threshold:
            return self.oos_threshold if self.zero_stock == ZERO_HOLD else 0
        return max(0, value)


def rules_for(account: Account) -> Rules:
    config = db.session.scalar(
        select(InventorySyncConfig).where(InventorySyncConfig.account_id == account.id)
    )
    if config is None:
        return Rules()
    return Rules(config.safety_stock, config.out_of_stock_threshold, config.zero_stock)


def rules_by_account(account_ids: Iterable[int]) -> dict[int, Rules]:
    ids = list(account_ids)
    found = {
        c.account_id: Rules(c.safety_stock, c.out_of_stock_threshold, c.zero_stock)
        for c in db.session.scalars(
            select(InventorySyncConfig).where(InventorySyncConfig.account_id.in_(ids))
        )
    }
    return {i: found.get(i, Rules()) for i in ids}


# Whether a SKU may be sold, by the store's published products of that SKU: 1 when none
# publishes it or one is active and not out of stock. PostgreSQL probes the catalog's
# (store_id, lower(sku)) index (migration 0015); the exact comparison keeps the case.
_SELLABLE = """(
    SELECT CASE WHEN COUNT(*) = 0 THEN 1
        WHEN SUM(CASE WHEN p.is_active
            AND COALESCE(p.availability, mp.availability, '') <> 'out_of_stock'
            THEN 1 ELSE 0 END) > 0 THEN 1 ELSE 0 END
    FROM marketplace_products mp JOIN products p ON p.marketplace_product_id = mp.id
    WHERE mp.store_id = :store AND {match}
)"""
_PG_MATCH = (
    "lower(mp.marketplace_product_id) = lower(lv.sku) AND mp.marketplace_product_id = lv.sku"
)
_SQLITE_MATCH = "mp.marketplace_product_id = lv.sku"

_BATCH_SQL = """
WITH lv AS (
    SELECT sku, SUM(on_hand) AS on_hand, SUM(reserved) AS reserved
    FROM stock_levels
    WHERE store_id = :store AND {where}
    GROUP BY sku
    ORDER BY sku
    {limit}
)
SELECT lv.sku, lv.on_hand, lv.reserved, {sellable} AS sellable
FROM lv ORDER BY lv.sku
"""


def _sql(where: str, limit: str):
    postgresql = db.session.get_bind().dialect.name == "postgresql"
    sellable = _SELLABLE.format(match=_PG_MATCH if postgresql else _SQLITE_MATCH)
    return _BATCH_SQL.format(where=where, limit=limit, sellable=sellable)


def levels_batch(store_id: int, *, after: str | None = None, limit: int = 5000):
    """[(sku, on_hand, reserved, sellable)] of the store's next ``limit`` SKUs after
    ``after``, in SKU order (summed over warehouses)."""
    sql = _sql("sku > :after" if after is not None else "1 = 1", "LIMIT :limit")
    params = {"store": store_id, "limit": limit}
    if after is not None:
        params["after"] = after
    return db.session.execute(text(sql), params).all()


def levels_of(store_id: int, skus: list[str]):
    """[(sku, on_hand, reserved, sellable)] of these SKUs (those the stock knows)."""
    rows = []
    stmt = text(_sql("sku IN :skus", "")).bindparams(bindparam("skus", expanding=True))
    for start in range(0, len(skus), 5000):
        chunk = skus[start : start + 5000]
        rows += db.session.execute(stmt, {"store": store_id, "skus": chunk}).all()
    return rows


def available_quantities(account: Account, skus: Iterable[str] | None = None) -> dict[str, int]:
    """SKU -> available quantity for the account: every SKU the store's stock knows, or
    exactly ``skus`` (0 for one it does not know)."""
    if skus is None:
        return dict(iter_available(account))
    wanted = list(dict.fromkeys(s for s in skus if s is not None))
    rules = rules_for(account)
    result = dict.fromkeys(wanted, 0)
    for sku, on_hand, reserved, sellable in levels_of(account.store_id, wanted):
        result[sku] = rules.available(int(on_hand), int(reserved), bool(sellable))
    return result


def iter_available(account: Account, batch: int = 5000) -> Iterator[tuple[str, int]]:
    """(sku, available) of every SKU the store's stock knows, in SKU order, streamed: one
    query per ``batch`` SKUs, each after the last SKU of the one before."""
    rules = rules_for(account)
    store_id = account.store_id
    after = None
    while True:
        rows = levels_batch(store_id, after=after, limit=batch)
        for sku, on_hand, reserved, sellable in rows:
            yield sku, rules.available(int(on_hand), int(reserved), bool(sellable))
        if len(rows) < batch:
            return
        after = rows[-1][0]
