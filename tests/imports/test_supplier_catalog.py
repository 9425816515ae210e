"""The supplier-catalogue feed end to end: a CodesWholesale account on the sandbox serving the
real 2018 dump, its feed run through the lifecycle, the catalogue upserted through the import
engine's bulk path as digital marketplace products of marketplace ``codeswholesale`` (both
databases: the ``app`` fixture runs each test on SQLite and, with TEST_DATABASE_URL, on
PostgreSQL)."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from decimal import Decimal

import pytest
import requests
from sqlalchemy import func, select

from connectors.suppliers import decode_tiers
from sandbox.fakes.codeswholesale import catalogue_records
from tests.conftest import real_fixture
from tests.sandbox_server import served_sandbox
from webapp.extensions import db
from webapp.models import Feed, MarketplaceProduct, Message, Run
from webapp.models import runs as R

DUMP = real_fixture("codeswholesale", "cw_products_catalog_dump_2018.csv")


@pytest.fixture(scope="module")
def sandbox() -> Iterator[str]:
    with served_sandbox(1, SANDBOX_CW_CATALOG=str(DUMP), SANDBOX_CW_PAGE_SIZE=500) as url:
        yield url


@pytest.fixture
def url(sandbox):
    requests.post(f"{sandbox}/_sandbox/reset", timeout=5)
    return sandbox


def supplier_account(app, store, url, *, version="v2", secret="sandbox-cw-secret"):
    from webapp.accounts import create_account

    app.config["MERCATO_OUTBOUND_ALLOW"] = [url.removeprefix("http://")]
    app.config["MERCATO_CONNECTOR_BACKOFF_BASE"] = 0.01
    return create_account(
        store,
        "codeswholesale",
        "CodesWholesale",
        settings={"client_id": "sandbox-cw-client", "base_url": url, "api_version": version},
        secrets={"client_secret": secret},
        live=True,
    )


def change(url: str, product_id: str, **fields) -> None:
    answer = requests.post(
        f"{url}/_sandbox/codeswholesale/products/{product_id}", json=fields, timeout=5
    )
    assert answer.status_code == 200, answer.text


def catalog_feed(account) -> Feed:
    return db.session.scalars(
        select(Feed).where(Feed.account_id == account.id, Feed.kind == "supplier_catalog")
    ).one()


def run_catalog(account) -> Run:
    from webapp.runs.lifecycle import run_feed

    return run_feed(catalog_feed(account).id).run


def products(store) -> dict[str, MarketplaceProduct]:
    rows = db.session.scalars(
        select(MarketplaceProduct).where(
            MarketplaceProduct.store_id == store.id,
            MarketplaceProduct.marketplace == "codeswholesale",
        )
    )
    return {p.marketplace_product_id: p for p in rows}


def test_the_account_gets_an_enabled_six_hourly_catalogue_feed(app, store, url):
    account = supplier_account(app, store, url)
    feed = catalog_feed(account)
    assert feed.enabled and feed.is_built
    assert feed.schedule.interval_seconds == 6 * 3600
    kinds = set(db.session.scalars(select(Feed.kind).where(Feed.account_id == account.id)))
    assert kinds == {"supplier_catalog", "supplier_keys"}  # a supplier: no order feeds


@pytest.mark.parametrize("version", ["v2", "v3"])
def test_the_real_dump_is_synced_whole_as_digital_products(app, store, url, version, caplog):
    account = supplier_account(app, store, url, version=version)
    with caplog.at_level(logging.INFO, logger="mercato.imports"):
        run = run_catalog(account)
    # The engine's bulk path, columnar all the way: no cell sent it to the row-by-row reader.
    assert f"run_id={run.id} columnar_records=2383 python_reader_after=False" in caplog.text
    assert run.status == R.COMPLETED, run.error_message
    assert run.kind == "product_import" and run.marketplace == "codeswholesale"
    assert run.imported_count == 2383 and run.total_processed == 2383
    assert run.error_count == 0 and run.warning_count == 0

    got = products(store)
    assert len(got) == 2383
    # Products looked at closely against what the fake serves for them.
    records = {r["productId"]: r for r in catalogue_records(DUMP, "v2")}
    for product_id in (
        "04a8137c-0de9-42d4-8959-f15ca2567862",  # 12iB6, Steam, a release date
        "a47c6b5c-eaf9-4391-8b7a-b6eb170427c3",  # AOE2HF, empty release date
    ):
        record, product = records[product_id], got[product_id]
        extra = product.extra
        assert product.translation(None).title == record["name"]
        assert product.price == Decimal(str(record["prices"][0]["value"]))
        assert product.currency == "EUR" and product.quantity == record["quantity"]
        assert product.availability == ("in_stock" if record["quantity"] else "out_of_stock")
        assert extra["is_digital"] == "true" and extra["product_type"] == "digital"
        assert extra["identifier"] == record["identifier"]
        assert extra["platform"] == record["platform"]
        assert extra["regions"].split(", ") == record["regions"]
        assert extra["languages"].split(", ") == record["languages"]
        tiers = decode_tiers(extra["tier_prices"])
        assert [(t.from_quantity, t.to_quantity) for t in tiers] == [(1, 9), (10, 49), (50, None)]
        assert [t.value for t in tiers] == [Decimal(str(t["value"])) for t in record["prices"]]
    assert got["04a8137c-0de9-42d4-8959-f15ca2567862"].extra["release_date"] == (
        "2015-11-19T17:00:00Z"
    )
    assert "release_date" not in got["a47c6b5c-eaf9-4391-8b7a-b6eb170427c3"].extra

    # The quirks of the real dump, as stored.
    by_identifier = {p.extra["identifier"]: p for p in got.values()}
    for identifier in ("AMA100$", "BRUTAL LEGEND", "PSN100$USA"):
        assert identifier in by_identifier
    no_platform = [p for p in got.values() if "platform" not in p.extra]
    assert len(no_platform) == 22
    undated = [p for p in got.values() if "release_date" not in p.extra]
    assert len(undated) == 263


def test_a_second_sync_changes_only_what_changed(app, store, url):
    account = supplier_account(app, store, url)
    first = run_catalog(account)
    assert first.imported_count == 2383
    changed = "0091e17d-ade7-4806-8d75-ea22b2192a55"  # 7 Days to Die
    delisted = next(  # a product in stock
        r["productId"]
        for r in catalogue_records(DUMP, "v2")
        if r["quantity"] and r["productId"] != changed
    )
    change(url, changed, quantity=0, price="1.99")
    change(url, delisted, listed=False)
    before = products(store)[delisted]
    assert before.availability == "in_stock" and before.quantity > 0
    stock = before.quantity

    second = run_catalog(account)
    assert second.id != first.id and second.status == R.COMPLETED
    assert (second.imported_count, second.updated_count, second.unchanged_count) == (0, 2, 2381)
    got = products(store)
    for product in got.values():
        db.session.refresh(product)
    assert got[changed].quantity == 0 and got[changed].availability == "out_of_stock"
    assert got[changed].price == Decimal("1.99")
    assert decode_tiers(got[changed].extra["tier_prices"])[0].value == Decimal("1.99")
    # Gone from the catalogue: no longer offered as available, and said on the run.
    assert got[delisted].quantity == 0 and got[delisted].availability == "out_of_stock"
    said = db.session.scalars(
        select(Message.error_message).where(
            Message.import_job_id == second.id, Message.error_type == "left_catalogue"
        )
    ).one()
    assert said.startswith("1 products are no longer")

    # Back in the catalogue exactly as before: written again, in stock again.
    change(url, delisted, listed=True)
    third = run_catalog(account)
    assert (third.imported_count, third.updated_count, third.unchanged_count) == (0, 1, 2382)
    back = products(store)[delisted]
    db.session.refresh(back)
    assert back.availability == "in_stock" and back.quantity == stock


def test_refused_credentials_fail_the_run_with_a_message_for_the_account(app, store, url):
    account = supplier_account(app, store, url, secret="not-the-secret")
    run = run_catalog(account)
    assert run.status == R.FAILED and "401" in run.error_message
    assert "not-the-secret" not in run.error_message
    message = db.session.scalars(select(Message).where(Message.import_job_id == run.id)).one()
    assert message.error_type == "connector_error" and message.severity == "error"
    assert (message.subject_type, message.subject_id) == ("account", account.id)
    assert db.session.scalar(select(func.count()).select_from(MarketplaceProduct)) == 0


def test_another_store_never_sees_the_supplier_products(app, store, other_store, url):
    run_catalog(supplier_account(app, store, url))
    assert len(products(store)) == 2383 and products(other_store) == {}
