"""The demo store's catalog: the products the marketplace sandbox sells, as a merchant's feed.

The sandbox's order lines name ``SKU-<product>-<variant>`` (twelve products, forty variants
each, ``webapp.sandbox.data``). ``flask demo seed`` writes them as a Google Shopping CSV and
imports it through the real import engine (one run in the store's import history), then
publishes them, so the demo's orders match their products and the error inbox shows only
what needs a person. A few SKUs are left out on purpose (:data:`DISCONTINUED`): orders for
them are the real problem a merchant meets, one inbox entry per SKU.
"""

from __future__ import annotations

import csv
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path

from sqlalchemy import select

from webapp.extensions import db
from webapp.models import MarketplaceProduct, Product, Store
from webapp.sandbox.data import PRODUCT_WORDS

VARIANTS = range(1, 41)
# Sold on the marketplace, gone from the merchant's feed: each becomes one inbox entry.
DISCONTINUED = frozenset({"SKU-003-17", "SKU-009-02", "SKU-011-40"})
COLUMNS = (
    "id",
    "title",
    "description",
    "price",
    "availability",
    "brand",
    "gtin",
    "item_group_id",
    "product_type",
    "link",
)


def _gtin(idx: int, variant: int) -> str:
    """An EAN-13 in GS1's restricted-circulation range (200...), with its check digit."""
    body = f"200{idx:04d}{variant:05d}"
    total = sum(int(d) * (3 if i % 2 else 1) for i, d in enumerate(body))
    return body + str((10 - total % 10) % 10)


def rows() -> Iterator[dict[str, str]]:
    for idx, (title, category, price) in enumerate(PRODUCT_WORDS):
        for variant in VARIANTS:
            sku = f"SKU-{idx:03d}-{variant:02d}"
            if sku in DISCONTINUED:
                continue
            yield {
                "id": sku,
                "title": f"{title} - {variant}",
                "description": f"{title}, variante {variant} ({category}).",
                "price": f"{price:.2f} EUR",
                "availability": "in stock",
                "brand": "Mercato Demo",
                "gtin": _gtin(idx, variant),
                "item_group_id": f"SKU-{idx:03d}",
                "product_type": category,
                "link": f"https://demo.mercato.invalid/p/{sku.lower()}",
            }


def write_feed(path: Path) -> int:
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, fieldnames=COLUMNS)
        writer.writeheader()
        count = 0
        for row in rows():
            writer.writerow(row)
            count += 1
    return count


def seed_demo_catalog(store: Store, echo: Callable[[str], None] = print) -> None:
    """Import and publish the demo catalog once (a store that has products keeps them)."""
    from webapp.imports.service import create_run, execute
    from webapp.orders import matching

    has_products = db.session.scalar(
        select(MarketplaceProduct.id).where(MarketplaceProduct.store_id == store.id).limit(1)
    )
    if has_products is not None:
        return
    with tempfile.TemporaryDirectory(prefix="mercato-demo-") as folder:
        path = Path(folder) / "demo-catalog.csv"
        write_feed(path)
        run = create_run(
            store,
            source_path=str(path),
            source_name="demo-catalog.csv",
            marketplace="Letzshop",
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
