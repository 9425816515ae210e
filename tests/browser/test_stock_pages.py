"""The stock pages in a real browser: the list with each account's available quantity, the
adjust form, and the SKU's history after it."""

from __future__ import annotations

from playwright.sync_api import expect

from tests.browser.conftest import login, shot
from webapp.extensions import db


def test_store_user_sets_a_quantity_and_reads_the_history(page, live_server, users):
    from webapp.accounts import create_account
    from webapp.models import Store
    from webapp.stock import service
    from webapp.stock.levels import default_warehouse_id, set_on_hand

    with live_server.app.app_context():
        store = db.session.query(Store).filter_by(code=users.store_code).one()
        account = create_account(
            store,
            "lengow",
            "Lengow FR",
            settings={"account_id": "1"},
            secrets={"access_token": "a", "secret": "s"},
        )
        service.update_settings(account, safety_stock=2)
        wh = default_warehouse_id(store.id)
        set_on_hand(store.id, [(f"SKU-{i:03d}", wh, i) for i in range(12)], reason="manual")
        db.session.commit()
        db.session.remove()

    login(page, live_server, users.store_email, users.password)
    page.goto(f"{live_server.url}/store/acme/stock")
    expect(page.get_by_role("heading", name="Stock")).to_be_visible()
    row = page.locator("tr", has_text="SKU-010")
    expect(row.locator("td").nth(3)).to_have_text("8")  # 10 on hand - 2 safety stock
    page.get_by_text("Set a quantity").click()
    page.get_by_label("SKU").fill("SKU-010")
    page.get_by_label("Quantity on hand").fill("25")
    page.get_by_label("Reason").fill("recount")
    page.get_by_role("button", name="Set on hand").click()
    expect(page.get_by_role("heading", name="SKU-010")).to_be_visible()
    expect(page.locator("table")).to_contain_text("recount")
    expect(page.locator("p", has_text="on hand").first).to_contain_text("25")
    shot(page, "stock_sku_history")
    page.goto(f"{live_server.url}/store/acme/stock")
    shot(page, "stock_list")
