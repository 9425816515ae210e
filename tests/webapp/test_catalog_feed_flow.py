"""The catalog export feed kind (issue 15): a run renders the account's catalog feed as the hub
would get it, counts it, names every product the hub would reject, and says when the hub has
not fetched the feed for too long (or never did)."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest
from sqlalchemy import select

from tests.webapp.test_catalog_feed import add_product, feed_path
from webapp.accounts import create_account
from webapp.extensions import db
from webapp.models import CatalogFeedFetch, Feed, Message, Run
from webapp.models import runs as R
from webapp.models.base import utcnow
from webapp.runs import lifecycle
from webapp.runs.gate import set_enabled


@pytest.fixture
def letzshop(app, store):
    return create_account(store, "letzshop", "Letzshop LU", secrets={"api_token": "t"})


def catalog_feed(account) -> Feed:
    feed = db.session.scalar(
        select(Feed).where(Feed.account_id == account.id, Feed.kind == "catalog_export")
    )
    assert feed is not None, "the account's connector gives it a catalog export feed"
    if not feed.enabled:  # outbound feeds start disabled
        set_enabled(feed, True)
        db.session.commit()
    return feed


def run(account) -> tuple[Run, dict, list[Message]]:
    started = lifecycle.run_feed(catalog_feed(account).id, "cli")
    db.session.expire_all()
    run_ = db.session.get(Run, started.run.id)
    messages = list(
        db.session.scalars(
            select(Message).where(Message.import_job_id == run_.id).order_by(Message.id)
        )
    )
    return run_, started.run.outcome, messages


def test_each_hub_gets_a_daily_catalog_export_feed(app, store, letzshop):
    feed = db.session.scalar(
        select(Feed).where(Feed.account_id == letzshop.id, Feed.kind == "catalog_export")
    )
    assert not feed.enabled  # an outbound feed starts disabled, and can be enabled
    assert feed.is_built and feed.schedule.cron_expression == "0 1 * * *"


def test_a_run_counts_the_feed_and_names_each_product_the_hub_would_reject(
    app, store, letzshop, monkeypatch
):
    from webapp.catalogfeed import content, flows

    # Messages written while the rows stream, a row per round trip of the cursor.
    monkeypatch.setattr(flows, "MESSAGE_BATCH", 1)
    monkeypatch.setattr(content, "BATCH", 1)
    add_product(store, "OK-1", titles={"fr": ("Chaise", "")}, image_link="https://i/1.jpg")
    add_product(store, "NO-TITLE", titles={}, image_link="https://i/2.jpg")
    add_product(store, "NO-IMAGE", titles={"de": ("Lampe", "")})
    add_product(store, "NOT-PUBLISHED", titles={}, published=False)
    client = app.test_client()
    served = client.get(feed_path(letzshop))
    assert served.status_code == 200
    etag, body = served.headers["ETag"], served.get_data()  # read to the end, as a hub does

    run_, outcome, messages = run(letzshop)
    assert run_.status == R.COMPLETED, [m.error_message for m in messages]
    assert run_.total_processed == 3 and run_.warning_count == 2
    assert outcome["rows"] == 3 and outcome["incomplete"] == 2
    assert outcome["bytes"] == len(body)  # exactly what the hub got
    assert outcome["etag"] == etag
    by_sku = {m.identifier: m for m in messages if m.error_type == "catalog_incomplete"}
    assert set(by_sku) == {"NO-TITLE", "NO-IMAGE"}
    assert "no title in any language" in by_sku["NO-TITLE"].error_message
    assert "SKU NO-IMAGE: no image" in by_sku["NO-IMAGE"].error_message
    assert by_sku["NO-IMAGE"].severity == R.WARNING
    rendered = [m for m in messages if m.error_type == "catalog_feed_rendered"]
    assert etag in rendered[0].error_message and "3 product(s)" in rendered[0].error_message


def test_a_hub_that_never_fetched_or_stopped_fetching_is_an_error(app, store, letzshop):
    add_product(store, "OK-1", titles={"fr": ("Chaise", "")}, image_link="https://i/1.jpg")
    run_, outcome, messages = run(letzshop)
    assert run_.status == R.COMPLETED_WITH_ERRORS and outcome["stale"]
    [stale] = [m for m in messages if m.error_type == "catalog_not_fetched"]
    assert stale.severity == R.ERROR and "never fetched" in stale.error_message

    # Fetched 3 days ago: more than the 48 h default.
    db.session.add(
        CatalogFeedFetch(
            account_id=letzshop.id,
            format="csv",
            status=200,
            rows=1,
            fetched_at=utcnow() - timedelta(days=3),
        )
    )
    db.session.commit()
    run_, outcome, messages = run(letzshop)
    [stale] = [m for m in messages if m.error_type == "catalog_not_fetched"]
    assert "has not fetched this catalog feed since" in stale.error_message
    assert "more than 48 h" in stale.error_message

    # The hub reads it (a real fetch through the URL): the next run is clean.
    fetched = app.test_client().get(feed_path(letzshop))
    assert fetched.status_code == 200 and fetched.get_data()
    run_, outcome, messages = run(letzshop)
    assert run_.status == R.COMPLETED and not outcome["stale"]
    assert not [m for m in messages if m.severity == R.ERROR]


def test_no_published_product_is_no_error_and_the_cli_runs_it(app, store, letzshop):
    result = app.test_cli_runner().invoke(
        args=["feeds", "run", str(catalog_feed(letzshop).id)], catch_exceptions=False
    )
    assert result.exit_code == 0, result.output
    summary = json.loads(result.output.strip().splitlines()[-1])
    assert summary["status"] == R.COMPLETED


def stock_check(account, trigger="cli") -> tuple[Run, list[Message]]:
    feed = db.session.scalar(
        select(Feed).where(Feed.account_id == account.id, Feed.kind == "stock_check")
    )
    assert feed is not None, "a hub that pulls the catalog feed gets a stock check"
    if not feed.enabled:
        set_enabled(feed, True)
        db.session.commit()
    started = lifecycle.run_feed(feed.id, trigger)
    db.session.expire_all()
    run_ = db.session.get(Run, started.run.id)
    messages = list(
        db.session.scalars(
            select(Message).where(Message.import_job_id == run_.id).order_by(Message.id)
        )
    )
    return run_, messages


def test_a_pull_feed_stock_check_compares_the_last_fetch_with_what_the_hub_would_get_now(
    app, store, letzshop
):
    from webapp.stock import service

    for sku in ("A-1", "B-2", "C-3"):
        add_product(store, sku, titles={"fr": (sku, "")}, quantity=10)
    add_product(store, "HIDDEN", titles={"fr": ("x", "")}, quantity=10, published=False)
    run_, _messages = stock_check(letzshop)
    assert run_.status == R.FAILED and "never fetched" in run_.error_message

    served = app.test_client().get(feed_path(letzshop))
    assert served.status_code == 200 and served.get_data()
    run_, messages = stock_check(letzshop)
    assert run_.status == R.COMPLETED and run_.warning_count == 0 and run_.total_processed == 0

    # After the fetch: A-1 sold 3 (then counted back to 10: no drift), B-2 counted to 4, the
    # unpublished SKU changes (not in the feed).
    service.set_quantity(store, "A-1", 7, reason="count", actor="test")
    service.set_quantity(store, "A-1", 10, reason="count", actor="test")
    service.set_quantity(store, "B-2", 4, reason="count", actor="test")
    service.set_quantity(store, "HIDDEN", 1, reason="count", actor="test")
    run_, messages = stock_check(letzshop, trigger="fix")
    assert run_.status == R.COMPLETED
    assert run_.total_processed == 2 and run_.warning_count == 1  # A-1 and B-2 compared
    [drift] = [m for m in messages if m.error_type == "stock_drift"]
    assert drift.identifier == "B-2"
    assert (drift.row_data["mercato"], drift.row_data["marketplace"]) == (4, 10)
    assert "SKU B-2: Mercato 4, Letzshop 10" in drift.error_message
    assert "manual" in drift.error_message and "next fetch" in drift.error_message
    # A pull feed cannot be pushed: fix says so and sends nothing.
    assert any(m.error_type == "pull_feed_no_fix" for m in messages)
    assert run_.updated_count == 0

    # The hub reads it again: nothing drifts any more.
    again = app.test_client().get(feed_path(letzshop))
    assert again.get_data()
    run_, messages = stock_check(letzshop)
    assert run_.warning_count == 0 and not [m for m in messages if m.error_type == "stock_drift"]
