"""The import back-office in a real browser: upload, watch, inspect, monitor."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

from tests.browser.conftest import login, shot
from tests.conftest import real_fixture

# 60 rows without a title, one bad price (61 errors), one bad GTIN (a warning): 3 pages.
FEED = (
    "id,title,price,gtin\n"
    + "".join(f"E{i},,1,\n" for i in range(60))
    + "P1,Broken price,abc,\nG1,<script>alert('x')</script> Oak chair,12.50 EUR,4006381333931\n"
    + "G2,Table,20,123\nG3,Lamp,7,\n"
)


def settled(page) -> None:
    """Wait until htmx has swapped and wired the new content (a fast robot can otherwise act
    on a freshly swapped element in the ~20 ms before htmx processes it; a person cannot)."""
    page.wait_for_function(
        "() => !document.querySelector('.htmx-request, .htmx-swapping, .htmx-settling')"
    )
    page.wait_for_timeout(50)


@pytest.fixture
def fast_polling(live_server):
    live_server.app.config["MERCATO_STORE_POLL_SECONDS"] = 1
    live_server.app.config["MERCATO_ADMIN_POLL_SECONDS"] = 1


def test_store_user_uploads_watches_and_pages_through_errors(
    request, page, live_server, users, fast_polling, tmp_path
):
    feed = tmp_path / "feed.csv"
    feed.write_text(FEED)
    login(page, live_server, users.store_email, users.password)
    expect(page).to_have_url(re.compile(r"/store/acme/marketplace$"))

    page.set_input_files("#file", str(feed))
    page.select_option("select[name=language]", "en")
    with page.expect_navigation():
        page.click("#import-form button[type=submit]")
    expect(page.locator(".flash-success")).to_contain_text("Import #1 started")
    row = page.locator("#run-1")
    expect(row).to_have_attribute("data-status", "pending")
    expect(row.locator("progress")).to_be_visible()
    shot(page, "01_store_import_pending")

    # From here on the page must not reload: htmx polling alone updates the row.
    page.evaluate("window.__sameDocument = true")
    request.getfixturevalue("rq_worker")  # a real worker picks the job up now
    expect(row).to_have_attribute("data-status", "completed_with_errors", timeout=20_000)
    assert page.evaluate("window.__sameDocument") is True
    expect(row).to_contain_text("3 new")
    expect(row).to_contain_text("61 errors")
    expect(row).to_contain_text("1 warning")
    expect(row.locator("progress")).to_have_count(0)
    expect(page.locator("#history")).to_have_attribute("data-polling", "no")
    shot(page, "02_store_import_completed")

    with page.expect_navigation():
        row.locator("a", has_text="#1").click()
    expect(page.locator("h1")).to_have_text("Import #1")
    expect(page.locator("#run-metrics")).to_contain_text("completed with errors")
    expect(page.locator("#errors")).to_contain_text("Page 1 of 3")
    shot(page, "03_job_errors_page1")

    page.evaluate("window.__sameDocument = true")
    page.locator("#errors a[rel=next]").click()
    expect(page.locator("#errors")).to_contain_text("Page 2 of 3")
    settled(page)
    page.locator("#errors a[rel=next]").click()
    expect(page.locator("#errors")).to_contain_text("Page 3 of 3")
    settled(page)
    expect(page.locator("#errors")).to_contain_text("Row 62")  # P1: header is row 1
    assert page.evaluate("window.__sameDocument") is True
    page.select_option("#errors select[name=error_type]", "validation_error")
    expect(page.locator("#errors tbody tr")).to_have_count(1)
    expect(page.locator("#errors")).to_contain_text("G2")
    shot(page, "04_job_errors_filtered")

    page.goto(f"{live_server.url}/store/acme/products")
    title = page.locator("td", has_text="Oak chair")
    expect(title).to_contain_text("<script>alert('x')</script> Oak chair")  # shown as text
    shot(page, "05_products_escaped")


def test_admin_filters_the_monitoring_page(page, live_server, users, rq_worker, fast_polling):
    login(page, live_server, users.store_email, users.password)
    for name in ("gmc_tsv_emirates_gifts_en.tsv", "woocommerce_importer_test_sample.csv"):
        page.set_input_files("#file", str(real_fixture("product-feeds", name)))
        with page.expect_navigation():
            page.click("#import-form button[type=submit]")
    expect(page.locator("#run-2")).to_have_attribute(
        "data-status", "completed_with_errors", timeout=20_000
    )
    page.click("form[action$='/logout'] button")

    login(page, live_server, users.admin_email, users.password)
    expect(page).to_have_url(re.compile(r"/admin/imports$"))
    expect(page.locator("#monitoring .stats")).to_contain_text("2")
    expect(page.locator("#monitoring tbody tr")).to_have_count(2)
    shot(page, "06_admin_monitoring_all")
    settled(page)
    page.select_option("select[name=status]", "completed_with_errors")
    expect(page.locator("#monitoring tbody tr")).to_have_count(1)
    expect(page.locator("#run-2")).to_be_visible()
    expect(page).to_have_url(re.compile(r"status=completed_with_errors"))
    settled(page)
    page.select_option("select[name=creator]", "me")
    expect(page.locator("#monitoring")).to_contain_text("No imports match these filters")
    shot(page, "07_admin_monitoring_filtered")
    with page.expect_navigation():
        page.click("#monitoring .clear-filters")
    expect(page).to_have_url(re.compile(r"/admin/imports$"))
    expect(page.locator("#monitoring tbody tr")).to_have_count(2)
