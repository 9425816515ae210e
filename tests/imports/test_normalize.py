from decimal import Decimal

import pytest

from webapp.imports.normalize import (
    parse_availability,
    parse_gtin,
    parse_price,
    parse_quantity,
)


@pytest.mark.parametrize(
    ("text", "amount", "currency"),
    [
        ("29.99 EUR", "29.99", "EUR"),
        ("29,99 €", "29.99", "EUR"),
        ("1.299,00", "1299.00", None),
        ("1,299.00", "1299.00", None),
        ("EUR 29.99", "29.99", "EUR"),
        ("352 AED", "352", "AED"),
        ("£12.50", "12.50", "GBP"),
        ("15.0 EUR", "15.0", "EUR"),
        ("0,55", "0.55", None),
        ("1 299,00 €", "1299.00", "EUR"),
        ("1,299", "1299", None),
        ("57", "57", None),
        ("$5", "5", "USD"),
    ],
)
def test_prices_in_every_notation(text, amount, currency):
    assert parse_price(text) == (Decimal(amount), currency)


@pytest.mark.parametrize("text", ["abc", "12 - 14 EUR", "-3", "EUR"])
def test_unreadable_prices_raise_a_sentence(text):
    with pytest.raises(ValueError, match="price"):
        parse_price(text)


def test_empty_price_is_no_price():
    assert parse_price("  ") == (None, None)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("4006381333931", "4006381333931"),
        ("0000080446392", "0000080446392"),
        ("96385074", "96385074"),
        ("4006-3813-33931", "4006381333931"),
        ("", None),
    ],
)
def test_valid_gtins_keep_leading_zeros(text, expected):
    assert parse_gtin(text) == expected


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("4006381333932", "check digit"),
        ("1234567890", "10 digits"),
        ("3,61E+12", "scientific"),
        ("ABC123", "digits"),
    ],
)
def test_bad_gtins_say_why(text, reason):
    with pytest.raises(ValueError, match=reason):
        parse_gtin(text)


@pytest.mark.parametrize(
    ("text", "quantity", "expected"),
    [
        ("in stock", None, "in_stock"),
        ("in_stock", None, "in_stock"),
        ("Out of Stock", None, "out_of_stock"),
        ("disponible", None, "in_stock"),
        ("ausverkauft", None, "out_of_stock"),
        ("pre-order", None, "preorder"),
        ("", 3, "in_stock"),
        ("", 0, "out_of_stock"),
        ("", None, None),
        ("5", None, "in_stock"),
    ],
)
def test_availability_from_words_or_quantity(text, quantity, expected):
    assert parse_availability(text, quantity) == expected


@pytest.mark.parametrize(
    ("text", "expected"), [("3", 3), ("12.0", 12), ("1 200", 1200), ("100 ML", None), ("-2", 0)]
)
def test_quantity_only_whole_counts(text, expected):
    assert parse_quantity(text) == expected
