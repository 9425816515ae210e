"""The stock file ("import stock"): CSV/TSV in any encoding and delimiter the product import
reads, by path (the CLI), by URL (egress-checked, credentials masked) or from the store's
settings on a scheduled run; one movement per changed level, one message per bad row."""

from __future__ import annotations

import json

from sqlalchemy import select

from tests.imports.test_url_sources import Route, server  # noqa: F401  (the fixture)
from tests.stock.helpers import level, levels_match_movements, movements
from webapp.extensions import db
from webapp.imports.stock_file import create_stock_run
from webapp.models import Message, Run, StoreStockSettings
from webapp.runs import lifecycle


def run_cli(app, *args):
    result = app.test_cli_runner().invoke(args=[str(a) for a in args])
    return result, json.loads(result.output.strip().splitlines()[-1])


def test_cli_reads_a_cp1252_semicolon_file_with_warehouses_and_bad_rows(app, store, tmp_path):
    path = tmp_path / "stock.csv"
    path.write_bytes(
        "Référence;Quantité;Entrepôt\n"
        "SKU-1;10;\n"
        "SKU-2;4;north\n"
        "SKU-3;beaucoup;\n"
        ";5;\n"
        "SKU-4;-2;\n"
        "SKU-5;7,0;\n".encode("cp1252")
    )
    result, out = run_cli(app, "stock", "import", "--store", "acme", "--source", path)
    assert result.exit_code == 0, result.output
    assert out["status"] == "completed_with_errors"
    assert (out["updated"], out["errors"], out["total"]) == (3, 3, 6)
    assert level(store.id, "SKU-1") == (10, 0) and level(store.id, "SKU-2") == (4, 0)
    assert level(store.id, "SKU-5") == (7, 0)
    messages = db.session.scalars(
        select(Message).where(Message.import_job_id == out["job_id"]).order_by(Message.row_number)
    ).all()
    assert [(m.row_number, m.identifier) for m in messages] == [
        (4, "SKU-3"),
        (5, None),
        (6, "SKU-4"),
    ]
    assert "not a number" in messages[0].error_message
    assert {m.reason for m in movements(store.id)} == {"stock_file"}
    assert all(m.run_id == out["job_id"] for m in movements(store.id))
    # The same file again changes nothing and writes no movement.
    count = len(movements(store.id))
    result, out = run_cli(app, "stock", "import", "--store", "acme", "--source", path)
    assert (out["updated"], out["unchanged"]) == (0, 3)
    assert len(movements(store.id)) == count
    levels_match_movements(store.id)


def test_by_url_tsv_and_the_scheduled_feed_reads_the_store_url(app, store, server):  # noqa: F811
    server.routes["/stock.tsv"] = Route(body=b"sku\tqty\nA\t3\nB\t0\n", headers={})
    run = create_stock_run(store, source_url=server.url("/stock.tsv", "u:secret"))
    assert "secret" not in run.source_url and run.source_secret
    run = lifecycle.execute(run.id)
    assert run.status == "completed", run.error_message
    assert level(store.id, "A") == (3, 0) and level(store.id, "B") == (0, 0)
    # A scheduled run of the store's feed (no source of its own) reads the settings' URL.
    server.routes["/stock2.tsv"] = Route(body=b"sku\tqty\nA\t9\n", headers={})
    db.session.add(
        StoreStockSettings(
            store_id=store.id,
            feed_is_stock_source=False,
            restock_on_refund=False,
            stock_file_url=server.url("/stock2.tsv"),
        )
    )
    db.session.commit()
    started = lifecycle.create(kind="stock_import", store_id=store.id, trigger="schedule")
    run = lifecycle.execute(started.run.id)
    assert run.status == "completed" and level(store.id, "A") == (9, 0)
    # A web page is not a stock file: the run fails and says so, nothing moves.
    server.routes["/page"] = Route(body=b"<html><body>login</body></html>", headers={})
    run = lifecycle.execute(create_stock_run(store, source_url=server.url("/page")).id)
    assert run.status == "failed" and "web page" in run.error_message
    assert level(store.id, "A") == (9, 0)
    assert db.session.scalar(select(Run.kind).where(Run.id == run.id)) == "stock_import"


def test_the_product_feed_sets_on_hand_when_the_store_says_it_is_the_stock_source(
    app, store, tmp_path
):
    from webapp.imports.service import create_run, execute
    from webapp.stock.service import update_store_settings

    feed = tmp_path / "feed.csv"
    feed.write_text("id,title,price,quantity\nP-1,One,1.00,5\nP-2,Two,2.00,0\nP-3,Three,3.00,\n")
    execute(create_run(store, source_path=str(feed), trigger="cli").id)
    assert movements(store.id) == [], "not the stock source yet: nothing moves"
    update_store_settings(store, feed_is_stock_source=True)
    feed.write_text("id,title,price,quantity\nP-1,One,1.00,7\nP-2,Two,2.00,0\nP-3,Three,3.00,\n")
    run = execute(create_run(store, source_path=str(feed), trigger="cli").id)
    assert run.status == "completed", run.error_message
    # P-1 changed (5 -> 7): its level follows; P-2 and P-3 were unchanged products.
    assert level(store.id, "P-1") == (7, 0)
    [m] = movements(store.id)
    assert (m.reason, m.on_hand_delta, m.run_id) == ("feed_import", 7, run.id)
    feed.write_text("id,title,price,quantity\nP-1,One,1.00,3\nP-4,Four,4.00,0\n")
    run = execute(create_run(store, source_path=str(feed), trigger="cli").id)
    assert level(store.id, "P-1") == (3, 0) and level(store.id, "P-4") == (0, 0)
    assert [m.on_hand_delta for m in movements(store.id, "feed_import")] == [7, -4, 0]
    levels_match_movements(store.id)
