"""Every CSV Mercato writes defuses formula cells (one helper: webapp/csvsafe.py)."""

from __future__ import annotations

import csv
import io
import re
from pathlib import Path

import pytest

from tests.imports.helpers import write
from webapp import csvsafe

ROOT = Path(__file__).resolve().parent.parent


@pytest.mark.parametrize(
    ("cell", "written"),
    [
        ('=HYPERLINK("https://evil.example","x")', '\'=HYPERLINK("https://evil.example","x")'),
        ("+cmd|' /C calc'!A0", "'+cmd|' /C calc'!A0"),
        ("-2+3", "'-2+3"),
        ("@SUM(A1:A2)", "'@SUM(A1:A2)"),
        ("\t=1+1", "'\t=1+1"),
        ("\r=1+1", "'\r=1+1"),
        ("+33 6 12 34 56 78", "'+33 6 12 34 56 78"),
        ("-5", "-5"),  # plain numbers are numbers, not formulas
        ("+3.50", "+3.50"),
        ("-0.25", "-0.25"),
        ("Chair = seat", "Chair = seat"),
        ("", ""),
        (None, None),
        (42, 42),
    ],
)
def test_defuse(cell, written):
    assert csvsafe.defuse(cell) == written


def test_writers_defuse_every_cell_and_read_back_as_text():
    buffer = io.StringIO()
    rows = csvsafe.writer(buffer)
    rows.writerow(["id", "title"])
    rows.writerows([["=1+1", "@x"], ["A", "-9"]])
    assert list(csv.reader(io.StringIO(buffer.getvalue()))) == [
        ["id", "title"],
        ["'=1+1", "'@x"],
        ["A", "-9"],
    ]
    buffer = io.StringIO()
    records = csvsafe.dict_writer(buffer, ["a", "b"], lineterminator="\n")
    records.writeheader()
    records.writerow({"a": "+1+1", "b": None})
    records.writerows([{"a": "ok", "b": "=b"}])
    assert buffer.getvalue() == "a,b\n'+1+1,\nok,'=b\n"


def test_products_export_csv_defuses_formula_cells(app, store, tmp_path):
    feed = write(
        tmp_path,
        "hostile.csv",
        "id,title,description,price,brand,item_group_id\n"
        'P1,"=HYPERLINK(""https://evil.example"",""Click"")",-2+3,10,+cmd,@grp\n'
        "P2,Plain chair,A chair,12.5,Acme,G1\n",
    )
    runner = app.test_cli_runner()
    imported = runner.invoke(
        args=["imports", "run", "--store", "acme", "--source", str(feed), "--language", "fr"]
    )
    assert imported.exit_code == 0, imported.output
    result = runner.invoke(args=["products", "export", "--store", "acme", "--format", "csv"])
    assert result.exit_code == 0, result.output
    rows = list(csv.DictReader(io.StringIO(result.stdout)))
    hostile, plain = rows
    assert hostile["title"] == '\'=HYPERLINK("https://evil.example","Click")'
    assert hostile["description"] == "'-2+3"
    assert hostile["brand"] == "'+cmd"
    assert hostile["item_group_id"] == "'@grp"
    assert hostile["price"] == "10.00"
    assert plain["title"] == "Plain chair" and plain["price"] == "12.50"
    assert plain["brand"] == "Acme"


# Not a CSV anybody opens: the feed reader re-quotes a line it has just split, to parse it;
# the sandbox writes the demo catalog as a feed for the import to read (like bench/), whose
# titles must arrive as they are; so does the supplier-catalogue flow with a supplier's
# catalogue (a scratch file the engine reads back, deleted after the run).
NOT_OUTPUT = {
    "webapp/csvsafe.py",
    "webapp/imports/reader.py",
    "sandbox/catalog.py",
    "webapp/imports/supplier.py",
    # The catalog feed writes with csv.writer in C for speed, every cell defused with
    # webapp.csvsafe.defuse (tests/webapp/test_catalog_feed.py holds it equal to the helper).
    "webapp/catalogfeed/content.py",
}


def test_no_csv_is_written_around_the_helper():
    """csv.writer / csv.DictWriter appear in the helper only (bench/ writes test feeds)."""
    pattern = re.compile(r"\bcsv\.(writer|DictWriter)\b")
    writers = {
        str(path.relative_to(ROOT))
        for folder in ("webapp", "jobs", "connectors", "sandbox", "common")
        for path in (ROOT / folder).rglob("*.py")
        if pattern.search(path.read_text())
    }
    assert writers - NOT_OUTPUT == set()
