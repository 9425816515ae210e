"""The top bar and the small things users notice: the admin menu and the store bar, the two
labelled bells, the favicon, empty filtered tables, the links of the monitoring pages, and
retiring an account only after a confirmation."""

from __future__ import annotations

import re
from datetime import timedelta

from sqlalchemy import select

from tests.webapp.conftest import csrf_from
from webapp.accounts import create_account
from webapp.extensions import db
from webapp.models import Account, Feed, Message, Run
from webapp.models import runs as R
from webapp.models.base import utcnow

HX = {"HX-Request": "true"}


def header(html: str) -> str:
    return re.search(r"<header.*?</header>", html, re.S).group(0)


def storebar(html: str) -> str | None:
    match = re.search(r'<nav class="storebar".*?</nav>', html, re.S)
    return match.group(0) if match else None


def links(html: str) -> dict[str, str]:
    """Link text -> href."""
    return {
        re.sub(r"<[^>]+>", "", text).strip(): href
        for href, text in re.findall(r'<a href="([^"]+)"[^>]*>(.*?)</a>', html, re.S)
    }


# -- menus ---------------------------------------------------------------------------------


def test_the_admin_menu_reaches_the_stores_and_a_store_bar_its_pages(admin_client, store):
    top = links(header(admin_client.get("/admin/imports").text))
    assert top["Stores"] == "/admin/stores"
    for label in ("Import jobs", "Marketplace import", "Feed executions", "Monitoring", "Inbox"):
        assert label in top, label

    orders = admin_client.get("/store/acme/orders").text
    bar = storebar(orders)
    assert bar is not None and 'aria-label="Store Acme"' in bar
    items = links(bar)
    assert items["Orders"] == "/store/acme/orders"
    for label, href in (
        ("Acme", "/admin/stores/acme"),
        ("Overview", "/admin/stores/acme"),
        ("Marketplace import", "/store/acme/marketplace"),
        ("Products", "/store/acme/products"),
        ("Accounts", "/store/acme/accounts"),
        ("Feeds", "/store/acme/feeds"),
        ("Executions", "/store/acme/integration/executions"),
        ("Inbox", "/store/acme/inbox"),
        ("Settings", "/store/acme/settings"),
        ("Edit", "/admin/stores/acme/edit"),
        ("All stores", "/admin/stores"),
    ):
        assert items[label] == href, label
    assert re.search(r'<a href="/store/acme/orders" aria-current="page">Orders</a>', bar)

    # The store opened last stays in the bar on the admin's other pages.
    assert "/store/acme/orders" in (storebar(admin_client.get("/admin/monitoring").text) or "")


def test_the_store_bar_follows_the_store_of_the_page(admin_client, store, other_store):
    admin_client.get("/store/acme/orders")
    bar = storebar(admin_client.get("/store/globex/products").text)
    assert 'aria-label="Store Globex"' in bar and "/store/acme/" not in bar
    assert 'aria-label="Store Globex"' in storebar(admin_client.get("/admin/inbox").text)


def test_a_store_user_keeps_their_own_menu(store_client, store, other_store):
    html = store_client.get("/store/acme/orders").text
    assert storebar(html) is None
    top = links(header(html))
    assert top["Orders"] == "/store/acme/orders" and top["Feeds"] == "/store/acme/feeds"
    assert "Stores" not in top and "/admin/" not in header(html)


def test_the_menu_has_a_toggle_for_narrow_screens(store_client, store):
    top = header(store_client.get("/store/acme/orders").text)
    assert re.search(r'<button[^>]*aria-controls="nav-menu"[^>]*data-menu-toggle', top)
    assert 'aria-expanded="false"' in top and 'id="nav-menu"' in top
    assert "mercato.js" in store_client.get("/store/acme/orders").text


# -- bells ---------------------------------------------------------------------------------


