"""Order imports against Mercato's own marketplace sandbox, served over real HTTP."""

from __future__ import annotations

import json
import re
import threading

import pytest
import requests
from sqlalchemy import func, select

from tests.orders.helpers import sandbox_counters, work_default_queue
from tests.sandbox_server import sandbox_account
from webapp.accounts import create_account
from webapp.extensions import db, queue
from webapp.models import Message, Order, OrderStatusHistory, ParkedOrder
from webapp.models.base import utcnow
from webapp.orders.service import import_orders, recheck_parked


@pytest.fixture
def account(app, store, sandbox):
    return sandbox_account(app, store, sandbox)  # real retries, short waits


def sandbox_orders(url: str) -> dict[str, str]:
    state = requests.get(f"{url}/_sandbox/state", timeout=10).json()["accounts"]["5622"]
    return state


def booked_and_parked(account) -> tuple[list[str], list[str]]:
    booked = db.session.scalars(
        select(Order.channel_order_id).where(Order.account_id == account.id)
    ).all()
    parked = db.session.scalars(
        select(ParkedOrder.channel_order_id).where(
            ParkedOrder.account_id == account.id, ParkedOrder.outcome.is_(None)
        )
    ).all()
    return list(booked), list(parked)


def assert_complete(account, sandbox):
    """Every sandbox order is exactly once in the book, the parked list, or - cancelled
    before it was ever paid - resolved out of the parked list."""
    state = sandbox_orders(sandbox)
    booked, parked = booked_and_parked(account)
    dropped = db.session.scalars(
        select(ParkedOrder.channel_order_id).where(
            ParkedOrder.account_id == account.id, ParkedOrder.outcome == "cancelled"
        )
    ).all()
    assert len(booked) == len(set(booked)), "an order was booked twice"
    assert not set(booked) & set(parked) and not set(dropped) & (set(booked) | set(parked))
    assert set(booked) | set(parked) | set(dropped) == set(state["ids"])
    return state, booked, parked


def test_first_import_books_every_valid_order_and_parks_the_rest(account, sandbox):
    run = import_orders(account)
    assert run.status in ("completed", "completed_with_errors"), run.error_message
    assert run.total_processed == 250
    assert run.imported_count + run.parked_count == 250 and run.parked_count > 0
    state, _, parked = assert_complete(account, sandbox)
    # On first sight exactly the unpaid ones wait (Lengow new, accepted).
    assert len(parked) == state["statuses"].get("new", 0) + state["statuses"].get("accepted", 0)
    order = db.session.scalar(select(Order).where(Order.status == "delivered").limit(1))
    assert order.items and order.total is not None and order.currency
    assert order.status_history[0].to_status == "delivered"
    # Nothing was sent during the import: the acknowledgements are their own step, queued.
    assert sandbox_counters(sandbox)["merchant_order_ids_set"] == 0
    assert queue("default").count == 1
    assert work_default_queue()
    # The step told Lengow our id for every booked order (PATCH /v3.0/orders/moi/), once.
    db.session.rollback()
    booked = db.session.scalar(select(func.count(Order.id)))
    assert (
        db.session.scalar(select(func.count(Order.id)).where(Order.acknowledged_at.is_(None))) == 0
    )
    assert sandbox_counters(sandbox)["merchant_order_ids_set"] == booked
    again = import_orders(account)
    assert (again.imported_count, again.updated_count) == (0, 0)
    assert again.unchanged_count + again.parked_count == again.total_processed


def test_status_changes_move_the_status_only_and_leave_history(account, sandbox):
    import_orders(account)
    before = db.session.scalar(select(func.count(Order.id)))
    requests.post(f"{sandbox}/_sandbox/advance", json={"seconds": 2 * 86400}, timeout=10)
    run = import_orders(account)
    assert run.updated_count > 0
    assert db.session.scalar(select(func.count(Order.id))) >= before
    moved = db.session.scalar(
        select(OrderStatusHistory).where(OrderStatusHistory.from_status.is_not(None)).limit(1)
    )
    assert moved.from_status != moved.to_status and moved.changed_by == "marketplace:lengow"
    assert_complete(account, sandbox)


