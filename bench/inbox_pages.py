"""The error inbox with 100,000 open messages in one store, on PostgreSQL.

    MERCATO_ENV=test scripts/with-redis.sh --fresh .venv/bin/python -m bench.inbox_pages \\
        --pg-url postgresql://127.0.0.1:5432/mercato_bench_inbox [--open 100000]

The database's ``public`` schema is dropped and rebuilt by the Alembic revisions (point
``--pg-url`` at a throwaway database). The big store gets ``--open`` open messages over 60
days across two accounts (40 % unknown SKUs, one entry each with one to three waiting order
lines; 30 % unsent calls about orders; 10 % account errors; 20 % still retrying), a second
store a tenth of that, plus resolved history and a product import's row messages (which the
inbox never reads) three times as many; then VACUUM ANALYZE. Each page is requested through
the Flask test client logged in as the big store's user (admin pages as an admin): 3
warm-up requests, then ``--requests`` timed ones; the table shows median and max in ms.

Baseline, same run and data: the inbox as it was before migration 0013 (open messages
joined to their runs to find the store, on the old (severity, cause, run) index, recreated
for the comparison), for the overview's counts and samples and the bell; and a cause's
deepest page with a plain OFFSET against the index-skipping page the app uses. Figures are
printed, never asserted.
"""

from __future__ import annotations

import argparse
import io
import random
import statistics
import time
from datetime import datetime, timedelta

from bench.import_feed import libpq_url, migrate, safe_url, sqlalchemy_url

PASSWORD = "bench-password-123"  # noqa: S105 (a throwaway benchmark login)
NOW = datetime(2026, 11, 22, 12)
SPAN = timedelta(days=60)
ZEROS = "\t0" * 7  # a run's counters


def reset_schema(url: str) -> None:
    import psycopg

    with psycopg.connect(libpq_url(url), autocommit=True) as conn:
        conn.execute("DROP SCHEMA IF EXISTS public CASCADE")
        conn.execute("CREATE SCHEMA public")


def _copy(cur, sql: str, buf: io.StringIO) -> None:
    with cur.copy(sql) as copy:
        copy.write(buf.getvalue())


