"""A million-product store (and a small one beside it) written with COPY, deterministically.

Helper of :mod:`bench.products_pages` (no ``__main__``: ``make bench`` skips it).

The catalog looks like a real furniture and home-goods feed: titles in French for every
product, English for half, German for a tenth; about 600 brands with a long tail (a few
brands hold most products, most brands a handful); availability mostly in stock; GTIN-13s
that are all distinct; ids like ``SKU-00012345``.  Each title carries a product-line name
drawn from 20,000 invented words, so a search can ask for a common word (a noun in one
product in ten), a rare one (a line name, about fifty products) or one no product has.
The small store's products are written first, so its ids are the lowest: a query that
walked the primary key from the top would cross every big-store product to reach them.
"""

from __future__ import annotations

import io
import itertools
import random
from dataclasses import dataclass, field

SEED = 20261122
BIG_CODE = "big"
SMALL_CODE = "small"

NOUNS = {
    "fr": "chaise table lampe canapé bureau étagère tapis miroir lit tabouret fauteuil buffet "
    "commode armoire coussin rideau vase horloge banc console".split(),
    "en": "chair table lamp sofa desk shelf rug mirror bed stool armchair sideboard "
    "dresser wardrobe cushion curtain vase clock bench console".split(),
    "de": "Stuhl Tisch Lampe Sofa Schreibtisch Regal Teppich Spiegel Bett Hocker Sessel "
    "Anrichte Kommode Schrank Kissen Vorhang Vase Uhr Bank Konsole".split(),
}
ADJECTIVES = {
    "fr": "chêne noyer velours lin acier rotin marbre teck laiton verre bambou cuir".split(),
    "en": "oak walnut velvet linen steel rattan marble teak brass glass bamboo leather".split(),
    "de": "Eiche Nussbaum Samt Leinen Stahl Rattan Marmor Teak Messing Glas Bambus Leder".split(),
}
COLOURS = {
    "fr": "noir blanc rouge bleu vert gris beige".split(),
    "en": "black white red blue green grey beige".split(),
    "de": "schwarz weiß rot blau grün grau beige".split(),
}
AVAILABILITY = (("in_stock", 62), ("out_of_stock", 25), ("preorder", 9), ("backorder", 4))
SYLLABLES = "ka ro ve li ma to nu sa pe di lo ra mi zo te bu ga fe no si".split()


def gtin13(number: int) -> str:
    """A valid GTIN-13 made from ``number``: distinct numbers give distinct GTINs."""
    digits = f"{400000000000 + number:012d}"
    total = sum(int(d) * (3 if i % 2 else 1) for i, d in enumerate(digits))
    return digits + str((10 - total % 10) % 10)


def line_names(rng: random.Random, count: int) -> list[str]:
    names: set[str] = set()
    while len(names) < count:
        names.add("".join(rng.choice(SYLLABLES) for _ in range(4)).capitalize())
    return sorted(names)


def brand_names(rng: random.Random, count: int) -> list[str]:
    names: set[str] = set()
    while len(names) < count:
        names.add("".join(rng.choice(SYLLABLES) for _ in range(3)).capitalize())
    return sorted(names)


@dataclass
class Catalog:
    """What was written, so the benchmark asks for things that exist."""

    big_products: int
    small_products: int
    big_id: int = 1
    small_id: int = 2
    sample_sku: str = ""
    sample_gtin: str = ""
    rare_line: str = ""
    common_brand: str = ""
    rare_brand: str = ""
    lines: list = field(default_factory=list, repr=False)
    brands: list = field(default_factory=list, repr=False)


def _escape(text: str) -> str:
    return text.replace("\\", "\\\\").replace("\t", " ").replace("\n", " ")


def _sku(store_id: int, n: int) -> str:
    return f"SKU-{store_id}{n:08d}"