def test_the_two_bells_have_labels_names_and_tooltips(app, store_client, store):
    account = create_account(store, "letzshop", "L", secrets={"api_token": "t"})
    run = Run(store_id=store.id, account_id=account.id, kind="order_import", status=R.FAILED)
    db.session.add(run)
    db.session.flush()
    db.session.add(
        Message(import_job_id=run.id, severity=R.ERROR, error_type="unknown_sku", error_message="x")
    )
    db.session.commit()
    orders = store_client.get("/store/acme/orders/bell", headers=HX).text
    errors = store_client.get("/inbox/bell", headers=HX).text
    assert 'aria-label="New orders: none"' in orders
    assert 'title="No new orders since you last opened Orders"' in orders
    assert ">New orders</span>" in orders
    assert 'aria-label="Open errors: 1"' in errors
    assert 'title="1 open error waiting in the error inbox"' in errors
    assert ">Open errors</span>" in errors
    # Two different pictures: a bell for orders, a warning sign for errors.
    icon = re.compile(r'<path fill="currentColor" d="([^"]+)"')
    assert icon.search(orders).group(1) != icon.search(errors).group(1)


def test_the_orders_bell_names_its_count(app, store, store_client):
    from tests.webapp.admin_helpers import fill_store

    fill_store(store, products=0, published=0, orders=3, errors=0)
    bell = store_client.get("/store/acme/orders/bell", headers=HX).text
    assert 'aria-label="New orders: 3"' in bell
    assert 'title="3 new orders since you last opened Orders"' in bell


# -- favicon -------------------------------------------------------------------------------


def test_the_app_serves_a_favicon_and_every_page_links_it(app, store_client, store):
    icon = app.test_client().get("/favicon.ico")
    assert icon.status_code == 200
    assert icon.mimetype in ("image/vnd.microsoft.icon", "image/x-icon")
    assert icon.data[:4] == b"\x00\x00\x01\x00"  # an ICO file
    svg = app.test_client().get("/static/favicon.svg")
    assert svg.status_code == 200 and svg.mimetype == "image/svg+xml"
    for page in (app.test_client().get("/login"), store_client.get("/store/acme/orders")):
        assert '<link rel="icon" href="/static/favicon.svg" type="image/svg+xml">' in page.text
        assert '<link rel="icon" href="/favicon.ico"' in page.text


# -- empty tables under filters -------------------------------------------------------------


def test_admin_import_jobs_say_when_filters_match_nothing(admin_client, store):
    assert "No imports yet." in admin_client.get("/admin/imports").text
    db.session.add(Run(store_id=store.id, status=R.COMPLETED, source_url="https://x/f.csv"))
    db.session.commit()
    for response in (
        admin_client.get("/admin/imports?status=failed"),
        admin_client.get("/admin/imports/table?status=failed", headers=HX),
    ):
        html = response.text
        assert "No imports match these filters." in html
        assert "No imports yet" not in html
        assert '<a href="/admin/imports" class="clear-filters">Clear the filters</a>' in html


def test_feed_executions_say_when_filters_match_nothing(admin_client, store):
    store_page = "/store/acme/integration/executions"
    assert "No executions yet." in admin_client.get(store_page).text
    assert "No executions yet." in admin_client.get("/admin/feed-executions").text
    for url, clear in (
        (f"{store_page}?status=failed", store_page),
        ("/admin/feed-executions?status=failed", "/admin/feed-executions"),
        (f"/admin/feed-executions?store_id={store.id}", "/admin/feed-executions"),
    ):
        for response in (admin_client.get(url), admin_client.get(url, headers=HX)):
            html = response.text
            assert "No executions match these filters." in html, url
            assert "No executions yet" not in html, url
            assert f'<a href="{clear}" class="clear-filters">Clear the filters</a>' in html


# -- links on the admin pages ---------------------------------------------------------------


