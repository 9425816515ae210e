"""Order import speed against the sandbox (no added latency): first poll and re-poll.

The sandbox runs in its own process (as a marketplace would), warmed up (every order
serialised once). The store's catalog holds every SKU the sandbox sells (``--no-catalog``:
none, so every line is an unknown SKU: one inbox entry per SKU, the worst case). The run
prints, in order:

- the serving floor: the time to just read every page through the connector's HTTP layer
  (requests, JSON decoding; no normalising, no database), the best any import can do;
- per back-end (SQLite, and PostgreSQL when ``--postgresql URL`` is given): a first import of
  N orders (100 a page) and a re-poll of the same, unchanged orders, in orders/s and as a
  share of the floor, with the importer's resident memory before, at its peak during the
  import (sampled every 20 ms), and after.

Acknowledgements are not part of an import any more (the outbound step sends them after
commit), so the figures are the import alone.

Run: python -m bench.import_orders [--orders 10000] [--postgresql postgresql://.../db]
[--no-catalog]
The PostgreSQL database's public schema is dropped and rebuilt: give a throwaway database.
"""

from __future__ import annotations

import argparse
import multiprocessing
import os
import resource
import tempfile
import threading
import time
from pathlib import Path

os.environ.setdefault("MERCATO_ENV", "test")

PAGE_SIZE = 100
PAGE_SIZE_MB = os.sysconf("SC_PAGE_SIZE") / 2**20


def rss_mb() -> float:
    with open("/proc/self/statm") as statm:
        return int(statm.read().split()[1]) * PAGE_SIZE_MB


class RssSampler:
    """The process's resident memory at its highest while a block runs."""

    def __init__(self, every: float = 0.02):
        self.every, self.peak, self._stop = every, 0.0, threading.Event()

    def __enter__(self):
        self.before = rss_mb()
        self.peak = self.before
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()
        return self

    def _run(self):
        while not self._stop.wait(self.every):
            self.peak = max(self.peak, rss_mb())

    def __exit__(self, *exc):
        self._stop.set()
        self._thread.join()
        self.after = rss_mb()
        self.peak = max(self.peak, self.after)


def serve_sandbox(orders: int, ready) -> None:
    """The sandbox in a child process, with request logging off."""
    from werkzeug.serving import WSGIRequestHandler, make_server

    from sandbox.app import create_sandbox_app

    class Quiet(WSGIRequestHandler):
        def log_request(self, *args, **kwargs):
            pass

    app = create_sandbox_app(
        {"SANDBOX_ORDERS": orders, "SANDBOX_STEP_SECONDS": 86400, "SANDBOX_HISTORY_DAYS": 5}
    )
    app.extensions["sandbox"].warm()
    server = make_server("127.0.0.1", 0, app, threaded=True, request_handler=Quiet)
    ready.put(server.server_port)
    server.serve_forever()


def reset_postgresql(url: str) -> None:
    from sqlalchemy import create_engine, text

    engine = create_engine(url)
    with engine.begin() as conn:
        conn.execute(text("DROP SCHEMA IF EXISTS public CASCADE"))
        conn.execute(text("CREATE SCHEMA public"))
    engine.dispose()


def floor(base: str) -> tuple[int, float]:
    """Every page read through ConnectorHttp, nothing else."""
    from connectors.egress import parse_allowlist
    from connectors.http import ConnectorHttp
    from connectors.lengow.auth import LengowTokenProvider
    from connectors.pagination import NextLinkPaginator

    http = ConnectorHttp(
        f"http://{base}",
        allow=parse_allowlist([base]),
        token_provider=LengowTokenProvider("sandbox-access-5622", "sandbox-secret-5622"),
    )
    params = {
        "account_id": "5622",
        "updated_from": "2000-01-01T00:00:00Z",
        "ordering": "marketplace_order_date",
        "page_size": PAGE_SIZE,
    }
    started = time.perf_counter()
    count = sum(len(page) for page in NextLinkPaginator(http, "/v3.0/orders/", params))
    return count, time.perf_counter() - started


def seed_catalog(store) -> int:
    """The store's products for every SKU the sandbox sells (SKU-<product>-<variant>), so
    order lines match as they do for a store whose catalog is imported."""
    from sqlalchemy import insert, select

    from sandbox.data import PRODUCT_WORDS
    from webapp.extensions import db
    from webapp.models import MarketplaceProduct, Product

    skus = [f"SKU-{i:03d}-{v:02d}" for i in range(len(PRODUCT_WORDS)) for v in range(1, 41)]
    db.session.execute(
        insert(MarketplaceProduct.__table__),
        [
            {"store_id": store.id, "marketplace": "Bench", "marketplace_product_id": sku}
            | {"content_hash": 0, "created_at": store.created_at, "updated_at": store.created_at}
            for sku in skus
        ],
    )
    ids = db.session.scalars(
        select(MarketplaceProduct.id).where(MarketplaceProduct.store_id == store.id)
    ).all()
    db.session.execute(
        insert(Product.__table__),
        [
            {"store_id": store.id, "marketplace_product_id": mp_id}
            | {"is_featured": False, "is_active": True, "display_order": 0}
            | {"created_at": store.created_at, "updated_at": store.created_at}
            for mp_id in ids
        ],
    )
    db.session.commit()
    return len(skus)


