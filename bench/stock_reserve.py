"""Reservation speed: 10,000 orders booked and reserved, as an order poll writes them.

Orders of 1-3 lines over ``--skus`` SKUs (every SKU has stock) are written page by page
(100 a page, one transaction each) the way the poll's page writer does: the page is booked
(``apply_page``, lines and history in one bulk write), then the stock follows it
(``webapp.stock.reservations.follow_orders``: one INSERT ... SELECT of the page's
reservations, one of its closings, one upsert of the levels). Printed per back-end:

- booking + reserving, orders/s (what a poll sustains);
- the reservation step alone (its statements, before the page's commit), orders/s (target:
  >= 1,000);
- then the same orders again, a fifth of them cancelled: the re-poll and its releases;
- then both passes again over new orders once the store has a ShoppingFeed account whose
  stock goes out in real time (``webapp.stock.dirty``: each page's movements mark their SKUs
  in ``push_dirty`` and ask for the account's debounced push after the commit), with the
  time the marking and the asking took, measured where they run (the passes' own times grow
  with the tables, so the two sets of passes are not compared with each other).
  Redis is needed for that part (``scripts/with-redis.sh``).

Run: python -m bench.stock_reserve [--orders 10000] [--skus 500] [--postgresql URL]
The PostgreSQL database's public schema is dropped and rebuilt: give a throwaway database.
"""

from __future__ import annotations

import argparse
import os
import random
import tempfile
import time
from decimal import Decimal
from pathlib import Path

os.environ.setdefault("MERCATO_ENV", "test")

PAGE = 100


def make_orders(n: int, skus: int, phase: int, prefix: str = "B"):
    from connectors.orders import BOOK, OrderLine, UnifiedOrder

    rng = random.Random(7)
    orders = []
    for i in range(n):
        lines = [
            OrderLine(
                channel_line_id=f"{i}-{k}",
                sku=f"SKU-{rng.randrange(skus):05d}",
                title="t",
                quantity=rng.choice([1, 1, 1, 2, 3]),
                unit_price=Decimal("9.90"),
                total=Decimal("9.90"),
            )
            for k in range(rng.choices([1, 2, 3], [70, 22, 8])[0])
        ]
        cancelled = phase == 1 and i % 5 == 0
        orders.append(
            UnifiedOrder(
                channel="amazon_fr",
                channel_order_id=f"{prefix}-{i:06d}",
                marketplace_status="canceled" if cancelled else "waiting_shipment",
                status="cancelled" if cancelled else "confirmed",
                disposition=BOOK,
                lines=lines,
            )
        )
    return orders


def run_pass(account, orders) -> tuple[float, float, dict]:
    from sqlalchemy import text

    from webapp.bulk import Inserts
    from webapp.extensions import db
    from webapp.orders.book import apply_page, stock_subjects
    from webapp.stock.reservations import follow_orders

    total = reserve = 0.0
    counts = {"reserved": 0, "closed": 0}
    for start in range(0, len(orders), PAGE):
        page = orders[start : start + PAGE]
        began = time.perf_counter()
        if db.session.get_bind().dialect.name == "postgresql":
            # As the poll writes a page (webapp.orders.service.poll_orders).
            db.session.execute(text("SET LOCAL synchronous_commit TO OFF"))
        inserts = Inserts()
        outcomes = apply_page(account, page, changed_by="bench", inserts=inserts)
        inserts.write()
        mid = time.perf_counter()
        done = follow_orders(account.store_id, stock_subjects(outcomes), actor="bench")
        reserve += time.perf_counter() - mid
        db.session.commit()
        total += time.perf_counter() - began
        for key in counts:
            counts[key] += done[key]
    return total, reserve, counts


