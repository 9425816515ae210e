"""The stock pages: the list (keyset pages, available per account, escaped cells), a SKU's
movements, the adjust form and the account's rules (CSRF), and other stores' data kept out."""

from __future__ import annotations

from tests.stock.helpers import level, movements
from tests.webapp.conftest import csrf_from
from webapp.accounts import create_account
from webapp.extensions import db
from webapp.stock import service
from webapp.stock.levels import default_warehouse_id, set_on_hand


def accounts(store, other_store):
    mine = create_account(
        store,
        "lengow",
        "Lengow FR",
        settings={"account_id": "1"},
        secrets={"access_token": "a", "secret": "s"},
    )
    theirs = create_account(
        other_store,
        "lengow",
        "Theirs",
        settings={"account_id": "2"},
        secrets={"access_token": "a", "secret": "s"},
    )
    return mine, theirs


def test_list_pages_by_sku_and_shows_each_accounts_available(
    app,
    store,
    other_store,
    store_client,
):
    mine, _ = accounts(store, other_store)
    service.update_settings(mine, safety_stock=1)
    wh = default_warehouse_id(store.id)
    rows = [(f"SKU-{n:03d}", wh, n) for n in range(60)] + [("<b>bold</b>", wh, 3)]
    set_on_hand(store.id, rows, reason="manual")
    set_on_hand(
        other_store.id, [("THEIRS-1", default_warehouse_id(other_store.id), 5)], reason="manual"
    )
    db.session.commit()
    page = store_client.get("/store/acme/stock")
    assert page.status_code == 200
    assert "&lt;b&gt;bold&lt;/b&gt;" in page.text and "<b>bold</b>" not in page.text
    assert "Lengow FR" in page.text and "Theirs" not in page.text and "THEIRS-1" not in page.text
    assert "SKU-048" in page.text and "SKU-049" not in page.text  # 50 a page, in SKU order
    assert 'href="/store/acme/stock?after=SKU-048"' in page.text
    second = store_client.get("/store/acme/stock?after=SKU-048")
    assert "SKU-049" in second.text and "SKU-059" in second.text and "SKU-048<" not in second.text
    assert store_client.get("/store/globex/stock").status_code == 404


def test_adjust_needs_csrf_and_records_who_then_the_history_shows_it(
    app,
    store,
    other_store,
    store_client,
    store_user,
):
    page = store_client.get("/store/acme/stock")
    refused = store_client.post("/store/acme/stock/adjust", data={"sku": "A", "quantity": "3"})
    assert refused.status_code == 400 and level(store.id, "A") == (0, 0)
    csrf = csrf_from(page.text)
    done = store_client.post(
        "/store/acme/stock/adjust",
        data={"sku": "A", "quantity": "3", "reason": "inventory", "csrf_token": csrf},
    )
    assert done.status_code == 302 and level(store.id, "A") == (3, 0)
    [m] = movements(store.id)
    assert (m.reason, m.actor, m.user_id, m.note) == (
        "manual",
        store_user.email,
        store_user.id,
        "inventory",
    )
    bad = store_client.post(
        "/store/acme/stock/adjust",
        data={"sku": "A", "quantity": "-4", "csrf_token": csrf},
        follow_redirects=True,
    )
    assert "between 0 and" in bad.text and level(store.id, "A") == (3, 0)
    history = store_client.get("/store/acme/stock/sku?sku=A")
    assert history.status_code == 200 and "inventory" in history.text and "+3" in history.text
    # The other store's user cannot adjust or read this store's stock.
    assert (
        store_client.post("/store/globex/stock/adjust", data={"csrf_token": csrf}).status_code
        == 404
    )


def test_account_rules_form_and_another_stores_account_is_404(
    app,
    store,
    other_store,
    store_client,
):
    mine, theirs = accounts(store, other_store)
    url = f"/store/acme/accounts/{mine.id}/stock"
    page = store_client.get(url)
    assert page.status_code == 200 and "Stock rules of Lengow FR" in page.text
    csrf = csrf_from(page.text)
    form = {
        "safety_stock": "2",
        "oos_threshold": "1",
        "zero_stock": "hold",
        "strategy": "realtime",
        "interval_minutes": "5",
        "csrf_token": csrf,
    }
    assert store_client.post(url, data=form).status_code == 302
    config = service.settings_of(mine)
    assert (
        config.safety_stock,
        config.out_of_stock_threshold,
        config.zero_stock,
        config.sync_strategy,
        config.sync_interval_minutes,
    ) == (2, 1, "hold", "realtime", 5)
    refused = store_client.post(url, data={**form, "safety_stock": "lots"})
    assert refused.status_code == 422 and "whole number" in refused.text
    assert store_client.get(f"/store/acme/accounts/{theirs.id}/stock").status_code == 404
    assert (
        store_client.post(f"/store/acme/accounts/{theirs.id}/stock", data=form).status_code == 404
    )


def test_a_stock_file_uploaded_from_the_page_is_read_by_the_worker(
    app, store, other_store, store_client
):
    import io

    from tests.webapp.conftest import run_worker
    from webapp.models import Run, StoreStockSettings

    csrf = csrf_from(store_client.get("/store/acme/stock").text)
    refused = store_client.post(
        "/store/acme/stock/file", data={"csrf_token": csrf}, follow_redirects=True
    )
    assert "Choose a stock file or enter its URL" in refused.text
    started = store_client.post(
        "/store/acme/stock/file",
        data={"csrf_token": csrf, "file": (io.BytesIO(b"sku;qty\nU-1;12\n"), "stock.csv")},
        content_type="multipart/form-data",
    )
    assert started.status_code == 302 and "/integration/executions/" in started.location
    run_worker(app)
    db.session.rollback()
    run = db.session.query(Run).one()
    assert (run.kind, run.status, run.trigger) == ("stock_import", "completed", "ui")
    assert level(store.id, "U-1") == (12, 0)
    # The URL the schedule reads: masked to show, kept encrypted.
    app.config["MERCATO_OUTBOUND_ALLOW"] = ["127.0.0.1:8765"]
    store_client.post(
        "/store/acme/stock/file",
        data={
            "csrf_token": csrf,
            "source_url": "http://u:pw@127.0.0.1:8765/s.csv",
            "schedule": "y",
        },
    )
    db.session.rollback()
    settings = db.session.get(StoreStockSettings, store.id)
    assert "pw" not in settings.stock_file_url and "127.0.0.1:8765/s.csv" in settings.stock_file_url
    assert settings.stock_file_secret and "pw" not in settings.stock_file_secret
    page = store_client.get("/store/acme/stock").text
    assert "127.0.0.1:8765/s.csv" in page and "pw@" not in page
    from webapp.models import Feed

    feed = db.session.query(Feed).filter_by(store_id=store.id, kind="import_stock").one()
    assert feed.enabled and feed.schedule.interval_seconds == 900
    assert (
        store_client.post("/store/globex/stock/file", data={"csrf_token": csrf}).status_code == 404
    )
