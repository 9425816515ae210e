"""Admins and the small things, in a real browser: the admin reaches a store's pages from the
menus and the store list, creates and edits a store, follows the monitoring page's links; the
two bells are labelled; no page asks for a file that is not there (favicon); the admin
import-jobs table fits a 1366 px screen; the menu folds on a phone and every item is reachable;
retiring an account asks first."""

from __future__ import annotations

import re
from datetime import timedelta

from playwright.sync_api import expect

from tests.browser.conftest import login, shot
from tests.webapp.admin_helpers import fill_store
from webapp.extensions import db

LONG_EMAIL = "catalogue.manager.for.all.the.stores@very-long-merchant-domain.example.com"


def seed(live_server, **counts) -> None:
    from webapp.models import Store

    with live_server.app.app_context():
        store = Store.query.filter_by(code="acme").one()
        fill_store(store, **{"products": 3, "published": 1, "orders": 4, "errors": 2, **counts})
        db.session.add(Store(code="globex", name="Globex"))
        db.session.commit()
        db.session.remove()


def settled(page) -> None:
    page.wait_for_function("() => !document.querySelector('.htmx-request')")


def test_admin_reaches_a_stores_orders_from_the_menu_and_the_store_list(page, live_server, users):
    seed(live_server)
    login(page, live_server, users.admin_email, users.password)
    page.goto(f"{live_server.url}/admin")
    expect(page).to_have_url(f"{live_server.url}/admin/stores")

    with page.expect_navigation():
        page.locator("nav.mainnav").get_by_role("link", name="Stores", exact=True).click()
    row = page.locator("#store-acme")
    expect(row.locator("td.num").nth(0)).to_contain_text("3")  # products
    expect(row.locator("td.num").nth(1)).to_have_text("4")  # orders
    expect(row.locator("td.num").nth(2)).to_contain_text("2")  # accounts
    expect(row.locator("td.num").nth(3)).to_have_text("2")  # open errors
    expect(page.locator("#store-globex td.num").nth(1)).to_have_text("0")
    shot(page, "30_admin_stores")

    with page.expect_navigation():
        row.get_by_role("link", name="Orders").click()
    expect(page).to_have_url(f"{live_server.url}/store/acme/orders")
    expect(page.locator("h1")).to_have_text("Orders")
    expect(page.locator("table.orders tbody tr")).to_have_count(4)
    bar = page.get_by_role("navigation", name="Store Acme")
    expect(bar.get_by_role("link", name="Orders")).to_have_attribute("aria-current", "page")
    shot(page, "31_admin_store_orders")

    # From any admin page, the store opened last is one click away.
    with page.expect_navigation():
        page.locator("nav.mainnav").get_by_role("link", name="Monitoring").click()
    with page.expect_navigation():
        bar.get_by_role("link", name="Products").click()
    expect(page).to_have_url(f"{live_server.url}/store/acme/products")
    with page.expect_navigation():
        bar.get_by_role("link", name="Accounts").click()
    expect(page.locator("table.accounts tbody tr").first).to_be_visible()
    with page.expect_navigation():
        bar.get_by_role("link", name="All stores").click()
    expect(page).to_have_url(f"{live_server.url}/admin/stores")


