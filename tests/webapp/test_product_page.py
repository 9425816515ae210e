"""A product's own page, publishing rules and sanitised feed HTML (issue 11)."""

from __future__ import annotations

from decimal import Decimal

import pytest
from sqlalchemy import func, select

from tests.webapp.conftest import csrf_from, run_worker
from tests.webapp.test_store_portal import upload
from webapp.catalog import publishing
from webapp.catalog.html import feed_html, feed_text
from webapp.extensions import db
from webapp.models import MarketplaceProduct, MarketplaceProductTranslation, Product

HOSTILE = (
    "<p>Solid <b>oak</b> chair.</p><ul><li>Seat 45 cm</li></ul>"
    "<script>document.title='pwned'</script>"
    '<img src="x" onerror="document.title=\'pwned\'">'
    '<a href="javascript:alert(1)">bad link</a>'
    '<a href="https://acme.example/chair" onclick="steal()">maker</a>'
    "<style>body{display:none}</style>"
)


def product(store, pid="C1", *, price="20.00", sale=None, currency="EUR", **fields):
    mp = MarketplaceProduct(
        store_id=store.id,
        marketplace="Letzshop",
        marketplace_product_id=pid,
        price=Decimal(price) if price is not None else None,
        sale_price=Decimal(sale) if sale is not None else None,
        currency=currency,
        content_hash=1,
        **fields,
    )
    db.session.add(mp)
    db.session.flush()
    return mp


def translate(mp, language, title, description=None):
    db.session.add(
        MarketplaceProductTranslation(
            marketplace_product_id=mp.id,
            language=language,
            title=title,
            description=description,
            content_hash=1,
        )
    )
    db.session.commit()


# -- sanitised feed HTML --------------------------------------------------------------------


def test_feed_html_keeps_formatting_and_drops_everything_active():
    html = str(feed_html(HOSTILE))
    assert "<p>Solid <b>oak</b> chair.</p><ul><li>Seat 45 cm</li></ul>" in html
    for bad in ("<script", "pwned", "onerror", "<img", "javascript:", "onclick", "<style"):
        assert bad not in html, bad
    assert '<a href="https://acme.example/chair" rel="noopener noreferrer nofollow ugc">' in html
    assert str(feed_html("two\nlines & <3")) == "two<br>\nlines &amp; &lt;3"
    assert feed_text(HOSTILE) == "Solid oak chair. Seat 45 cm bad linkmaker"  # as rendered
    assert feed_text("<p>a</p>&lt;b&gt;") == "a <b>"  # plain text: the page escapes it


# -- the product page -------------------------------------------------------------------------


def test_product_page_shows_data_translations_publication_and_messages(app, store, store_client):
    upload(
        store_client,
        data=b"id,title,price,gtin,description,material\n"
        b"A4,Rug,7,123,<b>Wool</b> rug,wool\nA5,Lamp,9,,,\n",
        language="en",
    )
    run_worker(app)
    rug = db.session.scalar(
        select(MarketplaceProduct).where(MarketplaceProduct.marketplace_product_id == "A4")
    )
    translate(rug, "fr", "Tapis", HOSTILE)
    db.session.add(Product(store_id=store.id, marketplace_product_id=rug.id, price=Decimal("6.5")))
    db.session.commit()

    listing = store_client.get("/store/acme/products").text
    assert f'href="/store/acme/products/{rug.id}"' in listing  # the list links to it

    page = store_client.get(f"/store/acme/products/{rug.id}")
    assert page.status_code == 200
    html = page.text
    assert "<dd>7.00</dd>" in html and "material" in html and "wool" in html  # its data
    assert 'data-language="en"' in html and 'data-language="fr"' in html
    assert "<b>Wool</b> rug" in html and "<b>oak</b>" in html  # sanitised, not escaped
    for bad in ("<script>document", "onerror", "javascript:", "onclick", "<style>"):
        assert bad not in html, bad
    assert "6.50 <small" in html and "yours" in html  # the publication with its override
    # The import's warning about its GTIN, linked to the import.
    messages = html[html.index('id="messages"') :]
    assert "validation_error" in messages and "/store/acme/imports/" in messages
    lamp = db.session.scalar(
        select(MarketplaceProduct).where(MarketplaceProduct.marketplace_product_id == "A5")
    )
    other = store_client.get(f"/store/acme/products/{lamp.id}").text
    assert "Not in your catalog yet." in other and "said nothing about this product" in other


def test_another_stores_product_is_404(app, store, other_store, store_client):
    theirs = product(other_store, "SECRET")
    db.session.commit()
    assert store_client.get(f"/store/acme/products/{theirs.id}").status_code == 404
    assert store_client.get(f"/store/globex/products/{theirs.id}").status_code == 404


# -- publishing rules -------------------------------------------------------------------------


