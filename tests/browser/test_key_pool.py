"""The Key pool page in a real browser: levels, masked keys only, the threshold form (its
check raises the low-pool alert at once, which the inbox shows), deleting a free key."""

from __future__ import annotations

from datetime import timedelta

import pytest
from playwright.sync_api import expect

from tests.browser.conftest import login, shot
from webapp.extensions import db


@pytest.fixture
def keys(live_server, users):
    from webapp.keys import codes
    from webapp.models import Store
    from webapp.models.base import utcnow
    from webapp.models.keys import DigitalKey

    with live_server.app.app_context():
        store = db.session.query(Store).filter_by(code=users.store_code).one()
        now = utcnow()
        for n, (sku, expires) in enumerate(
            [("GAME-1", None)] * 6 + [("GAME-2", None)] * 2 + [("GAME-2", now - timedelta(1))]
        ):
            code = f"CLEAR-KEY-XYZ-{n:04d}"
            db.session.add(
                DigitalKey(
                    store_id=store.id,
                    sku=sku,
                    code_encrypted=codes.seal(code),
                    fingerprint=codes.fingerprint(store.id, code),
                    expires_at=expires,
                    created_at=now,
                    updated_at=now,
                )
            )
        db.session.commit()
        db.session.remove()


def test_key_pool_page(page, live_server, users, keys):
    login(page, live_server, users.store_email, users.password)
    page.goto(f"{live_server.url}/store/acme/stock")
    page.click("#key-pool-link")
    expect(page.locator("h1")).to_have_text("Key pool")
    rows = page.locator("#key-levels tbody tr")
    expect(rows).to_have_count(2)
    expect(rows.nth(1)).to_contain_text("GAME-2")
    expect(rows.nth(1).locator("td.num").nth(2)).to_have_text("1")  # expired
    expect(rows.nth(1)).to_contain_text("low")
    assert "CLEAR-KEY" not in page.content()
    expect(page.locator("#key-list tbody tr")).to_have_count(9)
    expect(page.locator("#key-list")).to_contain_text("expired")
    page.fill("input[name=low_threshold]", "7")
    with page.expect_navigation():
        page.click("#key-threshold-form button[type=submit]")
    expect(page.locator(".flash-success")).to_contain_text("below 7")
    expect(page.locator("#key-runs tbody tr")).to_have_count(1)  # the check, a run
    with page.expect_navigation():
        page.locator("#key-list tbody tr").first.locator("button").click()
    expect(page.locator("#key-list tbody tr")).to_have_count(8)
    shot(page, "key_pool")
    page.goto(f"{live_server.url}/store/acme/inbox")
    expect(page.locator("body")).to_contain_text("The key pool of SKU GAME-1 is low")
    with page.expect_navigation():
        page.locator("a.key-pool").first.click()
    expect(page.locator("h1")).to_have_text("Key pool")