def test_admin_creates_and_edits_a_store(page, live_server, users):
    login(page, live_server, users.admin_email, users.password)
    page.goto(f"{live_server.url}/admin/stores")
    with page.expect_navigation():
        page.click("#new-store")
    page.fill("input[name=code]", "Acme Two")
    page.fill("input[name=name]", "Acme Two")
    page.fill("input[name=letzshop_csv_url_fr]", "https://feeds.example.com/fr.csv")
    with page.expect_navigation():
        page.click("#store-form button[type=submit]")
    code = page.locator("input[name=code]")
    expect(code).to_have_attribute("aria-invalid", "true")
    expect(page.locator("#code-error")).to_contain_text("may contain only lowercase letters")
    expect(page.locator("input[name=name]")).to_have_value("Acme Two")  # nothing typed is lost
    shot(page, "32_admin_store_new_error")

    code.fill("acme")
    with page.expect_navigation():
        page.click("#store-form button[type=submit]")
    expect(page.locator("#code-error")).to_have_text("A store with the code 'acme' already exists.")

    code.fill("acme-two")
    with page.expect_navigation():
        page.click("#store-form button[type=submit]")
    expect(page).to_have_url(f"{live_server.url}/admin/stores/acme-two")
    expect(page.locator(".flash-success")).to_have_text("Store Acme Two (acme-two) created.")
    expect(page.locator("dl.facts")).to_contain_text("https://feeds.example.com/fr.csv")

    with page.expect_navigation():
        page.click("#edit-store")
    expect(page.locator("#store-code")).to_have_text("acme-two")
    page.fill("input[name=name]", "Acme Second")
    page.select_option("select[name=default_language]", "de")
    page.uncheck("input[name=is_active]")
    shot(page, "33_admin_store_edit")
    with page.expect_navigation():
        page.click("#store-form button[type=submit]")
    expect(page.locator(".flash-success")).to_have_text("Store Acme Second (acme-two) saved.")
    expect(page.locator("dl.facts")).to_contain_text("Inactive")
    expect(page.locator("dl.facts")).to_contain_text("de")

    page.goto(f"{live_server.url}/admin/stores?status=inactive")
    expect(page.locator("#stores tbody tr")).to_have_count(1)
    expect(page.locator("#store-acme-two")).to_contain_text("inactive")


def test_the_monitoring_page_links_its_stores_accounts_and_feeds(page, live_server, users):
    from webapp.accounts import create_account
    from webapp.models import Feed, Store
    from webapp.models.base import utcnow

    with live_server.app.app_context():
        store = Store.query.filter_by(code="acme").one()
        account = create_account(
            store,
            "lengow",
            "Lengow Menzzo",
            settings={"account_id": "5622"},
            secrets={"access_token": "a", "secret": "s"},
        )
        account_id = account.id
        for feed in Feed.query.filter_by(store_id=store.id):
            feed.created_at = utcnow() - timedelta(hours=1)
        db.session.commit()
        db.session.remove()
    login(page, live_server, users.admin_email, users.password)
    with page.expect_navigation():
        page.locator("nav.mainnav").get_by_role("link", name="Monitoring").click()
    row = page.locator(f"#health tr[data-account='{account_id}'][data-flow='import_orders']")
    shot(page, "34_monitoring_links")

    with page.expect_navigation():
        row.locator("a[data-link=store]").click()
    expect(page).to_have_url(f"{live_server.url}/admin/stores/acme")
    expect(page.locator("h1")).to_have_text("Acme")
    page.go_back()

    with page.expect_navigation():
        row.locator("a[data-link=account]").click()
    expect(page).to_have_url(f"{live_server.url}/store/acme/accounts/{account_id}")
    expect(page.locator("h1")).to_contain_text("Lengow Menzzo")
    page.go_back()

    with page.expect_navigation():
        row.locator("a[data-link=feed]").click()
    expect(page).to_have_url(re.compile(r"/store/acme/feeds/\d+$"))
    expect(page.locator("h1")).to_have_text("Import new orders")

    # The alert of a flow gone quiet leads to its feed too.
    page.go_back()
    alert = page.locator("li[data-alert=gone_quiet]", has_text="import orders").first
    with page.expect_navigation():
        alert.get_by_role("link", name="open the feed").click()
    expect(page.locator("h1")).to_have_text("Import new orders")


def test_the_two_bells_are_labelled(page, live_server, users):
    seed(live_server)
    login(page, live_server, users.store_email, users.password)
    orders = page.get_by_role("link", name="New orders: 4")
    errors = page.get_by_role("link", name="Open errors: 2")
    expect(orders).to_be_visible()
    expect(errors).to_be_visible()
    expect(orders).to_have_attribute("title", "4 new orders since you last opened Orders")
    expect(errors).to_have_attribute("title", "2 open errors waiting in the error inbox")
    expect(orders.locator(".bell-label")).to_have_text("New orders")
    expect(errors.locator(".bell-label")).to_have_text("Open errors")
    a, b = orders.bounding_box(), errors.bounding_box()
    assert a["x"] + a["width"] <= b["x"] or b["x"] + b["width"] <= a["x"], (a, b)
    shot(page, "35_bells_labelled")

    # A tooltip is there on hover; each bell leads to its own page.
    orders.hover()
    with page.expect_navigation():
        orders.click()
    expect(page).to_have_url(f"{live_server.url}/store/acme/orders")
    expect(page.get_by_role("link", name="New orders: none")).to_be_visible()
    with page.expect_navigation():
        page.get_by_role("link", name="Open errors: 2").click()
    expect(page).to_have_url(f"{live_server.url}/store/acme/inbox")


