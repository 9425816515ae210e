"""The store's key pool over the API: ``GET /store/keys`` (levels per product and the
low-pool threshold), ``POST /store/keys`` (a multipart upload of a key file, or its text as
JSON ``csv``: a run of the store's "Import digital keys" feed, queued), ``GET
/store/keys/imports/<job_id>`` (an upload's counts and messages, keys masked) and ``PUT
/store/keys/settings`` (the threshold, then the levels are checked against it).

The rules are :mod:`webapp.keys`'. A store user reaches their own store's pool only (another
``store_id`` answers 404, like an unknown one); an admin names the store with ``store_id``.
No answer ever holds a key in clear. The operations and schemas are added to the contract
(``webapp.api.openapi``) from here.
"""

from __future__ import annotations

import io
from typing import Any

from flask import Response, current_app, jsonify, url_for
from werkzeug.datastructures import FileStorage

from webapp.api import bp, openapi
from webapp.api.auth import api_user
from webapp.api.errors import ApiError
from webapp.api.file_runs import accepted, file_run, upload_size
from webapp.api.openapi import _ID, _TEXT, _errors, _json, _nullable, _operation, _param, _ref
from webapp.api.params import (
    _optional_int,
    _optional_str,
    _read_fields,
    id_query_arg,
)
from webapp.extensions import db
from webapp.ids import MAX_ID
from webapp.imports import keys_file as importer
from webapp.imports.request import ImportRequestError
from webapp.keys import levels
from webapp.models import Store
from webapp.models import runs as R

NO_STORE = "No store with this id."
NOT_FOUND = "No key import with this id."


def _store(wanted: int | None) -> Store:
    user = api_user()
    if user.is_admin:
        if wanted is None:  # an admin has no store of their own
            raise ApiError(404, "No store: admins name the store with 'store_id'.")
        store = db.session.get(Store, wanted)
    else:
        if wanted is not None and wanted != user.store_id:
            raise ApiError(404, NO_STORE)
        store = db.session.get(Store, user.store_id)
    if store is None:
        raise ApiError(404, NO_STORE)
    return store


def _fields(allowed: set[str]) -> tuple[dict, FileStorage | None]:
    fields, upload = _read_fields()
    unknown = sorted(set(fields) - allowed)
    if unknown:
        raise ApiError(422, f"Unknown field(s): {', '.join(map(repr, unknown))}.")
    nulls = sorted(name for name, value in fields.items() if value is None)
    if nulls:
        raise ApiError(422, f"{', '.join(map(repr, nulls))} must not be null: leave it out.")
    return fields, upload


@bp.get("/store/keys")
def store_key_levels() -> Response:
    """The pool's levels per product (available, assigned, expired) and the threshold."""
    store = _store(id_query_arg("store_id"))
    return jsonify(
        {
            "store": {"id": store.id, "code": store.code},
            "low_threshold": levels.threshold(store.id),
            "items": [level.as_dict() for level in levels.levels(store.id)],
        }
    )


@bp.post("/store/keys")
def store_upload_keys() -> Response:
    """Upload a key file as ``file`` (or its text as JSON ``csv``): 202 with the run's id;
    follow ``Location``. 409: an import of the store's keys is still running."""
    fields, upload = _fields({"store_id", "csv", "file_name"})
    store = _store(_optional_int(fields, "store_id", 1, MAX_ID))
    if upload is None:
        text = _optional_str(fields, "csv")
        if text is None:
            raise ApiError(
                422, "Upload the key file as 'file' (multipart/form-data), or its text as 'csv'."
            )
        name = _optional_str(fields, "file_name") or "keys.csv"
        if len(name) > 255:
            raise ApiError(422, "'file_name' must be at most 255 characters.")
        upload = FileStorage(stream=io.BytesIO(text.encode("utf-8")), filename=name)
    limit = min(importer.MAX_BYTES, current_app.config["MERCATO_UPLOAD_MAX_BYTES"])
    if upload_size(upload) > limit:
        raise ApiError(413, f"The file is larger than the {limit // (1024 * 1024)} MB limit.")
    try:
        run = importer.start_upload(store, upload, user_id=api_user().id, trigger="api")
    except importer.AlreadyRunning as exc:
        raise ApiError(409, str(exc), job_id=exc.run.id) from exc
    except ImportRequestError as exc:
        raise ApiError(413 if "larger than" in str(exc) else 422, str(exc)) from exc
    return accepted(run, url_for("api.store_key_import", job_id=run.id))


