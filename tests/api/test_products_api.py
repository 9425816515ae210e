"""The catalog through the API: one product, its publication with the same rules as the
publish form, and the bulk publish (every answer is checked against the OpenAPI document
by the Api client)."""

from __future__ import annotations

from decimal import Decimal

from sqlalchemy import select, update

from tests.api.conftest import add_messages, make_run
from webapp.extensions import db
from webapp.models import MarketplaceProduct, MarketplaceProductTranslation, Message, Product


def product(store, pid="C1", price="20.00", sale=None, currency="EUR") -> MarketplaceProduct:
    mp = MarketplaceProduct(
        store_id=store.id,
        marketplace="Letzshop",
        marketplace_product_id=pid,
        price=Decimal(price) if price is not None else None,
        sale_price=Decimal(sale) if sale is not None else None,
        currency=currency,
        content_hash=1,
    )
    db.session.add(mp)
    db.session.commit()
    return mp


def test_get_a_product_with_translations_publication_and_messages(app, store, shop, rival):
    mp = product(store)
    db.session.add(
        MarketplaceProductTranslation(
            marketplace_product_id=mp.id,
            language="en",
            title="Chair",
            description='<p>Oak</p><img src=x onerror="alert(1)"><script>x()</script>',
            content_hash=1,
        )
    )
    db.session.commit()
    run = make_run(store, shop.user, marketplace="Letzshop")
    add_messages(run, (3, "warning", "validation_error"))
    mp.last_import_job_id = run.id  # the import that wrote it, and its warning on the row
    db.session.execute(update(Message).values(identifier="C1"))
    db.session.commit()

    body = shop.api.get(f"/store/products/{mp.id}").get_json()
    assert body["marketplace_product_id"] == "C1" and body["price"] == "20.00"
    assert body["publication"] is None
    (translation,) = body["translations"]
    assert translation["description_html"] == "<p>Oak</p>"
    assert [m["error_type"] for m in body["messages"]] == ["validation_error"]
    assert rival.api.get(f"/store/products/{mp.id}").status_code == 404


def test_publication_follows_the_publishing_rules(app, store, shop, rival):
    mp = product(store, sale="15.00")
    url = f"/store/products/{mp.id}/publication"
    refused = shop.api.request("PUT", url, json={"price": "10", "sale_price": "12"})
    assert refused.status_code == 422
    assert "cannot be above your price (10.00 EUR)" in refused.get_json()["error"]["message"]
    imported_sale = shop.api.request("PUT", url, json={"price": "12"})
    assert imported_sale.status_code == 422 and "imported sale price" in imported_sale.text
    for bad in ({"price": "-1"}, {"price": "1.234"}, {"price": "NaN"}, {"availability": "x"}):
        assert shop.api.request("PUT", url, json=bad).status_code == 422, bad
    assert shop.api.request("PUT", url, json={"is_active": "yes"}).status_code == 422
    assert db.session.scalar(select(Product.id)) is None  # nothing saved

    ok = shop.api.request(
        "PUT", url, json={"price": 12.5, "sale_price": "11,90", "availability": "preorder"}
    )
    assert ok.status_code == 200
    publication = ok.get_json()["publication"]
    assert publication["price"] == "12.50" and publication["sale_price"] == "11.90"
    assert publication["availability"] == "preorder" and publication["is_active"] is True
    assert rival.api.request("PUT", url, json={"price": "1"}).status_code == 404
