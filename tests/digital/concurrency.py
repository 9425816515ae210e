"""The concurrent fulfilment scenario, shared by the PostgreSQL test and the bench: a store
whose digital orders are served by a pool of keys and, for the rest, CodesWholesale's
sandbox; ``workers`` processes fulfil all of them at once; what must hold afterwards."""

from __future__ import annotations

import multiprocessing
from collections import Counter

import requests
from sqlalchemy import func, select

from tests.conftest import redis_url
from tests.digital import fulfil_worker
from tests.digital.helpers import (
    book,
    channel_account,
    cw,
    cw_examples,
    pool_keys,
    product,
    supplier_account,
    unified,
)
from webapp.extensions import db
from webapp.models import DigitalKey, Message, OrderItem, OutboundCall
from webapp.models.outbound import SENT

PAGE = 500


def prepare(app, store, url, *, orders: int, pool: int, own_orders: int, own_pool: int):
    """``orders`` orders of one supplier product (``pool`` keys of it in the pool, the rest
    bought) and ``own_orders`` of the store's own digital product (``own_pool`` keys: the rest
    wait in the inbox). Returns (channel account, order ids, supplier product id)."""
    account = channel_account(store)
    supplier_account(app, store, url)
    pid = cw_examples(url)["text"][0]
    answer = requests.post(
        f"{url}/_sandbox/codeswholesale/products/{pid}", json={"quantity": 100000}, timeout=5
    )
    assert answer.status_code == 200, answer.text
    product(store, pid, marketplace="codeswholesale")
    product(store, "OWN-KEY", extra={"is_digital": "true"})
    pool_keys(store, None, pool, supplier_product_id=pid)
    pool_keys(store, "OWN-KEY", own_pool)
    wanted = [unified(f"C-{n:05d}", [(pid, 1)]) for n in range(orders)]
    wanted += [unified(f"O-{n:05d}", [("OWN-KEY", 1)]) for n in range(own_orders)]
    ids = []
    for start in range(0, len(wanted), PAGE):
        ids += book(account, wanted[start : start + PAGE])
    return account, ids, pid


def run_workers(app, account, ids, workers: int = 4) -> list[dict]:
    uri = app.config["SQLALCHEMY_DATABASE_URI"]
    config = {
        "MERCATO_OUTBOUND_ALLOW": app.config["MERCATO_OUTBOUND_ALLOW"],
        "MERCATO_CONNECTOR_BACKOFF_BASE": 0.01,
    }
    ctx = multiprocessing.get_context("spawn")
    barrier, out = ctx.Barrier(workers), ctx.Queue()
    procs = [
        ctx.Process(
            target=fulfil_worker.work,
            args=(uri, redis_url(), account.id, ids, n, config, barrier, out),
        )
        for n in range(workers)
    ]
    for proc in procs:
        proc.start()
    results = [out.get(timeout=600) for _ in procs]
    for proc in procs:
        proc.join(timeout=60)
    assert all(kind == "ok" for kind, _ in results), results
    db.session.rollback()
    return [summary for _, summary in results]


def check(url, store, ids, *, orders: int, pool: int, own_orders: int, own_pool: int) -> dict:
    """No key twice, no purchase twice, every order fulfilled or in the inbox."""
    per_line = Counter(
        dict(
            db.session.execute(
                select(DigitalKey.order_item_id, func.count())
                .where(DigitalKey.order_item_id.is_not(None))
                .group_by(DigitalKey.order_item_id)
            ).all()
        )
    )
    lines = db.session.execute(
        select(OrderItem.id, OrderItem.order_id, OrderItem.quantity, OrderItem.key_state).where(
            OrderItem.order_id.in_(ids)
        )
    ).all()
    assert all(per_line[line.id] <= line.quantity for line in lines), "a line got too many"
    # A key is one row given to one line (its fingerprint unique per store): count codes.
    fingerprints = db.session.execute(
        select(DigitalKey.fingerprint, func.count()).group_by(DigitalKey.fingerprint)
    ).all()
    assert all(n == 1 for _, n in fingerprints)
    served = [line for line in lines if line.key_state == "assigned"]
    waiting = {line.order_id for line in lines if line.key_state != "assigned"}
    inbox = set(
        db.session.scalars(
            select(Message.subject_id).where(
                Message.error_type == "digital_keys_missing", Message.resolved_at.is_(None)
            )
        )
    )
    assert waiting == inbox, "an order neither fulfilled nor in the inbox"
    bought = orders - pool
    assert len(served) == orders + own_pool
    assert len(inbox) == own_orders - own_pool
    calls = db.session.execute(select(OutboundCall.status, OutboundCall.dedup_key)).all()
    assert len(calls) == bought and all(status == SENT for status, _ in calls)
    sales = cw(url)
    assert sales["keys_sold"] == bought
    assert len(sales["orders_by_reference"]) == bought
    assert all(n == 1 for n in sales["orders_by_reference"].values()), "a purchase twice"
    from_pool = db.session.scalar(
        select(func.count())
        .select_from(DigitalKey)
        .where(DigitalKey.source == "pool", DigitalKey.order_item_id.is_not(None))
    )
    assert from_pool == pool + own_pool
    return {"served": len(served), "bought": bought, "from_pool": from_pool, "inbox": len(inbox)}
