"""The columnar path gives exactly what the Python path gives: products, translations,
messages and counts, on every delimited feed we have and on feeds made to trip it."""

from __future__ import annotations

import logging
import random

import pyarrow as pa
import pytest
from sqlalchemy import func, select, text

from tests.conftest import FIXTURES, real_fixture
from tests.imports.helpers import import_file, write
from webapp.extensions import db
from webapp.imports import columnar
from webapp.imports.rows import stable_hash
from webapp.imports.writer import NEUTRAL_COLUMNS
from webapp.models import (
    MarketplaceProduct,
    MarketplaceProductTranslation,
    Message,
    Store,
)

PRODUCT_FIELDS = ("marketplace_product_id", *NEUTRAL_COLUMNS, "content_hash", "import_warnings")
COUNTS = ("status", "imported", "updated", "unchanged", "errors", "warnings", "total")
HEADER = (
    "id;title;description;link;image_link;availability;price;sale_price;brand;gtin;mpn;"
    "condition;color;size\n"
)


def _gtin(rng: random.Random) -> str:
    digits = [rng.randint(0, 9) for _ in range(12)]
    total = sum(d * (3 if i % 2 else 1) for i, d in enumerate(digits))
    return "".join(map(str, digits)) + str((10 - total % 10) % 10)


def clean_feed(rows: int, seed: int = 7, price_shift: int = 0, retitle: int = 0) -> str:
    """A Google-style feed with every oddity that stays on the columnar path."""
    rng = random.Random(seed)
    lines = [HEADER]
    for i in range(rows):
        sku = f"SKU-{i:05d}"
        price = f"{rng.randint(100, 99999) / 100 + price_shift:.2f} EUR"
        gtin = _gtin(rng)
        sale = ""
        title = f"Chair {i % 37}" + (" (new)" if retitle and i % retitle == 0 else "")
        description = f"Solid oak, model {i % 11}"
        color, size = rng.choice(["red", "blue", ""]), rng.choice(["S", "M", ""])
        kind = i % 29
        if kind == 1:
            sku = f"SKU-{i - 7:05d}"  # a repeat, sometimes of the same batch, sometimes not
        elif kind == 2:
            sku = ""  # missing id
        elif kind == 3:
            title = "   "  # missing title
        elif kind == 4:
            price = "n/a"  # unreadable price: refused
        elif kind == 5:
            price = "1.299,00 €"  # not the plain form: read by the Python normaliser
        elif kind == 6:
            price = "0012.50"  # leading zeros
        elif kind == 7:
            gtin = gtin[:-1] + str((int(gtin[-1]) + 1) % 10)  # wrong check digit: warning
        elif kind == 8:
            gtin = "4.00638E+12"  # spreadsheet-mangled: warning
        elif kind == 9:
            sale = "cheap"  # unreadable sale price: warning, sale left out
        elif kind == 10:
            sale = f"{rng.randint(1, 99)},50 €"
        elif kind == 11:
            color = "back\\slash \x01control"  # JSON needs escapes: Python encodes it
        elif kind == 12:
            title = "\u00a0Padded chair\u3000"  # Unicode spaces trimmed alike
        elif kind == 18:
            title, color = "\x1cSeparated chair\u2028", "\x85red\x1f"  # str.strip's too
        elif kind == 13:
            sku = "X" * 300  # id too long
        elif kind == 14:
            lines.append(";;;;;;;;;;;;;\n")  # a blank record, then the row itself
        elif kind == 15:
            price = "EUR 7"
        elif kind == 16:
            gtin = "00012345678905"  # GTIN-14 with leading zeros
        elif kind == 17:
            description = ""
        elif kind == 19:
            price = "12.34567 EUR"  # more decimals than stored: the server rounds (CSV COPY)
        lines.append(
            f"{sku};{title};{description};https://shop.example/p/{i};"
            f"https://cdn.example/{i}.jpg;{rng.choice(['in stock', 'out of stock', 'Lager'])};"
            f"{price};{sale};{rng.choice(['Acme', 'n/a', ' Globex '])};{gtin};MPN{i};"
            f"{rng.choice(['new', 'Neu', 'refurbished', ''])};{color};{size}\n"
        )
    return "".join(lines)


