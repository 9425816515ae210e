"""Shipping an order from its page in a real browser, against the marketplace sandbox over
real HTTP with a real RQ worker (and its scheduler): a partial shipment first, its ship action
followed live from sent to processed without a reload, then the rest, and the order shipped."""

from __future__ import annotations

import re

import pytest
import requests
from playwright.sync_api import expect
from sqlalchemy import select
from werkzeug.serving import make_server

from sandbox.app import create_sandbox_app
from tests.browser.conftest import SCREENSHOTS, login, shot
from tests.sandbox_server import serve_in_thread
from webapp.extensions import db

QUEUED_SECONDS = 4
# The elements that stick out of the screen (outside a horizontally scrolling box).
WIDER_THAN_SCREEN = """
[...document.querySelectorAll("body *")].filter((el) => {
  const box = el.getBoundingClientRect();
  if (box.right <= window.innerWidth + 1) return false;
  for (let up = el.parentElement; up; up = up.parentElement) {
    if (["auto", "scroll", "hidden"].includes(getComputedStyle(up).overflowX)) return false;
  }
  return true;
}).slice(0, 8).map((el) => el.tagName + (el.id ? "#" + el.id : "") + "." + el.className)
"""  # the sandbox keeps an action queued this long, then processes it


@pytest.fixture
def sandbox(live_server, monkeypatch):
    app = create_sandbox_app(
        {
            "SANDBOX_ORDERS": 250,
            "SANDBOX_STEP_SECONDS": 86400,  # orders stay where they are
            "SANDBOX_ACTION_SECONDS": QUEUED_SECONDS,
        }
    )
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = serve_in_thread(server, "sandbox")
    url = f"http://127.0.0.1:{server.server_port}"
    live_server.app.config["MERCATO_OUTBOUND_ALLOW"] = [url.removeprefix("http://")]
    monkeypatch.setenv("MERCATO_OUTBOUND_ALLOW", url.removeprefix("http://"))  # the worker
    yield url
    server.shutdown()
    thread.join(timeout=10)
    server.server_close()


@pytest.fixture
def order_to_ship(live_server, users, sandbox):
    return _order_to_ship(live_server, users, sandbox, live=True)


@pytest.fixture
def test_mode_order(live_server, users, sandbox):
    return _order_to_ship(live_server, users, sandbox, live=False)


def _order_to_ship(live_server, users, sandbox, *, live: bool):
    """A Lengow account on the sandbox, polled once, its shipping-confirmation feed on;
    the id of a confirmed order with two lines or more."""
    from webapp.accounts import create_account
    from webapp.models import Order, Store
    from webapp.orders.service import import_orders
    from webapp.runs import lifecycle

    with live_server.app.app_context():
        store = db.session.query(Store).filter_by(code=users.store_code).one()
        account = create_account(
            store,
            "lengow",
            "Lengow Menzzo",
            settings={"account_id": "5622", "base_url": sandbox},
            secrets={"access_token": "sandbox-access-5622", "secret": "sandbox-secret-5622"},
            live=live,
        )
        run = import_orders(account)
        assert run.imported_count > 0, run.error_message
        lifecycle.set_enabled(lifecycle.account_feed(account, "shipping_confirmation"), True)
        db.session.commit()
        orders = db.session.scalars(
            select(Order)
            .where(Order.account_id == account.id, Order.status == "confirmed")
            .order_by(Order.id)
        ).all()
        found = next(
            o
            for o in orders
            if len(o.items) >= 2
            and all(i.channel_line_id for i in o.items)
            and any(i.quantity for i in o.items)
        )
        order = (found.id, found.channel_order_id)
        db.session.remove()
    return order


