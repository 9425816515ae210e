"""``POST /api/v1/store/orders/{order_id}/digital-fulfilment``: give an order's digital lines
their keys now (as ``flask orders fulfil-digital``); the lines come back with their state and
their keys masked, never a key."""

from __future__ import annotations

from flask import Response, jsonify

from webapp.api import bp
from webapp.api.auth import api_user
from webapp.api.errors import ApiError
from webapp.api.openapi import PATHS, _errors, _json, _operation, _param
from webapp.api.params import empty_body
from webapp.digital import fulfil
from webapp.extensions import db
from webapp.models import Order

NOT_FOUND = "No such order."


@bp.post("/store/orders/<int:order_id>/digital-fulfilment")
def store_order_fulfil_digital(order_id: int) -> Response:
    empty_body()
    user = api_user()
    order = db.session.get(Order, order_id)
    if order is None or (not user.is_admin and order.store_id != user.store_id):
        raise ApiError(404, NOT_FOUND)  # another store's order is answered as no order
    if not fulfil.digital_lines(order.id):
        raise ApiError(422, f"Order {order_id} has no digital line.")
    if order.status not in fulfil.FULFILLABLE:
        raise ApiError(
            422,
            f"Order {order_id} is {order.status}: not valid for fulfilment "
            f"({', '.join(fulfil.FULFILLABLE)}).",
        )
    summary = fulfil.fulfil_now(order, trigger="api", user_id=user.id)
    db.session.expire_all()
    return jsonify({"order_id": order_id, "lines": fulfil.digital_lines(order_id), **summary})


_KEY = {
    "type": "object",
    "required": ["id", "source", "type", "masked"],
    "properties": {
        "id": {"type": "integer"},
        "source": {"type": "string", "enum": ["pool", "codeswholesale"]},
        "type": {"type": "string", "enum": ["text", "image"]},
        "masked": {"type": "string", "description": "Never the key: its last 4 characters."},
    },
}
_LINE = {
    "type": "object",
    "required": ["line_id", "sku", "quantity", "key_state", "keys"],
    "properties": {
        "line_id": {"type": "integer"},
        "sku": {"type": ["string", "null"]},
        "supplier_product_id": {"type": ["string", "null"]},
        "quantity": {"type": "integer"},
        "key_state": {"type": "string", "enum": list(fulfil.KEY_STATES)},
        "keys": {"type": "array", "items": _KEY},
        "pre_orders_waiting": {"type": "integer"},
    },
}
_EMPTY = {"type": "object", "additionalProperties": False, "description": "No field."}
PATHS["/store/orders/{order_id}/digital-fulfilment"] = {
    "post": _operation(
        "storeFulfilDigitalOrder",
        "Give the order's digital lines their keys now: the pool first, the rest bought.",
        "store",
        {
            "200": _json(
                {
                    "type": "object",
                    "required": ["order_id", "lines", "run_id"],
                    "properties": {
                        "order_id": {"type": "integer"},
                        "lines": {"type": "array", "items": _LINE},
                        "run_id": {"type": "integer"},
                    },
                },
                "The digital lines with their state and keys masked, and what was done "
                "(keys from the pool, purchases recorded, dry runs, lines still missing).",
            ),
            **_errors(400, 401, 404, 409, 413, 415, 422, 429),
        },
        parameters=[_param("OrderId")],
        requestBody={
            "required": False,
            "content": {
                "application/json": {"schema": _EMPTY},
                "multipart/form-data": {"schema": _EMPTY},
            },
        },
        description=(
            "As `flask orders fulfil-digital`. A purchase is an outbound call sent once by the "
            "one sender (a dry run when the supplier account is in test mode). 422: the order "
            "has no digital line or is not valid for fulfilment."
        ),
    )
}
