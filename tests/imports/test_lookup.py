"""What a batch's lookup finds, whatever the order of the feed against the catalog's,
and the reading machinery around it (read-ahead, the filter of ids read before)."""

from __future__ import annotations

import logging
import random
import threading

import pytest
from sqlalchemy import text

from common.prefetch import prefetch
from tests.imports.helpers import import_file, products, write
from tests.imports.test_columnar import HEADER, again, assert_same, both_paths, clean_feed
from webapp.extensions import db
from webapp.imports import columnar
from webapp.models import Store


def ranges_used(caplog) -> list[bool]:
    return [
        r.getMessage().rsplit("lookup_ranges=", 1)[1].split()[0] == "True"
        for r in caplog.records
        if "lookup_ranges=" in r.getMessage()
    ]


def shuffled(feed: str, seed: int = 3) -> str:
    head, *body = feed.rstrip("\n").split("\n")  # not splitlines: U+2028 is in a cell
    random.Random(seed).shuffle(body)
    return "\n".join([head, *body]) + "\n"


def test_a_reimport_in_another_order_than_the_catalog_finds_every_product(
    app, tmp_path, caplog, backend
):
    caplog.set_level(logging.INFO, logger="mercato.imports")
    feed = clean_feed(1500)
    py_run, col_run, py_store, col_store = both_paths(
        app, write(tmp_path, "feed.csv", feed), batch_size=100
    )
    assert_same(py_run, col_run, py_store, col_store)

    # Same order: the store's products are read in ranges, to the end.
    caplog.clear()
    py_run, col_run = again(
        app, write(tmp_path, "same.csv", feed), [py_store, col_store], batch_size=100
    )
    assert_same(py_run, col_run, py_store, col_store)
    assert col_run.imported_count == col_run.updated_count == 0
    assert ranges_used(caplog) == [True]

    # Shuffled: the ranges miss, are given up, and every product is still found.
    caplog.clear()
    py_run, col_run = again(
        app, write(tmp_path, "shuffled.csv", shuffled(feed)), [py_store, col_store], batch_size=100
    )
    assert_same(py_run, col_run, py_store, col_store)
    assert col_run.imported_count == 0 and col_run.unchanged_count > 1000
    assert ranges_used(caplog) == [backend == "sqlite"]  # SQLite looks up by id always


def test_ranges_read_only_the_stores_own_products(app, tmp_path, backend):
    """Two stores' products interleave in the catalog: a store's ranges skip the other's."""
    first = Store(code="first", name="First")
    second = Store(code="second", name="Second")
    db.session.add_all([first, second])
    db.session.commit()
    rows = [
        f"SKU-{i:05d};Chair {i};Oak;;;in stock;{i}.50 EUR;;Acme;;MPN{i};new;red;M\n"
        for i in range(1200)
    ]
    for part in range(4):  # first, second, first, second...: ids interleave
        chunk = HEADER + "".join(rows[: (part + 1) * 300])
        for store in (first, second):
            run = import_file(
                store, write(tmp_path, f"{store.code}{part}.csv", chunk), batch_size=100
            )
            assert run.status == "completed"
    ids = sorted(p.id for p in products(first).values())
    assert ids[-1] - ids[0] > len(ids)  # the other store's products lie in between
    # The other store's products change; the first's not.
    changed = HEADER + "".join(r.replace("Oak", "Pine") for r in rows)
    assert (
        import_file(second, write(tmp_path, "second.csv", changed), batch_size=100).updated_count
        == 1200
    )
    again_first = import_file(
        first, write(tmp_path, "first.csv", HEADER + "".join(rows)), batch_size=100
    )
    assert (again_first.unchanged_count, again_first.updated_count, again_first.imported_count) == (
        1200,
        0,
        0,
    )


def test_blocks_read_ahead_come_in_order_and_errors_in_place():
    def blocks():
        yield "a"
        yield "b"
        raise ValueError("bad chunk")

    got = []
    with pytest.raises(ValueError, match="bad chunk"):
        for block in prefetch(blocks(), name="import-read"):
            got.append(block)
    assert got == ["a", "b"]


def test_a_closed_read_ahead_stops_its_reader_thread():
    def endless():
        n = 0
        while True:
            n += 1
            yield n

    reading = prefetch(endless(), name="import-read")
    assert [next(reading) for _ in range(3)] == [1, 2, 3]
    reading.close()
    assert not [t for t in threading.enumerate() if t.name == "import-read"]


def test_the_filter_of_ids_read_never_misses_a_repeat_and_stays_small():
    seen = columnar.IdsRead()
    rng = random.Random(5)
    read: set[str] = set()
    order: list[str] = []
    false_alarms = 0
    for _ in range(200):
        ids = [f"ID-{rng.randrange(10**9)}" for _k in range(5000)]
        ids += rng.sample(order, 5) if order else []  # some repeats of earlier batches
        again = set(seen.again(ids))
        repeats = {i for i in ids if i in read}
        assert repeats <= again  # never a repeat missed
        false_alarms += len(again - repeats)
        read.update(ids)
        order.extend(ids)
    assert false_alarms < 0.01 * len(read)
    assert max(seen.low.max(), seen.high.max()) < 2**24  # two bitmaps of 2 MB at most


