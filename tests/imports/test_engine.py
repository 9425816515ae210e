"""The import engine end to end, on SQLite and PostgreSQL."""

from __future__ import annotations

import gzip
import io
import json
import zipfile
from decimal import Decimal

import pytest

from tests.imports.helpers import import_file, messages, product_count, products, write
from webapp.extensions import db
from webapp.models import runs as R

BASIC = """id,title,description,price,gtin,availability,brand,color
A1,"Chair <b>oak</b>","<p>Solid</p>",29.99 EUR,4006381333931,in stock,Acme,red
A2,Table,,"1.299,00 €",123,out of stock,Acme,
A3,,,12,,,,
A4,Lamp,,abc,,,,
A1,Dup,,1,,,,
,No id,,1,,,,
A6,Fine,,7,,,,
"""


def test_rows_are_imported_and_bad_rows_become_errors(store, tmp_path):
    run = import_file(store, write(tmp_path, "feed.csv", BASIC), language="en")
    assert run.status == R.COMPLETED_WITH_ERRORS
    assert run.summary() == {
        "job_id": run.id,
        "status": "completed_with_errors",
        "imported": 3,
        "updated": 0,
        "unchanged": 0,
        "errors": 4,
        "warnings": 1,
        "total": 7,
    }
    found = products(store)
    assert set(found) == {"A1", "A2", "A6"}
    chair = found["A1"]
    assert chair.price == Decimal("29.99") and chair.currency == "EUR"
    assert chair.gtin == "4006381333931" and chair.availability == "in_stock"
    assert chair.extra == {"color": "red"}
    title = chair.translation("en")
    assert title.title == "Chair <b>oak</b>" and title.description == "<p>Solid</p>"
    table = found["A2"]
    assert table.price == Decimal("1299.00") and table.gtin is None

    by_row = {(m.row_number, m.error_type): m for m in messages(run)}
    assert set(by_row) == {
        (3, "validation_error"),
        (4, "missing_title"),
        (5, "parse_error"),
        (6, "duplicate_id"),
        (7, "missing_id"),
    }
    assert by_row[(3, "validation_error")].severity == "warning"
    assert by_row[(4, "missing_title")].identifier == "A3"
    assert by_row[(5, "parse_error")].row_data["price"] == "abc"
    assert "appears again" in by_row[(6, "duplicate_id")].error_message
    assert by_row[(6, "duplicate_id")].row_data["title"] == "Dup"


def test_reimport_is_idempotent_and_changes_are_updates(store, tmp_path):
    path = write(tmp_path, "feed.csv", BASIC)
    import_file(store, path)
    again = import_file(store, path)
    assert (again.imported_count, again.updated_count, again.unchanged_count) == (0, 0, 3)
    assert product_count() == 3
    changed = write(
        tmp_path, "feed2.csv", BASIC.replace("Fine,,7", "Fine,,8").replace(",red", ",blue")
    )
    third = import_file(store, changed)
    assert (third.imported_count, third.updated_count, third.unchanged_count) == (0, 2, 1)
    assert products(store)["A1"].extra == {"color": "blue"}
    assert products(store)["A6"].price == Decimal("8")


def test_language_fills_its_translation_with_fallback(store, tmp_path):
    fr = "id,title,price\nP1,Chaise,10\nP2,Table,20\n"
    en = "id,title,price\nP1,Chair,10\n"
    import_file(store, write(tmp_path, "fr.csv", fr), language="fr")
    run = import_file(store, write(tmp_path, "en.csv", en), language="en")
    assert (run.updated_count, run.unchanged_count) == (1, 0)  # a new translation
    found = products(store)
    assert found["P1"].translation("en").title == "Chair"
    assert found["P1"].translation("fr").title == "Chaise"
    assert found["P2"].translation("en").title == "Table"  # falls back to fr
    assert found["P2"].translation("de").title == "Table"


def test_two_stores_never_touch_each_other(store, other_store, tmp_path):
    import_file(store, write(tmp_path, "a.csv", "id,title,price\nX1,Ours,10\n"))
    import_file(other_store, write(tmp_path, "b.csv", "id,title,price\nX1,Theirs,99\n"))
    assert products(store)["X1"].price == Decimal("10")
    assert products(other_store)["X1"].price == Decimal("99")
    assert products(store)["X1"].translation("en").title == "Ours"