def snapshot(store: Store) -> dict:
    products = db.session.scalars(
        select(MarketplaceProduct)
        .where(MarketplaceProduct.store_id == store.id)
        .order_by(MarketplaceProduct.marketplace_product_id)
    ).all()
    translations = {
        (t.marketplace_product_id, t.language): (t.title, t.description, t.content_hash)
        for t in db.session.scalars(select(MarketplaceProductTranslation))
    }
    return {
        p.marketplace_product_id: (
            tuple(getattr(p, f) for f in PRODUCT_FIELDS),
            translations.get((p.id, "en")),
        )
        for p in products
    }


def run_messages(run) -> list[tuple]:
    rows = db.session.scalars(select(Message).where(Message.import_job_id == run.id)).all()
    return sorted(
        (
            m.row_number or 0,
            m.severity,
            m.error_type,
            m.identifier or "",
            m.error_message,
            m.row_data or "",
        )
        for m in rows
    )


def both_paths(app, path, **options):
    """Import ``path`` on the Python path into one store and on the columnar path into
    another; return (python run, columnar run, python store, columnar store)."""
    stores = []
    for code in ("pypath", "colpath"):
        store = Store(code=code, name=code)
        db.session.add(store)
        stores.append(store)
    db.session.commit()
    return (*again(app, path, stores, **options), *stores)


def again(app, path, stores, **options):
    runs = []
    for store, on_columnar in zip(stores, (False, True), strict=True):
        app.config["IMPORT_COLUMNAR"] = on_columnar
        try:
            runs.append(import_file(store, path, **options))
        finally:
            app.config["IMPORT_COLUMNAR"] = True
    return runs


def assert_same(py_run, col_run, py_store, col_store):
    assert {k: v for k, v in py_run.summary().items() if k in COUNTS} == {
        k: v for k, v in col_run.summary().items() if k in COUNTS
    }
    assert run_messages(py_run) == run_messages(col_run)
    assert snapshot(py_store) == snapshot(col_store)


def columnar_records(caplog) -> int:
    found = [
        int(r.getMessage().rsplit("columnar_records=", 1)[1].split()[0])
        for r in caplog.records
        if "columnar_records=" in r.getMessage()
    ]
    return found[-1] if found else 0


def test_the_hash_of_a_row_is_the_same_on_both_paths():
    # The columnar path hashes a column's UTF-8 bytes in C; the Python path one str.
    texts = [f"2\x1fSKU-{i}\x1fcafé ☕ {i}" for i in range(200)] + ["", "\x1f"]
    hashes = columnar._hashes(pa.array(texts))
    assert hashes == [stable_hash(t) for t in texts]
    assert min(hashes) < 0 < max(hashes)  # both halves of the signed 64-bit range


def test_a_clean_feed_with_every_row_problem_imports_alike(app, tmp_path, caplog):
    caplog.set_level(logging.INFO, logger="mercato.imports")
    path = write(tmp_path, "feed.csv", clean_feed(1500))
    py_run, col_run, py_store, col_store = both_paths(app, path, batch_size=100)
    blank = sum(1 for i in range(1500) if i % 29 == 14)
    assert columnar_records(caplog) == 1500 + blank  # every record, blank ones too
    assert col_run.error_count > 100 and col_run.warning_count > 100
    assert_same(py_run, col_run, py_store, col_store)
    # Times are naive UTC on both paths (PostgreSQL's COPY takes the server's default).
    from webapp.models.base import utcnow

    stamps = db.session.execute(
        select(MarketplaceProduct.created_at, MarketplaceProduct.updated_at).where(
            MarketplaceProduct.store_id == col_store.id
        )
    ).all()
    assert all(abs((utcnow() - t).total_seconds()) < 120 for row in stamps for t in row)

    # The same file again: nothing changes, on either path.
    py_run, col_run = again(app, path, [py_store, col_store], batch_size=100)
    assert col_run.unchanged_count == col_run.imported_count + col_run.unchanged_count
    assert_same(py_run, col_run, py_store, col_store)

    # Prices and some titles changed: updates, alike.
    changed = write(tmp_path, "changed.csv", clean_feed(1500, price_shift=1, retitle=5))
    py_run, col_run = again(app, changed, [py_store, col_store], batch_size=100)
    assert col_run.updated_count > 1000
    assert_same(py_run, col_run, py_store, col_store)

    # Only titles changed: translation updates only.
    retitled = write(tmp_path, "retitled.csv", clean_feed(1500, price_shift=1, retitle=3))
    py_run, col_run = again(app, retitled, [py_store, col_store], batch_size=100)
    assert col_run.updated_count > 100
    assert_same(py_run, col_run, py_store, col_store)


