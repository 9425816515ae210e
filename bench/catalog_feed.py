"""The catalog feed of a 1,000,000-product store, served through the app over HTTP, against
``COPY (SELECT the same columns) TO STDOUT`` in the same run.

    MERCATO_ENV=test scripts/with-redis.sh --fresh .venv/bin/python -m bench.catalog_feed \\
        [--products 1000000] [--format csv|xml] [--gzip] [--reuse] [--keep]
        [--pg-url postgresql://127.0.0.1:5432/test_catalogfeed_bench]

Targets (issue 15): the feed within 3x of COPY; the web process's peak memory under 200 MB.

1. The database (its name must start with ``test_catalogfeed``) is created, built by the
   Alembic revisions, and filled with SQL ``INSERT ... SELECT generate_series``: one store,
   a Letzshop account, N imported products with a French title each (and English for every
   other one), all published, every 10th with a price override, every 50th inactive. Then
   VACUUM ANALYZE. ``--reuse`` keeps a database filled by an earlier ``--keep`` run.
2. ``COPY (SELECT ...) TO STDOUT WITH CSV`` of the feed's own query (the same joins, text
   fallbacks, order and columns, plus the available quantity) is read whole by this process
   over the wire; its time and bytes are printed.
3. gunicorn (one synchronous worker, as the Procfile's ``web``) serves the app on a free port;
   this process fetches the feed URL streamed (``requests``, 64 KiB reads), counting bytes
   and rows. Then the worker's peak RSS (``VmHWM`` of /proc/<pid>/status) is read.

The last line printed is JSON with every figure; nothing is asserted.

The feed on PostgreSQL is one query whose CSV lines the database writes (the quantity joined
set-based), read by COPY: 2026-12-06, 1,000,000 products, load ~14 on 2 cores, same
database: 3.45x COPY before (server-side cursor, quantities merged in Python), 1.75x after;
peak RSS 160 MB before, 153 MB after.
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_PG_URL = "postgresql://127.0.0.1:5432/test_catalogfeed_bench"
DB_PREFIX = "test_catalogfeed"


def libpq_url(url: str) -> str:
    return url.replace("postgresql+psycopg://", "postgresql://")


def db_name(url: str) -> str:
    return url.rsplit("/", 1)[1].split("?")[0]


def admin_url(url: str) -> str:
    return url.rsplit("/", 1)[0] + "/postgres"


def recreate(url: str) -> None:
    import psycopg
    from psycopg import sql

    name = db_name(url)
    with psycopg.connect(libpq_url(admin_url(url)), autocommit=True) as conn:
        conn.execute(
            sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
        )
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))


def drop(url: str) -> None:
    import psycopg
    from psycopg import sql

    with psycopg.connect(libpq_url(admin_url(url)), autocommit=True) as conn:
        conn.execute(
            sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(db_name(url)))
        )


FILL = [
    """
    INSERT INTO marketplace_products (store_id, marketplace, marketplace_product_id, gtin, brand,
        price, sale_price, currency, availability, quantity, condition, link, image_link,
        content_hash, created_at, updated_at)
    SELECT %(store)s, 'Letzshop', 'SKU-' || lpad(i::text, 8, '0'),
        lpad((4006381000000 + i)::text, 13, '0'), 'Brand ' || (i %% 500),
        (10 + (i %% 990))::numeric + 0.99, CASE WHEN i %% 7 = 0 THEN (5 + (i %% 500))::numeric END,
        'EUR', CASE WHEN i %% 97 = 0 THEN 'out_of_stock' ELSE 'in_stock' END, i %% 40, 'new',
        'https://shop.example.com/products/' || i, 'https://cdn.example.com/img/' || i || '.jpg',
        i, now(), now()
    FROM generate_series(1, %(n)s) AS i
    """,
    """
    INSERT INTO marketplace_product_translations (marketplace_product_id, language, title,
        description, content_hash)
    SELECT id, 'fr', 'Produit ' || marketplace_product_id || ' en chêne massif',
        'Description du produit ' || marketplace_product_id
        || ', fabriqué avec soin; livré monté, garantie deux ans.', id
    FROM marketplace_products WHERE store_id = %(store)s
    """,
    """
    INSERT INTO marketplace_product_translations (marketplace_product_id, language, title,
        description, content_hash)
    SELECT id, 'en', 'Solid oak product ' || marketplace_product_id,
        'Description of product ' || marketplace_product_id || ', made with care.', id
    FROM marketplace_products WHERE store_id = %(store)s AND id %% 2 = 0
    """,
    """
    INSERT INTO products (store_id, marketplace_product_id, price, sale_price, availability,
        is_featured, is_active, display_order, created_at, updated_at)
    SELECT %(store)s, id, CASE WHEN id %% 10 = 0 THEN price - 1 END, NULL, NULL, false,
        id %% 50 <> 0, 0, now(), now()
    FROM marketplace_products WHERE store_id = %(store)s
    """,
]


def setup(url: str, products: int) -> int:
    """The account id, on a freshly built and filled database."""
    from flask_migrate import upgrade

    from webapp import create_app
    from webapp.accounts import create_account
    from webapp.extensions import db
    from webapp.models import Store

    app = create_app({"SQLALCHEMY_DATABASE_URI": url})
    with app.app_context():
        upgrade()
        store = Store(code="bigfeed", name="Big feed")
        db.session.add(store)
        db.session.commit()
        account = create_account(store, "letzshop", "Letzshop LU", secrets={"api_token": "x"})
        store_id, account_id = store.id, account.id
        db.session.remove()
        db.engine.dispose()
    import psycopg

    started = time.monotonic()
    with psycopg.connect(libpq_url(url), autocommit=True) as conn:
        for statement in FILL:
            conn.execute(statement, {"store": store_id, "n": products})
        conn.execute("VACUUM ANALYZE")
    print(f"filled {products} products in {time.monotonic() - started:.1f} s", flush=True)
    return account_id


def feed_path_and_copy_sql(url: str, account_id: int) -> tuple[str, str]:
    """The feed's URL path (with its token) and the COPY of the same query, same columns."""
    import sqlalchemy as sa

    from webapp import catalogfeed, create_app
    from webapp.catalogfeed import content
    from webapp.extensions import db
    from webapp.models import Account
    from webapp.stock import availability

    app = create_app({"SQLALCHEMY_DATABASE_URI": url, "SERVER_NAME": "bench.local"})
    with app.app_context():
        account = db.session.get(Account, account_id)
        feed = catalogfeed.feed_for(account)
        token = catalogfeed.decrypt(feed.token_encrypted)
        store = account.store
        # The feed's own rows and joins (texts, overrides, the account's available quantity
        # joined set-based), the same columns as raw values, in the feed's order.
        inner, stock, source = content.stock_joined(
            account, content.feed_language(feed.language, store), letzshop=True
        )
        columns = [c for c in inner.c if c.name != "product_id"]
        query = (
            sa.select(*columns, content.sql_quantity(inner.c, stock).label("quantity"))
            .select_from(source)
            .order_by(availability.sku_order(inner.c.sku), inner.c.product_id)
        )
        compiled = query.compile(dialect=db.engine.dialect, compile_kwargs={"literal_binds": True})
        sql = str(compiled)
        db.session.remove()
        db.engine.dispose()
    return f"/feeds/catalog/{token}", sql


