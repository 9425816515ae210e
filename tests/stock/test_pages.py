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


def _shoppingfeed(store, name="SF FR"):
    return create_account(
        store,
        "shoppingfeed",
        name,
        settings={"store_id": "77"},
        secrets={"api_token": "t0ken"},
    )


def test_list_shows_last_sent_and_drift_per_push_account_in_queries_per_page(
    app, store, other_store, store_client
):
    from datetime import timedelta

    from sqlalchemy import event

    from webapp.models import Message, PushState, Run
    from webapp.models import runs as R
    from webapp.models.base import utcnow

    sf = _shoppingfeed(store)
    wh = default_warehouse_id(store.id)
    set_on_hand(store.id, [(f"S-{n:02d}", wh, 10) for n in range(40)], reason="manual")
    now = utcnow()
    db.session.add_all(
        [
            PushState(account_id=sf.id, sku="S-01", quantity=10, stock_acked_at=now),
            PushState(account_id=sf.id, sku="S-02", quantity=7, stock_acked_at=now),
            # Corrected by the check's own fix: acknowledged after the check read it.
            PushState(
                account_id=sf.id, sku="S-05", quantity=10, stock_acked_at=now + timedelta(seconds=1)
            ),
        ]
    )
    check = Run(
        store_id=store.id,
        account_id=sf.id,
        kind="stock_check",
        trigger="schedule",
        status=R.COMPLETED,
        started_at=now,
        completed_at=now + timedelta(seconds=2),  # its fix was acknowledged meanwhile
    )
    db.session.add(check)
    db.session.flush()
    for sku, theirs in (("S-03", 4), ("S-04", None), ("S-05", 2)):
        db.session.add(
            Message(
                import_job_id=check.id,
                severity=R.WARNING,
                error_type="stock_drift",
                identifier=sku,
                error_message=f"SKU {sku}: drift",
                row_data={"sku": sku, "mercato": 10, "marketplace": theirs},
            )
        )
    db.session.commit()

    page = store_client.get("/store/acme/stock")
    assert page.status_code == 200
    html = page.text
    assert "Last sent" in html and "Drift" in html

    def cells(sku):
        row = html[html.index(f">{sku}</a>") :]
        row = row[: row.index("</tr>")]
        sent = row[row.index(f'data-last-sent="{sf.id}"') :]
        drift = row[row.index(f'data-drift="{sf.id}"') :]
        return sent[: sent.index("</td>")], drift[: drift.index("</td>")]

    assert ">10<br>" in cells("S-01")[0] and now.strftime("%d %b") in cells("S-01")[0]
    assert ">7<br>" in cells("S-02")[0]
    assert "never" in cells("S-03")[0]
    assert ">-6<" in cells("S-03")[1]  # the marketplace showed 4, 10 available now
    assert ">-10<" in cells("S-04")[1] and "no quantity" in cells("S-04")[1]
    assert "<span" not in cells("S-01")[1]  # no drift reported: blank
    assert "<span" not in cells("S-05")[1]  # fixed since the check read it: not known

    # A page costs the same number of statements with 40 SKUs as with 2.
    def statements(path):
        seen = []

        def count(*_args):
            seen.append(1)

        engine = db.engine
        event.listen(engine, "before_cursor_execute", count)
        try:
            assert store_client.get(path).status_code == 200
        finally:
            event.remove(engine, "before_cursor_execute", count)
        return len(seen)

    assert statements("/store/acme/stock") == statements("/store/acme/stock?after=S-37")