def test_unclosed_quote_costs_only_its_own_row(store, tmp_path):
    lines = ["id,title,price", 'B1,"Broken title,5']
    lines += [f"B{i},Item {i},{i}" for i in range(2, 40)]
    run = import_file(store, write(tmp_path, "q.csv", "\n".join(lines) + "\n"))
    assert run.imported_count == 38
    [error] = messages(run)
    assert error.row_number == 2 and error.error_type == "parse_error"
    assert "never closed" in error.error_message


def test_multiline_quoted_cells_and_stray_quotes(store, tmp_path):
    data = 'id,title,price\nM1,"Line one\nLine two",5\nM2,12" pizza,6\nM3,"Say ""hi""",7\n'
    run = import_file(store, write(tmp_path, "m.csv", data))
    assert run.status == R.COMPLETED and run.imported_count == 3
    found = products(store)
    assert found["M1"].translation("en").title == "Line one\nLine two"
    assert found["M2"].translation("en").title == '12" pizza'
    assert found["M3"].translation("en").title == 'Say "hi"'


def test_ragged_rows_and_oversized_fields_are_row_errors(store, tmp_path):
    big = "x" * 600_000
    data = f"id,title,price\nR1,Ok,1\nR2,Too,many,cells\nR3,{big},3\nR4,Short\nR5,Fine,5\n"
    run = import_file(store, write(tmp_path, "r.csv", data))
    assert run.imported_count == 2
    assert sorted(m.row_number for m in messages(run)) == [3, 4, 5]
    assert all(m.error_type == "parse_error" for m in messages(run))


@pytest.mark.parametrize(
    ("encoding", "bom"),
    [
        ("utf-8", b""),
        ("utf-8", b"\xef\xbb\xbf"),
        ("utf-16", b""),
        ("cp1252", b""),
        ("latin-1", b""),
    ],
)
def test_encodings(store, tmp_path, encoding, bom):
    text = "id;title;price\nE1;Crème brûlée für Jürgen;3,50 €\n"
    if encoding == "latin-1":
        text = text.replace("€", "EUR")
    path = write(tmp_path, "e.csv", bom + text.encode(encoding))
    run = import_file(store, path)
    assert run.status == R.COMPLETED, run.error_message
    product = products(store)["E1"]
    assert product.translation("en").title == "Crème brûlée für Jürgen"
    assert product.price == Decimal("3.50") and product.currency == "EUR"


@pytest.mark.parametrize("delimiter", [",", ";", "\t", "|"])
def test_delimiters(store, tmp_path, delimiter):
    rows = [["id", "title", "price"], ["D1", "Desk, large", "10.5"], ["D2", "Chair", "3"]]
    buffer = io.StringIO()
    import csv

    csv.writer(buffer, delimiter=delimiter).writerows(rows)
    run = import_file(store, write(tmp_path, "d.txt", buffer.getvalue()))
    assert run.imported_count == 2
    assert products(store)["D1"].translation("en").title == "Desk, large"


def test_gzip_and_zip_sources(store, tmp_path):
    body = b"id,title,price\nZ1,Zipped,1\n"
    gz = write(tmp_path, "f.csv.gz", gzip.compress(body))
    assert import_file(store, gz).imported_count == 1
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("feed.csv", body.replace(b"Z1", b"Z2"))
    run = import_file(store, write(tmp_path, "f.zip", buffer.getvalue()))
    assert run.imported_count == 1 and set(products(store)) == {"Z1", "Z2"}


LENGOW_XML = """<?xml version="1.0" encoding="ISO-8859-1" ?>
<products>
  <product><id>1</id><sku>155842</sku><title>Caf\xe9 1</title><price>150.90</price>
    <stock>15</stock><category>Cat &gt; sub</category></product>
  <product><id>2</id><title>title 2</title><price>50.50</price><stock>0</stock></product>
</products>
"""