def post_publish(client, mp, **fields):
    form = client.get(f"/store/acme/products/{mp.id}/publish")
    data = {"csrf_token": csrf_from(form.text), "price": "", "sale_price": "", "is_active": "y"}
    data.update(fields)
    return client.post(f"/store/acme/products/{mp.id}/publish", data=data)


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"price": "10", "sale_price": "12"},
         "The sale price (12.00 EUR) cannot be above your price (10.00 EUR)."),
        ({"sale_price": "25"}, "cannot be above the imported price (20.00 EUR)"),
        ({"price": "-1"}, "The price cannot be negative."),
        ({"sale_price": "-0.01"}, "The sale price cannot be negative."),
        ({"price": "10.005"}, "The price has at most 2 decimals in EUR."),
        ({"price": "abc"}, "Enter the price as a number, like 19.99."),
        ({"price": "NaN"}, "Enter the price as a number, like 19.99."),
        ({"price": "Infinity"}, "Enter the price as a number, like 19.99."),
        ({"price": "1e3"}, "Enter the price as a number, like 19.99."),
        ({"price": "99999999999"}, "The price is too large"),
        ({"availability": "sold_out"}, "Choose the availability from the list"),
    ],
)  # fmt: skip
def test_refused_overrides_say_why_and_save_nothing(app, store, store_client, fields, message):
    mp = product(store, price="20.00")
    db.session.commit()
    response = post_publish(store_client, mp, **fields)
    assert response.status_code == 422
    assert message in response.text, response.text[-3000:]
    assert 'aria-invalid="true"' in response.text
    assert db.session.scalar(select(func.count(Product.id))) == 0


def test_imported_sale_price_above_an_own_lower_price_is_refused(app, store, store_client):
    mp = product(store, price="20.00", sale="15.00")
    db.session.commit()
    response = post_publish(store_client, mp, price="12")
    assert response.status_code == 422
    assert "The imported sale price (15.00 EUR) would be above your price (12.00 EUR)" in (
        response.text
    )
    assert post_publish(store_client, mp, price="12", sale_price="12").status_code == 302


def test_good_overrides_are_saved_with_decimal_commas_and_currency_precision(
    app, store, store_client
):
    mp = product(store, price="20.00")
    yen = product(store, "J1", price="2000", currency="JPY")
    db.session.commit()
    response = post_publish(
        store_client, mp, price="18,50", sale_price="18.5", availability="preorder"
    )
    assert response.status_code == 302
    assert response.headers["Location"].endswith(f"/store/acme/products/{mp.id}")
    saved = db.session.scalar(select(Product).where(Product.marketplace_product_id == mp.id))
    assert (saved.price, saved.sale_price, saved.availability) == (
        Decimal("18.50"),
        Decimal("18.50"),
        "preorder",
    )
    assert "18.50" in store_client.get(f"/store/acme/products/{mp.id}/publish").text
    refused = post_publish(store_client, yen, price="1999.5")
    assert refused.status_code == 422 and "no decimals in JPY" in refused.text
    assert post_publish(store_client, yen, price="1999").status_code == 302


def test_a_product_needs_a_price_to_be_published(app, store, store_client):
    mp = product(store, price=None)
    db.session.commit()
    response = post_publish(store_client, mp)
    assert response.status_code == 422 and "needs a price" in response.text
    assert post_publish(store_client, mp, price="5").status_code == 302


def test_bulk_publish_refuses_each_bad_product_and_publishes_the_rest(
    app, store, other_store, store_client
):
    good = product(store, "G1", price="10")
    no_price = product(store, "N1", price=None)
    theirs = product(other_store, "T1", price="10")
    db.session.commit()
    listing = store_client.get("/store/acme/products")
    response = store_client.post(
        "/store/acme/products/publish",
        data={
            "csrf_token": csrf_from(listing.text),
            "product_id": [str(good.id), str(no_price.id), str(theirs.id), "x'; drop"],
        },
        follow_redirects=True,
    )
    assert response.status_code == 200
    assert "1 product(s) published." in response.text
    assert "N1 not published: A published product needs a price" in response.text
    assert "2 selected product(s) were not found in your store." in response.text
    published = db.session.scalars(select(Product.marketplace_product_id)).all()
    assert published == [good.id]


def test_publishing_rules_in_one_place():
    mp = MarketplaceProduct(price=Decimal("10"), sale_price=None, currency="KWD")
    check = publishing.check_overrides
    assert check(mp, publishing.Overrides(price=Decimal("9.125"))) == {}
    assert (
        "at most 3 decimals in KWD"
        in check(mp, publishing.Overrides(price=Decimal("9.1255")))["price"]
    )
    assert check(mp, publishing.Overrides(sale_price=Decimal("10"))) == {}  # equal is fine


# -- the CLI ----------------------------------------------------------------------------------


def test_cli_show_publish_and_publish_many(app, store):
    import json

    mp = product(store, price="20.00", sale="15.00")
    no_price = product(store, "N1", price=None)
    db.session.commit()
    runner = app.test_cli_runner()

    shown = runner.invoke(args=["products", "show", str(mp.id)])
    assert shown.exit_code == 0 and json.loads(shown.stdout.splitlines()[-1])["price"] == "20.00"

    refused = runner.invoke(args=["products", "publish", str(mp.id), "--price", "12"])
    assert refused.exit_code == 1
    last = json.loads(refused.stdout.splitlines()[-1])
    assert "imported sale price (15.00 EUR) would be above" in last["refused"]["sale_price"]
    assert db.session.scalar(select(func.count(Product.id))) == 0

    ok = runner.invoke(
        args=["products", "publish", str(mp.id), "--price", "12", "--sale-price", "11.5"]
    )
    assert ok.exit_code == 0, ok.output
    assert json.loads(ok.stdout.splitlines()[-1])["sale_price"] == "11.50"

    many = runner.invoke(
        args=["products", "publish-many", "--store", "acme", str(mp.id), str(no_price.id), "x"]
    )
    assert many.exit_code == 1
    result = json.loads(many.stdout.splitlines()[-1])
    assert result["already_published"] == ["C1"] and "needs a price" in result["refused"]["N1"]
    assert result["unknown"] == ["x"]
