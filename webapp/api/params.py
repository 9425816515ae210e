"""Reading query strings and request bodies, with a 4xx sentence for every mistake.

The API answers 400 for a body it cannot read at all (malformed JSON) and 422 for a
readable request whose values are wrong, so a client can tell a bug in its encoder
from a bad value a person typed.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from flask import request
from werkzeug.datastructures import FileStorage

from webapp.api.errors import ApiError
from webapp.imports.service import DEFAULT_BATCH, LANGUAGES, MAX_BATCH, MIN_BATCH

MAX_LIMIT = 100
_TRUE = ("1", "true", "yes", "on")
_FALSE = ("0", "false", "no", "off", "")


def int_arg(name: str, default: int | None, *, minimum: int = 1, maximum: int | None = None):
    """An integer query parameter within [minimum, maximum]; 422 otherwise."""
    raw = request.args.get(name)
    if raw is None or raw.strip() == "":
        return default
    raw = raw.strip()
    if not (raw.isascii() and raw.isdigit()) or len(raw) > 9:
        raise ApiError(422, f"Query parameter '{name}' must be a whole number.")
    value = int(raw)
    if value < minimum or (maximum is not None and value > maximum):
        bounds = f"between {minimum} and {maximum}" if maximum is not None else f">= {minimum}"
        raise ApiError(422, f"Query parameter '{name}' must be {bounds}.")
    return value


def bool_arg(name: str) -> bool:
    raw = (request.args.get(name) or "").strip().lower()
    if raw in _TRUE:
        return True
    if raw in _FALSE:
        return False
    raise ApiError(422, f"Query parameter '{name}' must be true or false.")


def choice_arg(name: str, choices: tuple[str, ...]) -> str | None:
    raw = (request.args.get(name) or "").strip()
    if not raw:
        return None
    if raw not in choices:
        raise ApiError(422, f"Query parameter '{name}' must be one of {', '.join(choices)}.")
    return raw


def str_arg(name: str, max_length: int = 255) -> str | None:
    raw = (request.args.get(name) or "").strip()
    return raw[:max_length] or None


def page_args(default_limit: int = 10) -> tuple[int, int]:
    """(page, limit): page from 1, limit 1..MAX_LIMIT."""
    page = int_arg("page", 1, minimum=1)
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
    return value.strip() or None


def _optional_int(data: dict[str, Any], name: str) -> int | None:
    value = data.get(name)
    if value is None or value == "":
        return None
    if isinstance(value, bool):  # JSON true is an int to Python; not to a person
        raise ApiError(422, f"'{name}' must be a whole number.")
    if isinstance(value, int):
        return value
    if isinstance(value, str) and value.strip().isascii() and value.strip().isdigit():
        return int(value.strip())
    raise ApiError(422, f"'{name}' must be a whole number.")


def import_body() -> ImportBody:
    """Validate the import request before anything is saved or created."""
    data, upload = _read_fields()
    source_url = _optional_str(data, "source_url")
    if source_url and upload is not None:
        raise ApiError(422, "Give either 'source_url' or a 'file', not both.")
    if not source_url and upload is None:
        raise ApiError(422, "Give the feed as 'source_url' or upload it as 'file'.")
    marketplace = _optional_str(data, "marketplace") or "Letzshop"
    if len(marketplace) > 64:
        raise ApiError(422, "'marketplace' must be at most 64 characters.")
    language = _optional_str(data, "language") or "en"
    if language not in LANGUAGES:
        raise ApiError(422, f"'language' must be one of {', '.join(LANGUAGES)}.")
    batch_size = _optional_int(data, "batch_size")
    batch_size = DEFAULT_BATCH if batch_size is None else batch_size
    if not MIN_BATCH <= batch_size <= MAX_BATCH:
        raise ApiError(422, f"'batch_size' must be between {MIN_BATCH} and {MAX_BATCH}.")
    return ImportBody(
        source_url=source_url,
        upload=upload,
        marketplace=marketplace,
        language=language,
        batch_size=batch_size,
        store_id=_optional_int(data, "store_id"),
    )