def test_ship_partially_watch_it_processed_then_ship_the_rest(
    page, live_server, users, sandbox, rq_worker, order_to_ship
):
    order_id, channel_order_id = order_to_ship
    login(page, live_server, users.store_email, users.password)
    page.goto(f"{live_server.url}/store/{users.store_code}/orders/{order_id}")
    expect(page.locator("#fulfilment h2")).to_have_text("Fulfilment")
    expect(page.locator("#no-actions")).to_be_visible()
    form = page.locator("#ship-form")
    qty = form.locator("input.qty-input")
    count = qty.count()
    assert count >= 2
    # A partial shipment: the first line only.
    for index in range(1, count):
        qty.nth(index).fill("0")
    carrier = form.locator("#ship-carrier")
    carrier.fill("Colissimo")
    form.locator("#ship-tracking-number").fill("BR-PART-1")
    form.locator("#ship-tracking-url").fill("https://tracking.example/BR-PART-1")
    shot(page, "60_order_ship_form")
    with page.expect_navigation():
        form.locator("button[type=submit]").click()
    expect(page.locator(".flash-success")).to_contain_text("being sent")
    page.evaluate("window.__sameDocument = true")

    action = page.locator("#actions tr[data-action]").first
    expect(action).to_have_attribute("data-type", "ship")
    # In flight first (recorded, sent, queued at the marketplace), the block polling...
    expect(page.locator("#fulfilment-live")).to_have_attribute("data-in-flight", "yes")
    expect(action).to_have_attribute("data-state", re.compile(r"^(recorded|sent|queued)$"))
    shot(page, "61_order_ship_in_flight")
    # ...then processed, with no reload, and the polling stops.
    expect(action).to_have_attribute("data-state", "processed", timeout=40_000)
    assert page.evaluate("window.__sameDocument") is True
    live = page.locator("#fulfilment-live")
    expect(live).to_have_attribute("data-in-flight", "no")
    assert live.get_attribute("hx-trigger") is None
    expect(page.locator("#shipments")).to_contain_text("BR-PART-1")
    expect(page.locator("#shipments a", has_text="track")).to_have_attribute(
        "href", "https://tracking.example/BR-PART-1"
    )
    expect(page.locator("#order-status")).to_have_text("confirmed")  # lines remain
    shot(page, "62_order_ship_processed")

    # The rest: the form offers only what remains, everything by default.
    page.reload()
    form = page.locator("#ship-form")
    expect(form.locator("input.qty-input")).to_have_count(count - 1)
    form.locator("#ship-carrier").fill("UPS")
    form.locator("#ship-tracking-number").fill("BR-REST-2")
    with page.expect_navigation():
        form.locator("button[type=submit]").click()
    expect(page.locator("#order-status")).to_have_text("shipped")
    expect(page.locator("#shipments tbody tr")).to_have_count(2)
    expect(page.locator("#ship-not-offered")).to_contain_text("every line is shipped")
    actions = page.locator("#actions tr[data-action]")
    expect(actions).to_have_count(2)
    expect(actions.nth(1)).to_have_attribute("data-state", "processed", timeout=40_000)
    for cell in page.locator("#lines td.qty-remaining").all():
        expect(cell).to_have_text("0")
    # The marketplace holds one ship action per shipment: nothing was sent twice.
    token = requests.post(
        f"{sandbox}/access/get_token",
        data={"access_token": "sandbox-access-5622", "secret": "sandbox-secret-5622"},
        timeout=10,
    ).json()["token"]
    held = requests.get(
        f"{sandbox}/v3.0/orders/actions/",
        params={"account_id": 5622, "marketplace_order_id": channel_order_id},
        headers={"Authorization": token},
        timeout=10,
    ).json()["results"]
    assert sorted((a["action_type"], a["tracking_number"]) for a in held) == [
        ("ship", "BR-PART-1"),
        ("ship", "BR-REST-2"),
    ]
    shot(page, "63_order_shipped_desktop")
    page.set_viewport_size({"width": 1366, "height": 900})
    shot(page, "64_order_shipped_1366")
    page.set_viewport_size({"width": 390, "height": 844})
    shot(page, "65_order_shipped_phone")
    page.locator("#fulfilment").screenshot(path=SCREENSHOTS / "66_order_fulfilment_phone.png")
    overflow = page.evaluate("document.documentElement.scrollWidth - window.innerWidth")
    wide = page.evaluate(WIDER_THAN_SCREEN)
    assert overflow <= 1, f"the page is {overflow}px wider than a phone: {wide}"


def test_test_mode_ship_is_a_dry_run_showing_the_exact_request(
    page, live_server, users, sandbox, test_mode_order
):
    order_id, channel_order_id = test_mode_order
    login(page, live_server, users.store_email, users.password)
    page.goto(f"{live_server.url}/store/{users.store_code}/orders/{order_id}")
    expect(page.locator("#dry-run-note")).to_contain_text("dry run")
    form = page.locator("#ship-form")
    expect(form.locator("button[type=submit]")).to_have_text("Record shipment (dry run)")
    form.locator("#ship-carrier").fill("Colissimo")
    form.locator("#ship-tracking-number").fill("DRY-1")
    with page.expect_navigation():
        form.locator("button[type=submit]").click()
    expect(page.locator(".flash-info")).to_contain_text("dry run")
    action = page.locator("#actions tr[data-action]").first
    expect(action).to_have_attribute("data-state", "dry_run")
    request = page.locator("tr.action-request .outbound-request")
    expect(request.locator(".request-line")).to_contain_text("POST ")
    expect(request.locator("pre")).to_contain_text('"tracking_number": "DRY-1"')
    expect(request.locator("pre")).to_contain_text(channel_order_id)
    live = page.locator("#fulfilment-live")
    expect(live).to_have_attribute("data-in-flight", "no")
    assert live.get_attribute("hx-trigger") is None
    expect(page.locator("#order-status")).to_have_text("shipped")
    page.locator("#fulfilment").screenshot(path=SCREENSHOTS / "67_order_dry_run_ship.png")
