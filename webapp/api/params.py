"""Reading query strings and request bodies, with a 4xx sentence for every mistake.

The API answers 400 for a body it cannot read at all (malformed JSON) and 422 for a
readable request whose values are wrong, so a client can tell a bug in its encoder
from a bad value a person typed.

The limits here are the ones the OpenAPI document states (webapp/api/openapi.py reads the
same constants), and tests/api/test_schemathesis.py holds the two together: a number
parameter has a maximum, and a typed parameter given empty (``page=``) is a wrong value,
not the default (leave it out for that).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from flask import request
from werkzeug.datastructures import FileStorage

from webapp.api.errors import ApiError
from webapp.ids import MAX_ID
from webapp.imports.service import DEFAULT_BATCH, LANGUAGES, MAX_BATCH, MIN_BATCH
from webapp.models.catalog import DEFAULT_MARKETPLACE
from webapp.pagination import MAX_PAGE

MAX_LIMIT = 100
_TRUE = ("1", "true", "yes", "on")
_FALSE = ("0", "false", "no", "off")


def _whole_number(raw: str, maximum: int) -> int | None:
    """``raw`` as an int when it is ASCII digits, else None; digits beyond ``maximum``'s length
    come back as maximum + 1 (out of range) without building a huge int."""
    if not (raw.isascii() and raw.isdigit()):
        return None
    if len(raw.lstrip("0")) > len(str(maximum)):
        return maximum + 1
    return int(raw)


def int_arg(name: str, default: int | None, *, minimum: int = 1, maximum: int):
    """An integer query parameter within [minimum, maximum]; 422 otherwise (empty too)."""
    raw = request.args.get(name)
    if raw is None:
        return default
    value = _whole_number(raw.strip(), maximum)
    if value is None:
        raise ApiError(422, f"Query parameter '{name}' must be a whole number.")
    if not minimum <= value <= maximum:
        raise ApiError(422, f"Query parameter '{name}' must be between {minimum} and {maximum}.")
    return value


def id_query_arg(name: str) -> int | None:
    """An id in the query string (a filter): 1..MAX_ID, as the id columns hold."""
    return int_arg(name, None, minimum=1, maximum=MAX_ID)


def bool_arg(name: str) -> bool:
    raw = request.args.get(name)
    if raw is None:
        return False
    raw = raw.strip().lower()
    if raw in _TRUE:
        return True
    if raw in _FALSE:
        return False
    raise ApiError(422, f"Query parameter '{name}' must be true or false.")


def choice_arg(name: str, choices: tuple[str, ...]) -> str | None:
    raw = request.args.get(name)
    if raw is None:
        return None
    raw = raw.strip()
    if raw not in choices:
        raise ApiError(422, f"Query parameter '{name}' must be one of {', '.join(choices)}.")
    return raw


NUL = "\x00"  # no database text holds it (PostgreSQL refuses it): never a value of ours


def str_arg(name: str, max_length: int = 255) -> str | None:
    raw = (request.args.get(name) or "").strip()
    if NUL in raw:
        raise ApiError(422, f"Query parameter '{name}' must not contain a NUL character.")
    if len(raw) > max_length:  # the document states the same maxLength
        raise ApiError(422, f"Query parameter '{name}' must be at most {max_length} characters.")
    return raw or None


def page_args(default_limit: int = 10) -> tuple[int, int]:
    """(page, limit): page from 1, limit 1..MAX_LIMIT."""
    page = int_arg("page", 1, minimum=1, maximum=MAX_PAGE)
    limit = int_arg("limit", default_limit, minimum=1, maximum=MAX_LIMIT)
    return page, limit


@dataclass
class ImportBody:
    """A validated request to start an import (the store is resolved by the caller)."""

    source_url: str | None
    upload: FileStorage | None
    marketplace: str
    language: str
    batch_size: int
    store_id: int | None


def _read_fields() -> tuple[dict[str, Any], FileStorage | None]:
    """The request's fields, from a JSON object or from a (multipart) form."""
    if request.is_json:
        data = request.get_json(silent=True)
        if data is None:
            raise ApiError(400, "The request body is not valid JSON.")
        if not isinstance(data, dict):
            raise ApiError(400, "The request body must be a JSON object.")
        return data, None
    if request.mimetype in ("multipart/form-data", "application/x-www-form-urlencoded"):
        # Reading the form is where Werkzeug enforces MAX_CONTENT_LENGTH (413).
        fields = {key: request.form.get(key) for key in request.form}
        upload = request.files.get("file")
        return fields, upload if upload is not None and upload.filename else None
    if not request.get_data(cache=True):
        return {}, None
    raise ApiError(415, "Send the request as application/json or multipart/form-data.")


