"""Store endpoints for the stock: one SKU's stock, setting its quantity on hand, its movements.

The same rules as the pages and ``flask stock`` (:mod:`webapp.stock.service`). A store user
reaches their own store's stock only (naming another ``store_id`` answers 404, like an
unknown one); an admin names the store with ``store_id`` (without it there is no store: 404).

The operations and schemas are added to the contract (``webapp.api.openapi``) from here.
"""

from __future__ import annotations

from typing import Any

from flask import Response, jsonify, request

from webapp.api import bp, openapi
from webapp.api.auth import api_user
from webapp.api.errors import ApiError
from webapp.api.openapi import _ID, _errors, _json, _nullable, _operation, _ref
from webapp.api.params import id_query_arg, int_arg, str_arg
from webapp.extensions import db
from webapp.models import Store
from webapp.stock import service

NO_STORE = "No store with this id."


def _store() -> Store:
    user = api_user()
    wanted = id_query_arg("store_id")
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


def _sku() -> str:
    sku = str_arg("sku", 255)
    if not sku:
        raise ApiError(422, "Query parameter 'sku' is required.")
    return sku


def _body() -> dict[str, Any]:
    if not request.is_json:
        raise ApiError(415, "Send the request as application/json.")
    data = request.get_json(silent=True)
    if data is None:
        raise ApiError(400, "The request body is not valid JSON.")
    if not isinstance(data, dict):
        raise ApiError(400, "The request body must be a JSON object.")
    return data


def _text(data: dict, name: str, *, required: bool = False, max_length: int = 255):
    value = data.get(name)
    if value is None:
        if required:
            raise ApiError(422, f"'{name}' is required.")
        return None
    if not isinstance(value, str) or "\x00" in value or len(value) > max_length:
        raise ApiError(422, f"'{name}' must be a string of at most {max_length} characters.")
    return value


@bp.get("/store/stock")
def store_stock() -> Response:
    """One SKU's stock: on hand, reserved, per warehouse, available per account."""
    store = _store()
    return jsonify(service.sku_record(store, _sku()))


@bp.put("/store/stock")
def store_set_stock() -> Response:
    """Set on hand of one SKU (a manual movement by the token's user)."""
    store = _store()
    data = _body()
    quantity = data.get("quantity")
    if isinstance(quantity, bool) or not isinstance(quantity, int):
        raise ApiError(422, "'quantity' must be a whole number.")
    user = api_user()
    try:
        record = service.set_quantity(
            store,
            _text(data, "sku", required=True),
            quantity,
            warehouse=_text(data, "warehouse", max_length=64),
            reason=_text(data, "reason", max_length=1000),
            actor=f"api:{user.email}",
            user_id=user.id,
        )
    except service.StockError as exc:
        db.session.rollback()
        raise ApiError(422, str(exc)) from None
    return jsonify(record)


@bp.get("/store/stock/movements")
def store_stock_movements() -> Response:
    """One SKU's movements, newest first; ``before`` continues after a page's last id."""
    before = id_query_arg("before")  # the parameters are checked first (422), then the store
    limit = int_arg("limit", 50, minimum=1, maximum=100)
    store = _store()
    sku = _sku()
    items, following = service.movements(store, sku, before=before, limit=limit)
    return jsonify({"sku": sku, "items": items, "next_before": following})


# -- the contract -----------------------------------------------------------------------------

_STORE_PARAM = {
    "name": "store_id",
    "in": "query",
    "description": "Admins: the store (without it: 404, an admin has no store of their "
    "own). A store user: their own store, or omitted (another store's id: 404).",
    "schema": _ID,
}
_SKU_PARAM = {
    "name": "sku",
    "in": "query",
    "required": True,
    "schema": {"type": "string", "minLength": 1, "maxLength": 255, "pattern": "^[^\\x00]*$"},
}
_COUNT = {"type": "integer"}

