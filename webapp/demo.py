"""The demo store's catalog for ``flask demo seed``: the products the marketplace sandbox sells.

The feed itself (its SKUs, and the few left out on purpose) is the sandbox's
(``sandbox.catalog``); this imports it through the real import engine, one run in the store's
import history, and publishes it, so the demo's orders match their products. The store takes
the feed as its stock source, so its stock is seeded from the feed's quantities.
"""

from __future__ import annotations

import tempfile
from collections.abc import Callable
from pathlib import Path

from sqlalchemy import select

from sandbox.catalog import DISCONTINUED, write_feed
from webapp.extensions import db
from webapp.imports.service import create_run, execute
from webapp.models import MarketplaceProduct, Product, Store
from webapp.models.catalog import DEFAULT_MARKETPLACE
from webapp.orders import matching
from webapp.stock.service import update_store_settings


def seed_demo_catalog(store: Store, echo: Callable[[str], None] = print) -> None:
    """Import and publish the demo catalog once (a store that has products keeps them)."""
    has_products = db.session.scalar(
        select(MarketplaceProduct.id).where(MarketplaceProduct.store_id == store.id).limit(1)
    )
    if has_products is not None:
        return
    # The demo store's stock comes from its feed's quantity column (then orders reserve it).
    update_store_settings(store, feed_is_stock_source=True)
    with tempfile.TemporaryDirectory(prefix="mercato-demo-") as folder:
        path = Path(folder) / "demo-catalog.csv"
        write_feed(path)
        run = create_run(
            store,
            source_path=str(path),
            source_name="demo-catalog.csv",
            marketplace=DEFAULT_MARKETPLACE,
            language=store.default_language or "fr",
            trigger="cli",
        )
        run = execute(run.id)
    imported = db.session.scalars(
        select(MarketplaceProduct.id).where(MarketplaceProduct.store_id == store.id)
    ).all()
    db.session.add_all(Product(store_id=store.id, marketplace_product_id=pid) for pid in imported)
    db.session.commit()
    matching.after_publish(store.id, imported)
    echo(
        f"Demo catalog: import #{run.id} {run.status}, {len(imported)} products imported and "
        f"published (left out on purpose, so their orders wait in the inbox: "
        f"{', '.join(sorted(DISCONTINUED))})"
    )
