"""Order lines against the catalog: matched to imported products (published or not) by SKU
and then GTIN, one inbox entry per unknown SKU however many orders and polls bring it, and
the entry closing by itself once an import (or a publication) brings the product.

Real imports through the import engine, real polls of the marketplace sandbox over HTTP."""

from __future__ import annotations

import csv
import threading
import time

import pytest
import requests
from sqlalchemy import func, select

from sandbox.data import PRODUCT_WORDS
from tests.sandbox_server import sandbox_account
from tests.webapp.conftest import csrf_from, logged_in, make_user
from webapp.extensions import db
from webapp.imports.service import create_run, execute
from webapp.models import MarketplaceProduct, Message, Order, OrderItem, Run
from webapp.models import runs as R
from webapp.orders.service import import_orders

MISSING_PRODUCT = 5  # the sandbox's "Tondeuse électrique": its 40 SKUs left out of the feed
COLUMNS = ("id", "title", "price", "gtin")


def write_feed(path, rows) -> str:
    with open(path, "w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, fieldnames=COLUMNS)
        writer.writeheader()
        for row in rows:
            writer.writerow({k: row.get(k, "") for k in COLUMNS})
    return str(path)


def import_feed(store, path) -> Run:
    """A product import as every path runs it (page, API, CLI, the store's feed)."""
    run = create_run(store, source_path=path, language="fr", trigger="cli")
    return execute(run.id)


def sandbox_rows(*, skip: int | None = MISSING_PRODUCT, only: int | None = None):
    for idx, (title, _category, price) in enumerate(PRODUCT_WORDS):
        if idx == skip or (only is not None and idx != only):
            continue
        for variant in range(1, 41):
            yield {"id": f"SKU-{idx:03d}-{variant:02d}", "title": title, "price": f"{price}"}


def open_entries(store_id) -> dict[str, Message]:
    return {
        m.identifier: m
        for m in db.session.scalars(
            select(Message).where(
                Message.store_id == store_id,
                Message.error_type == "unknown_sku",
                Message.resolved_at.is_(None),
            )
        )
    }


def unmatched_skus(store_id) -> dict[str, int]:
    """SKU -> number of orders with an unmatched line of it."""
    rows = db.session.execute(
        select(OrderItem.sku, func.count(func.distinct(OrderItem.order_id)))
        .join(Order, Order.id == OrderItem.order_id)
        .where(Order.store_id == store_id, OrderItem.matched.is_(False))
        .group_by(OrderItem.sku)
    )
    return dict(rows.all())


@pytest.fixture
def account(app, store, sandbox):
    return sandbox_account(app, store, sandbox)


def test_lines_match_the_catalog_and_each_unknown_sku_is_one_entry_until_imported(
    app, store, account, sandbox, tmp_path
):
    # The store imported its feed (every sandbox product but one) and published none of it.
    catalog = import_feed(store, write_feed(tmp_path / "feed.csv", sandbox_rows()))
    assert catalog.status == R.COMPLETED and catalog.imported_count == 11 * 40
    run = import_orders(account)
    assert run.status == R.COMPLETED_WITH_ERRORS

    lines = db.session.scalars(select(OrderItem)).all()
    known = [line for line in lines if not line.sku.startswith(f"SKU-{MISSING_PRODUCT:03d}-")]
    assert known and all(line.matched for line in known)  # imported is enough to match
    assert all(line.marketplace_product_id and line.product_id is None for line in known)
    waiting = unmatched_skus(store.id)
    assert waiting and all(sku.startswith("SKU-005-") for sku in waiting)
    assert sum(waiting.values()) > len(waiting)  # some SKU is in several orders ...
    entries = open_entries(store.id)
    assert set(entries) == set(waiting)  # ... and still one entry per SKU
    assert run.error_count == len(entries)
    entry = next(iter(entries.values()))
    assert entry.severity == R.ERROR and entry.subject_type == "sku"
    assert "Import the product" in entry.error_message and entry.account_id == account.id

    # Later polls bring more orders of the same SKUs: the inbox does not grow with them.
    before = set(entries)
    requests.post(f"{sandbox}/_sandbox/advance", json={"seconds": 3 * 86400}, timeout=10)
    again = import_orders(account)
    assert again.status in (R.COMPLETED, R.COMPLETED_WITH_ERRORS)
    db.session.expire_all()
    waiting = unmatched_skus(store.id)
    entries = open_entries(store.id)
    assert set(entries) == set(waiting) and before <= set(entries)
    assert again.error_count == len(set(entries) - before)  # only SKUs new to the inbox

    # The merchant imports the missing product: every entry closes, every line matches.
    fix = import_feed(store, write_feed(tmp_path / "more.csv", sandbox_rows(skip=None, only=5)))
    assert fix.status == R.COMPLETED
    db.session.expire_all()
    assert open_entries(store.id) == {} and unmatched_skus(store.id) == {}
    closed = db.session.scalars(
        select(Message).where(Message.error_type == "unknown_sku", Message.store_id == store.id)
    ).all()
    assert {m.resolved_by for m in closed} == {f"import #{fix.id}"}

    lines = db.session.scalars(select(OrderItem).where(OrderItem.sku.in_(list(waiting)))).all()
    assert lines and all(line.matched and line.marketplace_product_id for line in lines)


def test_publishing_from_the_products_page_links_waiting_lines(
    app, store, account, sandbox, tmp_path
):
    store_client = logged_in(app, make_user("shop@acme.test", store=store).email)
    import_feed(store, write_feed(tmp_path / "feed.csv", sandbox_rows(skip=None)))
    import_orders(account)
    line = db.session.scalars(select(OrderItem).where(OrderItem.matched.is_(True))).first()
    assert line.product_id is None
    page = store_client.get("/store/acme/products")
    response = store_client.post(
        "/store/acme/products/publish",
        data={"csrf_token": csrf_from(page.text), "product_id": str(line.marketplace_product_id)},
    )
    assert response.status_code == 302
    db.session.expire_all()
    line = db.session.get(OrderItem, line.id)
    assert line.product_id is not None
    order_page = store_client.get(f"/store/acme/orders/{line.order_id}").text
    assert f"/store/acme/products/{line.marketplace_product_id}/publish" in order_page


def test_lines_match_by_gtin_in_every_length(app, store, tmp_path):
    from webapp.orders import matching

    import_feed(
        store,
        write_feed(
            tmp_path / "gtin.csv",
            [
                {"id": "CHAIR-1", "title": "Chair", "price": "10", "gtin": "4006381333931"},
                {"id": "CUP-12", "title": "Cup", "price": "3", "gtin": "036000291452"},
                {"id": "PEN-8", "title": "Pen", "price": "1", "gtin": "96385074"},
            ],
        ),
    )
    ids = dict(
        db.session.execute(
            select(MarketplaceProduct.marketplace_product_id, MarketplaceProduct.id)
        ).all()
    )
    found = matching.find(
        store.id,
        [
            ("CHAIR-1", None),  # its id
            ("4006381333931", None),  # an EAN sent as the SKU
            ("Z-9", "04006381333931"),  # the line's GTIN, as GTIN-14
            ("0036000291452", None),  # a UPC-A written as EAN-13
            ("00000096385074", None),  # a GTIN-8 written as GTIN-14
            ("4006381333932", None),  # wrong check digit: no GTIN at all
            ("NOPE", None),
        ],
    )
    assert {key: (m.marketplace_product_id, m.by) for key, m in found.items()} == {
        ("CHAIR-1", None): (ids["CHAIR-1"], "sku"),
        ("4006381333931", None): (ids["CHAIR-1"], "gtin"),
        ("Z-9", "04006381333931"): (ids["CHAIR-1"], "gtin"),
        ("0036000291452", None): (ids["CUP-12"], "gtin"),
        ("00000096385074", None): (ids["PEN-8"], "gtin"),
    }
    assert matching.gtin_forms("96385074") == {"96385074", "000096385074", "0000096385074",
                                               "00000096385074"}  # fmt: skip


def test_another_stores_catalog_never_matches(app, store, other_store, tmp_path):
    from webapp.orders import matching

    import_feed(other_store, write_feed(tmp_path / "f.csv", [{"id": "X-1", "title": "X"}]))
    assert matching.find(store.id, [("X-1", None)]) == {}
    assert matching.find(other_store.id, [("X-1", None)])


def test_a_retry_of_an_entry_matches_when_the_catalog_has_it(app, store, account, tmp_path):
    from webapp.orders import matching

    run = Run(kind="order_import", store_id=store.id, account_id=account.id, status="completed")
    order = Order(
        store_id=store.id,
        account_id=account.id,
        channel="amazon_fr",
        channel_order_id="402-1",
        status="confirmed",
    )
    order.items.append(OrderItem(sku="5901234123457", quantity=1, matched=False))  # an EAN
    db.session.add_all([run, order])
    db.session.commit()
    sku = order.items[0].sku
    [entry_id] = matching.record_unknown(run.id, store.id, account.id, [sku])
    db.session.commit()
    from webapp.inbox import retry

    assert retry.retry_ids([entry_id], "shop@acme.test") == {
        "resolved": 0,
        "failed": 1,
        "skipped": 0,
    }
    import_feed(store, write_feed(tmp_path / "f.csv", [{"id": "P", "title": "P", "gtin": sku}]))
    db.session.expire_all()
    # The import already closed it by itself; a retry now has nothing left to do.
    entry = db.session.get(Message, entry_id)
    assert entry.resolved_at is not None and entry.attempts == 1
    assert db.session.get(Order, order.id).items[0].matched


def test_two_polls_at_once_open_one_entry_per_sku(app, backend, store, account, sandbox, tmp_path):
    if backend != "postgresql":
        pytest.skip("two concurrent writers are asserted on PostgreSQL; SQLite serialises them")
    second = sandbox_account(app, store, sandbox, account_id="6395", name="Lengow Cotecosy")
    import_feed(store, write_feed(tmp_path / "feed.csv", sandbox_rows()))
    ids = [account.id, second.id]
    db.session.commit()
    barrier = threading.Barrier(2)
    results, failures = [], []

    def worker(account_id):
        try:
            with app.app_context():
                from webapp.models import Account

                mine = db.session.get(Account, account_id)
                barrier.wait(timeout=10)
                results.append(import_orders(mine))
                db.session.remove()
        except Exception as exc:  # noqa: BLE001 - reported by the assertion below
            failures.append(repr(exc))

    threads = [threading.Thread(target=worker, args=(i,)) for i in ids]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert not failures, failures
    db.session.expire_all()
    waiting = unmatched_skus(store.id)
    entries = open_entries(store.id)
    assert set(entries) == set(waiting)
    # Both accounts' orders wait for some of the same SKUs, yet each SKU is one entry.
    per_account = db.session.execute(
        select(Order.account_id, OrderItem.sku)
        .join(OrderItem, OrderItem.order_id == Order.id)
        .where(OrderItem.matched.is_(False))
        .distinct()
    ).all()
    shared = {sku for a, sku in per_account if a == ids[0]} & {
        sku for a, sku in per_account if a == ids[1]
    }
    assert shared
    runs = db.session.scalars(select(Run).where(Run.kind == "order_import")).all()
    assert sum(r.error_count for r in runs) == len(entries)


def test_the_unique_entry_holds_when_two_transactions_overlap(app, backend, store, account):
    if backend != "postgresql":
        pytest.skip("two concurrent writers are asserted on PostgreSQL; SQLite serialises them")
    from webapp.orders import matching

    run = Run(kind="order_import", store_id=store.id, account_id=account.id, status="completed")
    db.session.add(run)
    db.session.commit()
    run_id, store_id, account_id = run.id, store.id, account.id
    first_inserted = threading.Event()
    created, waited = {}, {}

    def first():
        with app.app_context():
            created["first"] = matching.record_unknown(run_id, store_id, account_id, ["SKU-X"])
            first_inserted.set()
            time.sleep(0.5)  # the second transaction meets our uncommitted entry
            db.session.commit()
            db.session.remove()

    def second():
        with app.app_context():
            first_inserted.wait(timeout=10)
            started = time.monotonic()
            created["second"] = matching.record_unknown(run_id, store_id, account_id, ["SKU-X"])
            waited["second"] = time.monotonic() - started
            db.session.commit()
            db.session.remove()

    threads = [threading.Thread(target=first), threading.Thread(target=second)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    assert len(created["first"]) == 1 and created["second"] == []
    assert waited["second"] >= 0.3  # it waited for the first one's commit, then skipped
    assert list(open_entries(store_id)) == ["SKU-X"]
