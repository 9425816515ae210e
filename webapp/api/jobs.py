"""What the store and admin endpoints share: finding runs, listing messages, starting imports.

Tenant safety lives here: every run lookup is scoped to the stores the token's user may
see, and a run outside that scope is answered exactly like one that does not exist (404),
so ids cannot be probed.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from flask import Response, current_app

from webapp.api import serialize
from webapp.api.auth import api_user
from webapp.api.errors import ApiError
from webapp.api.file_runs import accepted
from webapp.api.params import ImportBody, choice_arg, page_args, str_arg
from webapp.extensions import db
from webapp.imports import queries
from webapp.imports import service as imports_service
from webapp.imports.request import ImportRequestError
from webapp.imports.service import ImportAlreadyRunning, ImportBeingSubmitted
from webapp.models import Run, Store
from webapp.models import runs as R

PRODUCT_IMPORT = "product_import"
NOT_FOUND = "No import job with this id."


def scope() -> dict[str, Any]:
    """The runs filters that keep an API user to what they may see (a store user: one store)."""
    user = api_user()
    return {} if user.is_admin else {"store_id": user.store_id}


def run_or_404(job_id: int) -> Run:
    query, _ = queries.runs_query(**scope())
    run = db.session.scalar(query.where(Run.id == job_id))
    if run is None:
        raise ApiError(404, NOT_FOUND)
    return run


def job_page(**filters) -> dict[str, Any]:
    """One page of the user's runs (newest first) as {"items", "total", "page", "limit"}."""
    page_no, limit = page_args(default_limit=10)
    page = queries.runs_page(page_no, limit, **scope(), **filters)
    return serialize.page([serialize.job(r) for r in page.items], page.total, page_no, limit)


def messages_page(run: Run) -> dict[str, Any]:
    """A run's messages, filtered by ``error_type``/``severity``, in file order."""
    page_no, limit = page_args(default_limit=50)
    page = queries.messages_page(
        run.id,
        page_no,
        limit,
        error_type=str_arg("error_type", 64),
        severity=choice_arg("severity", R.SEVERITIES),
    )
    result = serialize.page([serialize.message(m) for m in page.items], page.total, page_no, limit)
    return {"job_id": run.id, **result}


def store_for_import(body: ImportBody) -> Store:
    """The store an import goes to.

    A store user always imports into their own store; naming another one is answered
    like an unknown id (404).  An admin must say which store (422 without one): guessing
    would import a feed into the wrong tenant's catalog.
    """
    user = api_user()
    if not user.is_admin:
        if body.store_id is not None and body.store_id != user.store_id:
            raise ApiError(404, "No store with this id.")
        store = db.session.get(Store, user.store_id)
    else:
        if body.store_id is None:
            raise ApiError(422, "'store_id' is required: admins name the store to import into.")
        store = db.session.get(Store, body.store_id)
        if store is None:
            raise ApiError(422, f"No store with id {body.store_id}.")
    if store is None or not store.is_active:
        raise ApiError(422, "This store is inactive; imports are disabled.")
    return store


def _conflict(exc: ImportAlreadyRunning) -> ApiError:
    return ApiError(409, str(exc), job_id=exc.run.id)


def _human_size(size: int) -> str:
    for unit, factor in (("GB", 1024**3), ("MB", 1024**2), ("KB", 1024)):
        if size >= factor:
            return f"{size // factor} {unit}"
    return f"{size} bytes"


def _upload_size(body: ImportBody) -> int:
    """Size of the received upload; Werkzeug has already spooled it, so this reads nothing."""
    stream = body.upload.stream
    try:
        position = stream.tell()
        size = stream.seek(0, 2)
        stream.seek(position)
    except (AttributeError, OSError):
        return 0  # unseekable: save_upload still enforces the limit while copying
    return size


def start_import(body: ImportBody, store: Store, job_url: Callable[[int], str]) -> Response:
    """Create and enqueue the run through the one start path of the pages and the API
    (:func:`webapp.imports.service.start_import`); 202 with {"job_id", "status"} and Location.

    The same source still pending or processing for the store is 409 with its job id (a
    double click, a retried script); an upload over the limit is 413 before it is saved.
    """
    if body.upload is not None:
        limit = current_app.config["MERCATO_UPLOAD_MAX_BYTES"]
        if _upload_size(body) > limit:
            raise ApiError(413, f"The file is larger than the {_human_size(limit)} upload limit.")
    try:
        run = imports_service.start_import(
            store,
            source_url=body.source_url,
            upload=body.upload,
            marketplace=body.marketplace,
            language=body.language,
            batch_size=body.batch_size,
            user_id=api_user().id,
            trigger="api",
        )
    except ImportAlreadyRunning as exc:
        raise _conflict(exc) from exc
    except ImportBeingSubmitted as exc:
        raise ApiError(409, str(exc)) from exc
    except ImportRequestError as exc:
        # Only an unseekable stream over the limit is 413 here; the rest (an empty file...)
        # is 422.
        raise ApiError(413 if "larger than" in str(exc) else 422, str(exc)) from exc
    return accepted(run, job_url(run.id))