def load(url: str, open_messages: int) -> dict:
    """Stores, accounts, runs, orders with unmatched lines, and the messages."""
    import psycopg

    rng = random.Random(20261123)
    counts: dict[str, int] = {}
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
        # Runs: order polls of each account every ~15 minutes over the span, and product
        # imports whose row messages share the table.
        runs = io.StringIO()
        run_ids: dict[int, list[int]] = {1: [], 2: [], 3: []}
        run_id = 0
        polls = 6000
        for n in range(polls):
            run_id += 1
            account = (1, 2, 3)[n % 3]
            store = 2 if account == 3 else 1
            when = NOW - SPAN + SPAN * (n / polls)
            run_ids[account].append(run_id)
            runs.write(
                f"{run_id}\torder_import\t{store}\t{account}\tschedule\tlengow\ten\t100\t"
                f"completed_with_errors\t100\t{when.isoformat()}\t{when.isoformat()}{ZEROS}\n"
            )
        product_runs = []
        for _ in range(100):
            run_id += 1
            product_runs.append(run_id)
            runs.write(
                f"{run_id}\tproduct_import\t1\t\\N\tui\tLetzshop\ten\t1000\t"
                f"completed_with_errors\t100\t{NOW.isoformat()}\t{NOW.isoformat()}{ZEROS}\n"
            )
        _copy(
            cur,
            "COPY marketplace_import_jobs (id, kind, store_id, account_id, trigger, marketplace, "
            "language, batch_size, status, progress, created_at, updated_at, imported_count, "
            "updated_count, unchanged_count, error_count, warning_count, total_processed, "
            "parked_count) FROM STDIN",
            runs,
        )
        cur.execute("SELECT setval('marketplace_import_jobs_id_seq', %s)", (run_id,))

        messages, orders, items = io.StringIO(), io.StringIO(), io.StringIO()
        message_id = order_id = item_id = sku_no = 0

        def message(store, account, severity, cause, subject_type, subject_id, identifier,
                    text, when, resolved=None, row=None):  # fmt: skip
            nonlocal message_id
            message_id += 1
            run = rng.choice(run_ids[account]) if account else rng.choice(product_runs)
            messages.write(
                "\t".join(
                    str(v) if v is not None else "\\N"
                    for v in (
                        message_id, run, severity, cause, row, identifier, text, subject_type,
                        subject_id, when.isoformat(), store if row is None else None,
                        account if row is None else None,
                        resolved.isoformat() if resolved else None, 0,
                    )
                )
                + "\n"
            )  # fmt: skip

        def open_ones(store, total, accounts):
            nonlocal order_id, item_id, sku_no
            for n in range(total):
                when = NOW - SPAN + SPAN * (n / total)  # arrival order = id order
                account = accounts[n % len(accounts)]
                kind = rng.random()
                if kind < 0.4:
                    sku_no += 1
                    sku = f"SKU-{sku_no:07d}"
                    for _ in range(rng.choice((1, 1, 2, 3))):
                        order_id += 1
                        item_id += 1
                        orders.write(
                            f"{order_id}\t{store}\t{account}\tamazon_fr\tCH-{order_id}\t"
                            f"confirmed\tf\t{when.isoformat()}\t{when.isoformat()}\n"
                        )
                        items.write(f"{item_id}\t{order_id}\t{sku}\t1\tf\n")
                    message(store, account, "error", "unknown_sku", "sku", None, sku,
                            f'SKU "{sku}" is not in the catalog.', when)  # fmt: skip
                elif kind < 0.7:
                    message(store, account, "error", "outbound_failed", "order", n, f"CH-{n}",
                            "The merchant order id was not sent: 503.", when)  # fmt: skip
                elif kind < 0.8:
                    message(store, account, "error", "connector_error", "account", account,
                            None, "401 from the marketplace.", when)  # fmt: skip
                else:
                    message(store, account, "retry", "outbound_failed", "order", n, f"CH-{n}",
                            "429: retried.", when)  # fmt: skip

        open_ones(1, open_messages, [1, 2])
        open_ones(2, open_messages // 10, [3])
        for n in range(open_messages):  # history: resolved long ago
            when = NOW - SPAN + SPAN * (n / open_messages)
            message(1, 1 + n % 2, "error", "outbound_failed", "order", n, f"CH-{n}",
                    "503.", when, resolved=when + timedelta(hours=1))  # fmt: skip
        for n in range(open_messages * 2):  # a product import's bad rows
            message(1, None, "error", "missing_title", None, None, f"P{n}", "No title.",
                    NOW, row=n + 2)  # fmt: skip
        _copy(
            cur,
            "COPY orders (id, store_id, account_id, channel, channel_order_id, status, "
            "anonymized, created_at, updated_at) FROM STDIN",
            orders,
        )
        _copy(cur, "COPY order_items (id, order_id, sku, quantity, matched) FROM STDIN", items)
        _copy(
            cur,
            "COPY marketplace_import_errors (id, import_job_id, severity, error_type, "
            "row_number, identifier, error_message, subject_type, subject_id, created_at, "
            "store_id, account_id, resolved_at, attempts) FROM STDIN",
            messages,
        )
        for table, last in (
            ("orders", order_id),
            ("order_items", item_id),
            ("marketplace_import_errors", message_id),
        ):
            cur.execute(f"SELECT setval('{table}_id_seq', %s)", (last,))  # noqa: S608
        conn.commit()
        counts.update(messages=message_id, orders=order_id, lines=item_id, skus=sku_no)
    with psycopg.connect(libpq_url(url), autocommit=True) as conn:
        conn.execute("VACUUM ANALYZE")
    return counts


def timed(fn, requests: int) -> tuple[float, float]:
    for _ in range(3):
        fn()
    samples = []
    for _ in range(requests):
        started = time.perf_counter()
        fn()
        samples.append((time.perf_counter() - started) * 1000)
    return statistics.median(samples), max(samples)


OLD_INDEX = (
    "CREATE INDEX ix_messages_open_before_0013 ON marketplace_import_errors "
    "(severity, error_type, import_job_id) WHERE resolved_at IS NULL AND row_number IS NULL"
)


def old_overview(store_id: int, sample: int = 20):
    """The inbox's overview as it was: counts per (store, cause) through the runs, then the
    newest ``sample`` of each cause, also through the runs."""
    from sqlalchemy import func, select

    from webapp.extensions import db
    from webapp.models import Message, Run

    open_ = (
        Message.severity == "error",
        Message.resolved_at.is_(None),
        Message.row_number.is_(None),
    )
    rows = db.session.execute(
        select(
            Run.store_id,
            Message.error_type,
            func.count(),
            func.min(Message.created_at),
            func.max(Message.created_at),
        )  # fmt: skip
        .join(Run, Run.id == Message.import_job_id)
        .where(*open_, Run.store_id == store_id)
        .group_by(Run.store_id, Message.error_type)
    ).all()
    for _, cause, *_ in rows:
        db.session.scalars(
            select(Message)
            .join(Run, Run.id == Message.import_job_id)
            .where(*open_, Run.store_id == store_id, Message.error_type == cause)
            .order_by(Message.id.desc())
            .limit(sample)
        ).all()
    return rows


def old_bell(store_id: int) -> int:
    from sqlalchemy import func, select

    from webapp.extensions import db
    from webapp.models import Message, Run

    return db.session.scalar(
        select(func.count())
        .select_from(Message)
        .join(Run, Run.id == Message.import_job_id)
        .where(
            Message.severity == "error",
            Message.resolved_at.is_(None),
            Message.row_number.is_(None),
            Run.store_id == store_id,
        )
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--pg-url", default="postgresql://127.0.0.1:5432/mercato_bench_inbox")
    parser.add_argument("--open", type=int, default=100_000, help="open messages, big store")
    parser.add_argument("--requests", type=int, default=20)
    args = parser.parse_args(argv)
    uri = sqlalchemy_url(args.pg_url)
    print(f"database {safe_url(args.pg_url)}: rebuilding, loading {args.open} open messages")
    reset_schema(args.pg_url)
    migrate(uri)
    started = time.perf_counter()
    counts = load(args.pg_url, args.open)
    print(f"loaded in {time.perf_counter() - started:.1f} s: {counts}")

    from sqlalchemy import text

    from webapp import create_app
    from webapp.extensions import db
    from webapp.inbox import service
    from webapp.models import Message, User
    from webapp.pagination import paginate

    app = create_app({"SQLALCHEMY_DATABASE_URI": uri, "WTF_CSRF_ENABLED": False})
    with app.app_context():
        users = [
            User(email="shop@big.bench", store_id=1),
            User(email="admin@big.bench", is_admin=True),
        ]
        for user in users:
            user.set_password(PASSWORD)
            db.session.add(user)
        db.session.commit()
        unknown = db.session.scalar(
            text(
                "SELECT count(*) FROM marketplace_import_errors WHERE store_id = 1 AND "
                "severity = 'error' AND error_type = 'unknown_sku' AND resolved_at IS NULL "
                "AND row_number IS NULL"
            )
        )
        db.session.remove()
    # Requests outside any app context of ours: each pushes its own (g, the login), as a
    # web worker's would.
    store_client, admin_client = app.test_client(), app.test_client()
    for client, email in ((store_client, "shop@big.bench"), (admin_client, "admin@big.bench")):
        response = client.post("/login", data={"email": email, "password": PASSWORD})
        assert response.status_code == 302, response.status_code
    hx = {"HX-Request": "true"}
    last_page = -(-unknown // service.PER_PAGE)
    targets = {
        "bell": (store_client, "/inbox/bell", hx),
        "overview (every cause)": (store_client, "/store/big/inbox", {}),
        "unknown SKUs, page 1": (store_client, "/store/big/inbox?cause=unknown_sku", hx),
        f"unknown SKUs, page {last_page} (deepest)": (
            store_client,
            f"/store/big/inbox?cause=unknown_sku&page={last_page}",
            hx,
        ),
        "account + older than 7 days": (
            store_client,
            "/store/big/inbox?cause=outbound_failed&account=2&age=old7",
            hx,
        ),
        "last 24 hours, both severities": (
            store_client,
            "/store/big/inbox?severity=open&age=1d",
            hx,
        ),
        "admin bell": (admin_client, "/inbox/bell", hx),
        "admin overview": (admin_client, "/admin/inbox", {}),
        "admin, unknown SKUs page 2": (admin_client, "/admin/inbox?cause=unknown_sku&page=2", hx),
    }
    print(f"\n{'page':<40}{'median ms':>10}{'max ms':>9}")
    for label, (client, url, headers) in targets.items():

        def fetch(client=client, url=url, headers=headers):
            response = client.get(url, headers=headers)
            assert response.status_code == 200, (url, response.status_code)
            return response

        median, worst = timed(fetch, args.requests)
        print(f"{label:<40}{median:>10.1f}{worst:>9.1f}")

    with app.app_context():
        # Baselines, query against query, in this run.
        filters = service.Filters()
        new_overview = timed(lambda: service.groups(1, filters, sample=20), 10)[0]
        new_bell = timed(lambda: service.open_count([1]), 10)[0]
        db.session.execute(text(OLD_INDEX))
        db.session.commit()
        db.session.execute(text("ANALYZE marketplace_import_errors"))
        db.session.commit()
        before_overview = timed(lambda: old_overview(1), 10)[0]
        before_bell = timed(lambda: old_bell(1), 10)[0]
        db.session.execute(text("DROP INDEX ix_messages_open_before_0013"))
        db.session.commit()
        cause = service.Filters(cause="unknown_sku")
        where = service.conditions(1, cause)
        from sqlalchemy import func, select

        query = select(Message).where(*where).order_by(Message.created_at.desc(), Message.id.desc())
        count = select(func.count()).select_from(Message).where(*where)
        index_first = timed(lambda: service.entries(1, cause, last_page), 10)[0]
        plain = timed(lambda: paginate(query, count, last_page, service.PER_PAGE), 10)[0]
        print(
            f"\nqueries alone (ms), before migration 0013 -> now:\n"
            f"  overview counts + 20 newest per cause: {before_overview:.1f} -> "
            f"{new_overview:.1f} ({before_overview / new_overview:.1f}x)\n"
            f"  bell: {before_bell:.1f} -> {new_bell:.1f} ({before_bell / new_bell:.1f}x)\n"
            f"  deepest unknown-SKU page: plain OFFSET {plain:.1f} -> index-first "
            f"{index_first:.1f} ({plain / index_first:.1f}x)"
        )
        db.session.remove()
        db.engine.dispose()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