def _plan_rows(node: dict) -> list[int]:
    """Rows each node of an EXPLAIN (ANALYZE, FORMAT JSON) plan produced or discarded."""
    loops = node.get("Actual Loops", 1)
    rows = [
        (node.get("Actual Rows", 0) + node.get("Rows Removed by Filter", 0)) * loops
        + node.get("Rows Removed by Join Filter", 0)
    ]
    for child in node.get("Plans", []):
        rows += _plan_rows(child)
    return rows


@pytest.mark.parametrize("backend", ["postgresql"], indirect=True)
def test_a_lookup_reads_a_bounded_range_even_without_statistics(app, store, backend, tmp_path):
    """A catalog just imported has no statistics until it is analysed: the lookup must not
    be planned as a scan of the store's products (measured before the fix: a 1,000,000-row
    re-import took 260 s instead of 8)."""
    from webapp.imports.writer import _LOOKUP_HASHES_SQL, BatchWriter, _int_array, text_array

    app.config["IMPORT_VACUUM_ROWS"] = 10**9  # no VACUUM (ANALYZE) after the import
    # A first import, into tables of fresh files: earlier tests (whichever ran before this one
    # in this process) leave dead rows and free space behind, which decide whether the import's
    # updates are HOT; when they are not, the id range's index entries include dead versions,
    # and the bitmap scan below counts them (600 for the 300 live rows).
    db.session.execute(
        text("TRUNCATE marketplace_products, marketplace_product_translations CASCADE")
    )
    db.session.commit()
    rows = "".join(f"SKU-{i:05d},Chair {i},{i}.00 EUR\n" for i in range(3000))
    run = import_file(store, write(tmp_path, "feed.csv", "id,title,price\n" + rows), batch_size=100)
    assert run.imported_count == 3000
    pks = {p.marketplace_product_id: p.id for p in products(store).values()}
    raw = db.engine.raw_connection()
    try:
        conn = raw.driver_connection
        # No autovacuum on the catalog while this transaction lasts: one that started after
        # the import would write its statistics over ours in place (pg_class is updated
        # in place, whatever our uncommitted row), and the plan would be another.
        conn.execute(
            "LOCK TABLE marketplace_products, marketplace_product_translations "
            "IN SHARE UPDATE EXCLUSIVE MODE"
        )
        # As after a first import: no statistics at all (rolled back below).
        conn.execute(
            "DELETE FROM pg_statistic WHERE starelid IN "
            "('marketplace_products'::regclass, 'marketplace_product_translations'::regclass)"
        )
        conn.execute(
            "UPDATE pg_class SET reltuples = -1 WHERE oid IN "
            "('marketplace_products'::regclass, 'marketplace_product_translations'::regclass)"
        )
        writer = BatchWriter(
            conn, "postgresql", store_id=store.id, marketplace="Letzshop", language="en", run_id=0
        )
        cur = conn.cursor()
        writer._lock_batch(cur)
        cur.execute("SET LOCAL enable_nestloop = off")
        ids = [f"SKU-{i:05d}" for i in range(1500, 1600)]
        cur.execute(
            "EXPLAIN (ANALYZE, FORMAT JSON) " + _LOOKUP_HASHES_SQL,
            {
                "ids": text_array(ids),
                "hashes": _int_array([0] * 100),
                "translated": _int_array([0] * 100),
                "store": store.id,
                "marketplace": "Letzshop",
                "language": "en",
                "after": pks["SKU-01499"],
                "n": 100,
            },
        )
        plan = cur.fetchone()[0][0]["Plan"]
        assert max(_plan_rows(plan)) <= 3 * 100  # the window, never the store
    finally:
        raw.rollback()
        raw.close()


def test_a_block_encoded_ahead_with_a_repeat_of_an_earlier_block_imports_alike(
    app, tmp_path, caplog
):
    """A first import encodes clean blocks for COPY before their lookup, with ids of their
    own; a block that turns out to repeat an id of an earlier one is written without it."""
    caplog.set_level(logging.INFO, logger="mercato.imports")
    rows = [
        f"SKU-{i:05d};Chair {i};Oak;;;in stock;{i}.50 EUR;;Acme;;MPN{i};new;red;M\n"
        for i in range(1000)
    ]
    rows[450] = rows[50].replace("Chair 50", "Chair again")  # block 5 repeats block 1's id
    path = write(tmp_path, "feed.csv", HEADER + "".join(rows))
    py_run, col_run, py_store, col_store = both_paths(app, path, batch_size=100)
    assert_same(py_run, col_run, py_store, col_store)
    assert (col_run.imported_count, col_run.error_count) == (999, 1)
    assert len(products(col_store)) == 999