def time_copy(url: str, sql: str) -> dict:
    import psycopg

    started = time.monotonic()
    size = 0
    with psycopg.connect(libpq_url(url)) as conn, conn.cursor() as cur:
        with cur.copy(f"COPY ({sql}) TO STDOUT WITH (FORMAT csv, HEADER true)") as copy:
            for block in copy:
                size += len(block)
    return {"seconds": round(time.monotonic() - started, 2), "bytes": size}


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def children(pid: int) -> list[int]:
    try:
        text = Path(f"/proc/{pid}/task/{pid}/children").read_text()
    except OSError:
        return []
    return [int(p) for p in text.split()]


def peak_rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return round(int(line.split()[1]) / 1024, 1)
    return 0.0


def serve_and_fetch(url: str, path: str, fmt: str, use_gzip: bool) -> dict:
    import requests

    port = free_port()
    env = dict(os.environ, DATABASE_URL=url, MERCATO_ENV=os.environ.get("MERCATO_ENV", "test"))
    env["MERCATO_CATALOG_FEED_RATE_PER_MINUTE"] = "0"
    cmd = [
        str(ROOT / ".venv" / "bin" / "gunicorn"),
        "wsgi:app",
        "--config",
        "/dev/null",  # no asset check: the bench serves no page
        "--bind",
        f"127.0.0.1:{port}",
        "--workers",
        "1",
        "--timeout",
        "300",
    ]
    server = subprocess.Popen(cmd, cwd=ROOT, env=env)  # noqa: S603 - our own command line
    try:
        base = f"http://127.0.0.1:{port}"
        for _ in range(200):
            try:
                requests.get(f"{base}/login", timeout=30)
                break
            except requests.RequestException:
                time.sleep(0.1)
        [worker] = children(server.pid)
        before = peak_rss_mb(worker)
        headers = {"Accept-Encoding": "gzip" if use_gzip else "identity"}
        started = time.monotonic()
        first_byte = None
        size = 0
        rows = -1  # the header line
        with requests.get(
            f"{base}{path}.{fmt}", headers=headers, stream=True, timeout=300
        ) as response:
            response.raise_for_status()
            for block in response.raw.stream(65536, decode_content=False):
                if first_byte is None:
                    first_byte = time.monotonic() - started
                size += len(block)
                if not use_gzip:
                    rows += block.count(b"\n" if fmt == "csv" else b"<item>")
        seconds = time.monotonic() - started
        time.sleep(0.5)  # the fetch record is written after the last byte
        return {
            "seconds": round(seconds, 2),
            "first_byte_seconds": round(first_byte or 0, 3),
            "bytes": size,
            "rows": rows + (1 if fmt == "xml" else 0) if not use_gzip else None,
            "worker_peak_rss_mb_before": before,
            "worker_peak_rss_mb": peak_rss_mb(worker),
            "status": response.status_code,
            "content_encoding": response.headers.get("Content-Encoding"),
        }
    finally:
        server.terminate()
        server.wait(timeout=30)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--products", type=int, default=1_000_000)
    parser.add_argument("--format", choices=("csv", "xml"), default="csv")
    parser.add_argument("--gzip", action="store_true", help="also time a gzip fetch")
    parser.add_argument("--pg-url", default=DEFAULT_PG_URL)
    parser.add_argument("--reuse", action="store_true", help="a database kept by --keep")
    parser.add_argument("--keep", action="store_true")
    args = parser.parse_args(argv)
    url = args.pg_url
    if not db_name(url).startswith(DB_PREFIX):
        parser.error(f"the database name must start with {DB_PREFIX}")
    sys.path.insert(0, str(ROOT))
    if args.reuse:
        import psycopg

        with psycopg.connect(libpq_url(url)) as conn:
            account_id = conn.execute("SELECT min(id) FROM accounts").fetchone()[0]
    else:
        recreate(url)
        account_id = setup(url, args.products)
    path, sql = feed_path_and_copy_sql(url, account_id)
    try:
        copy = time_copy(url, sql)
        print(f"COPY: {copy}", flush=True)
        feed = serve_and_fetch(url, path, args.format, use_gzip=False)
        print(f"feed over HTTP: {feed}", flush=True)
        result = {
            "products": args.products,
            "format": args.format,
            "copy": copy,
            "feed": feed,
            "ratio": round(feed["seconds"] / copy["seconds"], 2),
        }
        if args.gzip:
            result["feed_gzip"] = serve_and_fetch(url, path, args.format, use_gzip=True)
            print(f"feed over HTTP, gzip: {result['feed_gzip']}", flush=True)
    finally:
        if not args.keep:
            drop(url)
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
