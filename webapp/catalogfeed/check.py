"""The stock check of a pull feed: what the hub last fetched against what it would get now.

A hub that reads the catalog feed (Lengow, Letzshop) has no inventory to read back. What it
holds is what its last fetch served; nothing of that is stored per SKU (a million rows per
fetch). It is rebuilt for the SKUs that can differ, and only for them:

- the reference is the hub's last fetch that read the feed (complete, or 304 Not Modified:
  its copy was then still current), from the moment it started;
- a SKU can differ only if its stock level changed since (``stock_levels.updated_at``, one
  index range, migration 0026) and it is published;
- its quantity then is its level now less the movements since (every change is a movement),
  under the account's rules; its quantity now is the level under the same rules.

Each SKU whose two quantities differ is a drift: the hub shows the old quantity until its next
fetch. The account's rules changed since the fetch are said once (they move every quantity).
Nothing is sent: the hub gets the corrections at its next fetch.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sqlalchemy import func, select

from webapp.catalogfeed.flows import last_fetch
from webapp.extensions import db
from webapp.models import (
    CatalogFeedFetch,
    InventorySyncConfig,
    MarketplaceProduct,
    Product,
    StockLevel,
    StockMovement,
)
from webapp.stock.availability import levels_of, rules_for

CHUNK = 1000


@dataclass
class PullCheck:
    fetch: CatalogFeedFetch | None
    read_at: datetime | None = None
    compared: int = 0
    drifts: list[dict] = field(default_factory=list)
    rules_changed: bool = False


def _read_at(fetch: CatalogFeedFetch) -> datetime:
    """When the fetch read the stock: a 200 streamed from its start (``fetched_at`` is its
    end), a 304 compared the version when it was answered."""
    if fetch.status == 200:
        return fetch.fetched_at - timedelta(milliseconds=fetch.duration_ms or 0)
    return fetch.fetched_at


def _changed_published(store_id: int, since: datetime) -> list[str]:
    changed = db.session.scalars(
        select(StockLevel.sku)
        .where(StockLevel.store_id == store_id, StockLevel.updated_at >= since)
        .distinct()
    ).all()
    published: list[str] = []
    for start in range(0, len(changed), CHUNK):
        batch = changed[start : start + CHUNK]
        published += db.session.scalars(
            select(MarketplaceProduct.marketplace_product_id)
            .join(Product, Product.marketplace_product_id == MarketplaceProduct.id)
            .where(
                Product.store_id == store_id,
                MarketplaceProduct.marketplace_product_id.in_(batch),
            )
            .distinct()
        ).all()
    return sorted(set(published))


def check(account) -> PullCheck:
    fetch = last_fetch(account.id)
    if fetch is None:
        return PullCheck(None)
    since = _read_at(fetch)
    result = PullCheck(fetch, since)
    store_id = account.store_id
    rules = rules_for(account)
    changed_at = db.session.scalar(
        select(InventorySyncConfig.updated_at).where(InventorySyncConfig.account_id == account.id)
    )
    result.rules_changed = changed_at is not None and changed_at >= since
    skus = _changed_published(store_id, since)
    result.compared = len(skus)
    for start in range(0, len(skus), CHUNK):
        batch = skus[start : start + CHUNK]
        moved: dict[str, list] = defaultdict(lambda: [0, 0, 0, set()])
        for sku, reason, on_hand, reserved, count in db.session.execute(
            select(
                StockMovement.sku,
                StockMovement.reason,
                func.sum(StockMovement.on_hand_delta),
                func.sum(StockMovement.reserved_delta),
                func.count(),
            )
            .where(
                StockMovement.store_id == store_id,
                StockMovement.sku.in_(batch),
                StockMovement.created_at >= since,
            )
            .group_by(StockMovement.sku, StockMovement.reason)
        ):
            entry = moved[sku]
            entry[0] += int(on_hand or 0)
            entry[1] += int(reserved or 0)
            entry[2] += int(count)
            entry[3].add(reason)
        for sku, on_hand, reserved, sellable in levels_of(store_id, batch):
            on_hand, reserved, sellable = int(on_hand), int(reserved), bool(sellable)
            d_on_hand, d_reserved, count, reasons = moved.get(sku, (0, 0, 0, set()))
            now = rules.available(on_hand, reserved, sellable)
            then = rules.available(on_hand - d_on_hand, reserved - d_reserved, sellable)
            if now != then:
                result.drifts.append(
                    {
                        "sku": sku,
                        "mercato": now,
                        "marketplace": then,
                        "acknowledged": None,
                        "cause": (
                            f"{count} stock movement(s) since the hub's last fetch "
                            f"({', '.join(sorted(reasons))}); it gets {now} at its next fetch"
                        ),
                    }
                )
    return result
