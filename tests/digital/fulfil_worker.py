"""One worker process of the concurrent fulfilment test (and bench/digital_fulfil.py): gives
keys to the same digital orders as the other workers, in its own order, in its own process
and database connection (multiprocessing's spawn: nothing shared but the database and the
supplier's sandbox)."""

from __future__ import annotations

import os
import random
import time


def work(uri, redis_url, account_id, order_ids, seed, config, barrier, out) -> None:
    os.environ["MERCATO_ENV"] = "test"
    from webapp import create_app
    from webapp.digital import fulfil
    from webapp.extensions import db
    from webapp.models import Account
    from webapp.runs import lifecycle

    app = create_app({"SQLALCHEMY_DATABASE_URI": uri, "REDIS_URL": redis_url, **config})
    try:
        with app.app_context():
            account = db.session.get(Account, account_id)
            ids = list(order_ids)
            random.Random(seed).shuffle(ids)
            run = lifecycle.create(
                kind="digital_fulfilment",
                store_id=account.store_id,
                account=account,
                trigger="schedule",
            ).run
            db.session.commit()
            barrier.wait(timeout=120)
            started = time.perf_counter()
            summary = fulfil.assign_keys(run, ids)
            summary["seconds"] = time.perf_counter() - started
            out.put(("ok", summary))
    except Exception as exc:  # noqa: BLE001 - reported to the test
        out.put(("error", repr(exc)))
