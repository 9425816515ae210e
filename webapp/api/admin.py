"""Admin endpoints: /api/v1/admin/marketplace-import-jobs (every store; admins only, else 403)."""

from __future__ import annotations

from flask import Response, jsonify, url_for

from webapp.api import bp, jobs, serialize
from webapp.api.auth import admin_only, api_user
from webapp.api.params import bool_arg, choice_arg, id_query_arg, import_body, str_arg
from webapp.imports import queries
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
    filters: dict = {}
    store_id = id_query_arg("store_id")
    if store_id is not None:
        filters["store_id"] = store_id
    status = choice_arg("status", R.STATUSES)
    if status:
        filters["status"] = status
    marketplace = str_arg("marketplace", 64)
    if marketplace:
        # Matched whatever its case, then filtered exactly (which the index answers).
        known = {m.lower(): m for m in queries.marketplaces()}
        filters["marketplace"] = known.get(marketplace.lower(), marketplace)
    if bool_arg("created_by_me"):
        filters["user_id"] = api_user().id
    return jsonify(jobs.job_page(**filters))


@bp.get(f"{BASE}/stats")
@admin_only
def admin_import_stats() -> Response:
    """Counts per status (``active`` = pending + processing), optionally for one store."""
    store_id = id_query_arg("store_id")
    counts = queries.stats(**({} if store_id is None else {"store_id": store_id}))
    return jsonify({key: counts[key] for key in ("total", *STATS_KEYS, "active")})


@bp.get(f"{BASE}/<int:job_id>")
@admin_only
def admin_import_job(job_id: int) -> Response:
    return jsonify(serialize.job(jobs.run_or_404(job_id)))


@bp.get(f"{BASE}/<int:job_id>/errors")
@admin_only
def admin_import_job_errors(job_id: int) -> Response:
    return jsonify(jobs.messages_page(jobs.run_or_404(job_id)))
