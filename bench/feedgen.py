"""Generated product feeds for the benchmarks, deterministic for a seed.

Two profiles:

* ``merchant`` - shaped like a real Google Shopping export (what merchants send): twenty
  ``g:``-prefixed columns, French titles and long descriptions with accents and commas
  (so quoted cells), prices and sale prices with their currency, weights with units, a
  shipping rule, an additional image; about 480 bytes a row.
* ``basic`` - the benchmark's first feed: eighteen plain Google column names, ASCII
  text, about 500 bytes a row.
"""

from __future__ import annotations

import csv
import random
from pathlib import Path

PROFILES = ("merchant", "basic")

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

MERCHANT_HEADER = [
    "g:id",
    "g:title",
    "g:description",
    "g:link",
    "g:image_link",
    "g:additional_image_link",
    "g:availability",
    "g:price",
    "g:sale_price",
    "g:brand",
    "g:gtin",
    "g:mpn",
    "g:condition",
    "g:google_product_category",
    "g:product_type",
    "g:item_group_id",
    "g:color",
    "g:size",
    "g:shipping_weight",
    "g:shipping",
]
M_BRANDS = ["Maison Élise", "Bois & Lin", "Atelier Génois", "Hêtre Clair", "Rotin d'Or", "Nordé"]
M_NOUNS = [
    ("Fauteuil", "fauteuil"),
    ("Table basse", "table-basse"),
    ("Lampe à poser", "lampe-a-poser"),
    ("Canapé d'angle", "canape-d-angle"),
    ("Bureau", "bureau"),
    ("Étagère", "etagere"),
    ("Tapis", "tapis"),
    ("Miroir", "miroir"),
    ("Tête de lit", "tete-de-lit"),
    ("Tabouret", "tabouret"),
]
M_MATERIALS = ["chêne massif", "noyer", "velours côtelé", "lin lavé", "acier laqué", "rotin tressé"]
M_COLORS = ["bleu pétrole", "vert sauge", "écru", "terracotta", "gris anthracite", "noir mat"]
M_SIZES = ["S", "M", "L", "XL", "80 × 45 cm", "120 × 60 cm"]
M_AVAILABILITY = ["in_stock", "in_stock", "in_stock", "out_of_stock", "preorder", "backorder"]
M_CATEGORIES = ["Maison et jardin > Mobilier", "Maison et jardin > Décoration > Luminaires"]


def gtin13(rng: random.Random) -> str:
    digits = [rng.randint(0, 9) for _ in range(12)]
    total = sum(d * (3 if i % 2 else 1) for i, d in enumerate(digits))
    return "".join(map(str, digits)) + str((10 - total % 10) % 10)


def generate(path: Path, rows: int, seed: int = 42, profile: str = "merchant") -> Path:
    """Write ``rows`` products of ``profile`` to ``path`` (UTF-8 CSV, header first)."""
    if profile not in PROFILES:
        raise ValueError(f"profile must be one of {', '.join(PROFILES)}")
    rng = random.Random(seed)
    row = _merchant_row if profile == "merchant" else _basic_row
    with path.open("w", newline="", encoding="utf-8") as fh:
        writer = csv.writer(fh)
        writer.writerow(MERCHANT_HEADER if profile == "merchant" else HEADER)
        writer.writerows(row(rng, i) for i in range(rows))
    return path


def _basic_row(rng: random.Random, i: int) -> list[str]:
    noun, adj, brand = rng.choice(NOUNS), rng.choice(ADJECTIVES), rng.choice(BRANDS)
    price = rng.randint(500, 200000) / 100
    return [
        f"SKU-{i:08d}",
        f"{brand} {adj} {noun} {i % 997}",
        f"The {adj.lower()} {noun.lower()} by {brand}: sturdy, handsome and made to "
        f"last. Ships flat-packed with tools and a printed guide; assembly takes about "
        f"twenty minutes. Care: wipe with a dry cloth. "
        f"Model {i % 97}, series {i % 13}.",
        f"https://shop.example.com/products/{brand.lower()}-{adj.lower()}-{noun.lower()}-{i}",
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


def _merchant_row(rng: random.Random, i: int) -> list[str]:
    (noun, slug), brand = rng.choice(M_NOUNS), rng.choice(M_BRANDS)
    material, color = rng.choice(M_MATERIALS), rng.choice(M_COLORS)
    price = rng.randint(990, 249900) / 100
    on_sale = i % 3 == 0
    weight = f"{rng.randint(150, 950)} g" if i % 4 == 0 else f"{rng.randint(10, 450) / 10:.1f} kg"
    return [
        f"FR-{i:08d}",
        f"{noun} {material} – {color}, {brand} {i % 997}",
        f"{noun} en {material}, coloris {color}. Fabriqué en Europe, livré monté ; "
        f"entretien : chiffon sec. Garantie {2 + i % 4} ans.",
        f"https://boutique.fr/p/{slug}-{i}",
        f"https://cdn.boutique.fr/{i % 9000:04d}/{slug}-{i}.jpg",
        f"https://cdn.boutique.fr/{i % 9000:04d}/{slug}-{i}b.jpg",
        rng.choice(M_AVAILABILITY),
        f"{price:.2f} EUR",
        f"{price * 0.8:.2f} EUR" if on_sale else "",
        brand,
        gtin13(rng),
        f"{rng.randint(100000, 999999)}",
        "new",
        rng.choice(M_CATEGORIES),
        f"Mobilier > {noun}",
        f"GRP-{i // 3:07d}",
        color,
        rng.choice(M_SIZES),
        weight,
        f"FR:::{rng.choice(['0.00', '4.90', '9.90', '29.00'])} EUR",
    ]
