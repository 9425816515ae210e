"""``claim`` under contention, on PostgreSQL: two worker processes give keys of the same
pool to their own order lines at once, wanting more keys than the pool holds. No key is
given twice, every key is given, and a line gets all it asked for or what was left."""

from __future__ import annotations

import multiprocessing
from collections import Counter

import pytest
from sqlalchemy import func, select

from tests.conftest import redis_url
from tests.keys import claim_worker
from tests.keys.helpers import add_keys, order_lines
from webapp.extensions import db
from webapp.models.keys import DigitalKey

KEYS = 120
LINES = 100  # quantities 1 and 2 alternately: 150 keys wanted


def test_two_processes_claiming_one_pool_never_share_a_key(app, backend, store):
    if backend != "postgresql":
        pytest.skip("concurrent claimers are asserted on PostgreSQL; SQLite serialises them")
    add_keys(store.id, "POOL", KEYS)
    lines = [(line, 1 + n % 2) for n, line in enumerate(order_lines(store.id, "POOL", LINES))]
    wanted = dict(lines)
    ctx = multiprocessing.get_context("spawn")
    barrier, out = ctx.Barrier(2), ctx.Queue()
    uri = app.config["SQLALCHEMY_DATABASE_URI"]
    workers = [
        ctx.Process(
            target=claim_worker.work,
            args=(uri, redis_url(), store.id, lines[n::2], barrier, out),
        )
        for n in range(2)
    ]
    for worker in workers:
        worker.start()
    results = [out.get(timeout=300) for _ in workers]
    for worker in workers:
        worker.join(timeout=60)
    assert all(kind == "ok" for kind, _ in results), results
    db.session.rollback()

    given = [pair for _, pairs in results for pair in pairs]
    key_ids = [key for _, keys in given for key in keys]
    assert len(key_ids) == len(set(key_ids)) == KEYS  # never twice, and all of them
    assert all(len(keys) <= wanted[line] for line, keys in given)
    # Both workers got keys (they really ran side by side), and the table agrees.
    assert all(any(keys for _, keys in pairs) for _, pairs in results)
    rows = db.session.execute(select(DigitalKey.id, DigitalKey.order_item_id)).all()
    assert all(item is not None for _, item in rows)
    assert dict(rows) == {key: line for line, keys in given for key in keys}
    per_line = Counter(item for _, item in rows)
    assert all(per_line[line] <= wanted[line] for line in per_line)
    assert db.session.scalar(select(func.count()).where(DigitalKey.assigned_at.is_(None))) == 0
    # More was wanted than the pool held: some lines are short, none got a key twice.
    short = [line for line, keys in given if len(keys) < wanted[line]]
    assert short, "the pool holds fewer keys than the lines want"


def test_a_claim_in_flight_leaves_the_other_keys_to_the_next_claimer(app, backend, store):
    """A claim locks only the keys it takes: while one line's transaction is still open,
    another line gets the next key instead of finding the pool empty (and buying one)."""
    import threading

    from webapp.keys.pool import claim

    if backend != "postgresql":
        pytest.skip("row locks are PostgreSQL's")
    add_keys(store.id, "POOL", 2)
    first, second = order_lines(store.id, "POOL", 2)
    mine = claim(store.id, sku="POOL", supplier_product_id=None, quantity=1, order_item_id=first)
    got: list = []

    def other() -> None:
        with app.app_context():
            keys = claim(
                store.id, sku="POOL", supplier_product_id=None, quantity=1, order_item_id=second
            )
            got.extend(k.id for k in keys)
            db.session.commit()

    thread = threading.Thread(target=other)
    thread.start()
    thread.join(timeout=30)
    db.session.commit()  # the first claim's transaction was open all along
    assert len(mine) == 1 and len(got) == 1 and got[0] != mine[0].id
