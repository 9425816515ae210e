"""One worker process of the claim concurrency test: gives keys of one pool to its order
lines, one transaction per line, in its own process and database connection (started with
multiprocessing's spawn, so it shares nothing with the test process but the database)."""

from __future__ import annotations

import os


def work(uri: str, redis_url: str, store_id: int, lines, barrier, out) -> None:
    os.environ["MERCATO_ENV"] = "test"
    from webapp import create_app
    from webapp.extensions import db
    from webapp.keys.pool import claim

    app = create_app({"SQLALCHEMY_DATABASE_URI": uri, "REDIS_URL": redis_url})
    try:
        with app.app_context():
            given: list[tuple[int, list[int]]] = []
            barrier.wait(timeout=120)
            for line_id, quantity in lines:
                keys = claim(
                    store_id,
                    sku="POOL",
                    supplier_product_id=None,
                    quantity=quantity,
                    order_item_id=line_id,
                )
                db.session.commit()
                given.append((line_id, [k.id for k in keys]))
            out.put(("ok", given))
    except Exception as exc:  # noqa: BLE001 - reported to the test
        out.put(("error", repr(exc)))
