"""Order import speed against the sandbox (no added latency): first poll and re-poll.

Prints orders/s for a first import of N orders (100 a page) and for a re-poll of the same,
unchanged orders, with the import's peak RSS. Run: python -m bench.import_orders [--orders N]
"""

from __future__ import annotations

import argparse
import os
import resource
import tempfile
import threading
import time
from pathlib import Path

os.environ.setdefault("MERCATO_ENV", "test")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--orders", type=int, default=10_000)
    parser.add_argument("--database-url", default=None, help="default: a temporary SQLite file")
    args = parser.parse_args()

    from flask_migrate import upgrade
    from werkzeug.serving import make_server

    from webapp import create_app
    from webapp.accounts import create_account
    from webapp.extensions import db
    from webapp.models import Store
    from webapp.orders.service import import_orders
    from webapp.sandbox.app import create_sandbox_app

    sandbox = create_sandbox_app(
        {"SANDBOX_ORDERS": args.orders, "SANDBOX_STEP_SECONDS": 86400, "SANDBOX_HISTORY_DAYS": 5}
    )
    server = make_server("127.0.0.1", 0, sandbox, threaded=True)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    base = f"127.0.0.1:{server.server_port}"
    workdir = Path(tempfile.mkdtemp(prefix="mercato-orders-bench-"))
    url = args.database_url or f"sqlite:///{workdir / 'bench.sqlite3'}"
    app = create_app(
        {
            "SQLALCHEMY_DATABASE_URI": url,
            "MERCATO_OUTBOUND_ALLOW": [base],
            "MERCATO_WORK_DIR": str(workdir),
        }
    )
    with app.app_context():
        upgrade()
        store = Store(code="bench", name="Bench")
        db.session.add(store)
        db.session.commit()
        account = create_account(
            store,
            "lengow",
            "Bench",
            settings={"account_id": "5622", "base_url": f"http://{base}"},
            secrets={"access_token": "sandbox-access-5622", "secret": "sandbox-secret-5622"},
            live=True,
        )
        figures = []
        for label in ("first import", "re-poll (unchanged)"):
            # Re-read the whole window, as the first poll did (an incremental poll skips
            # unchanged orders by design).
            account.last_sync_at = None
            db.session.commit()
            started = time.perf_counter()
            run = import_orders(account)
            seconds = time.perf_counter() - started
            figures.append(
                (
                    label,
                    run.total_processed,
                    seconds,
                    run.status,
                    run.imported_count,
                    run.unchanged_count,
                    run.parked_count,
                )
            )
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    server.shutdown()
    print(f"orders in the sandbox: {args.orders:,} (account 5622, 100 a page), database {url}")
    for label, fetched, seconds, status, created, unchanged, parked in figures:
        print(
            f"{label:22s}: {fetched:,} orders in {seconds:6.1f} s = {fetched / seconds:8,.0f}"
            f" orders/s  ({status}: created {created}, unchanged {unchanged}, parked {parked})"
        )
    print(f"peak RSS {peak:.0f} MB; targets: first import >= 1,000/s, re-poll >= 3,000/s")
    print("reproduce: python -m bench.import_orders --orders", args.orders)


if __name__ == "__main__":
    main()
