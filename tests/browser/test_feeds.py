"""Feeds in a real browser: Run now, the execution appearing and finishing without a reload,
and a second click while it runs saying so (the sandbox is slowed to keep it running)."""

from __future__ import annotations

import re

import pytest
import requests
from playwright.sync_api import expect
from sqlalchemy import select

from tests.browser.conftest import login, shot
from tests.sandbox_server import served_sandbox
from webapp.extensions import db


def settled(page) -> None:
    page.wait_for_function(
        "() => !document.querySelector('.htmx-request, .htmx-swapping, .htmx-settling')"
    )
    page.wait_for_timeout(50)


@pytest.fixture
def sandbox():
    with served_sandbox(6) as url:
        yield url


@pytest.fixture
def orders_feed(live_server, users, sandbox, monkeypatch):
    from tests.sandbox_server import sandbox_account
    from webapp.models import Feed, Store

    monkeypatch.setenv("MERCATO_OUTBOUND_ALLOW", sandbox.removeprefix("http://"))  # the worker
    live_server.app.config["MERCATO_STORE_POLL_SECONDS"] = 1
    with live_server.app.app_context():
        store = db.session.scalar(select(Store).where(Store.code == "acme"))
        account = sandbox_account(live_server.app, store, sandbox, backoff=None)
        feed_id = db.session.scalar(
            select(Feed.id).where(Feed.account_id == account.id, Feed.kind == "import_orders")
        )
        db.session.remove()
    return feed_id


def test_run_now_shows_the_execution_until_it_finishes(
    request, page, live_server, users, sandbox, orders_feed
):
    # Each marketplace request waits 1.2 s: the execution runs for several seconds.
    requests.post(
        f"{sandbox}/_sandbox/faults", json={"slow": {"seconds": 1.2, "every": 1}}, timeout=5
    )
    request.getfixturevalue("rq_worker")
    login(page, live_server, users.store_email, users.password)
    page.goto(f"{live_server.url}/store/acme/feeds")
    row = page.locator(f"#feed-{orders_feed}")
    expect(row).to_contain_text("Import new orders")
    expect(row).to_contain_text("every 5 min")
    expect(row).to_have_attribute("data-run-status", "none")
    shot(page, "20_feeds_list")

    page.evaluate("window.__sameDocument = true")
    row.get_by_role("button", name="Run now").click()
    expect(row.locator(".notice")).to_contain_text(re.compile(r"Execution #\d+ started"))
    expect(row).to_have_attribute("data-run-status", re.compile("pending|processing"))
    shot(page, "21_feeds_run_now_started")
    settled(page)

    row.get_by_role("button", name="Run now").click()
    expect(row.locator(".notice")).to_contain_text(
        f"Feed #{orders_feed} is already running: execution #1"
    )
    expect(row.locator(".notice a")).to_have_attribute(
        "href", "/store/acme/integration/executions/1"
    )
    shot(page, "22_feeds_already_running")

    expect(row).to_have_attribute("data-run-status", re.compile("^completed"), timeout=40_000)
    # The execution is over: lift the slowness, or the acknowledgements it queued crawl on
    # (1.2 s a call) and the worker's warm shutdown waits for them after the test.
    requests.delete(f"{sandbox}/_sandbox/faults", timeout=5)
    assert page.evaluate("window.__sameDocument") is True  # the row polled; no reload
    expect(row.locator("td.last-run")).to_contain_text("#1")
    expect(row).not_to_have_attribute("hx-trigger", re.compile("every"))
    shot(page, "23_feeds_run_finished")

    page.goto(f"{live_server.url}/store/acme/integration/executions")
    execution = page.locator("#run-1")
    expect(execution).to_contain_text("run now")
    expect(execution).to_contain_text("Lengow Menzzo")
    expect(execution).to_contain_text("6 new")
    shot(page, "24_feed_executions")
    with page.expect_navigation():
        execution.locator("a", has_text="#1").click()
    expect(page.locator("h1")).to_have_text("Execution #1")
    expect(page.locator("#messages")).to_contain_text("unknown")  # SKUs not in the catalog
    shot(page, "26_feed_execution_messages")

    page.goto(f"{live_server.url}/store/acme/feeds/{orders_feed}")
    expect(page.locator("h1")).to_have_text("Import new orders")
    page.check("input[name=mode][value=cron]")
    page.fill("input[name=cron]", "every minute")
    with page.expect_navigation():
        page.click("#schedule-form button[type=submit]")
    expect(page.locator(".flash-error")).to_contain_text("five fields")
    page.fill("input[name=cron]", "*/10 * * * *")
    with page.expect_navigation():
        page.click("#schedule-form button[type=submit]")
    expect(page.locator(".flash-success")).to_contain_text("cron */10 * * * *")
    shot(page, "25_feed_detail_schedule")

    page.click("form[action$='/logout'] button")
    login(page, live_server, users.admin_email, users.password)
    page.goto(f"{live_server.url}/admin/feed-executions")
    expect(page.locator("#run-1")).to_contain_text("Acme")
    settled(page)
    page.select_option("select[name=status]", "failed")
    expect(page.locator("#executions")).to_contain_text("No executions match these filters")
    expect(page.locator("#executions .clear-filters")).to_be_visible()
    expect(page).to_have_url(re.compile(r"status=failed"))
    settled(page)
    page.select_option("select[name=status]", "")
    expect(page.locator("#run-1")).to_be_visible()
    shot(page, "27_admin_feed_executions")
