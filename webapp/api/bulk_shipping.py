"""Bulk shipping over the API: ``POST /store/orders/shipments/bulk`` (a multipart upload of a
shipments CSV, :mod:`webapp.imports.shipments`) starts a ``bulk_shipping`` run, and
``GET /store/orders/shipments/bulk/<job_id>`` answers its summary and its messages (one per
bad row). A store user ships their own store's orders; an admin names the store
(``store_id``). Another store's run is answered like one that does not exist (404)."""

from __future__ import annotations

import io

from flask import Response, current_app, url_for
from werkzeug.datastructures import FileStorage

from webapp.api import bp
from webapp.api.auth import api_user
from webapp.api.errors import ApiError
from webapp.api.file_runs import accepted, file_run, upload_size
from webapp.api.params import _optional_int, _optional_str, _read_fields
from webapp.extensions import db
from webapp.ids import MAX_ID
from webapp.imports import shipments
from webapp.imports.request import ImportRequestError
from webapp.models import Store

NOT_FOUND = "No bulk shipping run with this id."


def _store(store_id: int | None) -> Store:
    user = api_user()
    if not user.is_admin:
        if store_id is not None and store_id != user.store_id:
            raise ApiError(404, "No store with this id.")
        store = db.session.get(Store, user.store_id)
    else:
        if store_id is None:
            raise ApiError(422, "'store_id' is required: admins name the store whose orders ship.")
        store = db.session.get(Store, store_id)
        if store is None:
            raise ApiError(422, f"No store with id {store_id}.")
    if store is None or not store.is_active:
        raise ApiError(422, "This store is inactive.")
    return store


def _from_json(fields: dict) -> FileStorage:
    """The CSV given as text in a JSON body (``csv``, optional ``file_name``), as an upload."""
    text = _optional_str(fields, "csv")
    if text is None:
        raise ApiError(
            422,
            "Upload the shipments CSV as 'file' (multipart/form-data), or give its text as "
            "'csv' (JSON).",
        )
    name = _optional_str(fields, "file_name") or "shipments.csv"
    if len(name) > 255:
        raise ApiError(422, "'file_name' must be at most 255 characters.")
    return FileStorage(stream=io.BytesIO(text.encode("utf-8")), filename=name)


@bp.post("/store/orders/shipments/bulk")
def store_bulk_shipping() -> Response:
    """Upload a shipments CSV as ``file`` (or its text as JSON ``csv``): 202 with the run's
    id; follow ``Location``. 409: a file of the same name is still running for the store."""
    fields, upload = _read_fields()
    unknown = sorted(set(fields) - {"store_id", "csv", "file_name"})
    if unknown:
        raise ApiError(422, f"Unknown field(s): {', '.join(map(repr, unknown))}.")
    nulls = sorted(name for name, value in fields.items() if value is None)
    if nulls:
        raise ApiError(422, f"{', '.join(map(repr, nulls))} must not be null: leave it out.")
    store = _store(_optional_int(fields, "store_id", 1, MAX_ID))
    upload = upload or _from_json(fields)
    limit = min(shipments.MAX_BYTES, current_app.config["MERCATO_UPLOAD_MAX_BYTES"])
    if upload_size(upload) > limit:
        raise ApiError(413, f"The file is larger than the {limit // (1024 * 1024)} MB limit.")
    try:
        run = shipments.start(store, upload, user_id=api_user().id, trigger="api")
    except shipments.AlreadyRunning as exc:
        raise ApiError(409, str(exc), job_id=exc.run.id) from exc
    except ImportRequestError as exc:
        raise ApiError(413 if "larger than" in str(exc) else 422, str(exc)) from exc
    return accepted(run, url_for("api.store_bulk_shipping_run", job_id=run.id))


@bp.get("/store/orders/shipments/bulk/<int:job_id>")
def store_bulk_shipping_run(job_id: int) -> Response:
    """The run's summary and one page of its messages (by row number)."""
    return file_run(job_id, shipments.KIND, shipments.summary, NOT_FOUND)
