"""Supplier-catalogue sync speed (CodesWholesale, against the sandbox fake) next to the import
engine's own rate for a CSV of the same rows.

    python -m bench.supplier_catalog [--products 100000] [--postgresql URL]

Two sandboxes run in their own processes (as the supplier would): one serving the real 2018
catalogue dump (2,383 products, ../shared/fixtures/real/codeswholesale/), one a synthetic
catalogue of ``--products`` (v3, 1,000 a page).  Per back-end (SQLite, and PostgreSQL when
``--postgresql`` names a throwaway database: its public schema is rebuilt):

- the real dump synced through the feed's flow (first sync, then a re-sync: nothing changed);
- the synthetic catalogue synced the same way (first, re-sync);
- the floor: the same rows as a CSV file imported by the engine as a store's upload (first
  import into another store), i.e. what the engine costs without the supplier's API;

each in products/s, the sync as a share of the engine's rate for the same rows.
"""

from __future__ import annotations

import argparse
import multiprocessing
import os
import tempfile
import time
from pathlib import Path

os.environ.setdefault("MERCATO_ENV", "test")

ROOT = Path(__file__).resolve().parent.parent
DUMP = ROOT.parent / "shared" / "fixtures" / "real" / "codeswholesale"
DUMP_FILE = DUMP / "cw_products_catalog_dump_2018.csv"
CLIENT_ID, CLIENT_SECRET = "sandbox-cw-client", "sandbox-cw-secret"


def serve_sandbox(config: dict, ready) -> None:
    """A sandbox in a child process, request logging off, its catalogue built at start."""
    from werkzeug.serving import WSGIRequestHandler, make_server

    from sandbox.app import create_sandbox_app
    from sandbox.fakes.codeswholesale import state

    class Quiet(WSGIRequestHandler):
        def log_request(self, *args, **kwargs):
            pass

    app = create_sandbox_app({"SANDBOX_ORDERS": 1, "SANDBOX_STEP_SECONDS": 86400, **config})
    state(app.extensions["sandbox"])
    server = make_server("127.0.0.1", 0, app, threaded=True, request_handler=Quiet)
    ready.put(server.server_port)
    server.serve_forever()


def start(context, config: dict):
    ready = context.Queue()
    process = context.Process(target=serve_sandbox, args=(config, ready), daemon=True)
    process.start()
    return process, f"127.0.0.1:{ready.get(timeout=600)}"


def reset_postgresql(url: str) -> None:
    from sqlalchemy import create_engine, text

    engine = create_engine(url)
    with engine.begin() as conn:
        conn.execute(text("DROP SCHEMA IF EXISTS public CASCADE"))
        conn.execute(text("CREATE SCHEMA public"))
    engine.dispose()


def timed(func):
    started, cpu = time.perf_counter(), time.process_time()
    result = func()
    return result, time.perf_counter() - started, time.process_time() - cpu