@pytest.mark.parametrize(
    "odd_line",
    [
        'SKU-odd;"Chair\nwith a break";desc;;;in stock;1.00 EUR;;;;;;;\n',  # multi-line cell
        'SKU-odd;12" pizza;desc;;;in stock;1.00 EUR;;;;;;;\n',  # a stray inch mark
        "SKU-odd;Ragged;desc\n",  # too few cells
        "SKU-odd;Ragged;desc;;;in stock;1.00 EUR;;;;;;;;extra\n",  # too many
        'SKU-odd;"Never closed;desc;;;in stock;1.00 EUR;;;;;;;\n',  # an unclosed quote
        "SKU-odd;Chair\x00;desc;;;in stock;1.00 EUR;;;;;;;\n",  # a NUL (dropped by Python)
    ],
)
def test_an_odd_record_hands_the_rest_to_the_python_reader(app, tmp_path, caplog, odd_line):
    caplog.set_level(logging.INFO, logger="mercato.imports")
    app.config["IMPORT_COLUMNAR_BLOCK_BYTES"] = 16 << 10  # ~130 records a block
    lines = clean_feed(600).splitlines(keepends=True)
    lines.insert(400, odd_line)
    path = write(tmp_path, "odd.csv", "".join(lines))
    py_run, col_run, py_store, col_store = both_paths(app, path, batch_size=100)
    read = columnar_records(caplog)
    assert 0 < read < 400  # stopped in or before the odd record's block
    assert_same(py_run, col_run, py_store, col_store)


def test_bytes_that_are_not_utf8_hand_over_too(app, tmp_path, caplog):
    caplog.set_level(logging.INFO, logger="mercato.imports")
    app.config["IMPORT_COLUMNAR_BLOCK_BYTES"] = 16 << 10
    data = clean_feed(600).encode()
    cut = data.index(b"SKU-00450")
    data = data[:cut] + b"SKU-latin;Caf\xe9 chair;desc;;;in stock;2.00 EUR;;;;;;;\n" + data[cut:]
    path = write(tmp_path, "mixed.csv", data)
    py_run, col_run, py_store, col_store = both_paths(app, path, batch_size=100)
    assert 0 < columnar_records(caplog) <= 450
    assert "Café chair" in {v[1][0] for v in snapshot(col_store).values()}
    assert_same(py_run, col_run, py_store, col_store)


def test_a_duplicate_of_a_refused_row_stays_a_duplicate(app, tmp_path):
    text = (
        HEADER
        + "A;Chair;;;;in stock;n/a;;;;;;;\n"
        + "".join(f"B{i};Chair;;;;in stock;1.00 EUR;;;;;;;\n" for i in range(150))
    )
    text += "A;Chair again;;;;in stock;2.00 EUR;;;;;;;\n"
    path = write(tmp_path, "dup.csv", text)
    py_run, col_run, py_store, col_store = both_paths(app, path, batch_size=100)
    assert [m[2] for m in run_messages(col_run)] == ["parse_error", "duplicate_id"]
    assert "A" not in snapshot(col_store)
    assert_same(py_run, col_run, py_store, col_store)


def _delimited_fixtures() -> list[str]:
    folder = FIXTURES / "product-feeds"
    if not folder.exists():
        return ["absent.csv"]
    return sorted(p.name for p in folder.iterdir() if p.suffix in (".csv", ".tsv"))


