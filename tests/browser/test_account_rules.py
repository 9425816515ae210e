"""The account page says when the marketplace rules were fetched (the daily refresh)."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect
from sqlalchemy import select

from tests.browser.conftest import login
from tests.sandbox_server import served_sandbox
from webapp.extensions import db


@pytest.fixture
def sandbox():
    with served_sandbox(8) as url:
        yield url


def test_the_account_page_shows_when_the_rules_were_fetched(
    page, live_server, users, sandbox, tmp_path
):
    from webapp.accounts import create_account
    from webapp.models import Store
    from webapp.orders import marketplace_rules

    live_server.app.config["MERCATO_OUTBOUND_ALLOW"] = [sandbox.removeprefix("http://")]
    with live_server.app.app_context():
        store = db.session.scalar(select(Store).where(Store.code == users.store_code))
        account = create_account(
            store,
            "lengow",
            "Lengow Menzzo",
            settings={"account_id": "5622", "base_url": sandbox},
            secrets={"access_token": "sandbox-access-5622", "secret": "sandbox-secret-5622"},
        )
        account_id = account.id
        db.session.remove()
    login(page, live_server, users.store_email, users.password)
    page.goto(f"{live_server.url}/store/acme/accounts/{account_id}")
    cell = page.locator("dd.rules-cached-at")
    expect(cell).to_contain_text("not fetched yet")
    with live_server.app.app_context():
        from webapp.models import Account

        marketplace_rules.refresh_all()
        at = marketplace_rules.cached_at(db.session.get(Account, account_id))
        db.session.remove()
    page.reload()
    expect(cell).to_have_text(re.compile(rf"fetched {at:%d %b %Y %H:%M} UTC \(refreshed daily\)"))
    expect(cell).to_be_visible()
    page.screenshot(path=str(tmp_path / "account_rules.png"), full_page=True)
    print("SHOT", tmp_path / "account_rules.png")
