"""The products page with a big catalog in mind: pages read by id, capped counts, the word
search and its two ways (the indexes, walking the store)."""

from __future__ import annotations

import re

import pytest
from sqlalchemy import select, text

from tests.webapp.conftest import logged_in, make_user
from webapp.catalog import product_list
from webapp.extensions import db
from webapp.models import MarketplaceProduct, MarketplaceProductTranslation

ROW_SKU = re.compile(r'aria-label="Select ([^"]+)"')


def add_products(store, specs) -> list[MarketplaceProduct]:
    """Products in the given order (ids ascending): dicts of sku, title, brand, gtin, ..."""
    made = []
    for spec in specs:
        titles = spec.get("titles") or {"fr": spec.get("title", f"Produit {spec['sku']}")}
        product = MarketplaceProduct(
            store_id=store.id,
            marketplace="Letzshop",
            marketplace_product_id=spec["sku"],
            brand=spec.get("brand"),
            gtin=spec.get("gtin"),
            availability=spec.get("availability", "in_stock"),
            content_hash=0,
            translations=[
                MarketplaceProductTranslation(language=lang, title=title, content_hash=0)
                for lang, title in titles.items()
            ],
        )
        db.session.add(product)
        made.append(product)
    db.session.commit()
    return made


def skus(response) -> list[str]:
    assert response.status_code == 200, response.status_code
    return ROW_SKU.findall(response.text)


def link(response, rel: str) -> str | None:
    match = re.search(rf'<a href="([^"]+)" rel="{rel}"', response.text)
    return match.group(1).replace("&amp;", "&") if match else None


def count_text(response) -> str:
    match = re.search(r'id="products-count">([^<]*)<', response.text)
    assert match, "no count on the page"
    return " ".join(match.group(1).split())


def numbered(n: int, **extra) -> list[dict]:
    return [{"sku": f"SKU-{i:05d}", **extra} for i in range(n)]


# -- the list ------------------------------------------------------------------------------


def test_pages_follow_the_last_id_shown_newest_first_and_back(
    app, store, other_store, store_client
):
    add_products(store, numbered(60))
    add_products(other_store, numbered(5))
    first = store_client.get("/store/acme/products")
    assert skus(first) == [f"SKU-{i:05d}" for i in range(59, 34, -1)]
    assert count_text(first) == "Page 1 of 3 · 60 products"
    assert link(first, "prev") is None
    older = link(first, "next")
    assert "after=" in older and "page=2" in older

    second = store_client.get(older)
    assert skus(second) == [f"SKU-{i:05d}" for i in range(34, 9, -1)]
    assert count_text(second) == "Page 2 of 3 · 60 products"
    assert link(second, "prev") == "/store/acme/products"  # back to page 1: a clean URL
    third = store_client.get(link(second, "next"))
    assert skus(third) == [f"SKU-{i:05d}" for i in range(9, -1, -1)]
    assert count_text(third) == "Page 3 of 3 · 60 products"
    assert link(third, "next") is None

    back = store_client.get(link(third, "prev"))
    assert "before=" in link(third, "prev")
    assert skus(back) == skus(second) and count_text(back) == "Page 2 of 3 · 60 products"
    # A typed page number (an old link) reads the same page.
    assert skus(store_client.get("/store/acme/products?page=2")) == skus(second)
    # The fragment for HTMX is the same list.
    fragment = store_client.get(older, headers={"HX-Request": "true"})
    assert skus(fragment) == skus(second) and "<html" not in fragment.text


def test_cursors_out_of_range_or_not_numbers_read_the_first_page(app, store, store_client):
    add_products(store, numbered(30))
    first = skus(store_client.get("/store/acme/products"))
    for query in ("after=99999999999", "before=2147483648", "after=-5&page=x", "after=１２"):
        assert skus(store_client.get(f"/store/acme/products?{query}")) == first, query


