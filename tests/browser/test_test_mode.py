"""Test mode and going live in a real browser, against the marketplace sandbox over real HTTP:
the mode badge on the orders, order, feeds and accounts pages, the dry-run request an order
page shows, and going live through its confirmation (counts, then the worker sending)."""

from __future__ import annotations

import re

import pytest
import requests
from playwright.sync_api import expect
from sqlalchemy import func, select

from tests.browser.conftest import login, shot
from tests.sandbox_server import served_sandbox
from webapp.extensions import db


@pytest.fixture
def sandbox():
    with served_sandbox(8) as url:
        yield url


@pytest.fixture
def test_mode_account(live_server, users, sandbox, monkeypatch):
    """A Lengow account in test mode whose first poll booked orders and recorded dry runs;
    returns (account id, number of dry runs)."""
    from webapp.accounts import create_account
    from webapp.models import OutboundCall, Store
    from webapp.orders.service import import_orders

    allow = sandbox.removeprefix("http://")
    monkeypatch.setenv("MERCATO_OUTBOUND_ALLOW", allow)  # the worker started later
    live_server.app.config["MERCATO_OUTBOUND_ALLOW"] = [allow]
    with live_server.app.app_context():
        store = db.session.scalar(select(Store).where(Store.code == users.store_code))
        account = create_account(
            store,
            "lengow",
            "Lengow Menzzo",
            settings={"account_id": "5622", "base_url": sandbox},
            secrets={"access_token": "sandbox-access-5622", "secret": "sandbox-secret-5622"},
        )
        run = import_orders(account)
        assert run.imported_count > 0, run.error_message
        dry_runs = db.session.scalar(
            select(func.count()).where(
                OutboundCall.account_id == account.id, OutboundCall.status == "dry_run"
            )
        )
        account_id = account.id
        db.session.remove()
    assert dry_runs > 0
    return account_id, dry_runs


def test_test_mode_is_shown_and_going_live_is_confirmed_with_its_counts(
    request, page, live_server, users, sandbox, test_mode_account
):
    account_id, dry_runs = test_mode_account
    login(page, live_server, users.store_email, users.password)

    # The orders list: each row's account in test mode, its acknowledgement not sent.
    page.goto(f"{live_server.url}/store/acme/orders")
    rows = page.locator("#orders tbody tr")
    first = rows.first
    expect(first.locator(".mode-badge")).to_have_text("test mode")
    expect(first.locator(".mode-badge")).to_be_visible()
    expect(first.locator("td.ack")).to_have_attribute("data-ack", "dry_run")
    expect(first.locator("td.ack")).to_contain_text("not sent")
    expect(page.locator("#orders td.ack", has_text="pending")).to_have_count(0)
    shot(page, "40_testmode_orders_list")

    # An order: the mode, "not sent: test mode", and the exact request the dry run recorded.
    with page.expect_navigation():
        first.locator("a").first.click()
    expect(page.locator("#order-account .mode-badge")).to_have_text("test mode")
    expect(page.locator("#ack")).to_contain_text("Not sent: test mode.")
    expect(page.locator("#ack")).not_to_contain_text("next order import")
    request_block = page.locator("#ack-request .outbound-request")
    expect(request_block.locator(".request-line")).to_have_text(f"PATCH {sandbox}/v3.0/orders/moi/")
    order_id = re.search(r"/orders/(\d+)$", page.url).group(1)
    body = request_block.locator("pre")
    expect(body).to_be_visible()
    expect(body).to_contain_text('"merchant_order_id": [')
    expect(body).to_contain_text(f'"{order_id}"')
    expect(body).to_contain_text('"account_id": 5622')
    assert "sandbox-secret-5622" not in page.content()
    shot(page, "41_testmode_order_dry_run_request")

    # The feeds: the account's feeds carry its mode.
    page.goto(f"{live_server.url}/store/acme/feeds")
    feed_row = page.locator("#feeds tbody tr", has_text="Lengow Menzzo").first
    expect(feed_row.locator(".mode-badge")).to_have_text("test mode")
    shot(page, "42_testmode_feeds_list")

    # A store user sees what is owed but does not take the account live.
    page.goto(f"{live_server.url}/store/acme/accounts/{account_id}")
    expect(page.locator("h1 .mode-badge")).to_have_text("test mode")
    expect(page.locator("#owed-summary td.count")).to_have_text(str(dry_runs))
    expect(page.locator("text=Go live")).to_have_count(0)
    expect(page.locator("#calls tr[data-status=dry_run]")).to_have_count(dry_runs)
    shot(page, "43_testmode_account_page")

    # The administrator: accounts list -> the confirmation, with what is owed counted.
    request.getfixturevalue("rq_worker")
    page.context.clear_cookies()
    login(page, live_server, users.admin_email, users.password)
    page.goto(f"{live_server.url}/store/acme/accounts")
    row = page.locator(f"#a{account_id}")
    expect(row.locator(".mode-badge")).to_have_text("test mode")
    expect(row.locator(".owed")).to_have_text(f"{dry_runs} call(s) recorded, not sent")
    shot(page, "44_testmode_accounts_admin")
    with page.expect_navigation():
        row.locator("a.go-live").click()
    expect(page).to_have_url(re.compile(rf"/store/acme/accounts/{account_id}/live$"))
    owed = page.locator("table#owed tbody tr")
    expect(owed).to_have_count(1)
    expect(owed.first).to_contain_text("Merchant order ids")
    expect(owed.first.locator("td.count")).to_have_text(str(dry_runs))
    expect(owed.first.locator(".request-line")).to_contain_text("PATCH")
    expect(page.locator("input[name=owed][value=send]")).to_be_checked()
    expect(page.locator("input[name=owed][value=discard]")).not_to_be_checked()
    shot(page, "45_testmode_go_live_confirmation")

    # Confirmed: live, recorded, and the worker sends each owed call once; the page follows.
    with page.expect_navigation():
        page.locator("#go-live-form button[type=submit]").click()
    expect(page.locator(".flash-success")).to_contain_text(
        f"is live. {dry_runs} owed call(s) are being sent."
    )
    expect(page.locator("h1 .mode-badge")).to_have_text("live")
    expect(page.locator("#calls tr[data-status=sent]")).to_have_count(dry_runs, timeout=30_000)
    expect(page.locator("#calls")).to_have_attribute("data-polling", "no")
    newest = page.locator("#mode-history tbody tr").first
    expect(newest).to_contain_text(users.admin_email)
    expect(newest).to_contain_text(f"{dry_runs} owed call(s), sent")
    shot(page, "46_testmode_account_live_sent")
    state = requests.get(f"{sandbox}/_sandbox/state?ids=0", timeout=10).json()
    assert state["counters"]["merchant_order_ids_set"] == dry_runs