def bench_backend(url: str, dump_base: str, synthetic_base: str, workdir: Path) -> list[tuple]:
    from flask_migrate import upgrade

    from connectors.suppliers import SupplierProduct
    from webapp import create_app
    from webapp.accounts import create_account
    from webapp.connector import connector_for
    from webapp.extensions import db
    from webapp.imports import service
    from webapp.imports.supplier import write_catalog
    from webapp.models import Feed, Store
    from webapp.runs.lifecycle import run_feed

    app = create_app(
        {
            "SQLALCHEMY_DATABASE_URI": url,
            "MERCATO_OUTBOUND_ALLOW": [dump_base, synthetic_base],
            "MERCATO_WORK_DIR": str(workdir),
        }
    )
    figures = []
    with app.app_context():
        upgrade()
        for label, base, version in (
            ("real dump", dump_base, "v2"),
            ("synthetic", synthetic_base, "v3"),
        ):
            store = Store(code=f"bench-{version}", name=f"Bench {label}")
            db.session.add(store)
            db.session.commit()
            account = create_account(
                store,
                "codeswholesale",
                "CodesWholesale",
                settings={
                    "client_id": CLIENT_ID,
                    "base_url": f"http://{base}",
                    "api_version": version,
                },
                secrets={"client_secret": CLIENT_SECRET},
            )
            feed = db.session.query(Feed).filter_by(account_id=account.id).one()
            for what in ("first sync", "re-sync (unchanged)"):
                run, seconds, cpu = timed(lambda feed_id=feed.id: run_feed(feed_id).run)
                figures.append((f"{label}: {what}", run.total_processed, seconds, cpu, run.status))
                print("  ...", *figures[-1], flush=True)
            # The engine alone on the same rows: the catalogue written as the flow writes it,
            # imported as a store's upload.
            connector = connector_for(account)
            pages = list(connector.fetch_catalog())
            rows = sum(1 for page in pages for p in page if isinstance(p, SupplierProduct))
            path = workdir / f"{version}.csv"
            write_catalog(pages, path, connector.currency)
            other = Store(code=f"floor-{version}", name=f"Floor {label}")
            db.session.add(other)
            db.session.commit()
            run = service.create_run(other, source_path=str(path), marketplace="codeswholesale")
            _, seconds, cpu = timed(lambda run_id=run.id: service.execute(run_id))
            figures.append((f"{label}: engine, same CSV", rows, seconds, cpu, "floor"))
            print("  ...", *figures[-1], flush=True)
        db.session.remove()
        db.engine.dispose()
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--products", type=int, default=100_000)
    parser.add_argument(
        "--postgresql",
        default=os.environ.get("BENCH_POSTGRESQL_URL"),
        help="a throwaway PostgreSQL database (its public schema is rebuilt)",
    )
    args = parser.parse_args()

    import logging

    logging.getLogger("mercato").setLevel(logging.WARNING)
    logging.getLogger("alembic").setLevel(logging.WARNING)
    from webapp.config import database_url

    context = multiprocessing.get_context("fork")
    dump_sandbox, dump_base = start(context, {"SANDBOX_CW_CATALOG": str(DUMP_FILE)})
    synthetic_sandbox, synthetic_base = start(
        context, {"SANDBOX_CW_PRODUCTS": args.products, "SANDBOX_CW_PAGE_SIZE": 1000}
    )
    workdir = Path(tempfile.mkdtemp(prefix="mercato-supplier-bench-"))
    backends = [("SQLite", f"sqlite:///{workdir / 'bench.sqlite3'}")]
    if args.postgresql:
        backends.append(("PostgreSQL", database_url(args.postgresql)))
    try:
        results = []
        for name, url in backends:
            if name == "PostgreSQL":
                reset_postgresql(url)
            results.append((name, bench_backend(url, dump_base, synthetic_base, workdir)))
    finally:
        for process in (dump_sandbox, synthetic_sandbox):
            process.terminate()
            process.join()
    print(f"sandboxes: the real dump (2,383 products, v2) and {args.products:,} synthetic (v3)")
    for name, figures in results:
        print(f"{name}:")
        floors = {label.split(":")[0]: n / s for label, n, s, _c, st in figures if st == "floor"}
        for label, n, seconds, cpu, status in figures:
            rate = n / seconds if seconds else 0.0
            share = "" if status == "floor" else f" ({rate / floors[label.split(':')[0]]:.0%} of"
            share += "" if status == "floor" else " the engine's rate)"
            print(
                f"  {label:34s}: {n:>7,} in {seconds:6.2f} s = {rate:8,.0f} products/s"
                f"{share}; CPU {cpu:5.2f} s; {status}"
            )
    command = f"python -m bench.supplier_catalog --products {args.products}"
    if args.postgresql:
        command += " --postgresql URL"
    print(f"reproduce: MERCATO_ENV=test scripts/with-redis.sh --fresh .venv/bin/{command}")


if __name__ == "__main__":
    main()
