"""A feed writes only the columns it has: a column the file lacks leaves its field as it
was, on both import paths and both databases, and the change detection stays right."""

from __future__ import annotations

import logging
from decimal import Decimal

import pytest
from sqlalchemy import select

from tests.imports.helpers import import_file, products, write
from tests.imports.test_columnar import again, assert_same, both_paths, columnar_records
from webapp.extensions import db
from webapp.models import MarketplaceProductTranslation
from webapp.models import runs as R

FRENCH = (
    "id,title,description,price,availability,brand,quantity,color\n"
    "P1,Chaise,En chêne,10.00 EUR,in stock,Acme,5,rouge\n"
    "P2,Table,En noyer,20.00 EUR,out of stock,Globex,0,bleu\n"
)
ENGLISH = "id,title,price\nP1,Chair,11.00\nP2,Table,20.00\n"


@pytest.fixture(params=["python", "columnar"])
def path(request, app):
    """The Python reader and builder, or the columnar path (the default)."""
    app.config["IMPORT_COLUMNAR"] = request.param == "columnar"
    yield request.param
    app.config["IMPORT_COLUMNAR"] = True


def translations(product) -> dict[str, tuple]:
    rows = db.session.scalars(
        select(MarketplaceProductTranslation).where(
            MarketplaceProductTranslation.marketplace_product_id == product.id
        )
    )
    return {t.language: (t.title, t.description) for t in rows}


def test_a_feed_without_a_column_leaves_that_field_as_it_was(store, tmp_path, path, caplog):
    caplog.set_level(logging.INFO, logger="mercato.imports")
    fr = import_file(store, write(tmp_path, "fr.csv", FRENCH), language="fr")
    assert (fr.status, fr.imported_count) == (R.COMPLETED, 2), fr.error_message

    en = import_file(store, write(tmp_path, "en.csv", ENGLISH), language="en")
    assert (en.status, en.updated_count, en.unchanged_count) == (R.COMPLETED, 2, 0)
    assert columnar_records(caplog) == (2 if path == "columnar" else 0)

    found = products(store)
    p1, p2 = found["P1"], found["P2"]
    # Only the price was in the English feed: written (its currency kept, none was read).
    assert (p1.price, p1.currency) == (Decimal("11.00"), "EUR")
    assert (p1.availability, p1.brand, p1.quantity) == ("in_stock", "Acme", 5)
    assert (p2.availability, p2.brand, p2.quantity) == ("out_of_stock", "Globex", 0)
    assert p1.extra == {"color": "rouge"}
    # The titles went to the run's language; the French texts are untouched.
    assert translations(p1) == {"fr": ("Chaise", "En chêne"), "en": ("Chair", None)}

    # The same partial feed again changes nothing, and is seen to change nothing.
    same = import_file(store, write(tmp_path, "en2.csv", ENGLISH), language="en")
    assert (same.unchanged_count, same.updated_count) == (2, 0)

    # The full feed again writes every field it has, the English feed's price included.
    full = import_file(store, write(tmp_path, "fr2.csv", FRENCH), language="fr")
    assert (full.updated_count, full.unchanged_count) == (2, 0)
    assert products(store)["P1"].price == Decimal("10.00")


def test_a_feed_writes_blank_values_of_the_columns_it_has(store, tmp_path, path):
    import_file(store, write(tmp_path, "fr.csv", FRENCH), language="fr")
    blanks = "id,title,description,availability,brand,color\nP1,Chaise,,,,\n"
    run = import_file(store, write(tmp_path, "blank.csv", blanks), language="fr")
    assert run.updated_count == 1
    p1 = products(store)["P1"]
    assert (p1.availability, p1.brand, p1.extra) == (None, None, None)
    assert (p1.price, p1.quantity) == (Decimal("10.00"), 5)  # not in that feed
    assert translations(p1) == {"fr": ("Chaise", None)}