SCHEMAS: dict[str, Any] = {
    "StockRecord": {
        "type": "object",
        "additionalProperties": False,
        "required": ["sku", "on_hand", "reserved", "available", "warehouses"],
        "properties": {
            "sku": {"type": "string"},
            "on_hand": _COUNT,
            "reserved": _COUNT,
            "available": {
                "type": "object",
                "description": "Available to sell, by account id (seed 001 4.4: on hand - "
                "reserved - safety stock, the out-of-stock threshold, the store's overrides).",
                "additionalProperties": {"type": "integer", "minimum": 0},
            },
            "warehouses": {
                "type": "array",
                "items": {
                    "type": "object",
                    "additionalProperties": False,
                    "required": ["code", "on_hand", "reserved"],
                    "properties": {
                        "code": {"type": "string"},
                        "on_hand": _COUNT,
                        "reserved": _COUNT,
                    },
                },
            },
            "changed": {"type": "boolean", "description": "(PUT) whether on hand moved."},
        },
    },
    "StockSet": {
        "type": "object",
        "required": ["sku", "quantity"],
        "properties": {
            "sku": {"type": "string", "minLength": 1, "maxLength": 255},
            "quantity": {"type": "integer", "minimum": 0, "maximum": service.MAX_QUANTITY},
            "warehouse": _nullable("string", maxLength=64, description="Default: the store's."),
            "reason": _nullable("string", maxLength=1000),
        },
    },
    "StockMovement": {
        "type": "object",
        "additionalProperties": False,
        "required": ["id", "at", "sku", "warehouse", "reason", "on_hand_delta", "reserved_delta"],
        "properties": {
            "id": {"type": "integer"},
            "at": {"type": "string", "format": "date-time"},
            "sku": {"type": "string"},
            "warehouse": {"type": "string"},
            "reason": {
                "type": "string",
                "enum": [
                    "feed_import",
                    "stock_file",
                    "manual",
                    "order_reserved",
                    "order_shipped",
                    "order_cancelled",
                    "order_refunded",
                ],
            },
            "on_hand_delta": _COUNT,
            "reserved_delta": _COUNT,
            "order_item_id": _nullable("integer"),
            "fulfilment_event_id": _nullable("integer"),
            "order_action_id": _nullable("integer"),
            "run_id": _nullable("integer"),
            "actor": _nullable("string"),
            "note": _nullable("string"),
        },
    },
    "StockMovementList": {
        "type": "object",
        "additionalProperties": False,
        "required": ["sku", "items", "next_before"],
        "properties": {
            "sku": {"type": "string"},
            "items": {"type": "array", "items": _ref("StockMovement")},
            "next_before": _nullable(
                "integer", description="Pass as `before` for the next page; null on the last."
            ),
        },
    },
}

PATHS: dict[str, Any] = {
    "/store/stock": {
        "get": _operation(
            "storeGetStock",
            "One SKU's stock: on hand, reserved, per warehouse, available per account.",
            "store",
            {"200": _json(_ref("StockRecord"), "The SKU's stock."), **_errors(401, 404, 422, 429)},
            parameters=[_SKU_PARAM, _STORE_PARAM],
        ),
        "put": _operation(
            "storeSetStock",
            "Set on hand of one SKU (a manual movement by the token's user).",
            "store",
            {
                "200": _json(_ref("StockRecord"), "The SKU's stock after the change."),
                **_errors(400, 401, 404, 413, 415, 422, 429),
            },
            parameters=[_STORE_PARAM],
            requestBody={
                "required": True,
                "content": {"application/json": {"schema": _ref("StockSet")}},
            },
        ),
    },
    "/store/stock/movements": {
        "get": _operation(
            "storeListStockMovements",
            "One SKU's stock movements, newest first.",
            "store",
            {
                "200": _json(_ref("StockMovementList"), "One page of movements."),
                **_errors(401, 404, 422, 429),
            },
            parameters=[
                _SKU_PARAM,
                _STORE_PARAM,
                {"name": "before", "in": "query", "schema": _ID},
                {
                    "name": "limit",
                    "in": "query",
                    "schema": {"type": "integer", "minimum": 1, "maximum": 100, "default": 50},
                },
            ],
        )
    },
}

openapi.SCHEMAS.update(SCHEMAS)
openapi.PATHS.update(PATHS)
