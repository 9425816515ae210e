"""Bulk shipping in a real browser: the orders list's "to ship" filter, then a CSV uploaded
from the orders list, run by a real RQ worker; its page fills in with the counts and the bad
rows' messages without a reload."""

from __future__ import annotations

import re
from datetime import datetime

import pytest
from playwright.sync_api import expect

from tests.browser.conftest import login, shot
from webapp.extensions import db


@pytest.fixture
def orders(live_server, users):
    """A Letzshop account in test mode (shipping records dry runs, needs no marketplace) with
    three orders: two to ship, one shipped."""
    from webapp.accounts import create_account
    from webapp.models import Order, OrderItem, Store

    with live_server.app.app_context():
        store = db.session.query(Store).filter_by(code=users.store_code).one()
        account = create_account(store, "letzshop", "Letzshop", secrets={"api_token": "t"})
        for number, status, shipped in (
            ("LZ-501", "confirmed", 0),
            ("LZ-502", "confirmed", 0),
            ("LZ-503", "shipped", 2),
        ):
            order = Order(
                store_id=store.id,
                account_id=account.id,
                channel="letzshop",
                channel_order_id=number,
                status=status,
                customer_name=f"Customer {number}",
                currency="EUR",
                ordered_at=datetime(2026, 11, 20, 10, int(number[-1])),
                items=[
                    OrderItem(
                        channel_line_id=f"{number}-1",
                        sku="RED-M",
                        quantity=2,
                        shipped_quantity=shipped,
                    ),
                    OrderItem(channel_line_id=f"{number}-2", sku="BLUE-L", quantity=1),
                ],
            )
            db.session.add(order)
        db.session.commit()
        db.session.remove()


def test_ship_orders_by_csv_from_the_orders_list(page, live_server, users, orders, rq_worker):
    login(page, live_server, users.store_email, users.password)
    page.goto(f"{live_server.url}/store/acme/orders")
    expect(page.locator("#orders tbody tr")).to_have_count(3)
    page.check("input[name=to_ship]")
    expect(page.locator("#orders tbody tr")).to_have_count(2)
    expect(page).to_have_url(re.compile(r"to_ship=1"))
    expect(page.locator("#orders")).not_to_contain_text("LZ-503")
    shot(page, "60_orders_to_ship")

    with page.expect_navigation():
        page.click("#ship-by-csv")
    expect(page.locator("h1")).to_have_text("Ship orders by CSV")
    expect(page.locator("#ship-csv-template")).to_be_visible()
    content = (
        "order;carrier;tracking_number;sku;quantity\n"
        "LZ-501;dhl;PARCEL-1;RED-M;2\n"
        "LZ-501;dhl;PARCEL-1;BLUE-L;\n"
        "<b>LZ-404</b>;dhl;PARCEL-2;;\n"
        "LZ-502;dhl;PARCEL-3;RED-M;3\n"
        "LZ-502;dhl;PARCEL-4;;\n"
    ).encode("latin-1")
    page.set_input_files(
        "#ship-csv-file", {"name": "lundi.csv", "mimeType": "text/csv", "buffer": content}
    )
    with page.expect_navigation():
        page.click("#ship-csv-form button[type=submit]")
    expect(page).to_have_url(re.compile(r"/integration/executions/\d+$"))
    expect(page.locator("#run-flow")).to_have_text("Ship orders from a CSV file")
    # The worker runs it; the metrics and the messages fill in without a reload.
    metrics = page.locator("#run-metrics")
    expect(metrics).to_contain_text("completed with errors", timeout=20_000)
    messages = page.locator("#run-messages #messages tbody tr")
    expect(messages).to_have_count(2, timeout=10_000)
    expect(messages.nth(0)).to_contain_text("Row 4: no order <b>LZ-404</b> in this store")
    expect(messages.nth(1)).to_contain_text("Row 5:")
    expect(messages.nth(1)).to_contain_text("only 2 of 2 remain")
    expect(metrics).to_contain_text(re.compile(r"2\s*shipments recorded"))
    expect(page.locator("#run-messages")).not_to_have_attribute("hx-trigger", re.compile("."))
    shot(page, "61_bulk_shipping_run")

    # Back on the orders list, only what is left to ship remains: nothing.
    page.goto(f"{live_server.url}/store/acme/orders?to_ship=1")
    expect(page.locator("#orders")).to_contain_text("No order matches these filters.")
    page.goto(f"{live_server.url}/store/acme/orders/ship-csv")
    expect(page.locator("#ship-csv-runs tbody tr")).to_have_count(1)
    expect(page.locator("#ship-csv-runs")).to_contain_text("2 shipments recorded")
    shot(page, "62_ship_csv_page")
