"""Admin endpoints for stores: /api/v1/admin/stores (list with counts, create, read, update).

The rules are webapp/admin/stores.py's, the same as the admin pages' and ``flask stores``.
"""

from __future__ import annotations

from typing import Any

from flask import Response, jsonify, request, url_for

from connectors.egress import mask_url
from webapp.admin import stores as service
from webapp.api import bp
from webapp.api.auth import admin_only
from webapp.api.errors import ApiError
from webapp.api.params import _read_fields, page_args, str_arg
from webapp.api.serialize import iso, page
from webapp.models import Store

BASE = "/admin/stores"


def store_json(store: Store, counts: service.StoreCounts) -> dict[str, Any]:
    body: dict[str, Any] = {
        "id": store.id,
        "code": store.code,
        "name": store.name,
        "default_language": store.default_language,
        "is_active": store.is_active,
    }
    for name in service.URL_FIELDS:
        value = getattr(store, name)
        body[name] = mask_url(value) if value else None
    body["created_at"] = iso(store.created_at)
    body["updated_at"] = iso(store.updated_at)
    body["counts"] = {
        "products": counts.products,
        "published": counts.published,
        "orders": counts.orders,
        "accounts": counts.accounts,
        "live_accounts": counts.live_accounts,
        "open_errors": counts.open_errors,
    }
    return body


def _one(store: Store) -> dict[str, Any]:
    return store_json(store, service.counts_for([store.id])[store.id])


def _store_or_404(code: str) -> Store:
    store = service.store_by_code(code)
    if store is None:
        raise ApiError(404, "No store with this code.")
    return store


def _refused(exc: service.StoreError) -> ApiError:
    status = 409 if exc.conflict else 422
    return ApiError(status, str(exc), fields=exc.errors)


def _body() -> dict[str, Any]:
    if not request.mimetype and not request.get_data(cache=True):
        raise ApiError(400, "Send the store's fields as JSON or multipart/form-data.")
    data, upload = _read_fields()
    if upload is not None:
        raise ApiError(422, "A store takes no file.")
    return data


@bp.get(BASE)
@admin_only
def admin_stores() -> Response:
    """Every store by name, with its counts; ``q`` searches code and name."""
    page_no, limit = page_args(default_limit=50)
    status = str_arg("status", 16) or ""
    if status not in ("", *service.STATUS_FILTERS):
        raise ApiError(422, "Query parameter 'status' must be one of active, inactive.")
    result = service.store_page(page_no, limit, search=str_arg("q", 100) or "", status=status)
    items = [store_json(row.store, row.counts) for row in result.items]
    return jsonify(page(items, result.total, page_no, limit))


@bp.post(BASE)
@admin_only
def admin_create_store() -> Response:
    try:
        store = service.create_store(_body())
    except service.StoreError as exc:
        raise _refused(exc) from None
    response = jsonify(_one(store))
    response.status_code = 201
    response.headers["Location"] = url_for("api.admin_store", code=store.code)
    return response


@bp.get(f"{BASE}/<code>")
@admin_only
def admin_store(code: str) -> Response:
    return jsonify(_one(_store_or_404(code)))


@bp.patch(f"{BASE}/<code>")
@admin_only
def admin_update_store(code: str) -> Response:
    """Change the fields given (the code cannot change); the others stay as they are."""
    from webapp.extensions import db

    store = _store_or_404(code)
    try:
        service.update_store(store, _body())
    except service.StoreError as exc:
        db.session.rollback()
        raise _refused(exc) from None
    return jsonify(_one(store))
