"""Fast JSON (orjson) for the order hot path: decoding marketplace pages, encoding JSON columns.

orjson is several times faster than the standard library on order payloads (a Lengow order
is about 3.6 kB). ``dumps`` returns ``str`` as SQLAlchemy's ``json_serializer`` expects and
accepts what ``json.dumps`` accepts (non-string keys too); it also takes datetimes.
"""

from __future__ import annotations

from typing import Any

import orjson

OPTIONS = orjson.OPT_NON_STR_KEYS


def dumps(value: Any) -> str:
    return orjson.dumps(value, option=OPTIONS).decode()


def loads(data: bytes | str) -> Any:
    return orjson.loads(data)
