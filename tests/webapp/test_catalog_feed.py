"""The catalog feed the hubs read (issue 15, pull): a secret URL per account, its content (the
store's published products with overrides, texts per language with fallback, the account's
available quantity) as CSV and RSS/XML, streamed through real HTTP requests of the test client;
rotation, 304s, gzip, escaping, fetch records, isolation; the account page and the CLI."""

from __future__ import annotations

import csv
import gzip
import io
import json
import xml.etree.ElementTree as ET
from datetime import timedelta
from decimal import Decimal

import pytest
from sqlalchemy import func, select
from sqlalchemy import update as sa_update

from tests.webapp.conftest import csrf_from
from webapp import catalogfeed
from webapp.accounts import create_account
from webapp.extensions import db
from webapp.models import (
    CatalogFeedFetch,
    MarketplaceProduct,
    MarketplaceProductTranslation,
    Product,
    ProductTranslation,
)
from webapp.models.base import utcnow
from webapp.models.stock import MANUAL
from webapp.stock import levels

G = "{http://base.google.com/ns/1.0}"


def add_product(store, sku, *, titles, price="10.00", quantity=5, published=True, **fields):
    overrides = fields.pop("overrides", {})
    store_titles = fields.pop("store_titles", {})
    source = MarketplaceProduct(
        store_id=store.id,
        marketplace_product_id=sku,
        price=Decimal(price),
        currency=fields.pop("currency", "EUR"),
        quantity=quantity,
        availability="in_stock",
        content_hash=1,
        link=f"https://shop.example/{sku}",
        **fields,
    )
    for lang, (title, description) in titles.items():
        source.translations.append(
            MarketplaceProductTranslation(
                language=lang, title=title, description=description, content_hash=1
            )
        )
    db.session.add(source)
    db.session.flush()
    if published:
        product = Product(store_id=store.id, marketplace_product_id=source.id, **overrides)
        for lang, (title, description) in store_titles.items():
            product.translations.append(
                ProductTranslation(language=lang, title=title, description=description)
            )
        db.session.add(product)
    # The feed's quantity is the account's available quantity, which the stock engine knows:
    # the SKU's stock is set (on hand in the default warehouse) as the merchant would.
    levels.set_on_hand(
        store.id,
        [(sku, levels.default_warehouse_id(store.id), quantity)],
        reason=MANUAL,
        actor="test",
    )
    db.session.commit()
    return source


@pytest.fixture
def letzshop(app, store):
    return create_account(store, "letzshop", "Letzshop LU", secrets={"api_token": "t"})


@pytest.fixture
def catalog(app, store, other_store):
    add_product(
        store,
        "B-2",
        titles={"fr": ("Chaise", "Une chaise"), "en": ("Chair", "A chair")},
        price="20.00",
        quantity=3,
        brand="Acme",
        gtin="4006381333931",
        overrides={"price": Decimal("18.50"), "sale_price": Decimal("15.00")},
        store_titles={"en": ("Store chair", "")},
    )
    add_product(
        store,
        "A-1",
        titles={"de": ("Lampe", "Eine Lampe")},  # only German: fr and en fall back
        quantity=7,
        overrides={"is_active": False},
    )
    add_product(
        store,
        "C-3",
        titles={"fr": ('=HYPERLINK("http://evil")', 'Dit "bonjour", <b>&</b>\x01')},
        quantity=0,
    )
    add_product(store, "D-4", titles={"fr": ("Pas publié", None)}, published=False)
    add_product(other_store, "SECRET-1", titles={"fr": ("Globex secret", None)}, quantity=99)


def feed_path(account, suffix=".csv") -> str:
    feed = catalogfeed.feed_for(account)
    token = catalogfeed.decrypt(feed.token_encrypted)
    return f"/feeds/catalog/{token}{suffix}"


def read_csv(response) -> list[dict]:
    return list(csv.DictReader(io.StringIO(response.get_data(as_text=True))))


