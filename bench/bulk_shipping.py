"""Shipping by CSV: a file of ``--orders`` orders recorded inline, then the same file again.

    MERCATO_ENV=test scripts/with-redis.sh --fresh .venv/bin/python -m bench.bulk_shipping \\
        --pg-url postgresql://127.0.0.1:5432/mercato_bench_shipping [--orders 2000]

The database's ``public`` schema is dropped and rebuilt by the Alembic revisions (point
``--pg-url`` at a throwaway database). One store, one Letzshop account in test mode (every
ship action a dry run: what is timed is Mercato's own work), ``--orders`` confirmed orders of
two lines. The file: every other order shipped whole (one row), the others as one parcel of
its two lines (two rows), and one row in 20 naming an unknown order (a bad row, its message).
It runs as ``flask orders ship-csv`` does (a ``bulk_shipping`` run executed inline); then the
same file again, which records nothing new. Prints rows/s and shipments/s of each; figures
are printed, never asserted.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

from bench.import_feed import migrate, safe_url, sqlalchemy_url
from bench.orders_pages import reset_schema


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--pg-url", default="postgresql://127.0.0.1:5432/mercato_bench_shipping")
    parser.add_argument("--orders", type=int, default=2000)
    args = parser.parse_args(argv)
    uri = sqlalchemy_url(args.pg_url)
    print(f"database {safe_url(args.pg_url)}: rebuilding, {args.orders} orders")
    reset_schema(args.pg_url)
    migrate(uri)

    from webapp import create_app
    from webapp.accounts import create_account
    from webapp.extensions import db
    from webapp.imports import shipments
    from webapp.models import Order, OrderItem, Store
    from webapp.runs import lifecycle

    app = create_app({"SQLALCHEMY_DATABASE_URI": uri})
    with app.app_context():
        store = Store(code="ship", name="Ship")
        db.session.add(store)
        db.session.commit()
        account = create_account(store, "letzshop", "Letzshop", secrets={"api_token": "t"})
        rows = ["order,carrier,tracking_number,sku,quantity"]
        for n in range(args.orders):
            number = f"LZ-{n:06d}"
            db.session.add(
                Order(
                    store_id=store.id,
                    account_id=account.id,
                    channel="letzshop",
                    channel_order_id=number,
                    status="confirmed",
                    currency="EUR",
                    items=[
                        OrderItem(channel_line_id=f"{number}-1", sku="RED-M", quantity=2),
                        OrderItem(channel_line_id=f"{number}-2", sku="BLUE-L", quantity=1),
                    ],
                )
            )
            if n % 2:
                rows.append(f"{number},dhl,T{n},,")
            else:
                rows.append(f"{number},dhl,T{n},RED-M,2")
                rows.append(f"{number},dhl,T{n},BLUE-L,1")
            if n % 20 == 0:
                rows.append(f"NOPE-{n},dhl,X{n},,")
        db.session.commit()
        with tempfile.TemporaryDirectory() as folder:
            path = Path(folder) / "shipments.csv"
            path.write_text("\n".join(rows) + "\n")
            print(
                f"{'pass':<12}{'rows':>8}{'recorded':>10}{'already':>9}{'bad':>6}"
                f"{'seconds':>9}{'rows/s':>9}"
            )
            for label in ("first", "same again"):
                run = shipments.create_run(store, str(path), trigger="cli")
                started = time.perf_counter()
                run = lifecycle.execute(run.id)
                seconds = time.perf_counter() - started
                print(
                    f"{label:<12}{run.total_processed:>8}{run.imported_count:>10}"
                    f"{run.unchanged_count:>9}{run.error_count:>6}{seconds:>9.1f}"
                    f"{run.total_processed / seconds:>9.0f}"
                )
        db.session.remove()
        db.engine.dispose()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
