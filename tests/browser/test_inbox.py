"""The error bell and inbox in a real browser: an error shows in the bell and the inbox,
a person retries it from there, the real RQ worker redoes it, and it resolves."""

from __future__ import annotations

from tests.browser.conftest import login, shot
from webapp.extensions import db


def seed_unknown_sku(live_server, store_code: str) -> None:
    from webapp.accounts import create_account
    from webapp.models import Message, Order, OrderItem, Run, Store

    with live_server.app.app_context():
        store = Store.query.filter_by(code=store_code).one()
        account = create_account(
            store,
            "lengow",
            "Lengow Menzzo",
            settings={"account_id": "5622"},
            secrets={"access_token": "a", "secret": "s"},
        )
        run = Run(kind="order_import", store_id=store.id, account_id=account.id, status="completed")
        order = Order(
            store_id=store.id,
            account_id=account.id,
            channel="amazon_fr",
            channel_order_id="402-1234567-0000001",
            marketplace_status="waiting_shipment",
            status="confirmed",
            currency="EUR",
        )
        order.items.append(OrderItem(sku="MUG-RED", quantity=2, matched=False))
        db.session.add_all([run, order])
        db.session.flush()
        db.session.add(
            Message(
                import_job_id=run.id,
                severity="error",
                error_type="unknown_sku",
                error_message="Order 402-1234567-0000001: no product of the store has SKU "
                "'MUG-RED'; the line was imported unmatched.",
                identifier=order.channel_order_id,
                subject_type="order",
                subject_id=order.id,
            )
        )
        db.session.commit()
        db.session.remove()


def add_product(live_server, store_code: str, sku: str) -> None:
    from webapp.models import MarketplaceProduct, Product, Store

    with live_server.app.app_context():
        store = Store.query.filter_by(code=store_code).one()
        mp = MarketplaceProduct(
            store_id=store.id, marketplace="Letzshop", marketplace_product_id=sku, content_hash=1
        )
        db.session.add(mp)
        db.session.flush()
        db.session.add(Product(store_id=store.id, marketplace_product_id=mp.id))
        db.session.commit()
        db.session.remove()


def test_an_error_is_retried_from_the_inbox_and_resolves(page, live_server, users, rq_worker):
    live_server.app.config["MERCATO_BELL_POLL_SECONDS"] = 1
    seed_unknown_sku(live_server, users.store_code)
    login(page, live_server, users.store_email, users.password)

    bell = page.locator("#error-bell")
    bell.wait_for()
    assert bell.locator(".bell-count").inner_text() == "1"
    bell.click()
    page.wait_for_selector("[data-cause=unknown_sku]")
    shot(page, "inbox-open-error")
    assert "MUG-RED" in page.locator("[data-cause=unknown_sku]").inner_text()

    # First retry: the SKU is still unknown, so the error stays, with the retry's reason.
    page.click("[data-cause=unknown_sku] tr button:has-text('Retry')")
    page.wait_for_selector("text=Retrying 1 message")
    page.wait_for_selector("text=1 retry", timeout=20_000)
    assert page.locator("[data-cause=unknown_sku]").count() == 1

    # The merchant adds the product; the retry now matches the line and resolves the error.
    add_product(live_server, users.store_code, "MUG-RED")
    page.click("[data-cause=unknown_sku] tr button:has-text('Retry')")
    page.wait_for_selector("[data-inbox=empty]", timeout=20_000)
    page.wait_for_selector("#error-bell .bell-count[data-count='0']", timeout=10_000)
    shot(page, "inbox-resolved")


def settled(page) -> None:
    """Wait until htmx has swapped and wired the new content."""
    page.wait_for_function(
        "() => !document.querySelector('.htmx-request, .htmx-swapping, .htmx-settling')"
    )
    page.wait_for_timeout(50)


def seed_busy_inbox(live_server, store_code: str) -> dict:
    """Two accounts; 30 unsent order ids (one account), an unknown SKU two orders wait for,
    an account error on the other account, 10 days old; all from order polls without feed."""
    from datetime import timedelta

    from webapp.accounts import create_account
    from webapp.models import Message, Order, OrderItem, Run, Store
    from webapp.models.base import utcnow
    from webapp.orders import matching

    with live_server.app.app_context():
        store = Store.query.filter_by(code=store_code).one()
        lengow = create_account(
            store,
            "lengow",
            "Lengow Menzzo",
            settings={"account_id": "5622"},
            secrets={"access_token": "a", "secret": "s"},
        )
        letzshop = create_account(store, "letzshop", "Letzshop LU", secrets={"api_token": "t"})
        runs = {}
        for account in (lengow, letzshop):
            runs[account.id] = Run(
                kind="order_import",
                store_id=store.id,
                account_id=account.id,
                status="completed_with_errors",
            )
        db.session.add_all(runs.values())
        db.session.flush()
        now = utcnow()
        orders = []
        for i in range(32):
            order = Order(
                store_id=store.id,
                account_id=lengow.id,
                channel="amazon_fr",
                channel_order_id=f"402-0000000-{i:07d}",
                status="confirmed",
                ordered_at=now,
            )
            order.items.append(OrderItem(sku="SKU-LOST" if i >= 30 else f"SKU-{i}", quantity=1))
            orders.append(order)
        db.session.add_all(orders)
        db.session.flush()
        for i, order in enumerate(orders[:30]):
            db.session.add(
                Message(
                    import_job_id=runs[lengow.id].id,
                    severity="error",
                    error_type="outbound_failed",
                    error_message=f"The merchant order id of {order.channel_order_id} was "
                    "not sent: 503.",
                    identifier=order.channel_order_id,
                    subject_type="order",
                    subject_id=order.id,
                    created_at=now - timedelta(minutes=i),
                )
            )
        db.session.add(
            Message(
                import_job_id=runs[letzshop.id].id,
                severity="error",
                error_type="connector_error",
                error_message="401 from Letzshop: the token was refused.",
                subject_type="account",
                subject_id=letzshop.id,
                created_at=now - timedelta(days=10),
            )
        )
        db.session.commit()
        matching.record_unknown(runs[lengow.id].id, store.id, lengow.id, ["SKU-LOST"])
        db.session.commit()
        result = {
            "lengow": lengow.id,
            "letzshop": letzshop.id,
            "run": runs[lengow.id].id,
            "newest_order": orders[0].channel_order_id,
        }
        db.session.remove()
        return result


