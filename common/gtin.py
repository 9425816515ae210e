"""GTIN arithmetic shared by the import (parsing a feed's GTIN) and order matching."""

from __future__ import annotations

GTIN_LENGTHS = (8, 12, 13, 14)


def gtin_check_digit_ok(digits: str) -> bool:
    """GS1 mod-10: weights 3 and 1 from the right, summed on the bytes (no int() per digit)."""
    raw = digits.encode("ascii")
    by3, by1 = raw[-2::-2], raw[-3::-2]
    total = 3 * (sum(by3) - 48 * len(by3)) + sum(by1) - 48 * len(by1)
    return (10 - total % 10) % 10 == raw[-1] - 48
