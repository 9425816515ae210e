"""Turn the strings merchants put in feeds into typed, comparable values.

Each function takes the raw cell text and returns the normalised value, or
``None`` when the cell is empty.  A value that is present but unreadable is
signalled by raising :class:`ValueError` with a sentence for the merchant.
"""

from __future__ import annotations

import re
from decimal import Decimal, InvalidOperation

from common.gtin import GTIN_LENGTHS, gtin_check_digit_ok

CURRENCY_SYMBOLS = {
    "€": "EUR",
    "£": "GBP",
    "$": "USD",
    "us$": "USD",
    "¥": "JPY",
    "₹": "INR",
    "chf": "CHF",
    "fr.": "CHF",
    "zł": "PLN",
    "kč": "CZK",
    "kr": "SEK",
    "د.إ": "AED",
}
# An ISO 4217-looking code next to the number: "29.99 EUR", "EUR 29.99", "352 AED".
_ISO = re.compile(r"(?<![A-Za-z])([A-Z]{3})(?![A-Za-z])")
_NUMBER = re.compile(r"[-+]?\d[\d.,' \u00a0\u202f]*")
_SPACES = re.compile(r"[ '\u00a0\u202f]")
# The common Google Shopping form, read without the general parser: "29.99 EUR", "57".
_PLAIN_PRICE = re.compile(r"(\d{1,15}(?:\.\d{1,6})?)(?: ?([A-Z]{3}))?")
_DIGIT_IN = re.compile(r"\d")
_NUMERIC = re.compile(r"[-+]?[\d.,]+")


def parse_price(text: str | None) -> tuple[Decimal | None, str | None]:
    """``"29.99 EUR"``, ``"29,99 €"``, ``"1.299,00"``, ``"1,299.00"`` -> (Decimal, currency)."""
    if text is None:
        return None, None
    text = text.strip()
    if not text:
        return None, None
    plain = _PLAIN_PRICE.fullmatch(text)
    if plain:
        return Decimal(plain.group(1)), plain.group(2)
    currency = None
    iso = _ISO.search(text)
    if iso:
        currency = iso.group(1)
    else:
        lowered = text.lower()
        for symbol, code in CURRENCY_SYMBOLS.items():
            if symbol in lowered:
                currency = code
                break
    match = _NUMBER.search(text)
    if not match:
        raise ValueError(f"price {text!r} has no number in it")
    rest = (text[: match.start()] + text[match.end() :]).strip()
    if _DIGIT_IN.search(rest):
        raise ValueError(f"price {text!r} holds more than one number")
    amount = _decimal_from(match.group(0).strip())
    if amount is None:
        raise ValueError(f"price {text!r} is not a number")
    if amount < 0:
        raise ValueError(f"price {text!r} is negative")
    return amount, currency


def _decimal_from(raw: str) -> Decimal | None:
    number = _SPACES.sub("", raw)
    if not number or not _NUMERIC.fullmatch(number):
        return None
    dots, commas = number.count("."), number.count(",")
    if dots and commas:
        # The separator that comes last is the decimal one: 1.299,00 / 1,299.00
        if number.rfind(",") > number.rfind("."):
            number = number.replace(".", "").replace(",", ".")
        else:
            number = number.replace(",", "")
    elif commas:
        head, _, tail = number.rpartition(",")
        if commas > 1 or (
            len(tail) == 3
            and head.lstrip("+-")
            and len(head.lstrip("+-")) <= 3
            and head.lstrip("+-") != "0"
        ):
            number = number.replace(",", "")  # 1,299 / 1,299,000: thousands
        else:
            number = number.replace(",", ".")  # 29,99: decimal comma
    elif dots > 1:
        number = number.replace(".", "")  # 1.299.000: thousands dots
    try:
        value = Decimal(number)
    except InvalidOperation:
        return None
    if not value.is_finite():
        return None
    return value