def test_lengow_xml_with_declared_encoding(store, tmp_path):
    run = import_file(store, write(tmp_path, "l.xml", LENGOW_XML.encode("latin-1")))
    assert run.status == R.COMPLETED, run.error_message
    found = products(store)
    assert found["1"].translation("en").title == "Café 1"
    assert found["1"].quantity == 15 and found["1"].availability == "in_stock"
    assert found["2"].availability == "out_of_stock"
    assert found["1"].extra["category"] == "Cat > sub" and found["1"].extra["sku"] == "155842"


def test_lengow_json(store, tmp_path):
    data = {
        "date": "x",
        "products": {
            "product": [
                {"id": "1", "title": "t1", "price": "150.90", "stock": "15"},
                {"id": "2", "title": "t2", "price": "50.50", "stock": "6"},
            ]
        },
    }
    run = import_file(store, write(tmp_path, "l.json", json.dumps(data)))
    assert run.imported_count == 2
    assert products(store)["2"].price == Decimal("50.50")


@pytest.mark.parametrize(
    ("name", "body", "reason"),
    [
        ("login.html", "<!DOCTYPE html><html><body><form>Login</form></body></html>", "web page"),
        ("empty.csv", "", "empty"),
        ("blank.csv", "\n\n  \n", "empty"),
        ("noid.csv", "name,colour,weight\nChair,red,3\n", "No product id column"),
        ("bad.json", "{not json", "JSON"),
        ("bad.xml", "<products><product><id>1</id>", "XML"),
    ],
)
def test_not_a_feed_fails_and_touches_nothing(store, tmp_path, name, body, reason):
    import_file(store, write(tmp_path, "ok.csv", "id,title,price\nK1,Keep,1\n"))
    before = products(store)["K1"].updated_at
    run = import_file(store, write(tmp_path, name, body))
    assert run.status == R.FAILED
    assert reason in run.error_message
    assert product_count() == 1 and products(store)["K1"].updated_at == before


def test_rerun_after_a_killed_worker_reaches_the_same_result(store, tmp_path):
    from webapp.imports.service import create_run, execute

    path = write(
        tmp_path, "k.csv", "id,title,price\n" + "".join(f"K{i},Item {i},{i}\n" for i in range(500))
    )
    run = create_run(store, source_path=str(path), batch_size=100)
    # Simulate a worker killed after two batches: those rows exist, the run says processing.
    partial = write(
        tmp_path,
        "partial.csv",
        "id,title,price\n" + "".join(f"K{i},Item {i},{i}\n" for i in range(200)),
    )
    import_file(store, partial)
    run.status = R.PROCESSING
    db.session.commit()
    again = execute(run.id)
    assert again.status == R.COMPLETED
    assert (again.imported_count, again.unchanged_count, again.total_processed) == (300, 200, 500)
    assert product_count() == 500


def test_progress_and_counts_are_saved_per_batch(store, tmp_path):
    from webapp.imports.service import create_run, execute

    path = write(
        tmp_path, "b.csv", "id,title,price\n" + "".join(f"P{i},Item {i},{i}\n" for i in range(1050))
    )
    run = create_run(store, source_path=str(path), batch_size=100)
    execute(run.id)
    db.session.refresh(run)
    assert run.progress == 100 and run.total_processed == 1050
    assert run.started_at and run.completed_at and run.duration_seconds is not None


def test_nul_bytes_are_dropped_and_the_row_still_imports(store, tmp_path):
    data = b"id,title,price\nN1,Cha\x00ir,5 EUR\nN2,Table,7 EUR\n"
    run = import_file(store, write(tmp_path, "nul.csv", data), language="en")
    assert run.status == R.COMPLETED, run.error_message
    assert run.imported_count == 2
    found = products(store)
    assert found["N1"].translation("en").title == "Chair"
    feed = json.dumps([{"id": "J1", "title": "Mu\u0000g", "price": "3 EUR"}])
    run = import_file(store, write(tmp_path, "nul.json", feed), language="en")
    assert run.status == R.COMPLETED, run.error_message
    assert products(store)["J1"].translation("en").title == "Mug"
