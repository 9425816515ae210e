"""Admin endpoints: /api/v1/admin/marketplace-import-jobs (every store; admins only, else 403)."""

from __future__ import annotations

from flask import Response, jsonify, url_for
from sqlalchemy import func, select

from webapp.api import bp, jobs, serialize
from webapp.api.auth import admin_only, api_user
from webapp.api.params import bool_arg, choice_arg, import_body, int_arg, str_arg
from webapp.extensions import db
from webapp.models import Run
from webapp.models import runs as R

BASE = "/admin/marketplace-import-jobs"
STATS_KEYS = (R.PENDING, R.PROCESSING, R.COMPLETED, R.COMPLETED_WITH_ERRORS, R.FAILED, R.ABANDONED)


def _job_url(job_id: int) -> str:
    return url_for("api.admin_import_job", job_id=job_id)


@bp.post(BASE)
@admin_only
def admin_start_import() -> Response:
    """Start an import for the store given as ``store_id`` in the body."""
    body = import_body()
    store = jobs.store_for_import(body)
    return jobs.start_import(body, store, _job_url)


@bp.get(BASE)
@admin_only
def admin_import_jobs() -> Response:
    query = jobs.runs_query()
    store_id = int_arg("store_id", None)
    if store_id is not None:
        query = query.where(Run.store_id == store_id)
    status = choice_arg("status", R.STATUSES)
    if status:
        query = query.where(Run.status == status)
    marketplace = str_arg("marketplace", 64)
    if marketplace:
        query = query.where(func.lower(Run.marketplace) == marketplace.lower())
    if bool_arg("created_by_me"):
        query = query.where(Run.user_id == api_user().id)
    return jsonify(jobs.job_page(query))


@bp.get(f"{BASE}/stats")
@admin_only
def admin_import_stats() -> Response:
    """Counts per status (``active`` = pending + processing), optionally for one store."""
    query = select(Run.status, func.count()).where(Run.kind == jobs.PRODUCT_IMPORT)
    store_id = int_arg("store_id", None)
    if store_id is not None:
        query = query.where(Run.store_id == store_id)
    counts = dict(db.session.execute(query.group_by(Run.status)).all())
    stats = {key: int(counts.get(key, 0)) for key in STATS_KEYS}
    return jsonify(
        {
            "total": sum(int(n) for n in counts.values()),
            **stats,
            "active": stats[R.PENDING] + stats[R.PROCESSING],
        }
    )


@bp.get(f"{BASE}/<int:job_id>")
@admin_only
def admin_import_job(job_id: int) -> Response:
    return jsonify(serialize.job(jobs.run_or_404(job_id)))


@bp.get(f"{BASE}/<int:job_id>/errors")
@admin_only
def admin_import_job_errors(job_id: int) -> Response:
    return jsonify(jobs.messages_page(jobs.run_or_404(job_id)))
