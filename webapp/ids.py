"""Ids as URLs and query strings carry them: whole numbers within the id columns' range.

Every id column is an ``integer``: PostgreSQL refuses to compare one with 2**31 or more
(``NumericValueOutOfRange``) and SQLite's driver cannot even bind 2**63, so an id beyond the
range used to answer 500 wherever it reached a query.  Such an id names no row: it is
answered like any unknown id (404), once for every route, by the ``int`` URL converter
below, which ``create_app`` installs in place of Werkzeug's.  Every ``<int:...>`` in a
Mercato route is an id; a route that ever needs another kind of number gets a converter of
its own.  Query-string ids (filters such as ``?account=``) go through :func:`id_arg`.
"""

from __future__ import annotations

from werkzeug.routing import IntegerConverter, Map

# The tighter of the two databases' ranges (PostgreSQL ``integer``), on both: an id means
# the same thing whatever the database.
MAX_ID = 2**31 - 1


class IdConverter(IntegerConverter):
    """``<int:name>`` limited to 0..MAX_ID and to ASCII digits (``\\d`` also matches '٣')."""

    regex = r"[0-9]+"

    def __init__(
        self,
        map: Map,
        fixed_digits: int = 0,
        min: int | None = None,
        max: int | None = None,
        signed: bool = False,
    ) -> None:
        upper = MAX_ID if max is None or max > MAX_ID else max
        super().__init__(map, fixed_digits, min=min, max=upper, signed=signed)


# What :func:`id_arg` gives for a whole number beyond the range: an id no row has (ids are
# positive), so a filter on it matches nothing, as a filter on any other unknown id does.
NO_ROW = -1


def id_arg(raw: str | None) -> int | None:
    """An id from a query string or a form: None when the text is no whole number at all
    (the filter is ignored, as before), NO_ROW when it is one beyond the id columns' range.

    Only ASCII digits count: ``'²'.isdigit()`` is true and ``int('²')`` fails."""
    if raw is None:
        return None
    text = raw.strip()
    if not text or not (text.isascii() and text.isdigit()):
        return None
    if len(text) > len(str(MAX_ID)):
        return NO_ROW
    value = int(text)
    return value if value <= MAX_ID else NO_ROW


def coerce_id(value) -> int:
    """A WTForms ``coerce`` for a field holding an id: ValueError (an invalid choice) for
    anything :func:`id_arg` refuses, instead of an int no query can take."""
    if isinstance(value, int) and not isinstance(value, bool):
        number = value
    else:
        number = id_arg(value if isinstance(value, str) else None)
    if number is None or not 0 < number <= MAX_ID:
        raise ValueError("not an id")
    return number
