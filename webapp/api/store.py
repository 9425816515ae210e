"""Store endpoints: /api/v1/store/marketplace/... (a store user's own store; admins any)."""

from __future__ import annotations

from flask import Response, jsonify, url_for

from webapp.api import bp, jobs, serialize
from webapp.api.params import import_body


def _job_url(job_id: int) -> str:
    return url_for("api.store_import_job", job_id=job_id)


@bp.post("/store/marketplace/import")
def store_start_import() -> Response:
    """Start an import into the caller's store (admins name the store with ``store_id``)."""
    body = import_body()
    store = jobs.store_for_import(body)
    return jobs.start_import(body, store, _job_url)


@bp.get("/store/marketplace/imports")
def store_import_jobs() -> Response:
    return jsonify(jobs.job_page())


@bp.get("/store/marketplace/imports/<int:job_id>")
def store_import_job(job_id: int) -> Response:
    return jsonify(serialize.job(jobs.run_or_404(job_id)))


@bp.get("/store/marketplace/imports/<int:job_id>/errors")
def store_import_job_errors(job_id: int) -> Response:
    return jsonify(jobs.messages_page(jobs.run_or_404(job_id)))