def test_every_store_account_and_feed_on_the_monitoring_page_links_to_it(admin_client, store):
    account = create_account(
        store,
        "lengow",
        "Lengow <Menzzo>",
        settings={"account_id": "5622"},
        secrets={"access_token": "a", "secret": "s"},
    )
    feeds = {f.kind: f for f in Feed.query.filter_by(account_id=account.id)}
    for feed in Feed.query.filter_by(store_id=store.id):
        feed.created_at = utcnow() - timedelta(days=1)  # old enough to alert "never"
    db.session.commit()
    html = admin_client.get("/admin/monitoring").text
    row = re.search(
        rf'<tr data-account="{account.id}" data-feed="{feeds["import_orders"].id}".*?</tr>',
        html,
        re.S,
    ).group(0)
    assert '<a href="/admin/stores/acme" data-link="store">acme</a>' in row
    assert f'<a href="/store/acme/accounts/{account.id}" data-link="account">' in row
    assert "Lengow &lt;Menzzo&gt;</a>" in row
    assert f'<a href="/store/acme/feeds/{feeds["import_orders"].id}" data-link="feed">' in row
    # The alert of a flow gone quiet leads to its feed.
    alert = re.search(r'<li data-alert="gone_quiet">[^<]*import orders.*?</li>', html, re.S)
    assert f'href="/store/acme/feeds/{feeds["import_orders"].id}"' in alert.group(0)
    # The partial the page refreshes itself with carries the same links.
    partial = admin_client.get("/admin/monitoring/figures", headers=HX).text
    assert f'href="/store/acme/accounts/{account.id}"' in partial
    # ...and the accounts page has the row the link points at.
    assert f'id="a{account.id}"' in admin_client.get("/store/acme/accounts").text


def test_job_and_execution_tables_link_stores_feeds_and_accounts(admin_client, store):
    account = create_account(store, "letzshop", "Letzshop main", secrets={"api_token": "t"})
    feed = Feed.query.filter_by(account_id=account.id, kind="import_orders").one()
    db.session.add_all(
        [
            Run(store_id=store.id, status=R.COMPLETED, source_url="https://x/f.csv"),
            Run(
                store_id=store.id,
                account_id=account.id,
                feed_id=feed.id,
                kind="order_import",
                status=R.COMPLETED,
            ),
        ]
    )
    db.session.commit()
    jobs = admin_client.get("/admin/imports").text
    assert 'href="/admin/stores/acme"' in re.search(r'<tr id="run-\d+".*?</tr>', jobs, re.S)[0]
    executions = admin_client.get("/admin/feed-executions").text
    row = re.search(r'<tr id="run-\d+".*?</tr>', executions, re.S).group(0)
    assert re.search(r'<a href="/admin/stores/acme"[^>]*>Acme</a>', row)
    assert f'<a href="/store/acme/feeds/{feed.id}">' in row
    assert f'<a href="/store/acme/accounts/{account.id}">Letzshop main</a>' in row


# -- retire asks first ----------------------------------------------------------------------


def test_retire_asks_for_a_confirmation_first(store_client, store):
    account = create_account(store, "letzshop", "Main <shop>", secrets={"api_token": "t"})
    page = store_client.get("/store/acme/accounts").text
    form = re.search(r'<form[^>]*action="[^"]*/retire"[^>]*>', page, re.S).group(0)
    assert f'hx-post="/store/acme/accounts/{account.id}/retire"' in form
    assert re.search(r'hx-confirm="Retire the account Main &lt;shop&gt;\?[^"]+"', form)
    # The confirmed request (htmx) retires it and sends the browser back to the list.
    response = store_client.post(
        f"/store/acme/accounts/{account.id}/retire",
        data={"csrf_token": csrf_from(page)},
        headers=HX,
    )
    assert response.status_code == 200
    assert response.headers["HX-Redirect"] == "/store/acme/accounts"
    db.session.rollback()
    assert db.session.scalar(select(Account).where(Account.id == account.id)).is_retired
    assert "retired: it is no longer polled" in store_client.get("/store/acme/accounts").text