@bp.get("/store/keys/imports/<int:job_id>")
def store_key_import(job_id: int) -> Response:
    """An upload's counts and one page of its messages (by row; keys masked)."""
    return file_run(job_id, importer.RUN_KIND, importer.summary, NOT_FOUND)


@bp.put("/store/keys/settings")
def store_key_settings() -> Response:
    """Set the low-pool threshold; the levels are then checked against it (alerts raised or
    closed at once)."""
    fields, upload = _fields({"store_id", "low_threshold"})
    if upload is not None:
        raise ApiError(422, "No file is taken here.")
    store = _store(_optional_int(fields, "store_id", 1, MAX_ID))
    if "low_threshold" not in fields:
        raise ApiError(422, "'low_threshold' is required.")
    value = fields["low_threshold"]
    if isinstance(value, float) and value.is_integer():  # JSON's 6.0 is a whole number
        value = int(value)
    if not isinstance(value, int) or isinstance(value, bool):
        raise ApiError(422, "'low_threshold' must be a whole number.")
    try:
        value = levels.parse_threshold(value)
    except levels.ThresholdError as exc:
        raise ApiError(422, str(exc)) from None
    levels.set_threshold(store.id, value)
    db.session.commit()
    checked = importer.check_now(store, trigger="api", user_id=api_user().id)
    return jsonify(
        {
            "store": {"id": store.id, "code": store.code},
            "low_threshold": levels.threshold(store.id),
            "checked_by": checked.id if checked is not None else None,
        }
    )


# -- the contract -----------------------------------------------------------------------------

_STORE_PARAM = {
    "name": "store_id",
    "in": "query",
    "description": "Admins: the store (without it: 404). A store user: their own store, or "
    "omitted (another store's id: 404).",
    "schema": _ID,
}
_STORE_FIELD = {
    "type": "integer",
    "minimum": 1,
    "maximum": MAX_ID,
    "description": "Required for admins; a store user may omit it (their store) and naming "
    "another store answers 404.",
}
_COUNT = {"type": "integer", "minimum": 0}
_FILE_DOC = (
    "The key file: CSV or TSV in any encoding and delimiter, with a header row naming a "
    "`sku` (or `supplier_product_id`) column, a `key` column and optionally `expiry` "
    "(YYYY-MM-DD, valid through that day, or an ISO date-time). At most "
    f"{importer.MAX_BYTES // (1024 * 1024)} MB."
)