@pytest.mark.parametrize(
    "faults",
    [
        {"rate_limit": {"every": 4, "retry_after": 0}},
        {"server_error": {"every": 3, "status": 500}},
        {"token_ttl": 1, "slow": {"seconds": 1.1, "every": 40}},
        {"move_on_page": 1},
        {"slow": {"seconds": 0.3, "every": 25}},
    ],
    ids=["429", "500", "expired-token", "moving-order", "slow"],
)
def test_each_fault_still_ends_with_exactly_the_sandbox_orders(account, sandbox, faults):
    response = requests.post(f"{sandbox}/_sandbox/faults", json=faults, timeout=10)
    assert response.status_code == 200, response.text
    for _ in range(2):
        run = import_orders(account)
        assert run.status != "failed", run.error_message
    # Once the marketplace settles, the next poll's overlap picks up whatever moved during the
    # reads above (a fault that fires on every read always leaves one order for the next poll).
    requests.delete(f"{sandbox}/_sandbox/faults", timeout=10)
    assert import_orders(account).status != "failed"
    assert_complete(account, sandbox)


def test_wrong_credentials_fail_the_run_with_an_error_and_no_secret(app, store, sandbox):
    app.config["MERCATO_OUTBOUND_ALLOW"] = [sandbox.removeprefix("http://")]
    bad = create_account(
        store,
        "lengow",
        "Wrong",
        settings={"account_id": "5622", "base_url": sandbox},
        secrets={"access_token": "nope-SECRET", "secret": "nope-SECRET"},
    )
    run = import_orders(bad)
    assert run.status == "failed"
    message = db.session.scalar(select(Message).where(Message.import_job_id == run.id))
    assert message.severity == "error" and message.subject_type == "account"
    assert "SECRET" not in run.error_message and "SECRET" not in message.error_message


def test_cli_import_and_export(app, account, sandbox):
    runner = app.test_cli_runner()
    result = runner.invoke(args=["orders", "import", "--account", str(account.id)])
    assert result.exit_code == 0, result.output
    summary = json.loads(result.output.strip().splitlines()[-1])
    assert set(summary) == {
        "job_id",
        "feed_id",  # an execution of the account's order-import feed
        "status",
        "fetched",
        "created",
        "updated",
        "unchanged",
        "parked",
        "errors",
    }
    assert summary["created"] + summary["parked"] == summary["fetched"] == 250
    exported = runner.invoke(args=["orders", "export", "--store", "acme", "--format", "jsonl"])
    rows = [json.loads(line) for line in exported.output.splitlines()]
    assert len(rows) == summary["created"]
    first = rows[0]
    for key in (
        "account_id",
        "channel",
        "channel_order_id",
        "marketplace_status",
        "status",
        "currency",
        "total",
        "acknowledged",
        "items",
        "status_history",
    ):
        assert key in first
    assert first["items"][0].keys() >= {"sku", "quantity", "unit_price"}
    # Money as exports write it everywhere: two decimals at least ("229.00", never "229").
    assert all(re.fullmatch(r"\d+\.\d{2,}", row["total"]) for row in rows)
    assert first["status_history"][0].keys() == {"from", "to", "at"}
    runner.invoke(args=["accounts", "retire", str(account.id)])
    refused = runner.invoke(args=["orders", "import", "--account", str(account.id)])
    assert refused.exit_code != 0 and "retired" in refused.output


