"""ShoppingFeed pushes against the served sandbox, on SQLite and PostgreSQL: only what changed
since the value ShoppingFeed last acknowledged is sent, in batches of 100, through the one
outbound recorder/sender; each fault on its own (429 with X-RateLimit-Wait, 500) ends with the
sandbox holding exactly Mercato's available quantities; test mode sends nothing; the nightly
stock check names each drift and its fix sends the corrections."""

from __future__ import annotations

import json
import time
from decimal import Decimal

import pytest
import requests
from sqlalchemy import func, select

from webapp.accounts import create_account
from webapp.extensions import db
from webapp.models import Feed, Message, OutboundCall, PushState
from webapp.models import runs as R
from webapp.models.catalog import MarketplaceProduct, Product
from webapp.models.stock import MANUAL
from webapp.runs import lifecycle
from webapp.runs.gate import set_enabled
from webapp.stock import levels, service
from webapp.stock.availability import available_quantities

TOKEN = "sandbox-shoppingfeed-token"  # noqa: S105 (the sandbox's public demo token)
SF_STORE = "29573"


def held(url: str) -> dict:
    return requests.get(f"{url}/_sandbox/shoppingfeed", timeout=10).json()


def inventory(url: str) -> dict[str, int]:
    return held(url)["stores"][SF_STORE]["inventory"]


def account_on(app, store, url: str, *, live: bool = True):
    app.config["MERCATO_OUTBOUND_ALLOW"] = [url.removeprefix("http://")]
    app.config["MERCATO_CONNECTOR_BACKOFF_BASE"] = 0.01
    return create_account(
        store,
        "shoppingfeed",
        "ShoppingFeed",
        settings={"base_url": url, "store_id": SF_STORE},
        secrets={"api_token": TOKEN},
        live=live,
        by="test-suite",
    )


def publish(store, n: int, *, quantity=lambda i: i % 7, price="10.00") -> None:
    """``n`` published products SKU-0000.. with a price; each SKU's stock is set (on hand in
    the default warehouse) as the merchant would: the pushed quantity is the stock engine's
    available quantity, not the feed's."""
    warehouse = levels.default_warehouse_id(store.id)
    stock = []
    for i in range(n):
        mp = MarketplaceProduct(
            store_id=store.id,
            marketplace_product_id=f"SKU-{i:04d}",
            quantity=quantity(i),
            price=Decimal(price),
            currency="EUR",
            availability="in_stock",
            content_hash=i,
        )
        db.session.add(mp)
        db.session.flush()
        db.session.add(Product(store_id=store.id, marketplace_product_id=mp.id))
        stock.append((mp.marketplace_product_id, warehouse, quantity(i)))
    levels.set_on_hand(store.id, stock, reason=MANUAL, actor="test")
    db.session.commit()


def set_quantity(store, sku: str, quantity: int) -> None:
    """The merchant sets the SKU's stock by hand (the stock page's manual movement)."""
    service.set_quantity(store, sku, quantity, reason="counted", actor="test")


def run(account, kind: str, trigger: str = "cli"):
    feed = db.session.scalar(select(Feed).where(Feed.account_id == account.id, Feed.kind == kind))
    if not feed.enabled:
        set_enabled(feed, True)
        db.session.commit()
    started = lifecycle.run_feed(feed.id, trigger)
    assert started.started
    return started.run


def test_shoppingfeed_accounts_get_the_push_feeds_with_their_default_schedules(app, store):
    account = account_on(app, store, "http://127.0.0.1:1")
    feeds = {
        f.kind: f for f in db.session.scalars(select(Feed).where(Feed.account_id == account.id))
    }
    assert set(feeds) == {"stock_export", "price_export", "stock_check", "catalog_export"}
    assert feeds["stock_export"].schedule.interval_seconds == 900
    assert feeds["price_export"].schedule.cron_expression == "0 2 * * *"
    assert feeds["stock_check"].schedule.cron_expression == "0 3 * * *"
    assert all(f.is_built for f in feeds.values())
    # the token is stored encrypted and never shown
    assert TOKEN not in json.dumps(account.settings)
    assert account.secrets() == {"api_token": TOKEN}


