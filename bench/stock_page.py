"""The stock list at 100,000 SKUs: the first page, a page deep in the list and the last one,
served through the app (the test client, logged in), with a ShoppingFeed account whose every
SKU was acknowledged and whose last stock check reported a drift on every SKU (the worst
case for the Last sent and Drift columns), and a Lengow account.

Printed per page: the time to answer (median of 5) and the SQL statements it ran, and the
same for a store with 100 SKUs in the same run (the baseline: a page should cost the same
whatever the store's size).

Run: python -m bench.stock_page [--skus 100000] --postgresql URL
The PostgreSQL database's public schema is dropped and rebuilt: give a throwaway database.
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time
from pathlib import Path

os.environ.setdefault("MERCATO_ENV", "test")


def seed(store_code: str, skus: int):
    from sqlalchemy import insert

    from webapp.accounts import create_account
    from webapp.extensions import db
    from webapp.models import Message, PushState, Run, Store
    from webapp.models import runs as R
    from webapp.models.base import utcnow
    from webapp.stock.levels import default_warehouse_id, set_on_hand

    store = Store(code=store_code, name=store_code)
    db.session.add(store)
    db.session.commit()
    create_account(
        store,
        "lengow",
        "Lengow",
        settings={"account_id": "1"},
        secrets={"access_token": "a", "secret": "s"},
    )
    sf = create_account(
        store, "shoppingfeed", "SF", settings={"store_id": "1"}, secrets={"api_token": "t"}
    )
    wh = default_warehouse_id(store.id)
    names = [f"SKU-{i:06d}" for i in range(skus)]
    for start in range(0, skus, 10_000):
        set_on_hand(store.id, [(s, wh, 10) for s in names[start : start + 10_000]], reason="manual")
    now = utcnow()
    check = Run(
        store_id=store.id,
        account_id=sf.id,
        kind="stock_check",
        trigger="schedule",
        status=R.COMPLETED,
        started_at=now,
        completed_at=now,
    )
    db.session.add(check)
    db.session.flush()
    for start in range(0, skus, 10_000):
        batch = names[start : start + 10_000]
        db.session.execute(
            insert(PushState),
            [{"account_id": sf.id, "sku": s, "quantity": 9, "stock_acked_at": now} for s in batch],
        )
        db.session.execute(
            insert(Message),
            [
                {
                    "import_job_id": check.id,
                    "severity": R.WARNING,
                    "error_type": "stock_drift",
                    "identifier": s,
                    "error_message": f"SKU {s}: drift",
                    "row_data": {"sku": s, "mercato": 10, "marketplace": 8},
                    "created_at": now,
                }
                for s in batch
            ],
        )
    db.session.commit()
    return store, names


def measure(app, client, path: str) -> tuple[float, int]:
    from flask import g
    from sqlalchemy import event

    from webapp.extensions import db

    seen = []

    def count(*_args):
        seen.append(1)

    times = []
    for _ in range(5):
        seen.clear()
        event.listen(db.engine, "before_cursor_execute", count)
        g.pop("_login_user", None)  # one app context for every request: forget the last user
        started = time.perf_counter()
        response = client.get(path)
        times.append(time.perf_counter() - started)
        event.remove(db.engine, "before_cursor_execute", count)
        assert response.status_code == 200, response.status_code
        assert "Drift" in response.text
    return statistics.median(times), len(seen)


def bench(url: str, skus: int, workdir: Path) -> None:
    from flask import g
    from flask_migrate import upgrade

    from webapp import create_app
    from webapp.extensions import db
    from webapp.models import User

    app = create_app(
        {
            "SQLALCHEMY_DATABASE_URI": url,
            "MERCATO_WORK_DIR": str(workdir),
            "WTF_CSRF_ENABLED": False,
        }
    )
    with app.app_context():
        upgrade()
        started = time.perf_counter()
        big, names = seed("big", skus)
        small, small_names = seed("small", 100)
        seeded = time.perf_counter() - started
        name = db.engine.dialect.name
        print(f"{name:<10} seeded {skus} + 100 SKUs (levels, acks, drifts) in {seeded:.1f} s")
        db.session.execute(db.text("ANALYZE")) if name == "postgresql" else None
        db.session.commit()
        for store, found in ((big, names), (small, small_names)):
            user = User(email=f"{store.code}@bench.local", store_id=store.id)
            user.set_password("bench-password-1")
            db.session.add(user)
            db.session.commit()
            client = app.test_client()
            g.pop("_login_user", None)
            login = client.post(
                "/login", data={"email": user.email, "password": "bench-password-1"}
            )
            assert login.status_code == 302, login.status_code
            middle, last = found[len(found) // 2], found[-51] if len(found) > 51 else found[0]
            for label, path in (
                ("first page", f"/store/{store.code}/stock"),
                ("middle page", f"/store/{store.code}/stock?after={middle}"),
                ("last page", f"/store/{store.code}/stock?after={last}"),
            ):
                seconds, statements = measure(app, client, path)
                print(
                    f"{name:<10} {len(found):>7} SKUs {label:<12} {seconds * 1000:7.1f} ms "
                    f"(median of 5), {statements} SQL statements"
                )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--skus", type=int, default=100_000)
    parser.add_argument("--postgresql", help="a throwaway PostgreSQL database URL")
    parser.add_argument("--no-sqlite", action="store_true")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        if not args.no_sqlite:
            bench(f"sqlite:///{work / 'bench.sqlite3'}", args.skus, work)
        if args.postgresql:
            from bench.import_orders import reset_postgresql
            from webapp.config import database_url

            url = database_url(args.postgresql)
            reset_postgresql(url)
            bench(url, args.skus, work)


if __name__ == "__main__":
    main()