def _optional_str(data: dict[str, Any], name: str) -> str | None:
    value = data.get(name)
    if value is None:
        return None
    if not isinstance(value, str):
        raise ApiError(422, f"'{name}' must be a string.")
    if NUL in value:
        raise ApiError(422, f"'{name}' must not contain a NUL character.")
    return value.strip() or None


def _optional_int(data: dict[str, Any], name: str, minimum: int, maximum: int) -> int | None:
    """A whole number within [minimum, maximum] from JSON or a form field; 422 otherwise."""
    value = data.get(name)
    if value is None or value == "":
        return None
    if isinstance(value, bool):  # JSON true is an int to Python; not to a person
        raise ApiError(422, f"'{name}' must be a whole number.")
    if isinstance(value, str):
        value = _whole_number(value.strip(), maximum)
    if not isinstance(value, int):
        raise ApiError(422, f"'{name}' must be a whole number.")
    if not minimum <= value <= maximum:
        raise ApiError(422, f"'{name}' must be between {minimum} and {maximum}.")
    return value


def import_body() -> ImportBody:
    """Validate the import request before anything is saved or created."""
    data, upload = _read_fields()
    source_url = _optional_str(data, "source_url")
    if source_url and upload is not None:
        raise ApiError(422, "Give either 'source_url' or a 'file', not both.")
    if not source_url and upload is None:
        raise ApiError(422, "Give the feed as 'source_url' or upload it as 'file'.")
    marketplace = _optional_str(data, "marketplace") or DEFAULT_MARKETPLACE
    if len(marketplace) > 64:
        raise ApiError(422, "'marketplace' must be at most 64 characters.")
    language = _optional_str(data, "language") or "en"
    if language not in LANGUAGES:
        raise ApiError(422, f"'language' must be one of {', '.join(LANGUAGES)}.")
    batch_size = _optional_int(data, "batch_size", MIN_BATCH, MAX_BATCH)
    batch_size = DEFAULT_BATCH if batch_size is None else batch_size
    return ImportBody(
        source_url=source_url,
        upload=upload,
        marketplace=marketplace,
        language=language,
        batch_size=batch_size,
        store_id=_optional_int(data, "store_id", 1, MAX_ID),
    )


def feed_start_fix() -> bool:
    """Starting a feed takes one optional field, ``fix`` (a boolean: a stock check also sends
    the corrections of the drifts it finds); anything else is refused as :func:`empty_body`
    refuses it."""
    fields, upload = _read_fields()
    named = sorted(set(fields) - {"fix"}) + (["file"] if upload is not None else [])
    if named:
        raise ApiError(
            422, f"This request takes no field but 'fix': {', '.join(map(repr, named))}."
        )
    value = fields.get("fix", False)
    if value in (True, "true", "1"):
        return True
    if value in (False, None, "false", "0", ""):
        return False
    raise ApiError(422, "'fix' must be a boolean.")


def empty_body() -> None:
    """A body that must say nothing (starting a feed takes no field): none, ``{}`` or an empty
    form; anything else is refused (400 unreadable, 415 another type, 422 a field)."""
    fields, upload = _read_fields()
    named = sorted(fields) + (["file"] if upload is not None else [])
    if named:
        raise ApiError(422, f"This request takes no field: {', '.join(map(repr, named))}.")
