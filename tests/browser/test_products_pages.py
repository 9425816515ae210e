"""The products list in a real browser: pages that follow the last product shown, in place
with htmx, the address bar following; the word search; the count line."""

from __future__ import annotations

import re

from playwright.sync_api import expect

from tests.browser.conftest import login, shot
from tests.browser.test_import_flow import settled
from webapp.extensions import db


def test_store_user_pages_and_searches_the_products(page, live_server, users):
    from webapp.models import MarketplaceProduct, MarketplaceProductTranslation, Store

    with live_server.app.app_context():
        store = db.session.query(Store).filter_by(code=users.store_code).one()
        for i in range(60):
            title = f"Chaise velours {i}" if i % 3 == 0 else f"Table en chêne {i}"
            db.session.add(
                MarketplaceProduct(
                    store_id=store.id,
                    marketplace_product_id=f"SKU-{i:05d}",
                    brand="Maison Dupont",
                    price=10 + i,
                    currency="EUR",
                    availability="in_stock",
                    content_hash=0,
                    translations=[
                        MarketplaceProductTranslation(language="fr", title=title, content_hash=0)
                    ],
                )
            )
        db.session.commit()
        db.session.remove()

    login(page, live_server, users.store_email, users.password)
    page.goto(f"{live_server.url}/store/acme/products")
    count = page.locator("#products-count")
    expect(count).to_have_text("Page 1 of 3 · 60 products")
    expect(page.locator("#products tbody tr").first).to_contain_text("SKU-00059")
    shot(page, "products_01_first_page")

    page.evaluate("window.__sameDocument = true")
    page.locator("#products a[rel=next]").click()
    expect(count).to_have_text("Page 2 of 3 · 60 products")
    settled(page)
    expect(page).to_have_url(re.compile(r"after=\d+&page=2"))
    expect(page.locator("#products tbody tr").first).to_contain_text("SKU-00034")
    page.locator("#products a[rel=next]").click()
    expect(count).to_have_text("Page 3 of 3 · 60 products")
    settled(page)
    expect(page.locator("#products tbody tr")).to_have_count(10)
    expect(page.locator("#products a[rel=next]")).to_have_count(0)
    page.locator("#products a[rel=prev]").click()
    expect(count).to_have_text("Page 2 of 3 · 60 products")
    settled(page)
    assert page.evaluate("window.__sameDocument") is True  # swapped in place

    page.fill("input[name=q]", "chaise vel")
    expect(count).to_have_text("Page 1 of 1 · 20 matches")
    settled(page)
    expect(page).to_have_url(re.compile(r"q=chaise(\+|%20)vel"))
    shot(page, "products_02_search")
    page.reload()  # the pushed URL renders the full page
    expect(count).to_have_text("Page 1 of 1 · 20 matches")