@pytest.mark.parametrize("name", _delimited_fixtures())
def test_every_real_delimited_feed_imports_alike(app, name):
    path = real_fixture("product-feeds", name)
    py_run, col_run, py_store, col_store = both_paths(app, path, batch_size=100)
    assert_same(py_run, col_run, py_store, col_store)
    py_run, col_run = again(app, path, [py_store, col_store], batch_size=100)
    assert_same(py_run, col_run, py_store, col_store)


def test_two_imports_of_one_marketplace_at_once_book_each_product_once(
    app, store, other_store, backend, tmp_path
):
    """Two imports of the same feed into one store at once: each product is booked once.
    On PostgreSQL the first import of a marketplace skips lookups under the marketplace's
    lock, so the second waits for it and then finds every product unchanged."""
    import threading

    from webapp.imports.service import create_run, execute
    from webapp.models import Run

    path = write(tmp_path, "feed.csv", clean_feed(1200))
    expected = import_file(other_store, path, batch_size=100).imported_count
    run_ids = [
        create_run(store, source_path=str(path), trigger="cli", batch_size=100).id for _ in range(2)
    ]
    errors = []

    def run(run_id):
        try:
            with app.app_context():
                execute(run_id)
        except Exception as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    threads = [threading.Thread(target=run, args=(i,)) for i in run_ids]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(120)
    assert not errors
    db.session.expire_all()
    runs = [db.session.get(Run, i) for i in run_ids]
    count = db.session.scalar(
        select(func.count())
        .select_from(MarketplaceProduct)
        .where(MarketplaceProduct.store_id == store.id)
    )
    assert count == sum(r.imported_count for r in runs) == expected > 900
    assert all(r.imported_count + r.unchanged_count == expected for r in runs)
    if backend == "postgresql":
        assert sorted(r.imported_count for r in runs) == [0, expected]


def test_a_large_import_vacuums_the_catalog_on_postgresql(app, store, backend, tmp_path, caplog):
    caplog.set_level(logging.INFO, logger="mercato.imports")
    app.config["IMPORT_VACUUM_ROWS"] = 100  # "large"
    run = import_file(store, write(tmp_path, "feed.csv", clean_feed(150)), batch_size=100)
    assert run.status == "completed_with_errors" and run.imported_count > 100
    vacuumed = [r for r in caplog.records if "vacuumed rows_written=" in r.getMessage()]
    if backend != "postgresql":
        assert not vacuumed  # SQLite has no hint bits to set
        return
    assert vacuumed
    # Housekeeping after the run is recorded complete: its time is not the import's.
    said = [r.getMessage() for r in caplog.records]
    completed = next(k for k, m in enumerate(said) if "state=completed" in m)
    assert completed < next(k for k, m in enumerate(said) if "vacuumed rows_written=" in m)
    db.session.execute(text("SELECT pg_stat_clear_snapshot()"))
    last = db.session.execute(
        text(
            "SELECT last_vacuum, last_analyze FROM pg_stat_user_tables "
            "WHERE relname = 'marketplace_products'"
        )
    ).one()
    assert last[0] is not None and last[1] is not None
    small = import_file(store, write(tmp_path, "small.csv", clean_feed(20, seed=3)))
    assert small.status.startswith("completed")
    assert len([r for r in caplog.records if "vacuumed rows_written=" in r.getMessage()]) == 1


@pytest.mark.parametrize("backend", ["sqlite"], indirect=True)  # SQLite's own settings
def test_an_import_puts_back_the_connections_sqlite_settings(app, store, backend):
    from webapp.imports.writer import BatchWriter

    raw = db.engine.raw_connection()
    try:
        writer = BatchWriter(
            raw.driver_connection,
            backend,
            store_id=store.id,
            marketplace="Letzshop",
            language="en",
            run_id=0,
        )
        cur = raw.driver_connection.cursor()

        def pragmas():
            names = ("wal_autocheckpoint", "cache_size")
            return [cur.execute(f"PRAGMA {n}").fetchone()[0] for n in names]

        before = pragmas()
        writer.start()
        assert pragmas() == [BatchWriter.IMPORT_WAL_PAGES, -BatchWriter.IMPORT_CACHE_KIB]
        assert pragmas() != before
        writer.finish()
        assert pragmas() == before
    finally:
        raw.close()
