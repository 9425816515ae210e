"""The demo store's catalog: the products the marketplace sandbox sells, as a merchant's feed.

The sandbox's order lines name ``SKU-<product>-<variant>`` (twelve products, forty variants
each, ``sandbox.data``). ``flask demo seed`` (``webapp.demo``) writes them as a Google
Shopping CSV and imports it through the real import engine (one run in the store's import
history), then publishes them, so the demo's orders match their products and the error inbox
shows only what needs a person. A few SKUs are left out on purpose (:data:`DISCONTINUED`):
orders for them are the real problem a merchant meets, one inbox entry per SKU.

Nothing here imports ``webapp``: the sandbox stands outside the production package.
"""

from __future__ import annotations

import csv
from collections.abc import Iterator
from pathlib import Path

from sandbox.data import PRODUCT_WORDS

VARIANTS = range(1, 41)
# Sold on the marketplace, gone from the merchant's feed: each becomes one inbox entry.
DISCONTINUED = frozenset({"SKU-003-17", "SKU-009-02", "SKU-011-40"})
COLUMNS = (
    "id",
    "title",
    "description",
    "price",
    "availability",
    "quantity",
    "brand",
    "gtin",
    "item_group_id",
    "product_type",
    "link",
    "image_link",
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
                # The merchant's stock: the demo store takes its feed as its stock source.
                "quantity": str(5 + (idx * 7 + variant * 3) % 36),
                "brand": "Mercato Demo",
                "gtin": _gtin(idx, variant),
                "item_group_id": f"SKU-{idx:03d}",
                "product_type": category,
                "link": f"https://demo.mercato.invalid/p/{sku.lower()}",
                # The hubs reject a product without an image (the catalog export says so).
                "image_link": f"https://demo.mercato.invalid/img/{sku.lower()}.jpg",
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
