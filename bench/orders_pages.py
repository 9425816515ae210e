"""The orders page, an order's detail and the bell against 100,000 orders in PostgreSQL.

    MERCATO_ENV=test scripts/with-redis.sh --fresh .venv/bin/python -m bench.orders_pages \\
        --pg-url postgresql://postgres@127.0.0.1:5432/mercato_bench_orders [--orders 100000]

The database's ``public`` schema is dropped and rebuilt by the Alembic revisions (so point
``--pg-url`` at a throwaway database).  The big store gets ``--orders`` orders (two lines
each) over 90 days across six channels and two accounts, a second store a tenth of that;
then VACUUM ANALYZE.  Each page is requested through the Flask test client logged in as
the big store's user: 3 warm-up requests, then ``--requests`` timed ones; the table shows
median and max in ms.  Baseline, same run: the deepest page with a plain ``OFFSET`` (every
skipped row read) against the id-first page the app uses.  Then "to ship" again once the
history has mostly left (all but one order in 20 shipped), without and with its partial
index (migration 0020).  Figures are printed, never asserted.
"""

from __future__ import annotations

import argparse
import io
import random
import statistics
import time
from datetime import datetime, timedelta

from bench.import_feed import libpq_url, migrate, safe_url, sqlalchemy_url

CHANNELS = ("amazon_fr", "amazon_uk", "cdiscount", "manomano_fr", "letzshop", "ebay_de")
STATUSES = ("confirmed", "shipped", "delivered", "cancelled", "processing", "refunded")
PASSWORD = "bench-password-123"  # noqa: S105 (a throwaway benchmark login)


def reset_schema(url: str) -> None:
    import psycopg

    with psycopg.connect(libpq_url(url), autocommit=True) as conn:
        conn.execute("DROP SCHEMA IF EXISTS public CASCADE")
        conn.execute("CREATE SCHEMA public")


def load(url: str, orders: int) -> None:
    import psycopg

    rng = random.Random(20261122)
    now = datetime(2026, 11, 22, 12)
    with psycopg.connect(libpq_url(url)) as conn:
        cur = conn.cursor()
        cur.execute(
            "INSERT INTO stores (id, code, name, default_language, is_active, created_at, "
            "updated_at) VALUES (1, 'big', 'Big', 'fr', true, now(), now()), "
            "(2, 'small', 'Small', 'fr', true, now(), now())"
        )
        for account_id, store_id, connector in (
            (1, 1, "lengow"),
            (2, 1, "letzshop"),
            (3, 2, "lengow"),
        ):
            cur.execute(
                "INSERT INTO accounts (id, store_id, connector, name, settings, is_live, "
                "created_at, updated_at) VALUES (%s, %s, %s, %s, '{}', true, now(), now())",
                (account_id, store_id, connector, f"{connector} {account_id}"),
            )
        order_buf, item_buf = io.StringIO(), io.StringIO()
        order_id = item_id = 0
        total = orders * 11 // 10
        for n in range(total):
            order_id += 1
            store_id, account_id = (2, 3) if n % 11 == 10 else (1, 1 + n % 2)
            ordered = now - timedelta(seconds=rng.randrange(90 * 86400))
            created = now - timedelta(seconds=(total - n) * 60)  # arrival order = id order
            channel = "letzshop" if account_id == 2 else rng.choice(CHANNELS[:4] + CHANNELS[5:])
            name = f"Customer {rng.randrange(50000)}"
            order_buf.write(
                f"{order_id}\t{store_id}\t{account_id}\t{channel}\tCH-{order_id}\t"
                f"{rng.choice(STATUSES)}\t{name}\tc{order_id}@example.test\t"
                f"{rng.randrange(1000, 90000) / 100}\tEUR\t{ordered.isoformat()}\t"
                f"{created.isoformat()}\t{created.isoformat()}\tf\t"
                f'{{"marketplace_order_id": "CH-{order_id}"}}\n'
            )
            for _ in range(2):
                item_id += 1
                item_buf.write(
                    f"{item_id}\t{order_id}\tSKU-{rng.randrange(20000)}\tProduct\t1\t10.00\tf\n"
                )
        with cur.copy(
            "COPY orders (id, store_id, account_id, channel, channel_order_id, status, "
            "customer_name, customer_email, total, currency, ordered_at, created_at, "
            "updated_at, anonymized, raw) FROM STDIN"
        ) as copy:
            copy.write(order_buf.getvalue())
        with cur.copy(
            "COPY order_items (id, order_id, sku, product_name, quantity, unit_price, matched) "
            "FROM STDIN"
        ) as copy:
            copy.write(item_buf.getvalue())
        # What has left: every line of a shipped or delivered order, half of a processing
        # order's (the "to ship" filter reads these quantities).
        cur.execute(
            "UPDATE order_items i SET shipped_quantity = i.quantity FROM orders o "
            "WHERE o.id = i.order_id AND (o.status IN ('shipped', 'delivered') "
            "OR (o.status = 'processing' AND i.id % 2 = 0))"
        )
        cur.execute("SELECT setval('orders_id_seq', %s)", (order_id,))
        conn.commit()
    with psycopg.connect(libpq_url(url), autocommit=True) as conn:
        conn.execute("VACUUM ANALYZE")