def test_connection_test_against_the_sandbox(app, store, sandbox):
    from webapp.connector import connector_for

    account = account_on(app, store, sandbox)
    result = connector_for(account).test_connection()
    assert result.ok, result.message
    assert SF_STORE in result.message
    account.set_secrets({"api_token": "wrong"})
    db.session.commit()
    refused = connector_for(account).test_connection()
    assert not refused.ok and "wrong" not in refused.message


def test_only_the_delta_is_sent(app, store, sandbox):
    publish(store, 250)
    account = account_on(app, store, sandbox)
    first = run(account, "stock_export")
    assert first.status == R.COMPLETED, first.error_message
    assert inventory(sandbox) == available_quantities(account)
    counters = held(sandbox)["counters"]
    assert (counters["inventory_updates"], counters["inventory_items"]) == (3, 250)  # 100+100+50

    second = run(account, "stock_export")
    assert second.status == R.COMPLETED
    assert held(sandbox)["counters"]["inventory_updates"] == 3  # nothing sent
    assert second.unchanged_count == 250

    set_quantity(store, "SKU-0042", 99)
    third = run(account, "stock_export")
    counters = held(sandbox)["counters"]
    assert (counters["inventory_updates"], counters["inventory_items"]) == (4, 251)
    assert inventory(sandbox)["SKU-0042"] == 99
    [call] = db.session.scalars(
        select(OutboundCall).where(OutboundCall.subject_id == third.id)
    ).all()
    assert call.status == "sent"
    assert call.body == {"inventory": [{"reference": "SKU-0042", "quantity": 99}]}
    assert call.method == "PUT" and call.url == f"{sandbox}/v1/store/{SF_STORE}/inventory"


def test_an_inactive_or_out_of_stock_product_is_sent_as_zero(app, store, sandbox):
    publish(store, 3, quantity=lambda i: 5)
    account = account_on(app, store, sandbox)
    run(account, "stock_export")
    product = db.session.scalars(select(Product).order_by(Product.id)).first()
    product.is_active = False
    db.session.commit()
    run(account, "stock_export")
    assert inventory(sandbox) == {"SKU-0000": 0, "SKU-0001": 5, "SKU-0002": 5}


def test_only_published_skus_are_pushed_and_an_unpublished_one_is_sent_as_zero(app, store, sandbox):
    publish(store, 3, quantity=lambda i: 5)
    # stock the store holds for a SKU no product publishes: not the channel's to sell
    set_quantity(store, "LOOSE-1", 8)
    account = account_on(app, store, sandbox)
    first = run(account, "stock_export")
    assert first.status == R.COMPLETED, first.error_message
    assert inventory(sandbox) == {"SKU-0000": 5, "SKU-0001": 5, "SKU-0002": 5}
    assert available_quantities(account)["LOOSE-1"] == 8  # the stock knows it
    # SKU-0002 is no longer published: ShoppingFeed is told 0, its stock is kept
    product = db.session.scalars(select(Product).order_by(Product.id.desc())).first()
    db.session.delete(product)
    db.session.commit()
    second = run(account, "stock_export")
    assert second.status == R.COMPLETED, second.error_message
    assert inventory(sandbox) == {"SKU-0000": 5, "SKU-0001": 5, "SKU-0002": 0}
    assert second.unchanged_count == 2
    check = run(account, "stock_check")
    assert (check.status, check.warning_count) == (R.COMPLETED, 0)


def test_a_429_is_waited_out_as_x_ratelimit_wait_says(app, store, sandbox):
    publish(store, 150)
    account = account_on(app, store, sandbox)
    requests.post(
        f"{sandbox}/_sandbox/shoppingfeed/faults",
        json={"rate_limit": {"times": 2, "wait": 0.4}},
        timeout=10,
    )
    started = time.monotonic()
    done = run(account, "stock_export")
    elapsed = time.monotonic() - started
    assert done.status == R.COMPLETED, done.error_message
    assert held(sandbox)["counters"]["rate_limited"] == 2
    assert elapsed >= 0.8  # two waits of 0.4 s, as the header said (not the default backoff)
    assert inventory(sandbox) == available_quantities(account)