def test_counts_stop_at_the_cap_and_say_so(app, store, store_client, monkeypatch, backend):
    monkeypatch.setattr(product_list, "COUNT_CAP", 10)
    add_products(store, numbered(3, availability="backorder") + numbered(27)[3:])
    if backend == "postgresql":
        db.session.execute(text("ANALYZE marketplace_products"))
        db.session.commit()
    page = store_client.get("/store/acme/products")
    said = count_text(page)
    assert said.startswith("Page 1 · more than 10 products")
    if backend == "postgresql":  # the planner's estimate, said to be one
        assert re.search(r"\(about [\d,]+, an estimate\)$", said), said
    assert len(skus(page)) == 25 and link(page, "next")
    assert count_text(store_client.get("/store/acme/products?availability=backorder")) == (
        "Page 1 of 1 · 3 products"
    )


def test_filters_availability_and_language(app, store, store_client):
    add_products(
        store,
        [
            {"sku": "A", "availability": "in_stock", "titles": {"fr": "Un", "de": "Eins"}},
            {"sku": "B", "availability": "preorder", "titles": {"fr": "Deux"}},
            {"sku": "C", "availability": "preorder", "titles": {"en": "Three", "de": "Drei"}},
        ],
    )
    assert skus(store_client.get("/store/acme/products?availability=preorder")) == ["C", "B"]
    assert skus(store_client.get("/store/acme/products?language=de")) == ["C", "A"]
    both = store_client.get("/store/acme/products?language=de&availability=preorder")
    assert skus(both) == ["C"]
    # A value the filter does not offer filters nothing (the menu shows "Any").
    assert skus(store_client.get("/store/acme/products?availability=bogus")) == ["C", "B", "A"]
    assert "No product matches" in store_client.get("/store/acme/products?language=en&q=zz").text


# -- search --------------------------------------------------------------------------------

CATALOG = [
    {
        "sku": "SKU-A100",
        "title": "Chaise velours bleu",
        "brand": "Maison Dupont",
        "gtin": "4006381333931",
    },
    {"sku": "SKU-A101", "title": "Chaise-longue en rotin", "brand": "Rotin & Co"},
    {"sku": "SKU-B200", "title": "Table en chêne", "brand": "Maison Dupont"},
    {"sku": "sku-b201", "titles": {"fr": "Lampe (laiton)", "en": "Brass lamp"}},
]
SEARCHES = {
    "chaise": ["SKU-A101", "SKU-A100"],
    "chai": ["SKU-A101", "SKU-A100"],  # the last word may be the beginning of one
    "CHAISE VEL": ["SKU-A100"],
    "velours chaise": ["SKU-A100"],  # any order, in the same title
    "chai velours": [],  # every word but the last is a whole word
    "haise": [],  # words start where words start
    "longue": ["SKU-A101"],  # punctuation separates words
    "laiton": ["sku-b201"],
    "brass": ["sku-b201"],  # any of the product's titles
    "sku-a10": ["SKU-A101", "SKU-A100"],  # an id's beginning, case aside
    "SKU-B201": ["sku-b201"],
    "4006381333931": ["SKU-A100"],  # GTIN
    "dupont": ["SKU-B200", "SKU-A100"],  # a word of the brand
    "maison dup": ["SKU-B200", "SKU-A100"],
    "rotin": ["SKU-A101"],  # title and brand: the product once
    "dupont chaise": [],  # brand and title are separate texts
    "zzz": [],
    "%": [],
}


@pytest.fixture
def catalog(app, store, other_store):
    add_products(store, CATALOG)
    add_products(other_store, [dict(spec) for spec in CATALOG])  # same ids, other store


@pytest.mark.parametrize("way", ["default", "walking"])
def test_search_finds_words_ids_gtins_and_brands(catalog, store_client, monkeypatch, backend, way):
    if way == "walking":
        if backend == "sqlite":
            pytest.skip("SQLite always walks: the default way covers it")
        # Every search counts as broad: the store is walked, as for a common word.
        monkeypatch.setattr(product_list, "BROAD_MATCHES", -1)
    for query, expected in SEARCHES.items():
        response = store_client.get("/store/acme/products", query_string={"q": query})
        assert skus(response) == expected, query
        if expected:
            n = len(expected)
            assert count_text(response) == f"Page 1 of 1 · {n} match{'es' if n > 1 else ''}"
        else:
            assert "No product matches" in response.text


