"""Key upload speed: a file of ``--keys`` keys read into a store's pool, against the stock
file import of a file of the same number of rows, measured in the same run.

    MERCATO_ENV=test scripts/with-redis.sh --fresh .venv/bin/python -m bench.key_import \\
        [--keys 50000] [--pg-url postgresql://127.0.0.1:5432/mercato_bench_keys]

Both go through the lifecycle inline (as ``flask keys import`` and ``flask stock import``)
and the same reader (any encoding and delimiter, one header row). A key costs more than a
stock row: it is encrypted (Fernet) and fingerprinted (HMAC-SHA256) before its batch is
written, and its batch is an INSERT ... ON CONFLICT DO NOTHING against the store's pool.
Then the same key file again: every key is a duplicate (nothing written).

Without ``--pg-url`` the database is a temporary SQLite file; with it, a PostgreSQL database
(its name must start with ``mercato_bench_keys``) is created, migrated and dropped.
Figures are printed; the last line is JSON.
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
import time
from pathlib import Path

os.environ.setdefault("MERCATO_ENV", "test")


def write_files(folder: Path, n: int) -> tuple[Path, Path]:
    keys = folder / "keys.csv"
    stock = folder / "stock.csv"
    with keys.open("w") as out:
        out.write("sku;key;expiry\n")
        for i in range(n):
            out.write(f"GAME-{i % 500:03d};K{i:08d}-AB12-CD34-EF56;2099-12-31\n")
    with stock.open("w") as out:
        out.write("sku;quantity\n")
        for i in range(n):
            out.write(f"SKU-{i:08d};{i % 50}\n")
    return keys, stock


def bench(uri: str, n: int, folder: Path) -> dict:
    from webapp import create_app
    from webapp.extensions import db
    from webapp.imports import keys_file as importer
    from webapp.imports.stock_file import create_stock_run
    from webapp.models import Store
    from webapp.runs import lifecycle

    keys, stock = write_files(folder, n)
    app = create_app({"SQLALCHEMY_DATABASE_URI": uri, "MERCATO_WORK_DIR": str(folder / "work")})
    with app.app_context():
        store = Store(code="bench", name="Bench")
        db.session.add(store)
        db.session.commit()

        began = time.perf_counter()
        run = lifecycle.execute(create_stock_run(store, source_path=str(stock)).id)
        stock_s = time.perf_counter() - began
        assert run.status == "completed", run.summary()

        began = time.perf_counter()
        run = lifecycle.execute(importer.create_run(store, source_path=str(keys)).id)
        keys_s = time.perf_counter() - began
        first = importer.summary(run)
        assert first["imported"] == n and first["errors"] == 0, first

        began = time.perf_counter()
        run = lifecycle.execute(importer.create_run(store, source_path=str(keys)).id)
        again_s = time.perf_counter() - began
        again = importer.summary(run)
        assert again["imported"] == 0 and again["duplicates"] == n, again
        db.session.remove()
        db.engine.dispose()
    return {
        "backend": uri.split(":", 1)[0].split("+", 1)[0],
        "rows": n,
        "stock_rows_per_s": round(n / stock_s),
        "keys_per_s": round(n / keys_s),
        "keys_vs_stock": round((n / keys_s) / (n / stock_s), 2),
        "duplicates_per_s": round(n / again_s),
    }


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--keys", type=int, default=50_000)
    parser.add_argument("--pg-url", default=None)
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        if args.pg_url:
            from bench.import_feed import dbname, pg_recreate, sqlalchemy_url

            if not dbname(args.pg_url).startswith("mercato_bench_keys"):
                raise SystemExit("The database's name must start with mercato_bench_keys.")
            pg_recreate(args.pg_url)
            uri = sqlalchemy_url(args.pg_url)
        else:
            uri = f"sqlite:///{folder / 'bench.sqlite3'}"
        try:
            from bench.import_feed import migrate

            migrate(uri)
            figures = bench(uri, args.keys, folder)
        finally:
            if args.pg_url:
                from bench.import_feed import pg_drop

                pg_drop(args.pg_url)
    f = figures
    print(
        f"{f['backend']}: {f['rows']:,} rows - stock file {f['stock_rows_per_s']:,} rows/s, "
        f"keys {f['keys_per_s']:,} keys/s ({f['keys_vs_stock']}x the stock file), "
        f"the same keys again {f['duplicates_per_s']:,} duplicates/s"
    )
    print(json.dumps(figures))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