def test_a_500_is_retried_and_the_sandbox_ends_with_mercato_quantities(app, store, sandbox):
    publish(store, 150)
    account = account_on(app, store, sandbox)
    requests.post(
        f"{sandbox}/_sandbox/shoppingfeed/faults",
        json={"server_error": {"times": 2}},
        timeout=10,
    )
    done = run(account, "stock_export")
    assert done.status == R.COMPLETED, done.error_message
    assert held(sandbox)["counters"]["server_errors"] == 2
    assert inventory(sandbox) == available_quantities(account)


def test_a_batch_that_keeps_failing_is_not_acknowledged_and_the_next_push_sends_it(
    app, store, sandbox
):
    publish(store, 150)
    account = account_on(app, store, sandbox)
    # more 500s than the HTTP layer's attempts: the first batch fails for good
    requests.post(
        f"{sandbox}/_sandbox/shoppingfeed/faults",
        json={"server_error": {"times": 5}},
        timeout=10,
    )
    failed = run(account, "stock_export")
    assert failed.status == R.FAILED
    assert "1 of 2 request(s)" in failed.error_message
    acked = db.session.scalar(
        select(func.count()).select_from(PushState).where(PushState.quantity.is_not(None))
    )
    assert acked == 50  # only the batch that succeeded
    assert len(inventory(sandbox)) == 50
    again = run(account, "stock_export")
    assert again.status == R.COMPLETED
    assert inventory(sandbox) == available_quantities(account)
    assert held(sandbox)["counters"]["inventory_items"] == 150
    # the failed batch of the first push was superseded, never sent by itself later
    statuses = set(
        db.session.scalars(
            select(OutboundCall.status).where(OutboundCall.subject_id == failed.id)
        ).all()
    )
    assert statuses == {"sent", "discarded"}


def test_test_mode_records_the_exact_request_and_sends_nothing(app, store, sandbox):
    publish(store, 120)
    account = account_on(app, store, sandbox, live=False)
    done = run(account, "stock_export")
    assert done.status == R.COMPLETED
    assert held(sandbox)["counters"]["inventory_updates"] == 0
    calls = db.session.scalars(
        select(OutboundCall).where(OutboundCall.subject_id == done.id).order_by(OutboundCall.id)
    ).all()
    assert [c.status for c in calls] == ["dry_run", "dry_run"]
    assert calls[0].url == f"{sandbox}/v1/store/{SF_STORE}/inventory"
    assert len(calls[0].body["inventory"]) == 100
    assert calls[0].body["inventory"][1] == {"reference": "SKU-0001", "quantity": 1}
    assert TOKEN not in json.dumps([c.body for c in calls]) + calls[0].url
    assert db.session.scalar(select(func.count()).select_from(PushState)) == 0
    # a second push replaces the first's dry runs (it recomputes them), and sends nothing
    again = run(account, "stock_export")
    left = db.session.scalars(select(OutboundCall.subject_id).distinct()).all()
    assert left == [again.id]
    assert held(sandbox)["counters"]["inventory_updates"] == 0


def test_prices_send_only_changes_with_their_sale_price(app, store, sandbox):
    publish(store, 3, price="10.00")
    account = account_on(app, store, sandbox)
    first = run(account, "price_export")
    assert first.status == R.COMPLETED, first.error_message
    pricing = held(sandbox)["stores"][SF_STORE]["pricing"]
    assert pricing == {"SKU-0000": 10.0, "SKU-0001": 10.0, "SKU-0002": 10.0}
    run(account, "price_export")
    assert held(sandbox)["counters"]["pricing_updates"] == 1
    product = db.session.scalars(select(Product).order_by(Product.id)).first()
    product.sale_price = Decimal("7.50")
    db.session.commit()
    third = run(account, "price_export")
    counters = held(sandbox)["counters"]
    assert (counters["pricing_updates"], counters["pricing_items"]) == (2, 4)
    assert held(sandbox)["stores"][SF_STORE]["pricing"]["SKU-0000"] == 7.5
    state = db.session.get(PushState, (account.id, "SKU-0000"))
    assert (state.price, state.sale_price, state.currency) == (
        Decimal("10"),
        Decimal("7.5"),
        "EUR",
    )
    assert third.unchanged_count == 2


