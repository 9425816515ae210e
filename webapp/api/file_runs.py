"""What the file uploads of the API share (bulk shipping, key files): the received upload's
size, the 202 that starts following a run, and a run's summary with a page of its messages."""

from __future__ import annotations

from collections.abc import Callable

from flask import Response, jsonify
from sqlalchemy import select

from webapp.api import serialize
from webapp.api.auth import api_user
from webapp.api.errors import ApiError
from webapp.api.params import page_args
from webapp.api.serialize import iso
from webapp.extensions import db
from webapp.imports import queries
from webapp.imports.uploads import discard
from webapp.models import Run
from webapp.models import runs as R


def upload_size(upload) -> int:
    """The received upload's size (Werkzeug has spooled it: nothing is read); 0 when its
    stream cannot seek (saving it still enforces the limit)."""
    stream = upload.stream
    try:
        position = stream.tell()
        size = stream.seek(0, 2)
        stream.seek(position)
    except (AttributeError, OSError):
        return 0
    return size


def accepted(run: Run, location: str | None = None) -> Response:
    """202 with the run's id (and where to follow it); 503 when the lifecycle could not reach
    the queue, and said so (the uploaded file, which nothing will read, is removed)."""
    if run.status == R.FAILED:
        if run.source_path:
            discard(run.source_path)
        raise ApiError(503, "The job queue is unavailable; nothing will run.", job_id=run.id)
    response = jsonify({"job_id": run.id, "status": run.status})
    response.status_code = 202
    if location:
        response.headers["Location"] = location
    return response


def file_run(job_id: int, kind: str, summary: Callable[[Run], dict], not_found: str) -> Response:
    """A run of ``kind`` (the user's store's only, unless an admin): its ``summary``, where it
    came from and one page of its messages (by row number); 404 (``not_found``) for any other."""
    page_no, limit = page_args(default_limit=50)  # a wrong value is 422 whatever the run
    query = select(Run).where(Run.id == job_id, Run.kind == kind)
    user = api_user()
    if not user.is_admin:
        query = query.where(Run.store_id == user.store_id)
    run = db.session.scalar(query)
    if run is None:
        raise ApiError(404, not_found)
    page = queries.messages_page(run.id, page_no, limit)
    return jsonify(
        {
            **summary(run),
            "source_name": run.source_name,
            "trigger": run.trigger,
            "store": {"id": run.store.id, "code": run.store.code},
            "created_at": iso(run.created_at),
            "completed_at": iso(run.completed_at),
            "messages": serialize.page(
                [serialize.message(m) for m in page.items], page.total, page_no, limit
            ),
        }
    )
