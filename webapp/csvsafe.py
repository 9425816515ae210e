"""Every CSV Mercato writes goes through here: cells that a spreadsheet would run as a formula
are defused.

Feed and order text comes from outside (a merchant's feed, a marketplace, a customer's
name). Opened in Excel or LibreOffice, a cell starting with ``=``, ``+``, ``-`` or ``@`` (or
a tab or carriage return before one) is a formula: ``=HYPERLINK(...)`` sends the reader
somewhere, ``=cmd|...`` used to run programs. Such a cell is written with a leading ``'``,
which spreadsheets show as text and hide (OWASP "CSV injection"). A plain number (``-5``,
``+3.50``) is no formula and is written as it is, so amounts stay numbers.

Use :func:`writer` / :func:`dict_writer` instead of ``csv.writer`` / ``csv.DictWriter``.
"""

from __future__ import annotations

import csv
import re
from collections.abc import Iterable, Mapping
from typing import Any

FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")
_PLAIN_NUMBER = re.compile(r"[+-]?[0-9]+(?:\.[0-9]+)?")


def defuse(value: Any) -> Any:
    """``value`` as a spreadsheet may read it: text that would run as a formula gets a ``'``."""
    if isinstance(value, str) and value.startswith(FORMULA_STARTS):
        if not _PLAIN_NUMBER.fullmatch(value):
            return "'" + value
    return value


class _Writer:
    """``csv.writer`` whose every cell is defused."""

    def __init__(self, stream, **options: Any) -> None:
        self._writer = csv.writer(stream, **options)

    def writerow(self, row: Iterable[Any]) -> Any:
        return self._writer.writerow([defuse(cell) for cell in row])

    def writerows(self, rows: Iterable[Iterable[Any]]) -> None:
        for row in rows:
            self.writerow(row)


class _DictWriter(csv.DictWriter):
    """``csv.DictWriter`` whose every cell is defused (``writeheader`` writes a row too)."""

    def writerow(self, rowdict: Mapping[str, Any]) -> Any:
        return super().writerow({key: defuse(value) for key, value in rowdict.items()})

    def writerows(self, rowdicts: Iterable[Mapping[str, Any]]) -> None:
        for rowdict in rowdicts:
            self.writerow(rowdict)


def writer(stream, **options: Any) -> _Writer:
    return _Writer(stream, **options)


def dict_writer(stream, fieldnames: Iterable[str], **options: Any) -> _DictWriter:
    return _DictWriter(stream, fieldnames=list(fieldnames), **options)