def test_the_search_indexes_serve_the_queries_as_written(catalog, backend):
    """The expressions the queries use are the ones migration 0015 indexed (PostgreSQL
    matches them structurally: a difference would silently read the whole catalog)."""
    if backend != "postgresql":
        pytest.skip("the search indexes exist on PostgreSQL only")
    search = product_list.Search.of("sku-a1 chaise")
    mp, mpt = product_list.MP, product_list.MPT
    queries = {
        "ix_marketplace_products_search": select(mp.id).where(
            product_list._matches(product_list.codes_text(), "dupont:*")
        ),
        "ix_mp_translations_search": select(mpt.marketplace_product_id).where(
            product_list._matches(mpt.title, "chaise:*")
        ),
        "ix_marketplace_products_store_sku": select(mp.id).where(
            mp.store_id == 1, search.id_test()
        ),
    }
    # On a few rows any index does; leave the planner only the one each query should use
    # (dropped in this transaction, rolled back below).
    db.session.execute(text("SET LOCAL enable_seqscan = off"))
    db.session.execute(
        text(
            "DROP INDEX ix_marketplace_products_store_id, "
            "ix_marketplace_products_store_availability, "
            "ix_marketplace_products_store_updated; ALTER TABLE marketplace_products "
            "DROP CONSTRAINT uq_marketplace_products_store_marketplace_id"
        )
    )
    for index, query in queries.items():
        compiled = query.compile(
            dialect=db.engine.dialect, compile_kwargs={"render_postcompile": True}
        )
        plan = "\n".join(
            db.session.connection()
            .exec_driver_sql("EXPLAIN " + str(compiled), compiled.params)
            .scalars()
        )
        assert index in plan, plan
    assert "~>=~ 'sku-a1 chaise'" in plan  # the id's beginning is a range of the index
    db.session.rollback()


def test_a_broad_search_walks_the_store_and_says_how_far_it_looked(
    app, store, store_client, monkeypatch, backend
):
    """Matches dense among the newest products, none in the middle, some among the oldest:
    pages carry on where the walk stopped, every match is shown once, newest first."""
    for name, value in (("PER_PAGE", 5), ("SCAN_WINDOW", 10), ("SCAN_WINDOWS", 2)):
        monkeypatch.setattr(product_list, name, value)
    monkeypatch.setattr(product_list, "COUNT_SAMPLE", 10)
    monkeypatch.setattr(product_list, "BROAD_MATCHES", -1)
    specs = [
        {"sku": f"P{i:03d}", "title": "Chaise" if i < 4 or i >= 50 else "Table"} for i in range(60)
    ]
    add_products(store, specs)
    expected = [f"P{i:03d}" for i in range(59, 49, -1)] + [f"P{i:03d}" for i in (3, 2, 1, 0)]
    page = store_client.get("/store/acme/products?q=chaise")
    assert skus(page) == expected[:5]
    if backend == "postgresql":  # counted among the newest 10, the total estimated
        assert "an estimate from the newest 10 products" in count_text(page)
    else:
        assert count_text(page).endswith("14 matches")
    seen, walked_on = list(skus(page)), False
    while (older := link(page, "next")) is not None:
        page = store_client.get(older)
        walked_on = walked_on or "Search older products" in page.text
        seen += skus(page)
    assert seen == expected
    assert walked_on  # a page stopped short after two windows of ten and said so


def test_a_search_never_shows_another_stores_products(
    catalog, app, other_store, monkeypatch, backend
):
    make_user("shop@globex.test", store=other_store)
    client = logged_in(app, "shop@globex.test")
    mine = set(
        db.session.scalars(
            select(MarketplaceProduct.id).where(MarketplaceProduct.store_id == other_store.id)
        )
    )
    for broad in (False, True):
        if broad:
            monkeypatch.setattr(product_list, "BROAD_MATCHES", -1)
        response = client.get("/store/globex/products?q=chaise")
        ids = {int(i) for i in re.findall(r'name="product_id" value="(\d+)"', response.text)}
        assert ids and ids <= mine