def test_csv_has_published_products_with_overrides_texts_and_quantities(
    app, store, letzshop, catalog
):
    client = app.test_client()
    response = client.get(feed_path(letzshop), buffered=False)
    assert response.status_code == 200
    assert response.is_streamed
    assert response.headers["Content-Type"].startswith("text/csv")
    rows = read_csv(response)
    assert [row["id"] for row in rows] == ["A-1", "B-2", "C-3"]  # SKU order, published only
    lamp, chair, formula = rows
    assert chair["price"] == "18.50 EUR"  # the store's price override
    assert chair["sale_price"] == "15.00 EUR"
    assert chair["quantity"] == "3"
    assert chair["availability"] == "in_stock"
    assert chair["brand"] == "Acme" and chair["gtin"] == "4006381333931"
    assert chair["title"] == "Chaise"  # the store's default language (fr)
    # Letzshop's language columns: the store's own English title, the source's description
    # (an empty store text falls back), German falls back to fr.
    assert chair["title_en"] == "Store chair"
    assert chair["description_en"] == "A chair"
    assert chair["title_de"] == "Chaise"
    # Inactive: out of stock, nothing to sell; titles fall back to the only language there is.
    assert lamp["availability"] == "out_of_stock" and lamp["quantity"] == "0"
    assert lamp["title"] == lamp["title_fr"] == lamp["title_en"] == "Lampe"
    # Nothing in stock: out of stock; a formula-looking title is defused, quotes survive.
    assert formula["availability"] == "out_of_stock"
    assert formula["title"] == '\'=HYPERLINK("http://evil")'
    assert formula["description"].startswith('Dit "bonjour"')
    assert "SECRET-1" not in response.get_data(as_text=True)


def test_a_lengow_account_gets_google_columns_only_in_its_language(app, store, catalog):
    account = create_account(
        store,
        "lengow",
        "Lengow",
        settings={"account_id": "1"},
        secrets={"access_token": "a", "secret": "b"},
    )
    catalogfeed.set_format(account, "csv", "en")
    response = app.test_client().get(feed_path(account))
    header = response.get_data(as_text=True).splitlines()[0]
    assert header.split(",")[:4] == ["id", "item_group_id", "title", "description"]
    assert "title_fr" not in header
    chair = {row["id"]: row for row in read_csv(response)}["B-2"]
    assert chair["title"] == "Store chair"


def test_xml_is_rss_with_g_namespace_and_escaped_text(app, store, letzshop, catalog):
    response = app.test_client().get(feed_path(letzshop, ".xml"))
    assert response.status_code == 200
    assert response.headers["Content-Type"].startswith("application/rss+xml")
    root = ET.fromstring(response.get_data())  # noqa: S314 - our own output; well-formed despite <, &, \x01 in the text
    items = root.findall("./channel/item")
    assert [item.findtext(f"{G}id") for item in items] == ["A-1", "B-2", "C-3"]
    chair = items[1]
    assert chair.findtext(f"{G}price") == "18.50 EUR"
    assert chair.findtext(f"{G}quantity") == "3"
    assert chair.findtext("title") == "Chaise"
    assert items[2].findtext("description") == 'Dit "bonjour", <b>&</b>'


def test_the_suffixless_url_answers_the_accounts_format(app, store, letzshop, catalog):
    client = app.test_client()
    assert client.get(feed_path(letzshop, "")).headers["Content-Type"].startswith("text/csv")
    catalogfeed.set_format(letzshop, "xml")
    assert (
        client.get(feed_path(letzshop, ""))
        .headers["Content-Type"]
        .startswith("application/rss+xml")
    )


def test_rotation_refuses_the_old_url(app, store, letzshop, catalog):
    client = app.test_client()
    old = feed_path(letzshop)
    assert client.get(old).status_code == 200
    catalogfeed.rotate(letzshop, "test")
    assert client.get(old).status_code == 404
    assert client.get(feed_path(letzshop)).status_code == 200
    assert client.get("/feeds/catalog/nope.csv").status_code == 404


def test_retired_account_feed_is_gone(app, store, letzshop, catalog):
    path = feed_path(letzshop)
    letzshop.retire()
    db.session.commit()
    assert app.test_client().get(path).status_code == 404


def test_etag_and_last_modified_give_304_until_the_catalog_changes(app, store, letzshop, catalog):
    client = app.test_client()
    path = feed_path(letzshop)
    first = client.get(path)
    first.get_data()
    etag, modified = first.headers["ETag"], first.headers["Last-Modified"]
    assert client.get(path, headers={"If-None-Match": etag}).status_code == 304
    assert client.get(path, headers={"If-Modified-Since": modified}).status_code == 304
    product = db.session.scalar(select(Product).limit(1))
    product.price = Decimal("1.00")
    product.updated_at = utcnow() + timedelta(seconds=2)
    db.session.commit()
    again = client.get(path, headers={"If-None-Match": etag})
    assert again.status_code == 200 and again.headers["ETag"] != etag
    assert client.get(path, headers={"If-Modified-Since": modified}).status_code == 200


