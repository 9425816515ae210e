"""Digital fulfilment at scale: 1,000 digital orders served from a pool of 1,000 keys plus
orders bought from the CodesWholesale sandbox, by 4 worker processes at once (issue 16).

    MERCATO_ENV=test scripts/with-redis.sh --fresh .venv/bin/python -m bench.digital_fulfil \\
        --postgresql postgresql://127.0.0.1:5432/test_fulfil [--orders 1100 --pool 1000]

The PostgreSQL database's public schema is dropped and rebuilt: give a throwaway database.
Each pass builds the store anew (Alembic head, one store, a channel account, a live supplier
account on the sandbox served over HTTP in this process): ``--orders`` orders of one supplier
product of which ``--pool`` are served from the pool and the rest bought, and
``--own-orders`` of the store's own digital product with ``--own-pool`` keys (the rest wait in
the inbox). Pass 1: one worker (the baseline); pass 2: ``--workers`` workers on the same orders
at once. After each pass the invariants of tests/digital/concurrency.py are checked: no key
given twice, no purchase made twice, every order fulfilled or in the inbox. Printed: seconds,
orders per second, the ratio of the two passes; the last line is JSON.
"""

from __future__ import annotations

import argparse
import json
import os
import time

os.environ.setdefault("MERCATO_ENV", "test")


def one_pass(url: str, sandbox: str, workers: int, sizes: dict) -> dict:
    import requests

    from bench.import_feed import migrate
    from bench.import_orders import reset_postgresql
    from tests.conftest import redis_url
    from tests.digital.concurrency import check, prepare, run_workers
    from webapp import create_app
    from webapp.extensions import db
    from webapp.models import Store

    reset_postgresql(url)
    migrate(url)
    requests.post(f"{sandbox}/_sandbox/reset", timeout=5)
    app = create_app({"SQLALCHEMY_DATABASE_URI": url, "REDIS_URL": redis_url()})
    with app.app_context():
        store = Store(code="bench", name="Bench")
        db.session.add(store)
        db.session.commit()
        account, ids, _ = prepare(app, store, sandbox, **sizes)
        started = time.perf_counter()
        summaries = run_workers(app, account, ids, workers=workers)
        seconds = time.perf_counter() - started
        figures = check(sandbox, store, ids, **sizes)
        db.session.remove()
        db.engine.dispose()
    inner = max(s["seconds"] for s in summaries)
    return {
        "workers": workers,
        "orders": len(ids),
        "seconds_with_process_start": round(seconds, 2),
        "seconds_fulfilling": round(inner, 2),
        "orders_per_second": round(len(ids) / inner, 1),
        **figures,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--postgresql", required=True, help="a throwaway PostgreSQL database")
    parser.add_argument("--orders", type=int, default=1100)
    parser.add_argument("--pool", type=int, default=1000)
    parser.add_argument("--own-orders", type=int, default=50)
    parser.add_argument("--own-pool", type=int, default=40)
    parser.add_argument("--workers", type=int, default=4)
    args = parser.parse_args()
    from tests.sandbox_server import served_sandbox
    from webapp.config import database_url

    url = database_url(args.postgresql)
    sizes = {
        "orders": args.orders,
        "pool": args.pool,
        "own_orders": args.own_orders,
        "own_pool": args.own_pool,
    }
    with served_sandbox(1, SANDBOX_CW_PRODUCTS=10) as sandbox:
        baseline = one_pass(url, sandbox, 1, sizes)
        print("1 worker:", baseline, flush=True)
        parallel = one_pass(url, sandbox, args.workers, sizes)
        print(f"{args.workers} workers:", parallel, flush=True)
    ratio = round(baseline["seconds_fulfilling"] / parallel["seconds_fulfilling"], 2)
    print(
        f"{parallel['orders']} orders ({parallel['from_pool']} keys from the pool, "
        f"{parallel['bought']} bought once each, {parallel['inbox']} in the inbox): "
        f"1 worker {baseline['seconds_fulfilling']} s, {args.workers} workers "
        f"{parallel['seconds_fulfilling']} s (speed-up x{ratio}); no key twice, no purchase twice"
    )
    print(json.dumps({"baseline": baseline, "parallel": parallel, "speedup": ratio}))


if __name__ == "__main__":
    main()