SCHEMAS: dict[str, Any] = {
    "KeyLevel": {
        "type": "object",
        "additionalProperties": False,
        "required": ["sku", "supplier_product_id", "available", "assigned", "expired"],
        "properties": {
            "sku": _nullable("string", description="The store's SKU the keys are for."),
            "supplier_product_id": _nullable(
                "string", description="Keys uploaded by supplier product id only."
            ),
            "available": {**_COUNT, "description": "Free and unexpired: can be given out."},
            "assigned": {**_COUNT, "description": "Given to an order line (forever)."},
            "expired": {**_COUNT, "description": "Free but expired: never given out."},
        },
    },
    "KeyLevels": {
        "type": "object",
        "additionalProperties": False,
        "required": ["store", "low_threshold", "items"],
        "properties": {
            "store": _ref("Store"),
            "low_threshold": {
                **_COUNT,
                "description": "Below this many available keys a product's pool is low (an "
                "inbox message until refilled); 0: no alert.",
            },
            "items": {"type": "array", "items": _ref("KeyLevel")},
        },
    },
    "KeyUpload": {
        "type": "object",
        "required": ["file"],
        "additionalProperties": False,
        "properties": {
            "file": {
                "type": "string",
                "contentMediaType": "application/octet-stream",
                "description": _FILE_DOC,
            },
            "store_id": _STORE_FIELD,
        },
    },
    "KeyText": {
        "type": "object",
        "required": ["csv"],
        "additionalProperties": False,
        "properties": {
            "csv": {**_TEXT, "minLength": 1, "description": "The key file's text."},
            "file_name": {**_TEXT, "maxLength": 255, "default": "keys.csv"},
            "store_id": _STORE_FIELD,
        },
    },
    "KeyImport": {
        "type": "object",
        "additionalProperties": False,
        "required": [
            "job_id",
            "kind",
            "status",
            "rows",
            "imported",
            "duplicates",
            "errors",
            "unknown_skus",
            "error",
            "source_name",
            "trigger",
            "store",
            "created_at",
            "completed_at",
            "messages",
        ],
        "properties": {
            "job_id": {"type": "integer"},
            "kind": {"type": "string", "enum": [importer.RUN_KIND]},
            "status": {"type": "string", "enum": list(R.STATUSES)},
            "rows": _COUNT,
            "imported": {**_COUNT, "description": "Keys added to the pool."},
            "duplicates": {
                **_COUNT,
                "description": "Keys skipped: given twice in the file or already in the pool.",
            },
            "errors": {**_COUNT, "description": "Bad rows; each has a message (key masked)."},
            "unknown_skus": {
                **_COUNT,
                "description": "SKUs not in the catalog (their keys are kept; one warning each).",
            },
            "error": _nullable("string", description="Why the whole file failed."),
            "source_name": _nullable("string"),
            "trigger": {"type": "string"},
            "store": _ref("Store"),
            "created_at": {"type": "string", "format": "date-time"},
            "completed_at": _nullable("string", format="date-time"),
            "messages": {
                "type": "object",
                "required": ["items", "total", "page", "limit"],
                "additionalProperties": False,
                "properties": {
                    "items": {"type": "array", "items": _ref("Message")},
                    "total": {"type": "integer"},
                    "page": {"type": "integer"},
                    "limit": {"type": "integer"},
                },
            },
        },
    },
    "KeySettings": {
        "type": "object",
        "required": ["low_threshold"],
        "additionalProperties": False,
        "properties": {
            "low_threshold": {"type": "integer", "minimum": 0, "maximum": levels.MAX_THRESHOLD},
            "store_id": _STORE_FIELD,
        },
    },
    "KeySettingsSaved": {
        "type": "object",
        "required": ["store", "low_threshold", "checked_by"],
        "additionalProperties": False,
        "properties": {
            "store": _ref("Store"),
            "low_threshold": _COUNT,
            "checked_by": _nullable(
                "integer",
                description="The run that checked the levels (null: an import was running; "
                "its end checks them).",
            ),
        },
    },
}

PATHS: dict[str, Any] = {
    "/store/keys": {
        "get": _operation(
            "storeGetKeyLevels",
            "The key pool's levels per product and the low-pool threshold.",
            "store",
            {"200": _json(_ref("KeyLevels"), "The levels."), **_errors(401, 404, 422, 429)},
            parameters=[_STORE_PARAM],
        ),
        "post": _operation(
            "storeUploadKeys",
            "Upload digital keys to the store's pool (a key import run, queued).",
            "store",
            {
                "202": _json(
                    _ref("ImportAccepted"),
                    "The run was created and queued; follow `Location` for its counts.",
                    {"Location": {"schema": {"type": "string"}, "description": "The run."}},
                ),
                **_errors(400, 401, 404, 409, 413, 415, 422, 429, 503),
            },
            description="multipart/form-data with the file as `file`, or JSON with its text "
            "as `csv`. Keys are encrypted at rest; a key already in the pool or given twice "
            "in the file is counted as a duplicate; a bad row gets a message naming its row "
            "(the key masked); a SKU not in the catalog is kept with a warning. 409: an "
            "import of the store's keys is still pending or processing (`error.job_id`).",
            requestBody={
                "required": True,
                "content": {
                    "application/json": {"schema": _ref("KeyText")},
                    "multipart/form-data": {"schema": _ref("KeyUpload")},
                },
            },
        ),
    },
    "/store/keys/imports/{job_id}": {
        "get": _operation(
            "storeGetKeyImport",
            "A key upload: its counts and a page of its messages (keys masked).",
            "store",
            {"200": _json(_ref("KeyImport"), "The run."), **_errors(401, 404, 422, 429)},
            parameters=[_param("JobId"), _param("Page"), _param("MessageLimit")],
        )
    },
    "/store/keys/settings": {
        "put": _operation(
            "storeSetKeySettings",
            "Set the low-pool threshold; the levels are checked against it at once.",
            "store",
            {
                "200": _json(_ref("KeySettingsSaved"), "Saved."),
                **_errors(400, 401, 404, 413, 415, 422, 429),
            },
            requestBody={
                "required": True,
                "content": {"application/json": {"schema": _ref("KeySettings")}},
            },
        )
    },
}

openapi.SCHEMAS.update(SCHEMAS)
openapi.PATHS.update(PATHS)