def test_stock_check_names_each_drift_and_fix_sends_the_corrections(app, store, sandbox):
    publish(store, 5, quantity=lambda i: 4)
    account = account_on(app, store, sandbox)
    run(account, "stock_export")
    # behind Mercato's back: one changed on ShoppingFeed, one it holds that Mercato does not
    # publish; and one changed in Mercato, not pushed yet
    requests.post(
        f"{sandbox}/_sandbox/shoppingfeed/inventory",
        json={"store": SF_STORE, "inventory": {"SKU-0001": 9, "GHOST": 3}},
        timeout=10,
    )
    set_quantity(store, "SKU-0003", 1)
    check = run(account, "stock_check")
    assert check.status == R.COMPLETED, check.error_message
    messages = {
        m.identifier: m
        for m in db.session.scalars(select(Message).where(Message.import_job_id == check.id))
    }
    assert set(messages) == {"SKU-0001", "GHOST", "SKU-0003"}
    assert messages["SKU-0001"].error_message == (
        "SKU SKU-0001: Mercato 4, ShoppingFeed 9 (changed on the marketplace after it "
        "acknowledged 4 (outside Mercato))."
    )
    assert "Mercato 0, ShoppingFeed 3" in messages["GHOST"].error_message
    assert "changed in Mercato since the last push" in messages["SKU-0003"].error_message
    assert messages["SKU-0003"].row_data == {
        "sku": "SKU-0003",
        "mercato": 1,
        "marketplace": 4,
        "acknowledged": 4,
        "cause": "changed in Mercato since the last push (the next stock push sends it)",
    }
    assert check.warning_count == 3
    assert held(sandbox)["counters"]["inventory_updates"] == 1  # a check without fix sends none

    fixed = run(account, "stock_check", trigger="fix")
    assert fixed.status == R.COMPLETED, fixed.error_message
    assert fixed.updated_count == 3
    shown = inventory(sandbox)
    assert shown == {**available_quantities(account), "GHOST": 0}
    assert run(account, "stock_check").warning_count == 0


def test_flask_feeds_run_runs_a_push_and_a_check_with_fix(app, store, sandbox):
    publish(store, 3, quantity=lambda i: 2)
    account = account_on(app, store, sandbox)
    feeds = {
        f.kind: f for f in db.session.scalars(select(Feed).where(Feed.account_id == account.id))
    }
    for feed in feeds.values():
        set_enabled(feed, True)
    db.session.commit()
    runner = app.test_cli_runner()
    out = runner.invoke(args=["feeds", "run", str(feeds["stock_export"].id)])
    assert out.exit_code == 0, out.output
    summary = json.loads(out.output.strip().splitlines()[-1])
    assert summary["status"] == R.COMPLETED
    assert inventory(sandbox) == {"SKU-0000": 2, "SKU-0001": 2, "SKU-0002": 2}
    refused = runner.invoke(args=["feeds", "run", str(feeds["stock_export"].id), "--fix"])
    assert refused.exit_code == 2
    requests.post(
        f"{sandbox}/_sandbox/shoppingfeed/inventory",
        json={"store": SF_STORE, "inventory": {"SKU-0002": 0}},
        timeout=10,
    )
    out = runner.invoke(args=["feeds", "run", str(feeds["stock_check"].id), "--fix"])
    assert out.exit_code == 0, out.output
    assert inventory(sandbox)["SKU-0002"] == 2