def test_a_stock_change_or_a_rules_change_is_never_answered_304(app, store, letzshop, catalog):
    """The quantity is in the feed: a movement (or the account's safety stock) changes the
    ETag and Last-Modified, so a hub's conditional fetch gets the new quantity."""
    from webapp.models import StockLevel
    from webapp.stock import service

    client = app.test_client()
    path = feed_path(letzshop)
    first = client.get(path)
    assert {r["id"]: r["quantity"] for r in read_csv(first)}["B-2"] == "3"
    etag, modified = first.headers["ETag"], first.headers["Last-Modified"]
    service.set_quantity(store, "B-2", 9, reason="count", actor="test")
    db.session.execute(
        sa_update(StockLevel)
        .where(StockLevel.sku == "B-2")
        .values(updated_at=utcnow() + timedelta(seconds=2))
    )
    db.session.commit()
    again = client.get(path, headers={"If-None-Match": etag})
    assert again.status_code == 200 and again.headers["ETag"] != etag
    assert {r["id"]: r["quantity"] for r in read_csv(again)}["B-2"] == "9"
    assert client.get(path, headers={"If-Modified-Since": modified}).status_code == 200
    etag = again.headers["ETag"]
    assert client.get(path, headers={"If-None-Match": etag}).status_code == 304
    service.update_settings(letzshop, safety_stock=2)
    rules = client.get(path, headers={"If-None-Match": etag})
    assert rules.status_code == 200
    assert {r["id"]: r["quantity"] for r in read_csv(rules)}["B-2"] == "7"


def test_gzip_when_asked_is_streamed_gzip_with_its_own_etag(app, store, letzshop, catalog):
    client = app.test_client()
    path = feed_path(letzshop)
    plain = client.get(path)
    zipped = client.get(path, headers={"Accept-Encoding": "gzip, deflate"})
    assert zipped.headers["Content-Encoding"] == "gzip"
    assert "Accept-Encoding" in zipped.headers["Vary"]
    assert gzip.decompress(zipped.get_data()) == plain.get_data()
    assert zipped.headers["ETag"] != plain.headers["ETag"]
    assert "Content-Encoding" not in plain.headers


def test_each_fetch_is_recorded_after_the_stream(app, store, letzshop, catalog):
    client = app.test_client()
    path = feed_path(letzshop)
    body = client.get(path, headers={"User-Agent": "Lengow-Fetcher/1.0"}).get_data()
    etag = client.get(path).headers["ETag"]
    client.get(path, headers={"If-None-Match": etag})
    db.session.rollback()
    fetches = catalogfeed.last_fetches(letzshop.id)
    assert [f.status for f in fetches] == [304, 200, 200]
    full = fetches[-1]
    assert full.rows == 3 and full.bytes == len(body) and full.complete
    assert full.user_agent == "Lengow-Fetcher/1.0" and full.ip == "127.0.0.1"
    assert full.format == "csv" and not full.gzip


def test_a_client_that_goes_away_is_recorded_incomplete(app, store, letzshop, catalog):
    response = app.test_client().get(feed_path(letzshop), buffered=False)
    next(iter(response.response))  # read the first piece, then hang up
    response.close()
    db.session.rollback()
    [fetch] = catalogfeed.last_fetches(letzshop.id)
    assert fetch.status == 200 and not fetch.complete


def test_rate_limit(app, store, letzshop, catalog):
    app.config["MERCATO_CATALOG_FEED_RATE_PER_MINUTE"] = 2
    client = app.test_client()
    path = feed_path(letzshop)
    assert [client.get(path).status_code for _ in range(3)] == [200, 200, 429]


