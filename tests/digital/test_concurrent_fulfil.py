"""On PostgreSQL, four worker processes fulfil the same digital orders at once, each in its
own order: the pool's keys and the sandbox's purchases are each given once, no purchase is
made twice, and every order is fulfilled or waits in the inbox. (bench/digital_fulfil.py runs
the full 1,000 orders from a pool of 1,000 keys with the sandbox; the suite runs fewer.)"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import requests

from tests.digital.concurrency import check, prepare, run_workers
from tests.sandbox_server import served_sandbox

SIZES = {"orders": 120, "pool": 100, "own_orders": 20, "own_pool": 10}


@pytest.fixture
def url() -> Iterator[str]:
    with served_sandbox(1, SANDBOX_CW_PRODUCTS=10) as base:
        requests.post(f"{base}/_sandbox/reset", timeout=5)
        yield base


def test_four_workers_never_give_a_key_twice_nor_buy_twice(app, backend, store, url):
    if backend != "postgresql":
        pytest.skip("concurrent workers are asserted on PostgreSQL; SQLite serialises them")
    account, ids, _ = prepare(app, store, url, **SIZES)
    summaries = run_workers(app, account, ids, workers=4)
    assert sum(s["errors"] for s in summaries) == 0
    figures = check(url, store, ids, **SIZES)
    assert figures == {"served": 130, "bought": 20, "from_pool": 110, "inbox": 10}
    # The pools ran out under four workers: one low-pool alert per product, raised once.
    from sqlalchemy import func, select

    from webapp.extensions import db
    from webapp.models import Message

    alerts = db.session.execute(
        select(Message.identifier, func.count())
        .where(Message.error_type == "key_pool_low", Message.resolved_at.is_(None))
        .group_by(Message.identifier)
    ).all()
    assert alerts and all(count == 1 for _, count in alerts), alerts