def test_the_feeds_page_offers_run_with_fix_on_a_stock_check(app, store, sandbox, store_client):
    from tests.webapp.conftest import csrf_from

    publish(store, 2, quantity=lambda i: 3)
    account = account_on(app, store, sandbox)
    run(account, "stock_export")
    check = db.session.scalar(
        select(Feed).where(Feed.account_id == account.id, Feed.kind == "stock_check")
    )
    set_enabled(check, True)
    db.session.commit()
    page = store_client.get("/store/acme/feeds")
    assert page.text.count("Run with fix") == 1
    assert f'id="feed-{check.id}"' in page.text
    requests.post(
        f"{sandbox}/_sandbox/shoppingfeed/inventory",
        json={"store": SF_STORE, "inventory": {"SKU-0001": 8}},
        timeout=10,
    )
    answer = store_client.post(
        f"/store/acme/feeds/{check.id}/run",
        data={"fix": "1"},
        headers={"HX-Request": "true", "X-CSRFToken": csrf_from(page.text)},
    )
    assert answer.status_code == 200 and "started" in answer.text
    queued = db.session.scalar(select(R.Run).where(R.Run.feed_id == check.id))
    assert queued.trigger == "fix"
    done = lifecycle.execute(queued.id)
    assert done.status == R.COMPLETED and done.updated_count == 1
    assert inventory(sandbox) == {"SKU-0000": 3, "SKU-0001": 3}


def test_inventory_sync_lag_is_the_last_successful_stock_push(app, store, sandbox):
    from datetime import timedelta

    from webapp.monitoring import figures

    publish(store, 120)
    account = account_on(app, store, sandbox)
    ok = run(account, "stock_export")
    set_quantity(store, "SKU-0001", 50)
    requests.post(
        f"{sandbox}/_sandbox/shoppingfeed/faults", json={"server_error": {"times": 5}}, timeout=10
    )
    failed = run(account, "stock_export")
    assert failed.status == R.FAILED
    later = ok.completed_at + timedelta(minutes=40)
    [check] = [
        c for c in figures.integration_checks(now=later) if c.metric == "inventory_sync_lag_seconds"
    ]
    assert check.last_success == ok.completed_at  # the failed push is not a sync
    assert check.last_status == R.FAILED
    assert check.lag_seconds == pytest.approx(40 * 60)
    assert check.status == figures.LATE  # 30 min threshold


def test_a_shoppingfeed_account_from_the_cli_and_the_accounts_page(app, store, store_client):
    from sqlalchemy import text

    from webapp.models import Account

    result = app.test_cli_runner().invoke(
        args=[
            "accounts",
            "add",
            "--store",
            "acme",
            "--connector",
            "shoppingfeed",
            "--name",
            "ShoppingFeed FR",
            "--setting",
            "store_id=29573",
            "--secret",
            "api_token=sf-PLAIN-token",
        ]
    )
    assert result.exit_code == 0, result.output
    account = db.session.get(Account, int(result.output.strip().splitlines()[-1]))
    assert account.settings == {"store_id": "29573", "base_url": "https://api.shopping-feed.com"}
    assert account.secrets() == {"api_token": "sf-PLAIN-token"}
    raw = db.session.execute(text("SELECT secrets_encrypted FROM accounts")).scalar()
    assert "PLAIN" not in raw and "PLAIN" not in result.output
    form = store_client.get("/store/acme/accounts/new/shoppingfeed")
    assert form.status_code == 200
    assert "ShoppingFeed store id" in form.text and "API token" in form.text
    page = store_client.get(f"/store/acme/accounts/{account.id}")
    assert page.status_code == 200 and "sf-PLAIN-token" not in page.text


