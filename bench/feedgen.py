"""A realistic Google Shopping CSV, about 500 bytes a row, generated deterministically."""

from __future__ import annotations

import csv
import random
from pathlib import Path

HEADER = [
    "id",
    "title",
    "description",
    "link",
    "image_link",
    "availability",
    "price",
    "sale_price",
    "brand",
    "gtin",
    "mpn",
    "condition",
    "google_product_category",
    "product_type",
    "item_group_id",
    "color",
    "size",
    "shipping_weight",
]
BRANDS = ["Acme", "Globex", "Initech", "Umbrella", "Hooli", "Vandelay", "Stark", "Wayne"]
NOUNS = ["Chair", "Table", "Lamp", "Sofa", "Desk", "Shelf", "Rug", "Mirror", "Bed", "Stool"]
ADJECTIVES = ["Oak", "Walnut", "Velvet", "Linen", "Steel", "Rattan", "Marble", "Teak"]
COLORS = ["black", "white", "red", "blue", "green", "grey", "beige"]
SIZES = ["S", "M", "L", "XL"]
AVAILABILITY = ["in stock", "in stock", "in stock", "out of stock", "preorder"]


def gtin13(rng: random.Random) -> str:
    digits = [rng.randint(0, 9) for _ in range(12)]
    total = sum(d * (3 if i % 2 else 1) for i, d in enumerate(digits))
    return "".join(map(str, digits)) + str((10 - total % 10) % 10)


def generate(path: Path, rows: int, seed: int = 42) -> Path:
    rng = random.Random(seed)
    with path.open("w", newline="", encoding="utf-8") as fh:
        writer = csv.writer(fh)
        writer.writerow(HEADER)
        for i in range(rows):
            noun, adj, brand = rng.choice(NOUNS), rng.choice(ADJECTIVES), rng.choice(BRANDS)
            price = rng.randint(500, 200000) / 100
            writer.writerow(
                [
                    f"SKU-{i:08d}",
                    f"{brand} {adj} {noun} {i % 997}",
                    f"The {adj.lower()} {noun.lower()} by {brand}: sturdy, handsome and made to "
                    f"last. Ships flat-packed with tools and a printed guide; assembly takes about "
                    f"twenty minutes. Care: wipe with a dry cloth. "
                    f"Model {i % 97}, series {i % 13}.",
                    f"https://shop.example.com/products/"
                    f"{brand.lower()}-{adj.lower()}-{noun.lower()}-{i}",
                    f"https://cdn.example.com/images/{i % 5000:05d}/{noun.lower()}-{i}.jpg",
                    rng.choice(AVAILABILITY),
                    f"{price:.2f} EUR",
                    f"{price * 0.9:.2f} EUR" if i % 5 == 0 else "",
                    brand,
                    gtin13(rng),
                    f"MPN-{rng.randint(10000, 99999)}",
                    "new",
                    "Home & Garden > Furniture",
                    f"Furniture > {noun}s",
                    f"GRP-{i // 4:08d}",
                    rng.choice(COLORS),
                    rng.choice(SIZES),
                    f"{rng.randint(1, 40)} kg",
                ]
            )
    return path
