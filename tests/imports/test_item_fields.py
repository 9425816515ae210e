"""XML and JSON items name their fields on their own: each item's fields are mapped by
themselves, with or without the ``g:`` prefix, and fields nested in a group never stand
for a product field."""

from __future__ import annotations

import json
from decimal import Decimal

from tests.imports.helpers import import_file, messages, products, write
from webapp.models import runs as R

G = 'xmlns:g="http://base.google.com/ns/1.0"'


def rss(*items: str) -> str:
    return f'<?xml version="1.0"?><rss version="2.0" {G}><channel><title>Shop</title>' + (
        "".join(f"<item>{item}</item>" for item in items) + "</channel></rss>"
    )


SHIPPING = "<g:shipping><g:country>FR</g:country><g:price>4.95 EUR</g:price></g:shipping>"


def test_rss_items_with_and_without_the_g_prefix(store, tmp_path):
    body = rss(
        f"<title>Plain title</title><link>https://shop.example/1</link><g:id>R1</g:id>"
        f"<g:price>10 EUR</g:price>{SHIPPING}",
        "<g:title>Prefixed title</g:title><g:link>https://shop.example/2</g:link>"
        "<g:id>R2</g:id><g:price>20 EUR</g:price>",
        "<g:id>R3</g:id><g:title>Third</g:title><g:link>https://shop.example/3</g:link>"
        "<g:price>30 EUR</g:price><g:tax><g:country>FR</g:country><g:rate>20</g:rate></g:tax>",
    )
    run = import_file(store, write(tmp_path, "feed.xml", body))
    assert (run.status, run.imported_count, run.error_count) == (R.COMPLETED, 3, 0), [
        m.error_message for m in messages(run)
    ]
    found = products(store)
    assert {k: p.translation("en").title for k, p in found.items()} == {
        "R1": "Plain title",
        "R2": "Prefixed title",
        "R3": "Third",
    }
    assert [found[k].link for k in ("R1", "R2", "R3")] == [
        f"https://shop.example/{n}" for n in (1, 2, 3)
    ]
    # The item's own price, never its shipping's; the groups are kept as attributes.
    assert [found[k].price for k in ("R1", "R2", "R3")] == [Decimal(10), Decimal(20), Decimal(30)]
    assert found["R1"].extra == {"g:shipping.g:country": "FR", "g:shipping.g:price": "4.95 EUR"}
    assert found["R3"].extra == {"g:tax.g:country": "FR", "g:tax.g:rate": "20"}


def test_products_named_otherwise_are_the_elements_that_hold_an_id(store, tmp_path):
    """No item/entry/product element: the product is the element holding the id field,
    even when a group of leaves (g:shipping) comes first inside it."""
    body = (
        f"<catalogue {G}><produkt>{SHIPPING}<g:id>K1</g:id><g:title>Kist</g:title>"
        "<g:price>12 EUR</g:price></produkt>"
        "<produkt><g:id>K2</g:id><g:title>Kast</g:title><g:price>13 EUR</g:price></produkt>"
        "</catalogue>"
    )
    run = import_file(store, write(tmp_path, "feed.xml", body))
    assert (run.status, run.imported_count) == (R.COMPLETED, 2), run.error_message
    found = products(store)
    assert (found["K1"].price, found["K2"].price) == (Decimal(12), Decimal(13))
    assert found["K1"].extra["g:shipping.g:price"] == "4.95 EUR"


def test_json_records_whose_keys_vary(store, tmp_path):
    data = {
        "products": [
            {"id": "J1", "title": "First", "price": "1.00"},
            {"id": "J2", "name": "Second", "price": "2.00", "colour": "red"},
            {"g:id": "J3", "g:title": "Third", "g:price": "3.00 EUR"},
            {"sku": "J4", "product_name": "Fourth", "regular_price": "4"},
        ]
    }
    run = import_file(store, write(tmp_path, "feed.json", json.dumps(data)))
    assert (run.status, run.imported_count, run.error_count) == (R.COMPLETED, 4, 0), [
        m.error_message for m in messages(run)
    ]
    found = products(store)
    assert {k: (p.translation("en").title, p.price) for k, p in found.items()} == {
        "J1": ("First", Decimal("1.00")),
        "J2": ("Second", Decimal("2.00")),
        "J3": ("Third", Decimal("3.00")),
        "J4": ("Fourth", Decimal("4")),
    }
    assert found["J2"].extra == {"colour": "red"}


def test_nested_json_fields_never_stand_for_a_product_field(store, tmp_path):
    data = [
        {
            "sku": "N1",
            "name": "Nested",
            "price": "5",
            "offer": {"id": "OFFER-9", "price": "1"},
            "image": {"url": "https://cdn.example/n1.jpg"},
        }
    ]
    run = import_file(store, write(tmp_path, "feed.json", json.dumps(data)))
    assert (run.status, run.imported_count) == (R.COMPLETED, 1), run.error_message
    product = products(store)["N1"]  # not "OFFER-9"
    assert (product.price, product.image_link) == (Decimal(5), None)
    assert product.extra == {
        "offer.id": "OFFER-9",
        "offer.price": "1",
        "image.url": "https://cdn.example/n1.jpg",
    }


def test_a_field_of_some_items_is_a_column_of_the_whole_file(store, tmp_path):
    """A field that some items have is the file's: an item without it has it blank (a
    sale that ended); a field no item has leaves the products' value alone."""
    on_sale = "<g:sale_price>8 EUR</g:sale_price>"
    first = rss(
        f"<g:id>S1</g:id><g:title>One</g:title><g:price>10 EUR</g:price>{on_sale}",
        f"<g:id>S2</g:id><g:title>Two</g:title><g:price>10 EUR</g:price>{on_sale}",
    )
    import_file(store, write(tmp_path, "1.xml", first))
    ended = rss(
        "<g:id>S1</g:id><g:title>One</g:title><g:price>10 EUR</g:price>",
        f"<g:id>S2</g:id><g:title>Two</g:title><g:price>10 EUR</g:price>{on_sale}",
    )
    run = import_file(store, write(tmp_path, "2.xml", ended))
    assert (run.updated_count, run.unchanged_count) == (1, 1)
    assert products(store)["S1"].sale_price is None
    no_sales = rss(
        "<g:id>S1</g:id><g:title>One</g:title><g:price>11 EUR</g:price>",
        "<g:id>S2</g:id><g:title>Two</g:title><g:price>11 EUR</g:price>",
    )
    import_file(store, write(tmp_path, "3.xml", no_sales))
    found = products(store)
    assert (found["S1"].price, found["S2"].sale_price) == (Decimal(11), Decimal(8))


def test_an_atom_entry_id_gives_way_to_the_product_id(store, tmp_path):
    body = (
        f'<feed xmlns="http://www.w3.org/2005/Atom" {G}><id>urn:feed</id>'
        "<entry><id>urn:entry:1</id><title>Atom title</title><g:id>A1</g:id>"
        "<g:title>Product title</g:title><g:price>5 EUR</g:price></entry></feed>"
    )
    run = import_file(store, write(tmp_path, "feed.atom", body))
    assert (run.status, run.imported_count) == (R.COMPLETED, 1), run.error_message
    product = products(store)["A1"]
    assert product.translation("en").title == "Product title"
    assert product.extra == {"id (other)": "urn:entry:1", "title (other)": "Atom title"}