def bench_backend(url: str, base: str, workdir: Path, catalog: bool) -> list[tuple]:
    from flask_migrate import upgrade

    from webapp import create_app
    from webapp.accounts import create_account
    from webapp.extensions import db
    from webapp.models import Store
    from webapp.orders.service import import_orders

    app = create_app(
        {
            "SQLALCHEMY_DATABASE_URI": url,
            "MERCATO_OUTBOUND_ALLOW": [base],
            "MERCATO_WORK_DIR": str(workdir),
        }
    )
    figures = []
    with app.app_context():
        upgrade()
        store = Store(code="bench", name="Bench")
        db.session.add(store)
        db.session.commit()
        if catalog:
            seed_catalog(store)
        account = create_account(
            store,
            "lengow",
            "Bench",
            settings={"account_id": "5622", "base_url": f"http://{base}"},
            secrets={"access_token": "sandbox-access-5622", "secret": "sandbox-secret-5622"},
        )
        for label in ("first import", "re-poll (unchanged)"):
            # Re-read the whole window, as the first poll did (an incremental poll reads only
            # what changed since the last one).
            account.order_feed.last_sync_at = None  # the order feed's cursor
            db.session.commit()
            with RssSampler() as memory:
                started, cpu = time.perf_counter(), time.process_time()
                run = import_orders(account)
                seconds = time.perf_counter() - started
                cpu = time.process_time() - cpu
            figures.append(
                (
                    label,
                    {
                        "total": run.total_processed,
                        "status": run.status,
                        "created": run.imported_count,
                        "unchanged": run.unchanged_count,
                        "parked": run.parked_count,
                        "cpu": cpu,
                    },
                    seconds,
                    memory,
                )
            )
        db.session.remove()
        db.engine.dispose()
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--orders", type=int, default=10_000)
    parser.add_argument(
        "--postgresql",
        default=os.environ.get("BENCH_POSTGRESQL_URL"),
        help="a throwaway PostgreSQL database (its public schema is rebuilt)",
    )
    parser.add_argument(
        "--no-catalog",
        dest="catalog",
        action="store_false",
        help="the store has no products: every order line is an unknown SKU (one inbox entry "
        "per SKU; the worst case); by default the store's catalog has every SKU",
    )
    args = parser.parse_args()

    import logging

    logging.getLogger("mercato").setLevel(logging.WARNING)
    logging.getLogger("alembic").setLevel(logging.WARNING)
    from webapp.config import database_url

    context = multiprocessing.get_context("fork")
    ready = context.Queue()
    sandbox = context.Process(target=serve_sandbox, args=(args.orders, ready), daemon=True)
    sandbox.start()
    base = f"127.0.0.1:{ready.get(timeout=600)}"
    workdir = Path(tempfile.mkdtemp(prefix="mercato-orders-bench-"))
    backends = [("SQLite", f"sqlite:///{workdir / 'bench.sqlite3'}")]
    if args.postgresql:
        backends.append(("PostgreSQL", database_url(args.postgresql)))
    try:
        count, floor_seconds = floor(base)
        floor_seconds = min(floor_seconds, floor(base)[1])  # best of two
        results = []
        for name, url in backends:
            if name == "PostgreSQL":
                reset_postgresql(url)
            results.append((name, bench_backend(url, base, workdir, args.catalog)))
    finally:
        sandbox.terminate()
        sandbox.join()
    floor_rate = count / floor_seconds
    print(f"sandbox: {args.orders:,} orders (account 5622, {PAGE_SIZE} a page), own process")
    print(
        "store catalog: every SKU the sandbox sells (lines matched)"
        if args.catalog
        else "store catalog: empty (every line an unknown SKU, one inbox entry per SKU)"
    )
    print(
        f"serving floor (fetch + JSON only): {count:,} orders in {floor_seconds:5.2f} s"
        f" = {floor_rate:8,.0f} orders/s"
    )
    for name, figures in results:
        print(f"{name}:")
        for label, run, seconds, memory in figures:
            rate = run["total"] / seconds
            print(
                f"  {label:20s}: {run['total']:,} in {seconds:5.2f} s ="
                f" {rate:7,.0f} orders/s ({rate / floor_rate:4.0%} of floor; importer CPU"
                f" {run['cpu']:5.2f} s);"
                f" RSS {memory.before:.0f} -> peak {memory.peak:.0f} -> {memory.after:.0f} MB;"
                f" {run['status']}: created {run['created']}, unchanged {run['unchanged']},"
                f" parked {run['parked']}"
            )
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"importer peak RSS over the whole run: {peak:.0f} MB")
    print("targets: first import >= 1,000 orders/s, re-poll >= 3,000 orders/s, memory flat")
    command = f"python -m bench.import_orders --orders {args.orders}"
    if not args.catalog:
        command += " --no-catalog"
    if args.postgresql:
        command += " --postgresql URL"
    print(f"reproduce: {command}")


if __name__ == "__main__":
    main()