def test_no_page_asks_for_a_missing_file_favicon_included(page, live_server, users):
    seed(live_server)
    failures: list[str] = []
    page.on(
        "response",
        lambda r: failures.append(f"HTTP {r.status}: {r.url}") if r.status >= 400 else None,
    )
    # A request cut short by the next navigation (a bell loading as the test moves on) is no
    # missing file; anything else that fails is.
    page.on(
        "requestfailed",
        lambda r: (
            None if "ERR_ABORTED" in (r.failure or "") else failures.append(f"failed: {r.url}")
        ),
    )
    page.on(
        "console", lambda m: failures.append(f"console: {m.text}") if m.type == "error" else None
    )
    login(page, live_server, users.admin_email, users.password)
    for path in ("/admin/stores", "/admin/stores/acme", "/store/acme/orders", "/admin/monitoring"):
        page.goto(f"{live_server.url}{path}")
        page.wait_for_load_state("networkidle")
        # The icons a browser asks for: every <link rel=icon> of the page, and /favicon.ico,
        # which browsers probe whatever the page links. Each must load as a picture.
        icons = page.evaluate(
            """async () => {
                const urls = [...document.querySelectorAll('link[rel~=icon]')].map(l => l.href);
                urls.push(new URL('/favicon.ico', location.href).href);
                const load = (url) => new Promise((done) => {
                    const img = new Image();
                    img.onload = () => done([url, img.naturalWidth]);
                    img.onerror = () => done([url, 0]);
                    img.src = url;
                });
                return Promise.all(urls.map(load));
            }"""
        )
        assert len(icons) == 3, icons  # the SVG, the ICO link, the /favicon.ico probe
        assert all(width > 0 for _, width in icons), icons
    assert failures == []


def test_the_admin_import_jobs_table_fits_a_1366_screen(page, live_server, users):
    from webapp.models import Run, Store, User

    with live_server.app.app_context():
        store = Store(code="the-longest-store-code-we-have", name="The Furniture Company Ltd")
        db.session.add(store)
        db.session.flush()
        creator = User(email=LONG_EMAIL, is_admin=True, password_hash="x")  # noqa: S106
        db.session.add(creator)
        db.session.flush()
        for status in ("completed_with_errors", "processing", "failed"):
            db.session.add(
                Run(
                    store_id=store.id,
                    user_id=creator.id,
                    status=status,
                    phase="upserting" if status == "processing" else None,
                    progress=42,
                    source_url="https://feeds.example.com/exports/2026/very-long-file-name.csv.gz",
                    marketplace="Letzshop",
                    imported_count=1234567,
                    updated_count=234567,
                    unchanged_count=9999999,
                    error_count=123456,
                    warning_count=45678,
                )
            )
        db.session.commit()
        db.session.remove()
    page.set_viewport_size({"width": 1366, "height": 768})
    login(page, live_server, users.admin_email, users.password)
    page.goto(f"{live_server.url}/admin/imports")
    table = page.locator("#monitoring table")
    expect(table.locator("tbody tr")).to_have_count(3)
    shot(page, "36_admin_import_jobs_1366")
    widths = page.evaluate(
        """() => ({
            page: document.documentElement.scrollWidth,
            view: document.documentElement.clientWidth,
            table: document.querySelector('#monitoring table').getBoundingClientRect().right,
            main: document.querySelector('main').getBoundingClientRect().right,
        })"""
    )
    assert widths["page"] <= widths["view"], widths  # no horizontal scrolling
    assert widths["table"] <= widths["main"], widths  # the table stays inside the page


