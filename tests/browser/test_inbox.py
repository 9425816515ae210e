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