def test_two_workers_importing_the_same_account_at_once_book_each_order_once(
    app, backend, account, sandbox
):
    if backend != "postgresql":
        pytest.skip("two concurrent writers are asserted on PostgreSQL; SQLite serialises them")
    account_id = account.id
    db.session.commit()
    barrier = threading.Barrier(2)
    results, failures = [], []

    def worker():
        try:
            with app.app_context():
                from webapp.models import Account
                from webapp.runs import lifecycle

                mine = db.session.get(Account, account_id)
                # The feed's lock keeps two polls of one account apart whatever starts them;
                # the book must hold anyway when two writers meet, so these two runs belong
                # to no feed (the lock does not see them) and execute at the same time.
                run = lifecycle.create(
                    kind="order_import", store_id=mine.store_id, account=mine, trigger="cli"
                ).run
                barrier.wait(timeout=10)
                results.append(lifecycle.execute(run.id).status)
                db.session.remove()
        except Exception as exc:  # noqa: BLE001 - reported by the assertion below
            failures.append(repr(exc))

    threads = [threading.Thread(target=worker) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert not failures, failures
    assert sorted(results) and all(status != "failed" for status in results), results
    db.session.expire_all()
    assert_complete(account, sandbox)


def test_letzshop_orders_over_graphql(app, store, sandbox):
    app.config["MERCATO_OUTBOUND_ALLOW"] = [sandbox.removeprefix("http://")]
    letzshop = create_account(
        store,
        "letzshop",
        "Letzshop",
        settings={"base_url": f"{sandbox}/graphql"},
        secrets={"api_token": "sandbox-letzshop-token"},
        live=True,
    )
    run = import_orders(letzshop)
    assert run.status != "failed", run.error_message
    state = requests.get(f"{sandbox}/_sandbox/state", timeout=10).json()["letzshop"]
    booked, parked = booked_and_parked(letzshop)
    assert len(booked) == len(set(booked))
    assert set(booked) | set(parked) == set(state["ids"])
    statuses = db.session.scalars(
        select(ParkedOrder.marketplace_status).where(ParkedOrder.account_id == letzshop.id)
    ).all()
    assert statuses and set(statuses) == {"PENDING"}  # unpaid ones wait, nothing else
    order = db.session.scalar(select(Order).where(Order.account_id == letzshop.id).limit(1))
    assert order.channel == "letzshop" and order.items and order.currency == "EUR"
    again = import_orders(letzshop)
    assert (again.imported_count, again.updated_count) == (0, 0)


def test_parked_orders_are_rechecked_and_imported_once_valid(account, sandbox):
    from datetime import timedelta

    first = import_orders(account)
    assert first.parked_count > 0
    parked_before = set(booked_and_parked(account)[1])
    # Nothing is due yet: rechecks wait an hour.
    assert recheck_parked(account).total_processed == 0
    requests.post(f"{sandbox}/_sandbox/advance", json={"seconds": 3 * 86400}, timeout=10)
    db.session.execute(
        ParkedOrder.__table__.update().values(next_check_at=utcnow() - timedelta(minutes=1))
    )
    db.session.commit()
    run = recheck_parked(account)
    assert run.status == "completed" and run.total_processed == len(parked_before)
    booked, still_parked = booked_and_parked(account)
    moved_on = parked_before - set(still_parked)
    assert moved_on, "some parked orders became valid or were cancelled"
    dropped = set(
        db.session.scalars(
            select(ParkedOrder.channel_order_id).where(ParkedOrder.outcome == "cancelled")
        )
    )
    assert moved_on <= set(booked) | dropped
    assert len(booked) == len(set(booked))


def test_the_same_order_twice_in_one_page_is_written_once(account):
    import json as _json

    from connectors.lengow import normalize_order
    from tests.conftest import real_fixture
    from webapp.orders.book import apply_page

    raw = _json.loads(
        real_fixture("lengow", "prestashop_orders_list_4_orders_2016.json").read_text()
    )["results"]
    page = [normalize_order(o) for o in raw + raw]  # every order twice: booked and parked ones
    kinds = [outcome.kind for outcome in apply_page(account, page, changed_by="test")]
    db.session.commit()
    assert kinds[:4] == ["parked", "parked", "created", "created"]
    assert kinds[4:] == ["parked", "parked", "unchanged", "unchanged"]
    booked, parked = booked_and_parked(account)
    assert sorted(booked) == ["1300435653832-A", "1300435653833-A"]
    assert sorted(parked) == ["1300435653830-A", "1300435653831-A"]