def timed(fn, requests: int) -> tuple[float, float]:
    for _ in range(3):
        fn()
    samples = []
    for _ in range(requests):
        started = time.perf_counter()
        fn()
        samples.append((time.perf_counter() - started) * 1000)
    return statistics.median(samples), max(samples)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--pg-url", default="postgresql://postgres@127.0.0.1:5432/mercato_bench_orders"
    )
    parser.add_argument("--orders", type=int, default=100_000)
    parser.add_argument("--requests", type=int, default=30)
    args = parser.parse_args(argv)
    uri = sqlalchemy_url(args.pg_url)
    print(f"database {safe_url(args.pg_url)}: rebuilding, loading {args.orders} orders")
    reset_schema(args.pg_url)
    migrate(uri)
    started = time.perf_counter()
    load(args.pg_url, args.orders)
    print(f"loaded in {time.perf_counter() - started:.1f} s")

    import re

    from sqlalchemy import update

    from webapp import create_app
    from webapp.extensions import db
    from webapp.models import User
    from webapp.orders import queries
    from webapp.pagination import paginate

    app = create_app({"SQLALCHEMY_DATABASE_URI": uri, "WTF_CSRF_ENABLED": False})
    per_page = 25
    last_page = -(-args.orders // per_page)
    with app.app_context():
        user = User(email="shop@big.bench", store_id=1)
        user.set_password(PASSWORD)
        user.orders_seen_at = datetime(2026, 11, 22, 12) - timedelta(hours=2)
        db.session.add(user)
        db.session.commit()
        client = app.test_client()
        client.post("/login", data={"email": user.email, "password": PASSWORD})
        hx = {"HX-Request": "true"}
        targets = {
            "orders page 1": ("/store/big/orders", {}),
            f"orders page {last_page} (deepest)": (f"/store/big/orders/table?page={last_page}", hx),
            "status filter": ("/store/big/orders/table?status=shipped", hx),
            "channel + date filter": (
                "/store/big/orders/table?channel=cdiscount&from=2026-10-01&to=2026-10-31",
                hx,
            ),
            "search customer": ("/store/big/orders/table?q=customer+4242", hx),
            "search SKU": ("/store/big/orders/table?q=SKU-777", hx),
            "to ship": ("/store/big/orders/table?to_ship=1", hx),
            "to ship + channel": ("/store/big/orders/table?to_ship=1&channel=cdiscount", hx),
            "to ship, page 200": ("/store/big/orders/table?to_ship=1&page=200", hx),
            "order detail": ("/store/big/orders/500", {}),
            "bell (120 new)": ("/store/big/orders/bell", hx),
        }
        print(f"\n{'target':<34}{'median ms':>10}{'max ms':>9}")
        for label, (url, headers) in targets.items():
            if "bell" in label:  # the orders page resets the bell: set it back each time

                def fetch(url=url, headers=headers):
                    db.session.execute(
                        update(User).values(orders_seen_at=datetime(2026, 11, 22, 10))
                    )
                    db.session.commit()
                    response = client.get(url, headers=headers)
                    assert response.status_code == 200, (url, response.status_code)
                    return response

                text = fetch().text
                assert re.search(r'data-count="100"', text), "the bell caps at 99+"
            else:

                def fetch(url=url, headers=headers):
                    response = client.get(url, headers=headers)
                    assert response.status_code == 200, (url, response.status_code)
                    return response

            median, worst = timed(fetch, args.requests)
            print(f"{label:<34}{median:>10.1f}{worst:>9.1f}")

        filters = queries.OrderFilters()
        query, count = queries.orders_query(1, filters)
        id_first = timed(lambda: queries.orders_page(1, filters, last_page, per_page), 10)[0]
        plain = timed(lambda: paginate(query, count, last_page, per_page), 10)[0]
        print(
            f"\ndeepest page, query alone: id-first {id_first:.1f} ms, plain OFFSET "
            f"(baseline) {plain:.1f} ms: {plain / id_first:.1f}x"
        )
        to_ship = queries.OrderFilters(to_ship=True)
        query, count = queries.orders_query(1, to_ship)
        for label, statement in (("to ship, page 1", query.limit(per_page)), ("count", count)):
            compiled = statement.compile(db.engine, compile_kwargs={"literal_binds": True})
            plan = db.session.execute(db.text(f"EXPLAIN (ANALYZE, COSTS OFF) {compiled}"))
            print(f"\nplan of {label}:")
            print("\n".join(row[0] for row in plan))
        db.session.rollback()  # end the EXPLAINs' transaction: it would block DROP INDEX
        to_ship_history(args.pg_url, client, hx, args.requests)
        db.session.remove()
        db.engine.dispose()
    return 0


def to_ship_history(url: str, client, hx: dict, requests: int) -> None:
    """ "To ship" in a store whose history has mostly left (all but one order in 20 fully
    shipped), with and without ``ix_order_items_to_ship`` (migration 0020), same run."""
    import psycopg

    index = (
        "CREATE INDEX ix_order_items_to_ship ON order_items (order_id) "
        "WHERE quantity - shipped_quantity - cancelled_quantity > 0"
    )
    with psycopg.connect(libpq_url(url), autocommit=True) as conn:
        conn.execute(
            "UPDATE order_items i SET shipped_quantity = i.quantity FROM orders o "
            "WHERE o.id = i.order_id AND o.id % 20 <> 0"
        )
        conn.execute("VACUUM ANALYZE order_items")

    def fetch():
        response = client.get("/store/big/orders/table?to_ship=1", headers=hx)
        assert response.status_code == 200
        return response

    print("\n'to ship' with 1 order in 20 not yet shipped (the page with its count):")
    for label, statement in (
        ("without ix_order_items_to_ship", "DROP INDEX ix_order_items_to_ship"),
        ("with ix_order_items_to_ship", index),
    ):
        with psycopg.connect(libpq_url(url), autocommit=True) as conn:
            conn.execute(statement)
            conn.execute("VACUUM ANALYZE order_items")
        median, worst = timed(fetch, requests)
        print(f"{label:<34}{median:>10.1f}{worst:>9.1f}")


if __name__ == "__main__":
    raise SystemExit(main())
