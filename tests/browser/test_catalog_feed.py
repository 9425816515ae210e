"""The catalog feed on the account page in a real browser: the URLs to copy, the fetch a hub
made (over real HTTP) in the last-fetches table, and Rotate through its confirmation, after
which the old URL answers 404 and the page shows the new one."""

from __future__ import annotations

from decimal import Decimal

import requests
from playwright.sync_api import expect
from sqlalchemy import select

from tests.browser.conftest import login, shot
from webapp.extensions import db


def test_account_page_feed_urls_fetches_and_rotate(page, live_server, users):
    from webapp.accounts import create_account
    from webapp.models import MarketplaceProduct, MarketplaceProductTranslation, Product, Store

    with live_server.app.app_context():
        store = db.session.scalar(select(Store).where(Store.code == users.store_code))
        account = create_account(store, "letzshop", "Letzshop LU", secrets={"api_token": "t"})
        source = MarketplaceProduct(
            store_id=store.id,
            marketplace_product_id="CHAIR-1",
            price=Decimal("49.90"),
            currency="EUR",
            quantity=4,
            content_hash=1,
        )
        source.translations.append(
            MarketplaceProductTranslation(language="fr", title="Chaise", content_hash=1)
        )
        db.session.add(source)
        db.session.flush()
        db.session.add(Product(store_id=store.id, marketplace_product_id=source.id))
        db.session.commit()
        account_id = account.id
        db.session.remove()

    login(page, live_server, users.store_email, users.password)
    page.goto(f"{live_server.url}/store/acme/accounts/{account_id}")
    section = page.locator("#catalog-feed")
    expect(section).to_be_visible()
    csv_url = page.locator("tr[data-format=csv] input").input_value()
    assert csv_url.endswith(".csv") and "********" not in csv_url
    expect(page.locator("#catalog-feed-fetches")).to_contain_text("Never fetched yet")

    hub = requests.get(csv_url, headers={"User-Agent": "LetzshopBot/2"}, timeout=10)
    assert hub.status_code == 200 and "CHAIR-1" in hub.text
    page.reload()
    row = page.locator("#catalog-feed-fetches tbody tr").first
    expect(row).to_contain_text("200")
    expect(row).to_contain_text("LetzshopBot/2")
    shot(page, "catalog_feed_account")

    page.once("dialog", lambda dialog: dialog.accept())
    with page.expect_navigation():
        page.click("#rotate-feed")
    new_url = page.locator("tr[data-format=csv] input").input_value()
    assert new_url != csv_url
    assert requests.get(csv_url, timeout=10).status_code == 404
    assert requests.get(new_url, timeout=10).status_code == 200
