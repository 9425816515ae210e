"""One worker process of the oversell test: books pages of orders into the order book, as a
poll would, in its own process and database connection (started with multiprocessing's
spawn, so it shares nothing with the test process but the database)."""

from __future__ import annotations

import os
import random
from decimal import Decimal

SKUS = [f"OS-{n:02d}" for n in range(50)]
ORDERS_PER_ACCOUNT = 1000
PAGE = 100


def orders_for(account_index: int, phase: int):
    """The account's 1,000 orders as the marketplace shows them in ``phase``: 0, every order
    open; 1, every 5th cancelled and every 7th shipped (the rest unchanged)."""
    from connectors.orders import BOOK, OrderLine, UnifiedOrder

    rng = random.Random(account_index)
    result = []
    for n in range(ORDERS_PER_ACCOUNT):
        lines = [
            OrderLine(
                channel_line_id=f"L{n}-{k}",
                sku=rng.choice(SKUS),
                title="t",
                quantity=rng.choice([1, 1, 1, 2, 3]),
                unit_price=Decimal("1"),
                total=Decimal("1"),
            )
            for k in range(rng.choice([1, 1, 2, 3]))
        ]
        status, mp = "confirmed", "waiting_shipment"
        if phase == 1 and n % 5 == 0:
            status, mp = "cancelled", "canceled"
        elif phase == 1 and n % 7 == 0:
            status, mp = "shipped", "shipped"
        result.append(
            UnifiedOrder(
                channel="amazon_fr",
                channel_order_id=f"A{account_index}-{n:05d}",
                marketplace_status=mp,
                status=status,
                disposition=BOOK,
                lines=lines,
            )
        )
    return result


def work(uri: str, redis_url: str, account_id: int, account_index: int, barrier, out) -> None:
    os.environ["MERCATO_ENV"] = "test"
    from webapp import create_app
    from webapp.extensions import db
    from webapp.models import Account
    from webapp.orders.book import apply_page

    app = create_app({"SQLALCHEMY_DATABASE_URI": uri, "REDIS_URL": redis_url})
    try:
        with app.app_context():
            account = db.session.get(Account, account_id)
            for phase in (0, 1):
                orders = orders_for(account_index, phase)
                barrier.wait(timeout=120)
                for start in range(0, len(orders), PAGE):
                    apply_page(account, orders[start : start + PAGE], changed_by="worker")
                    db.session.commit()
            out.put(("ok", os.getpid()))
    except Exception as exc:  # noqa: BLE001 - reported to the test
        out.put(("error", repr(exc)))
