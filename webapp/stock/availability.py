"""What each account may sell: the available-to-sell quantity of a store's SKUs.

Seed 001 4.4, per account (its ``inventory_sync_configs`` row, defaults when it has none)::

    available = on_hand - reserved - safety_stock        (summed over the warehouses)
    available <= oos_threshold  ->  0 (zero_stock "send") or oos_threshold ("hold")
    never below 0

and the store's overrides: a SKU whose published products are all inactive or out of stock
(the product's availability, else its source's) is 0. A SKU no product publishes keeps its
figure (the stock knows it; which products a channel lists is the caller's business).

Set-based: two queries per batch of SKUs (the levels grouped by SKU in the unique index's
order; the batch's published products by the catalog's unique index); the arithmetic is
done on the batch.
The SKUs are those the stock knows (a level in any warehouse); :func:`available_quantities`
with ``skus`` answers 0 for one it does not know.

:func:`available_select` is the same figure as one SQL query (the rules as a ``CASE``), for
callers that compare or join a whole store's stock set-based (the stock push's delta, the
catalog feed): at a million SKUs the database joins and compares, Python reads only what
differs. The tests hold it to :func:`iter_available`'s answer on both databases.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass

from sqlalchemy import and_, bindparam, case, func, literal, select, text

from webapp.extensions import db
from webapp.models import (
    Account,
    InventorySyncConfig,
    MarketplaceProduct,
    Product,
    StockLevel,
    Warehouse,
)
from webapp.models.stock import ZERO_HOLD
from webapp.pagination import distinct_values


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


_BATCH_SQL = """
SELECT sku, SUM(on_hand) AS on_hand, SUM(reserved) AS reserved
FROM stock_levels
WHERE store_id = :store AND {where}
GROUP BY sku
ORDER BY sku
{limit}
"""
MP = MarketplaceProduct.__table__
PRODUCTS = Product.__table__
# A published product blocks its SKU when it is inactive or out of stock (its own
# availability, else its source's).
_SELLS = and_(
    PRODUCTS.c.is_active,
    func.coalesce(PRODUCTS.c.availability, MP.c.availability, "") != "out_of_stock",
)


def _with_sellable(store_id: int, rows, marketplaces: list[str] | None = None, *, span=False):
    """(sku, on_hand, reserved, sellable) of a batch: one query reads the batch's published
    products by the catalog's unique index (store, marketplace, id): the store's few
    marketplaces (a loose index scan) and the batch's SKUs, as the range from its first to
    its last (``span``: a batch in SKU order) or as a list."""
    if not rows:
        return []
    if marketplaces is None:
        marketplaces = store_marketplaces(store_id)
    selling: dict[str, bool] = {}
    if marketplaces:
        query = (
            select(
                MP.c.marketplace_product_id,
                func.max(case((_SELLS, 1), else_=0)),
            )
            .select_from(MP.join(PRODUCTS, PRODUCTS.c.marketplace_product_id == MP.c.id))
            .where(
                MP.c.store_id == store_id,
                MP.c.marketplace.in_(marketplaces),
                MP.c.marketplace_product_id.between(rows[0][0], rows[-1][0])
                if span
                else MP.c.marketplace_product_id.in_([r[0] for r in rows]),
            )
            .group_by(MP.c.marketplace_product_id)
        )
        selling = {sku: bool(ok) for sku, ok in db.session.execute(query)}
    return [(sku, on_hand, reserved, selling.get(sku, True)) for sku, on_hand, reserved in rows]


def sku_order(column):
    """``column`` ordered by code point on every back-end (the order :func:`iter_available`
    yields: ``stock_levels.sku`` has the "C" collation on PostgreSQL, SQLite compares bytes)."""
    if db.engine.dialect.name == "postgresql":
        return column.collate("C")
    return column


def store_marketplaces(store_id: int) -> list[str]:
    return distinct_values(MP.c.marketplace, MP.c.store_id == store_id)


def levels_batch(store_id: int, *, after: str | None = None, limit: int = 5000, marketplaces=None):
    """[(sku, on_hand, reserved, sellable)] of the store's next ``limit`` SKUs after
    ``after``, in SKU order (summed over warehouses)."""
    sql = _BATCH_SQL.format(
        where="sku > :after" if after is not None else "1 = 1", limit="LIMIT :limit"
    )
    params = {"store": store_id, "limit": limit}
    if after is not None:
        params["after"] = after
    rows = db.session.execute(text(sql), params).all()
    return _with_sellable(store_id, rows, marketplaces, span=True)


def levels_of(store_id: int, skus: list[str]):
    """[(sku, on_hand, reserved, sellable)] of these SKUs (those the stock knows)."""
    result = []
    stmt = text(_BATCH_SQL.format(where="sku IN :skus", limit="")).bindparams(
        bindparam("skus", expanding=True)
    )
    marketplaces = store_marketplaces(store_id)
    for start in range(0, len(skus), 5000):
        chunk = skus[start : start + 5000]
        rows = db.session.execute(stmt, {"store": store_id, "skus": chunk}).all()
        result += _with_sellable(store_id, rows, marketplaces)
    return result


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
    marketplaces = store_marketplaces(store_id)
    after = None
    while True:
        rows = levels_batch(store_id, after=after, limit=batch, marketplaces=marketplaces)
        for sku, on_hand, reserved, sellable in rows:
            yield sku, rules.available(int(on_hand), int(reserved), bool(sellable))
        if len(rows) < batch:
            return
        after = rows[-1][0]


LEVELS = StockLevel.__table__
WAREHOUSES = Warehouse.__table__


def _rules_case(rules: Rules, on_hand, reserved, sellable):
    """:meth:`Rules.available` as SQL (``sellable`` NULL: no product publishes the SKU)."""
    value = on_hand - reserved - literal(rules.safety_stock)
    low = rules.oos_threshold if rules.zero_stock == ZERO_HOLD else 0
    return case(
        (sellable == 0, literal(0)),
        (value <= literal(rules.oos_threshold), literal(low)),
        else_=value,
    )


def available_select(account: Account, *, published_only: bool = False, rules: Rules | None = None):
    """``SELECT sku, available`` of every SKU the store's stock knows (``published_only``: and
    that one of its products publishes), as :func:`iter_available` computes it, in one query:
    the levels summed per SKU, joined with whether a published product sells it. Unordered
    (order it with :func:`sku_order` when the order matters).

    A store with one warehouse and one marketplace (most) has at most one level and one
    published product per SKU: the rows are joined as they are, without grouping a million
    SKUs twice."""
    rules = rules or rules_for(account)
    store_id = int(account.store_id)
    products = MP.join(
        PRODUCTS,
        and_(PRODUCTS.c.marketplace_product_id == MP.c.id, PRODUCTS.c.store_id == store_id),
    )
    if _one_per_sku(store_id):
        source = LEVELS.join(
            products,
            and_(MP.c.store_id == store_id, MP.c.marketplace_product_id == LEVELS.c.sku),
            isouter=not published_only,
        )
        sells = case((PRODUCTS.c.id.is_(None), None), (_SELLS, 1), else_=0)
        available = _rules_case(rules, LEVELS.c.on_hand, LEVELS.c.reserved, sells)
        return (
            select(LEVELS.c.sku, available.label("available"))
            .select_from(source)
            .where(LEVELS.c.store_id == store_id)
        )
    levels = (
        select(
            LEVELS.c.sku.label("sku"),
            func.sum(LEVELS.c.on_hand).label("on_hand"),
            func.sum(LEVELS.c.reserved).label("reserved"),
        )
        .where(LEVELS.c.store_id == store_id)
        .group_by(LEVELS.c.sku)
        .subquery("levels")
    )
    selling = (
        select(
            MP.c.marketplace_product_id.label("sku"),
            func.max(case((_SELLS, 1), else_=0)).label("sells"),
        )
        .select_from(products)
        .where(MP.c.store_id == store_id)
        .group_by(MP.c.marketplace_product_id)
        .subquery("selling")
    )
    available = _rules_case(rules, levels.c.on_hand, levels.c.reserved, selling.c.sells)
    return select(levels.c.sku, available.label("available")).select_from(
        levels.join(selling, selling.c.sku == levels.c.sku, isouter=not published_only)
    )


def _one_per_sku(store_id: int) -> bool:
    """Whether the store has at most one warehouse and one marketplace: then a SKU has at most
    one level (unique per store, SKU, warehouse) and one published product (unique per store,
    marketplace, SKU)."""
    warehouses = db.session.scalar(
        select(func.count()).select_from(WAREHOUSES).where(WAREHOUSES.c.store_id == store_id)
    )
    return warehouses <= 1 and len(store_marketplaces(store_id)) <= 1


def set_based_session() -> None:
    """Settings for one big set-based query in the session's transaction (PostgreSQL): no
    JIT (compiling the expressions costs more than a million rows of them)."""
    if db.engine.dialect.name == "postgresql":
        db.session.execute(text("SELECT set_config('jit', 'off', true)"))


def stock_version(account: Account) -> tuple:
    """What the account's available quantities depend on, from two index probes: the newest
    change of the store's stock levels (every movement stamps its level, migration 0026's
    index) and of the account's rules. The catalog feed's ETag and Last-Modified include it,
    so a hub never gets 304 Not Modified for quantities that changed."""
    from sqlalchemy import func

    from webapp.models import StockLevel

    levels = db.session.scalar(
        select(func.max(StockLevel.updated_at)).where(StockLevel.store_id == account.store_id)
    )
    rules = db.session.scalar(
        select(InventorySyncConfig.updated_at).where(InventorySyncConfig.account_id == account.id)
    )
    return levels, rules
