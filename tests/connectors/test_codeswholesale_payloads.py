"""CodesWholesale payloads read leniently: the real 2018 catalogue dump parses whole, with its
quirks kept or read as they mean; odd records are read with warnings, only an id-less one is
refused; orders, codes and the account in the v2 and v3 shapes."""

from __future__ import annotations

import csv
from datetime import UTC, datetime
from decimal import Decimal

import pytest

from connectors.codeswholesale.errors import error_code, grade
from connectors.codeswholesale.payloads import (
    UnreadableProduct,
    parse_balance,
    parse_code,
    parse_order,
    parse_product,
)
from connectors.errors import RetryableError
from connectors.suppliers import (
    CODE_IMAGE,
    CODE_PRE_ORDER,
    CODE_TEXT,
    decode_tiers,
    encode_tiers,
)
from sandbox.fakes.codeswholesale import catalogue_records
from tests.conftest import real_fixture

DUMP = ("codeswholesale", "cw_products_catalog_dump_2018.csv")


def dump_rows() -> list[dict]:
    with real_fixture(*DUMP).open(newline="", encoding="utf-8") as fh:
        return list(csv.DictReader(fh))


def as_api_record(row: dict) -> dict:
    """A dump row in the API's names, with nothing added: the fields the dump has."""
    return {
        "productId": row["id"],
        "identifier": row["short name"],
        "name": row["name"],
        "platform": row["platform"],
        "releaseDate": row["date release"],
    }


def test_every_product_of_the_real_dump_parses():
    rows = dump_rows()
    products = [parse_product(as_api_record(row)) for row in rows]
    assert len(products) == 2383
    assert len({p.product_id for p in products}) == 2383
    assert not [p for p in products if p.warnings]
    # 263 empty release dates: no date, no warning.
    assert sum(1 for p in products if p.release_date is None) == 263
    # Platform "None" is no platform; every other platform is kept as written.
    assert sum(1 for p in products if p.platform is None) == 22
    assert {p.platform for p in products} >= {"Steam", "Xbox Live", "Official website"}
    # Identifiers with $ and spaces are the supplier's codes: kept as they are.
    by_identifier = {p.identifier: p for p in products}
    for identifier in ("AMA100$", "AMA25$USA", "BRUTAL LEGEND", "ETS2 GOTY", "PSN100$USA"):
        assert identifier in by_identifier
    released = by_identifier["12iB6"].release_date
    assert released == datetime(2015, 11, 19, 17, 0, tzinfo=UTC)
    assert by_identifier["12iB6"].name == "12 is Better Than 6"
    # A name with quotes and commas in the CSV arrives whole.
    assert any("," in p.name for p in products)


def test_the_fakes_full_records_of_the_dump_parse_with_their_tiers():
    dump = real_fixture(*DUMP)
    for version in ("v2", "v3"):
        products = [parse_product(r) for r in catalogue_records(dump, version)]
        assert len(products) == 2383 and not [p for p in products if p.warnings]
        for product in products[:50]:
            assert [t.from_quantity for t in product.prices] == [1, 10, 50]
            assert product.price == product.prices[0].value
            assert product.price_for(12) == product.prices[1].value
            assert product.price_for(500) == product.prices[2].value
            assert product.regions and product.languages


def test_odd_records_are_read_with_warnings():
    product = parse_product(
        {
            "productId": " abc ",
            "identifier": "X 1$",
            "platform": "None",
            "regions": "EU, UK,EU",
            "languages": [{"name": "English"}, "German", None],
            "releaseDate": "soon",
            "quantity": "-4",
            "prices": [{"from": 10, "value": "2,50"}, {"value": None}, {"from": 1, "value": 3}],
            "images": [{"format": "SMALL", "image": "s.jpg"}, {"format": "MEDIUM", "image": "m"}],
        }
    )
    assert product.product_id == "abc" and product.identifier == "X 1$"
    assert product.name == "X 1$" and product.platform is None
    assert product.regions == ("EU", "UK") and product.languages == ("English", "German")
    assert product.release_date is None and product.quantity == 0
    assert product.price == Decimal("3") and product.price_for(10) == Decimal("2.50")
    assert product.image_url == "m"
    assert len(product.warnings) == 4  # name, date, quantity, a tier without value


@pytest.mark.parametrize("raw", [{}, {"productId": ""}, "text", None, {"name": "x"}])
def test_a_record_without_product_id_is_refused(raw):
    with pytest.raises(UnreadableProduct):
        parse_product(raw)


def test_orders_and_codes_in_both_shapes():
    v2 = parse_order(
        {
            "orderId": "o-1",
            "clientOrderId": "MER-1",
            "totalPrice": 12.5,
            "status": "Completed",
            "createdOn": "2026-12-06T10:00:00.000Z",
            "products": [
                {
                    "productId": "p",
                    "unitPrice": 6.25,
                    "codes": [
                        {"codeId": "c1", "code": "AAA-BBB", "status": "Text code"},
                        {"codeId": "c2", "code": "iVBO", "status": "Image code", "filename": "a"},
                        {"codeId": "c3", "code": "", "status": "Pre-ordered code"},
                    ],
                }
            ],
        }
    )
    assert v2.client_order_id == "MER-1" and v2.total_price == Decimal("12.5")
    assert [c.kind for c in v2.codes] == [CODE_TEXT, CODE_IMAGE, CODE_PRE_ORDER]
    assert v2.keys_for("p")[0].code == "AAA-BBB" and v2.keys_for("q") == ()
    assert parse_code({"codeId": "x", "codeType": "PRE_ORDER", "code": "ignored"}).code is None
    assert parse_code({"codeId": "y", "codeType": "CODE_IMAGE", "code": "Zm9v"}).kind == "image"
    with pytest.raises(ValueError):
        parse_order({"products": []})
    balance = parse_balance({"currentBalance": 10, "currentCredit": "5", "totalToUse": 15})
    assert balance.total_to_use == Decimal("15") and balance.credit == Decimal("5")


def test_error_codes_are_graded_from_the_body():
    assert error_code(b'{"status":400,"code":310003,"message":"Cannot complete"}') == (
        310003,
        "Cannot complete",
    )
    assert error_code(b"<html>") == (None, "")
    graded = grade(400, b'{"code":"10002","message":"low"}', "application/json", "POST x")
    assert isinstance(graded, RetryableError) and graded.code == 10002
    assert grade(400, b'{"code":12345,"message":"other"}', "", "POST x") is None


def test_tiers_round_trip_through_their_plain_text():
    product = parse_product(
        {
            "productId": "p",
            "name": "n",
            "prices": [{"from": 1, "value": 3.33}, {"from": 10, "value": 3.2}],
        }
    )
    text = encode_tiers(product.prices)
    assert text == "1-9:3.33;10-:3.2" and '"' not in text
    assert decode_tiers(text) == product.prices
    assert decode_tiers("") == ()
    with pytest.raises(ValueError):
        decode_tiers("cheap")
