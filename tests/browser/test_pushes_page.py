"""Issue 15 in a real browser: a ShoppingFeed account's feeds (stock and price pushes, the
stock check) on the feeds page, and a stock check's "Run with fix" starting an execution."""

from __future__ import annotations

from playwright.sync_api import expect
from sqlalchemy import select

from tests.browser.conftest import login, shot
from webapp.extensions import db


def test_a_stock_check_offers_run_with_fix(page, live_server, users):
    from webapp.accounts import create_account
    from webapp.models import Feed, Run, Store
    from webapp.runs.gate import set_enabled

    with live_server.app.app_context():
        store = db.session.scalar(select(Store).where(Store.code == "acme"))
        account = create_account(
            store,
            "shoppingfeed",
            "ShoppingFeed FR",
            settings={"store_id": "29573"},
            secrets={"api_token": "sf-token"},
        )
        feeds = {
            f.kind: f.id
            for f in db.session.scalars(select(Feed).where(Feed.account_id == account.id))
        }
        for feed in db.session.scalars(select(Feed).where(Feed.account_id == account.id)):
            set_enabled(feed, True)
        db.session.commit()
        db.session.remove()

    login(page, live_server, users.store_email, users.password)
    page.goto(f"{live_server.url}/store/acme/feeds")
    check = page.locator(f"#feed-{feeds['stock_check']}")
    expect(check).to_contain_text("Stock check")
    expect(page.locator(f"#feed-{feeds['stock_export']}")).to_contain_text("Stock level export")
    expect(page.locator(f"#feed-{feeds['price_export']}")).to_contain_text("Price export")
    expect(page.get_by_role("button", name="Run with fix")).to_have_count(1)
    shot(page, "40_feeds_pushes_and_stock_check")
    check.get_by_role("button", name="Run with fix").click()
    expect(check).to_contain_text("started")
    with live_server.app.app_context():
        run = db.session.scalar(select(Run).where(Run.feed_id == feeds["stock_check"]))
        assert run is not None and run.trigger == "fix"
        db.session.remove()