def bench(url: str, n: int, skus: int, workdir: Path) -> None:
    from flask_migrate import upgrade
    from sqlalchemy import func, select

    from webapp import create_app
    from webapp.accounts import create_account
    from webapp.extensions import db
    from webapp.models import OrderItem, StockLevel, Store
    from webapp.stock.levels import default_warehouse_id, set_on_hand

    app = create_app({"SQLALCHEMY_DATABASE_URI": url, "MERCATO_WORK_DIR": str(workdir)})
    with app.app_context():
        upgrade()
        store = Store(code="bench", name="Bench")
        db.session.add(store)
        db.session.commit()
        account = create_account(
            store,
            "lengow",
            "Bench",
            settings={"account_id": "5622"},
            secrets={"access_token": "a", "secret": "s"},
        )
        wh = default_warehouse_id(store.id)
        set_on_hand(store.id, [(f"SKU-{s:05d}", wh, 1000) for s in range(skus)], reason="manual")
        db.session.commit()
        name = db.engine.dialect.name
        timers = time_realtime()
        for prefix, realtime in (("B", False), ("R", True)):
            if realtime:
                pushing = add_realtime_account(app, store)
            for phase, label in ((0, "first sight"), (1, "re-poll, 1/5 cancelled")):
                orders = make_orders(n, skus, phase, prefix)
                timers.update(mark=0.0, kick=0.0, marks=0, kicks=0)
                total, reserve, counts = run_pass(account, orders)
                tag = ("real time " if realtime else "") + label
                spent = ""
                if realtime:
                    spent = (
                        f"; marking {timers['mark']:.3f} s in {timers['marks']} statements "
                        f"({100 * timers['mark'] / reserve:.1f}% of the stock step), "
                        f"asking for the push after commit {timers['kick']:.3f} s "
                        f"({timers['kicks']} jobs enqueued)"
                    )
                print(
                    f"{name:<10} {tag:<34} {n} orders: booked+stock {n / total:8.0f} "
                    f"orders/s ({total:.2f} s); stock step alone {n / reserve:8.0f} orders/s "
                    f"({reserve:.2f} s); reserved {counts['reserved']} lines, "
                    f"closed {counts['closed']}{spent}"
                )
        from webapp.models import PushDirty

        marked = db.session.scalar(
            select(func.count()).select_from(PushDirty).where(PushDirty.account_id == pushing.id)
        )
        print(f"{name:<10} real time: {marked} SKUs waiting for the account's push")
        lines = db.session.scalar(select(func.count(OrderItem.id)))
        held = db.session.scalar(select(func.sum(StockLevel.reserved)))
        print(f"{name:<10} check: {lines} lines, {held} units still reserved")


def time_realtime() -> dict:
    """Time what the real-time strategy adds (``webapp.stock.dirty``'s marking and its
    after-commit kick), measured where it runs."""
    from webapp.stock import dirty

    timers = {"mark": 0.0, "kick": 0.0, "marks": 0, "kicks": 0}
    mark, kick = dirty.mark, dirty.kick

    def timed_mark(*args, **kwargs):
        began = time.perf_counter()
        marked = mark(*args, **kwargs)
        timers["mark"] += time.perf_counter() - began
        timers["marks"] += bool(marked)
        return marked

    def timed_kick(*args, **kwargs):
        began = time.perf_counter()
        asked = kick(*args, **kwargs)
        timers["kick"] += time.perf_counter() - began
        timers["kicks"] += bool(asked)
        return asked

    dirty.mark, dirty.kick = timed_mark, timed_kick
    return timers


def add_realtime_account(app, store):
    """A ShoppingFeed account of the store whose stock goes out in real time (its stock push
    feed on; it sends nothing here: no worker runs)."""
    from sqlalchemy import select

    from webapp.accounts import create_account
    from webapp.extensions import db
    from webapp.models import Feed
    from webapp.stock.service import update_settings

    app.config["MERCATO_OUTBOUND_ALLOW"] = ["127.0.0.1:9"]
    account = create_account(
        store,
        "shoppingfeed",
        "Bench SF",
        settings={"base_url": "http://127.0.0.1:9", "store_id": "1"},
        secrets={"api_token": "t"},
    )
    feed = db.session.scalar(
        select(Feed).where(Feed.account_id == account.id, Feed.kind == "stock_export")
    )
    feed.enabled = True
    db.session.commit()
    update_settings(account, strategy="realtime")
    return account


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--orders", type=int, default=10_000)
    parser.add_argument("--skus", type=int, default=500)
    parser.add_argument("--postgresql", help="a throwaway PostgreSQL database URL")
    parser.add_argument("--no-sqlite", action="store_true")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        if not args.no_sqlite:
            bench(f"sqlite:///{work / 'bench.sqlite3'}", args.orders, args.skus, work)
        if args.postgresql:
            from bench.import_orders import reset_postgresql
            from webapp.config import database_url

            url = database_url(args.postgresql)
            reset_postgresql(url)
            bench(url, args.orders, args.skus, work)


if __name__ == "__main__":
    main()