def test_inbox_pages_filters_and_links(page, live_server, users):
    import re

    from playwright.sync_api import expect

    seeded = seed_busy_inbox(live_server, users.store_code)
    login(page, live_server, users.store_email, users.password)
    page.locator("#error-bell").wait_for()
    expect(page.locator("#error-bell .bell-count")).to_have_text("32")  # one per SKU
    with page.expect_navigation():
        page.click("#error-bell")
    inbox = page.locator("#inbox")
    expect(inbox.locator("article.inbox-group")).to_have_count(3)
    sku = inbox.locator("article[data-cause=unknown_sku]")
    expect(sku).to_contain_text("2 orders waiting")
    expect(sku).to_contain_text("Lengow Menzzo")
    shot(page, "inbox-overview")

    # Every entry of a cause, page by page; the address bar follows each swap.
    page.evaluate("window.__sameDocument = true")
    page.click("text=Show all 30")
    expect(page).to_have_url(re.compile(r"/store/acme/inbox\?cause=outbound_failed$"))
    settled(page)
    expect(inbox.locator("tr[data-message]")).to_have_count(25)
    expect(inbox).to_contain_text("Page 1 of 2")
    page.click("#inbox .pagination >> text=Next")
    expect(page).to_have_url(re.compile(r"cause=outbound_failed&page=2$"))
    settled(page)
    expect(inbox.locator("tr[data-message]")).to_have_count(5)
    shot(page, "inbox-cause-page-2")
    assert page.evaluate("window.__sameDocument") is True  # swapped in place

    # Filters: account and age, by name; the URL keeps them and renders the full page.
    page.select_option("select[name=cause]", "")
    settled(page)
    page.select_option("select[name=account]", label="Letzshop LU")
    expect(page).to_have_url(re.compile(rf"\?account={seeded['letzshop']}$"))
    settled(page)
    expect(inbox.locator("tr[data-message]")).to_have_count(1)
    expect(inbox).to_contain_text("401 from Letzshop")
    page.select_option("select[name=age]", "1d")
    settled(page)
    expect(page).to_have_url(re.compile(rf"\?account={seeded['letzshop']}&age=1d$"))
    expect(inbox.locator("[data-inbox=empty-filtered]")).to_be_visible()
    page.reload()
    expect(page.locator("select[name=age]")).to_have_value("1d")
    page.click("text=Clear filters")
    settled(page)
    expect(page).to_have_url(re.compile(r"/store/acme/inbox$"))

    # Links: the order, the execution (an order poll: not a product import's page).
    entry = inbox.locator("article[data-cause=outbound_failed] tr[data-message]").first
    with page.expect_navigation():
        entry.locator(f"text=order {seeded['newest_order']}").click()
    expect(page.locator("h1")).to_contain_text(seeded["newest_order"])
    page.go_back()
    entry = page.locator("#inbox article[data-cause=outbound_failed] tr[data-message]").first
    with page.expect_navigation():
        entry.locator("a.execution").click()
    expect(page).to_have_url(re.compile(rf"/integration/executions/{seeded['run']}$"))
    expect(page.locator("h1")).to_contain_text(f"Execution #{seeded['run']}")
    expect(page.locator("body")).to_contain_text("Lengow Menzzo")
    expect(page.locator("body")).not_to_contain_text("upload")
    shot(page, "inbox-execution-link")
    page.go_back()
    with page.expect_navigation():
        page.locator("#inbox a.sku").click()
    expect(page).to_have_url(re.compile(r"/store/acme/orders\?q=SKU-LOST$"))
    expect(page.locator("#orders tbody tr")).to_have_count(2)

    # Resolving an entry moves the bell at once.
    page.goto(f"{live_server.url}/store/acme/inbox?cause=connector_error")
    page.click("#inbox tr[data-message] button:has-text('Resolve')")
    expect(page.locator("#error-bell .bell-count")).to_have_text("31")


def test_admin_inbox_filters_by_store(page, live_server, users):
    import re

    from playwright.sync_api import expect

    seed_busy_inbox(live_server, users.store_code)
    login(page, live_server, users.admin_email, users.password)
    page.goto(f"{live_server.url}/admin/inbox")
    page.select_option("select[name=store]", label="Acme")
    settled(page)
    expect(page).to_have_url(re.compile(r"/admin/inbox\?store=\d+$"))
    expect(page.locator("#inbox article.inbox-group")).to_have_count(3)
    page.select_option("select[name=cause]", "unknown_sku")
    settled(page)
    expect(page.locator("#inbox tr[data-message]")).to_have_count(1)
    expect(page.locator("#inbox")).to_contain_text("SKU-LOST")
    shot(page, "admin-inbox-store-filter")