_AVAILABILITY_WORDS = {
    "in_stock": (
        "in stock",
        "instock",
        "in_stock",
        "available",
        "yes",
        "y",
        "true",
        "1",
        "on stock",
        "disponible",
        "en stock",
        "oui",
        "auf lager",
        "lieferbar",
        "verfügbar",
        "vorrätig",
        "ja",
        "limited availability",
        "availableforsale",
    ),
    "out_of_stock": (
        "out of stock",
        "outofstock",
        "out_of_stock",
        "unavailable",
        "no",
        "n",
        "false",
        "0",
        "sold out",
        "soldout",
        "discontinued",
        "rupture",
        "rupture de stock",
        "épuisé",
        "indisponible",
        "non",
        "nicht verfügbar",
        "nicht lieferbar",
        "ausverkauft",
        "nein",
        "not available",
    ),
    "preorder": (
        "preorder",
        "pre-order",
        "pre order",
        "précommande",
        "vorbestellung",
        "vorbestellbar",
    ),
    "backorder": (
        "backorder",
        "on backorder",
        "onbackorder",
        "available for order",
        "sur commande",
        "nachbestellt",
    ),
}
AVAILABILITY = {
    word: canonical for canonical, words in _AVAILABILITY_WORDS.items() for word in words
}


def parse_availability(text: str | None, quantity: int | None = None) -> str | None:
    """Google's vocabulary (in_stock, out_of_stock, preorder, backorder) from words or stock."""
    if text:
        word = " ".join(text.strip().lower().replace("-", " ").split())
        found = AVAILABILITY.get(word) or AVAILABILITY.get(word.replace(" ", ""))
        if found:
            return found
        if word.isdigit():
            return "in_stock" if int(word) > 0 else "out_of_stock"
    if quantity is not None:
        return "in_stock" if quantity > 0 else "out_of_stock"
    return None


def parse_quantity(text: str | None) -> int | None:
    """Whole stock counts ("3", "12.0", "1 200"); anything else (e.g. "100 ML") is not stock."""
    if text is None:
        return None
    cleaned = text.strip()
    if cleaned.isdigit():
        return int(cleaned)
    cleaned = _SPACES.sub("", cleaned)
    if re.fullmatch(r"[-+]?\d+", cleaned):
        return max(0, int(cleaned))
    if re.fullmatch(r"[-+]?\d+[.,]0+", cleaned):
        return max(0, int(cleaned.replace(",", ".").split(".")[0]))
    return None


_SCIENTIFIC = re.compile(r"\d[.,]\d*[eE][+-]?\d")
_GTIN_SEPARATORS = re.compile(r"[\s\-.]")


def parse_gtin(text: str | None) -> str | None:
    """GTIN-8/12/13/14 digits with a valid check digit, leading zeros kept."""
    if text is None:
        return None
    raw = text.strip()
    if not raw:
        return None
    if raw.isascii() and raw.isdigit() and len(raw) in GTIN_LENGTHS:
        if gtin_check_digit_ok(raw):
            return raw
        raise ValueError(f"GTIN {raw!r} has a wrong check digit")
    if _SCIENTIFIC.search(raw):
        raise ValueError(
            f"GTIN {raw!r} was mangled into scientific notation (a spreadsheet rounded it)"
        )
    digits = _GTIN_SEPARATORS.sub("", raw)
    if not (digits.isascii() and digits.isdigit()):
        raise ValueError(f"GTIN {raw!r} is not made of digits")
    if len(digits) not in GTIN_LENGTHS:
        raise ValueError(f"GTIN {raw!r} has {len(digits)} digits; a GTIN has 8, 12, 13 or 14")
    if not gtin_check_digit_ok(digits):
        raise ValueError(f"GTIN {raw!r} has a wrong check digit")
    return digits


_CONDITIONS = {
    "new": "new",
    "neu": "new",
    "neuf": "new",
    "nouveau": "new",
    "used": "used",
    "gebraucht": "used",
    "occasion": "used",
    "refurbished": "refurbished",
    "reconditionné": "refurbished",
    "generalüberholt": "refurbished",
}


def parse_condition(text: str | None) -> str | None:
    if not text or not text.strip():
        return None
    word = text.strip().lower()
    return _CONDITIONS.get(word, word[:32])
