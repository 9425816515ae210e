"""Orders and accounts in a real browser, against the marketplace sandbox over real HTTP:
the bell, the orders list and its filters, an order's detail, adding an account, testing
its connection, retiring it."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect
from werkzeug.serving import make_server

from sandbox.app import create_sandbox_app
from tests.browser.conftest import login, shot
from tests.browser.test_import_flow import settled
from tests.sandbox_server import serve_in_thread
from webapp.extensions import db


@pytest.fixture
def sandbox(live_server):
    app = create_sandbox_app({"SANDBOX_ORDERS": 40, "SANDBOX_STEP_SECONDS": 86400})
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = serve_in_thread(server, "sandbox")
    url = f"http://127.0.0.1:{server.server_port}"
    live_server.app.config["MERCATO_OUTBOUND_ALLOW"] = [url.removeprefix("http://")]
    yield url
    server.shutdown()
    thread.join(timeout=10)
    server.server_close()


@pytest.fixture
def imported(live_server, users, sandbox):
    """The store's Lengow 5622 and Letzshop accounts on the sandbox, polled once."""
    from webapp.accounts import create_account
    from webapp.models import Store
    from webapp.orders.service import import_orders

    with live_server.app.app_context():
        store = db.session.query(Store).filter_by(code=users.store_code).one()
        for connector, name, settings, secrets in (
            (
                "lengow",
                "Lengow Menzzo",
                {"account_id": "5622", "base_url": sandbox},
                {"access_token": "sandbox-access-5622", "secret": "sandbox-secret-5622"},
            ),
            (
                "letzshop",
                "Letzshop",
                {"base_url": f"{sandbox}/graphql"},
                {"api_token": "sandbox-letzshop-token"},
            ),
        ):
            account = create_account(
                store, connector, name, settings=settings, secrets=secrets, live=True
            )
            run = import_orders(account)
            assert run.imported_count > 0, run.error_message
        db.session.remove()


def test_orders_bell_filters_detail_and_accounts(page, live_server, users, sandbox, imported):
    login(page, live_server, users.store_email, users.password)
    bell = page.locator("#bell-orders")
    expect(bell).to_have_attribute("data-count", re.compile(r"^[1-9]\d*$"))
    expect(bell.locator(".bell-badge")).to_be_visible()
    shot(page, "10_bell_new_orders")

    with page.expect_navigation():
        bell.click()
    expect(page).to_have_url(re.compile(r"/store/acme/orders$"))
    expect(page.locator("#orders tbody tr")).to_have_count(25)
    expect(page.locator("#orders")).to_contain_text("Page 1 of")
    expect(page.locator("#bell-orders")).to_have_attribute("data-count", "0")  # seen now
    shot(page, "11_orders_list")

    page.evaluate("window.__sameDocument = true")
    page.select_option("select[name=channel]", "letzshop")
    expect(page).to_have_url(re.compile(r"/store/acme/orders\?channel=letzshop$"))
    settled(page)
    rows = page.locator("#orders tbody tr")
    expect(rows.first).to_have_attribute("data-channel", "letzshop")
    channels = set(rows.evaluate_all("rows => rows.map(r => r.dataset.channel)"))
    assert channels == {"letzshop"}
    assert page.evaluate("window.__sameDocument") is True  # swapped in place, URL kept
    shot(page, "12_orders_filtered_letzshop")

    first = rows.first.locator("a")
    number = first.inner_text()
    with page.expect_navigation():
        first.click()
    expect(page.locator("h1")).to_contain_text(number)
    expect(page.locator("#lines tbody tr").first).to_contain_text("unknown SKU")
    expect(page.locator("#history tbody tr").first).to_be_visible()
    payload = page.locator("details.raw-payload")
    expect(payload.locator("pre")).not_to_be_visible()
    payload.locator("summary").click()
    expect(payload.locator("pre")).to_contain_text('"orderNumber"')
    shot(page, "13_order_detail")

    # Accounts: add one, test its connection on the sandbox, retire it.
    with page.expect_navigation():
        page.click("header a:text-is('Accounts')")
    expect(page.locator("table.accounts tbody tr")).to_have_count(2)
    with page.expect_navigation():
        page.click("text=Add Lengow account")
    page.fill("input[name=name]", "Lengow Cotecosy")
    page.fill("input[name=setting_account_id]", "6395")
    page.fill("input[name=setting_base_url]", sandbox)
    page.fill("input[name=setting_access_token]", "sandbox-access-6395")
    page.fill("input[name=setting_secret]", "sandbox-secret-6395")
    shot(page, "14_account_add_form")
    with page.expect_navigation():
        page.click("#account-form button[type=submit]")
    expect(page.locator(".flash-success")).to_contain_text("Lengow Cotecosy added")
    row = page.locator("tr", has_text="Lengow Cotecosy")
    expect(row).to_contain_text("access_token: ********")
    assert "sandbox-secret-6395" not in page.content()

    page.evaluate("window.__sameDocument = true")
    row.locator("button", has_text="Test connection").click()
    result = row.locator(".test-result")
    expect(result).to_have_attribute("data-ok", "yes")
    expect(result).to_contain_text("6395")
    assert page.evaluate("window.__sameDocument") is True
    shot(page, "15_accounts_test_ok")

    asked: list[str] = []
    page.once("dialog", lambda dialog: (asked.append(dialog.message), dialog.accept()))
    with page.expect_navigation():
        row.locator("button", has_text="Retire").click()
    assert asked and "Retire the account Lengow Cotecosy?" in asked[0]  # it asked first
    expect(page.locator(".flash-success")).to_contain_text("retired")
    expect(page.locator("#retired")).to_contain_text("Lengow Cotecosy")
    expect(page.locator("#retired button", has_text="Reinstate")).to_be_visible()
    shot(page, "16_accounts_retired")