def test_the_api_runs_a_stock_check_with_fix(app, store, other_store, sandbox):
    from tests.api.conftest import make_person
    from tests.feeds.conftest import work

    publish(store, 2, quantity=lambda i: 6)
    account = account_on(app, store, sandbox)
    run(account, "stock_export")
    feeds = {
        f.kind: f for f in db.session.scalars(select(Feed).where(Feed.account_id == account.id))
    }
    set_enabled(feeds["stock_check"], True)
    db.session.commit()
    check_id, export_id = feeds["stock_check"].id, feeds["stock_export"].id
    shop = make_person(app, "api@acme.test", store=store)
    rival = make_person(app, "rival@other.test", store=other_store)
    path = f"/store/feeds/{check_id}/executions"
    assert rival.api.post(path, json={"fix": True}).status_code == 404
    refused = shop.api.post(f"/store/feeds/{export_id}/executions", json={"fix": True})
    assert refused.status_code == 422 and "stock check" in refused.get_json()["error"]["message"]
    assert shop.api.post(path, json={"fix": "yes"}).status_code == 422
    requests.post(
        f"{sandbox}/_sandbox/shoppingfeed/inventory",
        json={"store": SF_STORE, "inventory": {"SKU-0000": 1}},
        timeout=10,
    )
    answer = shop.api.post(path, json={"fix": True})
    assert answer.status_code == 202, answer.get_json()
    job_id = answer.get_json()["job_id"]
    assert db.session.get(R.Run, job_id).trigger == "fix"
    work(app)
    assert inventory(sandbox) == {"SKU-0000": 6, "SKU-0001": 6}


def test_a_stock_check_that_cannot_read_the_inventory_fails_and_says_why(app, store, sandbox):
    publish(store, 1)
    account = account_on(app, store, sandbox)
    account.set_secrets({"api_token": "revoked"})
    db.session.commit()
    check = run(account, "stock_check")
    assert check.status == R.FAILED
    assert check.error_message.startswith("ShoppingFeed's inventory could not be read:")
    assert "401" in check.error_message and "revoked" not in check.error_message


def test_the_health_endpoint_and_the_account_page_show_the_real_last_stock_push(
    app, store, sandbox, store_client, store_user
):
    """``inventory_sync_lag_seconds`` on /health/marketplace-integrations and /metrics is the
    last successful stock push of the account (a failed one after it changes nothing), and
    the account's stock page says when it was and how many SKUs the marketplace took."""
    from webapp.models import ApiToken, InventorySyncConfig
    from webapp.models.tokens import SCOPE_OPERATOR

    publish(store, 30)
    account = account_on(app, store, sandbox)
    feed = db.session.scalar(
        select(Feed).where(Feed.account_id == account.id, Feed.kind == "stock_export")
    )
    ok = run(account, "stock_export")
    assert ok.status == R.COMPLETED
    config = db.session.scalar(
        select(InventorySyncConfig).where(InventorySyncConfig.account_id == account.id)
    )
    assert (config.last_sync_status, config.items_synced_count) == (R.COMPLETED, 30)
    page = store_client.get(f"/store/acme/accounts/{account.id}/stock").text
    assert "completed, 30 SKU(s) taken" in page

    set_quantity(store, "SKU-0001", 50)
    requests.post(
        f"{sandbox}/_sandbox/shoppingfeed/faults", json={"server_error": {"times": 5}}, timeout=10
    )
    assert run(account, "stock_export").status == R.FAILED
    db.session.refresh(config)
    assert config.last_sync_status == R.FAILED and config.last_sync_error

    _row, token = ApiToken.issue(store_user, "prometheus", SCOPE_OPERATOR)
    db.session.commit()
    headers = {"Authorization": f"Bearer {token}"}
    client = app.test_client()
    body = client.get("/health/marketplace-integrations", headers=headers).get_json()
    [acme] = [s for s in body["stores"] if s["store"] == "acme"]
    [mine] = [a for a in acme["accounts"] if a["account_id"] == account.id]
    check = mine["feeds"]["stock_export"]
    assert check["feed_id"] == feed.id
    assert check["last_success"] == ok.completed_at.replace(microsecond=0).isoformat() + "Z"
    assert check["last_run_status"] == R.FAILED and check["status"] == "ok"
    metrics = client.get("/metrics", headers=headers).text
    [line] = [
        m
        for m in metrics.splitlines()
        if m.startswith("inventory_sync_lag_seconds{") and f'feed_id="{feed.id}"' in m
    ]
    assert float(line.rsplit(" ", 1)[1]) < 600  # seconds since the successful push