def write_store(cur, rng, catalog: Catalog, store_id: int, count: int, first_id: int) -> None:
    """``count`` products of one store and their translations, with ids from ``first_id``."""
    brands, lines = catalog.brands, catalog.lines
    # Zipf: a few brands hold most products, most brands a handful.
    brand_cum = list(itertools.accumulate(1 / (rank + 1) for rank in range(len(brands))))
    availability_cum = list(itertools.accumulate(w for _, w in AVAILABILITY))
    availabilities = [a for a, _ in AVAILABILITY]
    chunk = 100_000
    product_id = first_id
    for start in range(0, count, chunk):
        products, translations = io.StringIO(), io.StringIO()
        for n in range(start, min(count, start + chunk)):
            brand = rng.choices(brands, cum_weights=brand_cum)[0]
            noun = rng.randrange(len(NOUNS["fr"]))
            adjective = rng.randrange(len(ADJECTIVES["fr"]))
            colour = rng.randrange(len(COLOURS["fr"]))
            line = lines[rng.randrange(len(lines))]
            size = rng.choice((40, 60, 80, 90, 120, 140, 160, 180, 200))
            price = rng.randint(500, 250_000) / 100
            sku = _sku(store_id, n)
            availability = rng.choices(availabilities, cum_weights=availability_cum)[0]
            products.write(
                f"{product_id}\t{store_id}\tLetzshop\t{sku}\t{gtin13(store_id * 10_000_000 + n)}\t"
                f"{_escape(brand)}\t{price:.2f}\tEUR\t{availability}\t{rng.randrange(0, 40)}\t"
                f"new\thttps://shop.example.com/p/{sku}\t{rng.getrandbits(62)}\n"
            )
            languages = ["fr"]
            if n % 2 == 0:
                languages.append("en")
            if n % 10 == 3:
                languages.append("de")
            for language in languages:
                title = (
                    f"{NOUNS[language][noun]} {ADJECTIVES[language][adjective]} {line} "
                    f"{brand} {COLOURS[language][colour]} {size} cm"
                )
                title = title[0].upper() + title[1:]
                translations.write(
                    f"{product_id}\t{language}\t{_escape(title)}\t"
                    f"{_escape(title)}. {line} by {brand}.\t{rng.getrandbits(62)}\n"
                )
            product_id += 1
        with cur.copy(
            "COPY marketplace_products (id, store_id, marketplace, marketplace_product_id, "
            "gtin, brand, price, currency, availability, quantity, condition, link, "
            "content_hash) FROM STDIN"
        ) as copy:
            copy.write(products.getvalue())
        with cur.copy(
            "COPY marketplace_product_translations (marketplace_product_id, language, title, "
            "description, content_hash) FROM STDIN"
        ) as copy:
            copy.write(translations.getvalue())


def _catalog(big: int, small: int) -> tuple[Catalog, random.Random]:
    rng = random.Random(SEED)
    catalog = Catalog(big_products=big, small_products=small)
    catalog.lines = line_names(rng, 20_000)
    catalog.brands = brand_names(rng, 600)
    catalog.sample_sku = _sku(catalog.big_id, big // 2)
    catalog.sample_gtin = gtin13(catalog.big_id * 10_000_000 + big // 2)
    catalog.rare_line = catalog.lines[len(catalog.lines) // 3]
    return catalog, rng


def describe(libpq: str, big: int, small: int) -> Catalog:
    """The facts of a catalog ``load`` wrote (the brands are counted in the database)."""
    import psycopg

    catalog, _ = _catalog(big, small)
    with psycopg.connect(libpq) as conn:
        rows = conn.execute(
            "SELECT brand, count(*) FROM marketplace_products WHERE store_id = %s "
            "GROUP BY brand ORDER BY count(*) DESC, brand",
            (catalog.big_id,),
        ).fetchall()
    catalog.common_brand, catalog.rare_brand = rows[0][0], rows[-1][0]
    return catalog


def load(libpq: str, big: int, small: int) -> Catalog:
    """Two stores, ``small`` then ``big`` products (so the small store's ids are the lowest),
    a product in 97 published; then VACUUM ANALYZE, as after an import."""
    import psycopg

    catalog, rng = _catalog(big, small)
    with psycopg.connect(libpq) as conn:
        cur = conn.cursor()
        cur.execute(
            "INSERT INTO stores (id, code, name, default_language, is_active, created_at, "
            "updated_at) VALUES (%s, %s, 'Big furniture', 'fr', true, now(), now()), "
            "(%s, %s, 'Small shop', 'fr', true, now(), now())",
            (catalog.big_id, BIG_CODE, catalog.small_id, SMALL_CODE),
        )
        write_store(cur, rng, catalog, catalog.small_id, small, 1)
        write_store(cur, rng, catalog, catalog.big_id, big, small + 1)
        cur.execute(
            "SELECT setval(pg_get_serial_sequence('marketplace_products', 'id'), %s)",
            (small + big,),
        )
        cur.execute(
            "INSERT INTO products (store_id, marketplace_product_id, price, is_featured, "
            "is_active, display_order, created_at, updated_at) "
            "SELECT store_id, id, price, false, true, 0, now(), now() "
            "FROM marketplace_products WHERE id % 97 = 0"
        )
        conn.commit()
    with psycopg.connect(libpq, autocommit=True) as conn:
        conn.execute("VACUUM ANALYZE")
    return describe(libpq, big, small)