def test_attributes_of_other_columns_are_kept(store, tmp_path, path):
    import_file(store, write(tmp_path, "a.csv", "id,title,color,size\nA1,Lamp,red,L\n"))
    run = import_file(store, write(tmp_path, "b.csv", "id,title,color,material\nA1,Lamp,,oak\n"))
    assert run.updated_count == 1
    # color: in the feed, blank, removed; material: the feed's; size: not in it, kept.
    assert products(store)["A1"].extra == {"material": "oak", "size": "L"}


def test_stock_without_availability_fills_availability_only_when_it_tells(store, tmp_path, path):
    import_file(store, write(tmp_path, "a.csv", "id,title,availability\nS1,Sofa,preorder\n"))
    import_file(store, write(tmp_path, "b.csv", "id,title,quantity\nS1,Sofa,100 ML\n"))
    sofa = products(store)["S1"]
    # "100 ML" is no stock count: availability kept, the text kept as an attribute.
    assert (sofa.availability, sofa.quantity, sofa.extra) == (
        "preorder",
        None,
        {"quantity": "100 ML"},
    )
    import_file(store, write(tmp_path, "c.csv", "id,title,quantity\nS1,Sofa,0\n"))
    sofa = products(store)["S1"]
    assert (sofa.availability, sofa.quantity, sofa.extra) == ("out_of_stock", 0, None)


def test_the_same_cells_under_other_columns_are_not_unchanged(store, tmp_path, path):
    """Two feeds whose cells read alike but name other columns write other fields: the
    second must not be skipped as unchanged."""
    import_file(store, write(tmp_path, "0.csv", "id,title,price,availability\nC1,Cup,2,in stock\n"))
    brand = import_file(store, write(tmp_path, "1.csv", "id,title,price,brand\nC1,Cup,2,\n"))
    assert brand.updated_count == 1
    assert products(store)["C1"].availability == "in_stock"
    blank = import_file(store, write(tmp_path, "2.csv", "id,title,price,availability\nC1,Cup,2,\n"))
    assert (blank.updated_count, blank.unchanged_count) == (1, 0)
    assert products(store)["C1"].availability is None


def test_a_feed_without_descriptions_keeps_them_and_a_blank_one_clears_it(store, tmp_path, path):
    with_text = "id,title,description\nD1,Desk,Solid oak\n"
    import_file(store, write(tmp_path, "a.csv", with_text))
    titles_only = import_file(store, write(tmp_path, "b.csv", "id,title\nD1,Desk\n"))
    assert titles_only.updated_count == 1  # its columns differ: written (nothing to change)
    assert translations(products(store)["D1"]) == {"en": ("Desk", "Solid oak")}
    renamed = import_file(store, write(tmp_path, "c.csv", "id,title\nD1,Oak desk\n"))
    assert renamed.updated_count == 1
    assert translations(products(store)["D1"]) == {"en": ("Oak desk", "Solid oak")}
    blank = import_file(store, write(tmp_path, "d.csv", "id,title,description\nD1,Oak desk,\n"))
    assert (blank.updated_count, blank.unchanged_count) == (1, 0)
    assert translations(products(store)["D1"]) == {"en": ("Oak desk", None)}


def test_both_paths_write_a_series_of_partial_feeds_alike(app, tmp_path):
    feeds = [
        FRENCH,
        ENGLISH,
        "id,title,sale_price,color,size\nP1,Chair,9 EUR,,M\nP2,Table,oops,vert,\nP3,Stool,,,S\n",
        ENGLISH,
        "id,title,currency,gtin\nP1,Chair,usd,4006381333931\nP2,Table,,123\n",
    ]
    first = write(tmp_path, "0.csv", feeds[0])
    py_run, col_run, py_store, col_store = both_paths(app, first, language="fr")
    assert_same(py_run, col_run, py_store, col_store)
    for n, feed in enumerate(feeds[1:], 1):
        runs = again(app, write(tmp_path, f"{n}.csv", feed), [py_store, col_store])
        assert_same(*runs, py_store, col_store)
    p1 = products(col_store)["P1"]
    assert (p1.price, p1.sale_price, p1.currency) == (Decimal("11.00"), Decimal("9"), "USD")
    assert p1.extra == {"size": "M"} and p1.brand == "Acme" and p1.gtin == "4006381333931"