def test_the_phone_menu_shows_every_item(browser, live_server, users):
    context = browser.new_context(viewport={"width": 390, "height": 844}, is_mobile=True)
    page = context.new_page()
    page.set_default_timeout(10_000)
    try:
        for email, expected in (
            (
                users.store_email,
                ["Marketplace import", "Products", "Orders", "Accounts", "Feeds", "Settings"],
            ),
            (
                users.admin_email,
                ["Stores", "Import jobs", "Marketplace import", "Feed executions", "Monitoring"],
            ),
        ):
            login(page, live_server, email, users.password)
            page.goto(f"{live_server.url}/store/acme/orders")
            toggle = page.get_by_role("button", name="Menu")
            expect(toggle).to_be_visible()
            expect(toggle).to_have_attribute("aria-expanded", "false")
            menu = page.locator("#nav-menu")
            expect(menu.get_by_role("link", name="Orders", exact=True)).to_be_hidden()
            expect(page.locator("#error-bell")).to_be_visible()  # the bells stay in the bar
            toggle.click()
            expect(toggle).to_have_attribute("aria-expanded", "true")
            for label in [*expected, "API tokens"]:
                item = menu.get_by_role("link", name=label, exact=True)
                expect(item).to_be_visible()
                box = item.bounding_box()
                assert box["x"] >= 0 and box["x"] + box["width"] <= 390, (label, box)
            logout = menu.get_by_role("button", name=re.compile("^Log out"))
            expect(logout).to_be_visible()
            assert page.evaluate("document.querySelector('header').scrollWidth") <= 390
            if email == users.admin_email:
                bar = page.get_by_role("navigation", name="Store Acme")
                for label in ("Overview", "Products", "Orders", "Feeds", "Settings", "All stores"):
                    box = bar.get_by_role("link", name=label, exact=True).bounding_box()
                    assert box["x"] + box["width"] <= 390, (label, box)
            shot(page, "37_phone_menu_open" + ("_admin" if email == users.admin_email else ""))
            page.keyboard.press("Escape")
            expect(menu.get_by_role("link", name="Orders", exact=True)).to_be_hidden()
            toggle.click()
            target = "Products" if email == users.store_email else "Stores"
            with page.expect_navigation():
                menu.get_by_role("link", name=target, exact=True).click()
            expect(page).to_have_url(
                f"{live_server.url}/store/acme/products"
                if target == "Products"
                else f"{live_server.url}/admin/stores"
            )
            page.get_by_role("button", name="Menu").click()
            with page.expect_navigation():
                logout.click()
    finally:
        context.close()


def test_retiring_an_account_asks_first(page, live_server, users):
    from webapp.accounts import create_account
    from webapp.models import Account, Store

    with live_server.app.app_context():
        store = Store.query.filter_by(code="acme").one()
        account_id = create_account(
            store, "letzshop", "Letzshop main", secrets={"api_token": "t"}
        ).id
        db.session.remove()
    login(page, live_server, users.store_email, users.password)
    page.goto(f"{live_server.url}/store/acme/accounts")
    row = page.locator(f"tr#a{account_id}")
    asked: list[str] = []

    def dismiss(dialog):
        asked.append(dialog.message)
        dialog.dismiss()

    page.once("dialog", dismiss)
    row.get_by_role("button", name="Retire").click()
    page.wait_for_timeout(300)
    assert asked and "Retire the account Letzshop main?" in asked[0]
    with live_server.app.app_context():
        assert db.session.get(Account, account_id).retired_at is None
        db.session.remove()
    expect(page.locator("#retired")).to_have_count(0)

    page.once("dialog", lambda dialog: dialog.accept())
    with page.expect_navigation():
        row.get_by_role("button", name="Retire").click()
    expect(page.locator(".flash-success")).to_contain_text("Letzshop main retired")
    expect(page.locator("#retired")).to_contain_text("Letzshop main")


def test_the_top_bar_is_one_line_on_a_laptop(page, live_server, users):
    """From 1200 px up the whole menu sits on one line beside the brand (below, it folds)."""
    seed(live_server)
    for email in (users.store_email, users.admin_email):
        login(page, live_server, email, users.password)
        for width in (1200, 1280, 1366):
            page.set_viewport_size({"width": width, "height": 800})
            page.goto(f"{live_server.url}/store/acme/marketplace")  # its menu item is bold
            page.locator("#error-bell").wait_for()
            expect(page.get_by_role("button", name="Menu")).to_be_hidden()
            brand = page.locator("nav.mainnav a.brand").bounding_box()
            logout = page.locator("nav.mainnav .nav-user button").bounding_box()
            first = page.locator("nav.mainnav .nav-links a").first.bounding_box()
            middle = brand["y"] + brand["height"] / 2
            for box in (logout, first):
                assert abs(box["y"] + box["height"] / 2 - middle) < 12, (email, width, box)
            assert logout["x"] + logout["width"] <= width, (email, width, logout)
        page.click("form[action$='/logout'] button")