def test_account_page_shows_urls_fetches_and_rotates(
    app, store, letzshop, catalog, store_client, other_client, admin_client
):
    app.test_client().get(feed_path(letzshop), headers={"User-Agent": "Hub<script>"})
    url = f"/store/acme/accounts/{letzshop.id}"
    page = store_client.get(url).get_data(as_text=True)
    token = catalogfeed.decrypt(catalogfeed.feed_for(letzshop).token_encrypted)
    assert token in page and 'id="catalog-feed"' in page
    assert "Hub&lt;script&gt;" in page and "Hub<script>" not in page
    # An administrator sees the URL masked; another store does not see the account at all.
    admin_page = admin_client.get(url).get_data(as_text=True)
    assert token not in admin_page and catalogfeed.MASK in admin_page
    assert other_client.get(url).status_code == 404
    rotate = f"{url}/catalog-feed/rotate"
    assert other_client.post(rotate, data={"csrf_token": csrf_from(page)}).status_code in (
        400,
        404,
    )
    assert store_client.post(rotate).status_code == 400  # no CSRF token
    assert catalogfeed.decrypt(catalogfeed.feed_for(letzshop).token_encrypted) == token
    response = store_client.post(rotate, data={"csrf_token": csrf_from(page)})
    assert response.status_code == 302
    db.session.rollback()
    assert catalogfeed.decrypt(catalogfeed.feed_for(letzshop).token_encrypted) != token
    assert app.test_client().get(f"/feeds/catalog/{token}.csv").status_code == 404


def test_cli_prints_the_urls_and_rotates(app, store, letzshop):
    runner = app.test_cli_runner()
    result = runner.invoke(args=["catalog", "url", "--account", str(letzshop.id)])
    assert result.exit_code == 0, result.output
    first = json.loads(result.output.strip().splitlines()[-1])
    assert first["urls"]["csv"].endswith(".csv")
    result = runner.invoke(args=["catalog", "url", "--account", str(letzshop.id), "--rotate"])
    second = json.loads(result.output.strip().splitlines()[-1])
    assert second["urls"]["csv"] != first["urls"]["csv"] and second["rotated"]
    assert runner.invoke(args=["catalog", "url", "--account", "999999"]).exit_code != 0


def test_fetch_records_count(app, store, letzshop, catalog):
    client = app.test_client()
    for _ in range(2):
        client.get(feed_path(letzshop, ".xml"), headers={"Accept-Encoding": "gzip"})
    db.session.rollback()
    count = db.session.scalar(select(func.count()).select_from(CatalogFeedFetch))
    assert count == 2
    assert all(f.gzip and f.format == "xml" for f in catalogfeed.last_fetches(letzshop.id))


def test_the_database_written_csv_equals_the_python_written_one(app, store, letzshop):
    """On PostgreSQL the database writes the cells; the Python writer is the reference."""
    from webapp.catalogfeed import content

    tricky = [
        "-5",
        "+3.50",
        "@SUM(A1)",
        "\t=cmd",
        'a "quoted", text',
        "multi\nline\r\ntext",
        "café, ünïcode",
        "-not a number",
        "",
    ]
    for number, text in enumerate(tricky):
        add_product(
            store,
            f"T-{number}",
            titles={"fr": (text or "x", text), "en": (text or "y", None)},
            price="10.125",
            brand=text,
            gtin=text[:14],
            overrides={"sale_price": Decimal("9.995")} if number % 2 else {},
        )
    add_product(store, "YEN", titles={"de": ("Yen", None)}, price="1500.5", currency="JPY")
    writer = content.CsvWriter()
    writer.header(content.columns_for(letzshop))
    for cells in content.iter_rows(letzshop, store):
        writer.row(cells)
    expected = "".join(writer.out)
    db.session.rollback()
    assert "".join(content.iter_csv(letzshop, store)) == expected
    rows = list(csv.DictReader(io.StringIO(expected)))
    by_id = {row["id"]: row for row in rows}
    assert by_id["T-0"]["brand"] == "-5" and by_id["T-2"]["brand"] == "'@SUM(A1)"
    assert by_id["T-1"]["price"] == "10.13 EUR" and by_id["T-1"]["sale_price"] == "10.00 EUR"
    assert by_id["YEN"]["price"] == "1501 JPY"


def test_an_empty_catalog_is_a_header_or_an_empty_channel(app, store, letzshop):
    client = app.test_client()
    text = client.get(feed_path(letzshop)).get_data(as_text=True)
    assert text.splitlines() == [",".join(content_columns(letzshop))]
    root = ET.fromstring(client.get(feed_path(letzshop, ".xml")).get_data())  # noqa: S314
    assert root.findall("./channel/item") == []


def content_columns(account):
    from webapp.catalogfeed import content

    return content.columns_for(account)
