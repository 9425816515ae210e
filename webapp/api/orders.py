"""Orders over the API: /api/v1/store/orders (a store user's store; admins any).

- ``GET /store/orders``: the orders page's list, with its filters, newest first, paginated;
- ``GET /store/orders/<id>``: one order with its lines (what was shipped, cancelled and
  refunded of each), shipments and actions (state, error, arguments, lines);
- ``POST /store/orders/<id>/shipments`` and ``POST /store/orders/<id>/actions``: record a
  shipment (and its ship action) or another order action, exactly as ``flask orders ship``
  and ``flask orders action`` do (:mod:`webapp.orders.fulfilment`): the same validation, every
  problem listed in a 422 (``error.problems``) and nothing recorded; 201 with the action(s)
  recorded; the same shipment again records nothing and answers 200 with ``already``.

The JSON of an order is :mod:`webapp.orders.records`, shared with ``flask orders export``.
Another store's order is answered as no order (404). The endpoints' part of the OpenAPI
document is written here and added to ``webapp.api.openapi``'s document on import.
"""

from __future__ import annotations

from dataclasses import fields
from datetime import date
from typing import Any

from flask import Response, jsonify, request
from sqlalchemy import select

from connectors.errors import ConnectorError
from webapp.api import bp
from webapp.api.auth import api_user
from webapp.api.errors import ApiError
from webapp.api.openapi import (
    _ID,
    _TEXT,
    PARAMETERS,
    PATHS,
    SCHEMAS,
    _errors,
    _json,
    _nullable,
    _operation,
    _param,
    _ref,
)
from webapp.api.params import (
    MAX_LIMIT,
    NUL,
    _read_fields,
    bool_arg,
    choice_arg,
    id_query_arg,
    page_args,
    str_arg,
)
from webapp.extensions import db
from webapp.models import Order
from webapp.models import fulfilment as F
from webapp.models.orders import ORDER_STATUSES
from webapp.orders import queries, records
from webapp.orders.fulfilment import Conflict, Refused, record_action, record_shipment

NOT_FOUND = "No order with this id."
MAX_LINES = 500
MAX_ARGS = 50
# The orders page's "to ship" filter, where the order book has it (webapp/orders/queries.py).
TO_SHIP = "to_ship" in {f.name for f in fields(queries.OrderFilters)}

SHIPMENT_FIELDS = {
    "carrier": 64,
    "carrier_name": 255,
    "tracking_number": 255,
    "tracking_url": 2048,
}


# -- reading ---------------------------------------------------------------------------------


def _store_scope() -> int | None:
    """A store user's store; for an admin, the ``store_id`` filter (or every store)."""
    user = api_user()
    if user.is_admin:
        return id_query_arg("store_id")
    return user.store_id


def _date_arg(name: str) -> date | None:
    if name not in request.args:
        return None
    raw = str_arg(name, 10) or ""
    try:
        return date.fromisoformat(raw)
    except ValueError:
        raise ApiError(422, f"Query parameter '{name}' must be a date (YYYY-MM-DD).") from None


def _filters() -> queries.OrderFilters:
    filters = queries.OrderFilters(
        q=str_arg("q") or "",
        channel=str_arg("channel", 64) or "",
        account_id=id_query_arg("account_id"),
        status=choice_arg("status", ORDER_STATUSES) or "",
        date_from=_date_arg("from"),
        date_to=_date_arg("to"),
    )
    if TO_SHIP:
        filters.to_ship = bool_arg("to_ship")
    return filters


def _order_or_404(order_id: int, *, full: bool = True) -> Order:
    user = api_user()
    query = select(Order).where(Order.id == order_id)
    if not user.is_admin:
        query = query.where(Order.store_id == user.store_id)
    if full:
        query = query.options(*records.with_fulfilment())
    order = db.session.scalar(query)
    if order is None:
        raise ApiError(404, NOT_FOUND)  # another store's order is answered as no order
    return order


@bp.get("/store/orders")
def store_orders() -> Response:
    page_no, limit = page_args(default_limit=25)
    page = queries.orders_page(_store_scope(), _filters(), page_no, limit)
    return jsonify(
        {
            "items": [records.order_summary(o) for o in page.items],
            "total": page.total,
            "page": page_no,
            "limit": limit,
        }
    )


@bp.get("/store/orders/<int:order_id>")
def store_order(order_id: int) -> Response:
    return jsonify(records.order_record(_order_or_404(order_id)))


# -- recording -------------------------------------------------------------------------------


def _body(allowed: tuple[str, ...]) -> dict[str, Any]:
    data, upload = _read_fields()
    unknown = sorted(set(data) - set(allowed)) + (["file"] if upload is not None else [])
    if unknown:
        raise ApiError(
            422,
            f"Unknown field(s) {', '.join(map(repr, unknown))}; "
            f"this request takes {', '.join(allowed)}.",
        )
    return data


def _text(data: dict, name: str, max_length: int, *, required: bool = False) -> str | None:
    value = data.get(name)
    if value is None:
        if required:
            raise ApiError(422, f"'{name}' is required.")
        return None
    if not isinstance(value, str):
        raise ApiError(422, f"'{name}' must be a string.")
    if NUL in value:
        raise ApiError(422, f"'{name}' must not contain a NUL character.")
    if len(value) > max_length:
        raise ApiError(422, f"'{name}' must be at most {max_length} characters.")
    if required and not value.strip():
        raise ApiError(422, f"'{name}' must not be empty.")
    return value


def _lines(data: dict) -> list[tuple[str, int | None]] | None:
    """``lines`` as [(REF, quantity or None)], as ``--line REF[:QTY]`` gives them; None when
    left out (what remains of the whole order)."""
    value = data.get("lines")
    if value is None:
        return None
    if not isinstance(value, list) or not value:
        raise ApiError(
            422, "'lines' must be a non-empty list of {ref, quantity}, or be left out (all)."
        )
    if len(value) > MAX_LINES:
        raise ApiError(422, f"'lines' may hold at most {MAX_LINES} lines.")
    lines = []
    for index, line in enumerate(value):
        where = f"lines[{index}]"
        if not isinstance(line, dict):
            raise ApiError(422, f"'{where}' must be an object {{ref, quantity}}.")
        extra = sorted(set(line) - {"ref", "quantity"})
        if extra:
            raise ApiError(422, f"'{where}' takes ref and quantity, not {', '.join(extra)}.")
        ref = _text(line, "ref", 255, required=True)
        quantity = line.get("quantity")
        if quantity is not None and (
            isinstance(quantity, bool) or not isinstance(quantity, int) or quantity < 1
        ):
            raise ApiError(422, f"'{where}.quantity' must be a whole number of at least 1.")
        if quantity is not None and quantity > 2**31 - 1:
            raise ApiError(422, f"'{where}.quantity' must be at most {2**31 - 1}.")
        lines.append((ref.strip(), quantity))
    return lines


def _args(data: dict) -> dict[str, str]:
    value = data.get("args")
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise ApiError(422, "'args' must be an object of marketplace arguments (name: text).")
    if len(value) > MAX_ARGS:
        raise ApiError(422, f"'args' may hold at most {MAX_ARGS} arguments.")
    args = {}
    for key in value:
        if not key.strip() or len(key) > 64 or NUL in key:
            raise ApiError(422, "Each argument name in 'args' must be 1 to 64 characters.")
        args[key.strip()] = _text(value, key, 1000, required=False) or ""
    return args


def _recorded(order: Order, action_type: str, record) -> Response:
    """Run ``record`` (a fulfilment recorder): 422 with every problem when it is refused."""
    try:
        done = record()
    except Conflict as exc:  # a request racing this one changed the order: read it again
        raise ApiError(409, f"Nothing was recorded: {exc}", problems=list(exc.problems)) from None
    except Refused as exc:
        raise ApiError(422, f"Nothing was recorded: {exc}", problems=list(exc.problems)) from None
    except ConnectorError as exc:  # the marketplace's rules could not be read
        db.session.rollback()
        raise ApiError(
            503, f"The marketplace's rules could not be read; nothing was recorded ({exc})."
        ) from None
    body = records.recorded(order, action_type, done) | {"already": done.already}
    return jsonify(body), 200 if done.already else 201


@bp.post("/store/orders/<int:order_id>/shipments")
def store_order_ship(order_id: int) -> Response:
    order = _order_or_404(order_id, full=False)  # another store's order: 404 before any 422
    data = _body((*SHIPMENT_FIELDS, "lines", "args"))
    values = {
        name: _text(data, name, size, required=name == "carrier")
        for name, size in SHIPMENT_FIELDS.items()
    }
    lines, args = _lines(data), _args(data)
    by = api_user().email
    return _recorded(
        order,
        F.SHIP,
        lambda: record_shipment(
            order,
            values["carrier"],
            values["carrier_name"],
            values["tracking_number"],
            values["tracking_url"],
            lines,
            args,
            by=by,
        ),
    )


@bp.post("/store/orders/<int:order_id>/actions")
def store_order_action(order_id: int) -> Response:
    order = _order_or_404(order_id, full=False)  # another store's order: 404 before any 422
    data = _body(("type", "lines", "args"))
    action_type = _text(data, "type", 64, required=True).strip()
    lines, args = _lines(data), _args(data)
    by = api_user().email

    def record():
        return record_action(order, action_type, lines, args, by=by)

    normalised = action_type.lower().replace("-", "_").replace(" ", "_")
    return _recorded(order, normalised, record)


# -- the contract ------------------------------------------------------------------------

# Text with something in it, and no NUL.
_WORD = "^[^\\x00]*\\S[^\\x00]*$"
_MONEY = _nullable("string", description='A decimal amount as text (e.g. "19.90").')
_LINE = {
    "type": "object",
    "additionalProperties": False,
    "required": ["line_id", "sku", "quantity"],
    "properties": {
        "line_id": _nullable("string", description="The marketplace's line id."),
        "sku": _nullable("string"),
        "quantity": {"type": "integer"},
    },
}
_ORDER_SUMMARY_PROPERTIES = {
    "id": {"type": "integer", "description": "Mercato's id (`flask orders export` prints it)."},
    "store_id": {"type": "integer"},
    "account_id": {"type": "integer"},
    "channel": {"type": "string", "description": "The marketplace (amazon_fr, ...)."},
    "channel_order_id": {"type": "string"},
    "marketplace_status": _nullable("string"),
    "status": {"type": "string", "enum": list(ORDER_STATUSES)},
    "currency": _nullable("string"),
    "total": _MONEY,
    "original_currency": _nullable("string"),
    "original_total": _MONEY,
    "ordered_at": _nullable("string", format="date-time"),
    "acknowledged": {"type": "boolean"},
    "ack_state": {"type": "string"},
    "merchant_order_id": _nullable("string"),
    "anonymized": {"type": "boolean"},
}
_ACTION_PROPERTIES = {
    "id": {"type": "integer"},
    "type": {"type": "string", "description": "ship, accept, refuse, cancel, refund, ..."},
    "state": {
        "type": "string",
        "enum": list(F.ACTION_STATES),
        "description": "recorded -> dry_run (test mode), or sent -> queued -> processed; "
        "failed with the marketplace's error.",
    },
    "lines": {"type": "array", "items": _LINE, "description": "Empty: the whole order."},
    "arguments": {"type": "object", "additionalProperties": {"type": "string"}},
    "error": _nullable("string", description="The marketplace's own text, when it failed."),
    "shipment_id": _nullable("integer"),
    "created_at": {"type": "string", "format": "date-time"},
    "sent_at": _nullable("string", format="date-time"),
    "processed_at": _nullable("string", format="date-time"),
}

SCHEMAS.update(
    {
        "OrderSummary": {
            "type": "object",
            "additionalProperties": False,
            "required": list(_ORDER_SUMMARY_PROPERTIES),
            "properties": _ORDER_SUMMARY_PROPERTIES,
        },
        "OrderList": {
            "type": "object",
            "additionalProperties": False,
            "required": ["items", "total", "page", "limit"],
            "properties": {
                "items": {"type": "array", "items": _ref("OrderSummary")},
                "total": {"type": "integer"},
                "page": {"type": "integer"},
                "limit": {"type": "integer"},
            },
        },
        "OrderAction": {
            "type": "object",
            "additionalProperties": False,
            "required": list(_ACTION_PROPERTIES),
            "properties": _ACTION_PROPERTIES,
        },
        "OrderDetail": {
            "type": "object",
            "additionalProperties": False,
            "required": [
                *_ORDER_SUMMARY_PROPERTIES,
                "items",
                "shipments",
                "actions",
                "status_history",
            ],
            "properties": {
                **_ORDER_SUMMARY_PROPERTIES,
                "items": {
                    "type": "array",
                    "items": {
                        "type": "object",
                        "additionalProperties": False,
                        "required": [
                            "line_id",
                            "sku",
                            "quantity",
                            "quantity_shipped",
                            "quantity_cancelled",
                            "quantity_refunded",
                            "unit_price",
                            "matched",
                            "digital",
                            "key_state",
                        ],
                        "properties": {
                            "line_id": _nullable("string"),
                            "sku": _nullable("string"),
                            "quantity": {"type": "integer"},
                            "quantity_shipped": {"type": "integer"},
                            "quantity_cancelled": {"type": "integer"},
                            "quantity_refunded": {"type": "integer"},
                            "unit_price": _MONEY,
                            "matched": {"type": "boolean"},
                            "digital": {"type": "boolean"},
                            "key_state": {
                                "type": "string",
                                "enum": ["none", "pending", "assigned", "pre_order", "sent"],
                                "description": "A digital line's keys: never the keys.",
                            },
                        },
                    },
                },
                "shipments": {
                    "type": "array",
                    "items": {
                        "type": "object",
                        "additionalProperties": False,
                        "required": [
                            "id",
                            "carrier",
                            "carrier_name",
                            "tracking_number",
                            "tracking_url",
                            "shipped_at",
                            "lines",
                        ],
                        "properties": {
                            "id": {"type": "integer"},
                            "carrier": _nullable("string"),
                            "carrier_name": _nullable("string"),
                            "tracking_number": _nullable("string"),
                            "tracking_url": _nullable("string"),
                            "shipped_at": {"type": "string", "format": "date-time"},
                            "lines": {"type": "array", "items": _LINE},
                        },
                    },
                },
                "actions": {"type": "array", "items": _ref("OrderAction")},
                "status_history": {
                    "type": "array",
                    "items": {
                        "type": "object",
                        "additionalProperties": False,
                        "required": ["from", "to", "at"],
                        "properties": {
                            "from": _nullable("string"),
                            "to": {"type": "string"},
                            "at": {"type": "string", "format": "date-time"},
                        },
                    },
                },
            },
        },
        "OrderRecorded": {
            "type": "object",
            "additionalProperties": False,
            "required": [
                "action_id",
                "order_id",
                "type",
                "state",
                "action_ids",
                "states",
                "outbound_call_ids",
                "already_recorded",
                "already",
                "order_status",
                "actions",
            ],
            "properties": {
                "action_id": _nullable("integer", description="The first action recorded."),
                "order_id": {"type": "integer"},
                "type": {"type": "string"},
                "state": _nullable("string", enum=[*F.ACTION_STATES, None]),
                "action_ids": {
                    "type": "array",
                    "items": {"type": "integer"},
                    "description": "One action per line when lines were given.",
                },
                "states": {"type": "array", "items": {"type": "string"}},
                "outbound_call_ids": {"type": "array", "items": _nullable("integer")},
                "already_recorded": {"type": "boolean", "description": "As `already`."},
                "already": {
                    "type": "boolean",
                    "description": "The same shipment (tracking) was recorded before: "
                    "nothing new was written (200).",
                },
                "order_status": {"type": "string", "enum": list(ORDER_STATUSES)},
                "actions": {"type": "array", "items": _ref("OrderAction")},
                "shipment_id": {"type": "integer", "description": "Shipments only."},
            },
        },
    }
)

_LINES_BODY = {
    "type": "array",
    "minItems": 1,
    "maxItems": MAX_LINES,
    "description": "Left out: what remains of every line. Each line: `ref`, the marketplace's "
    "line id or a SKU naming one line of the order, and `quantity` (left out: what "
    "remains of it). A partial action is one action per line.",
    "items": {
        "type": "object",
        "additionalProperties": False,
        "required": ["ref"],
        "properties": {
            "ref": {**_TEXT, "minLength": 1, "maxLength": 255, "pattern": _WORD},
            "quantity": {"type": "integer", "minimum": 1, "maximum": 2**31 - 1},
        },
    },
}
_ARGS_BODY = {
    "type": "object",
    "maxProperties": MAX_ARGS,
    "description": "The marketplace's arguments for this action (name: value as text), as "
    "`--arg K=V`; which ones are required depends on the marketplace and the order.",
    "propertyNames": {"minLength": 1, "maxLength": 64, "pattern": _WORD},
    "additionalProperties": {**_TEXT, "maxLength": 1000},
}
SCHEMAS.update(
    {
        "ShipmentRequest": {
            "type": "object",
            "additionalProperties": False,
            "required": ["carrier"],
            "properties": {
                "carrier": {
                    **_TEXT,
                    "minLength": 1,
                    "maxLength": 64,
                    "pattern": _WORD,
                    "description": "The marketplace's carrier code.",
                },
                "carrier_name": {
                    **_TEXT,
                    "maxLength": 255,
                    "description": "Free text, where the marketplace allows it.",
                },
                "tracking_number": {
                    **_TEXT,
                    "maxLength": 255,
                    "description": "A tracking number or URL is required (422 without).",
                },
                "tracking_url": {**_TEXT, "maxLength": 2048},
                "lines": _LINES_BODY,
                "args": _ARGS_BODY,
            },
        },
        "ActionRequest": {
            "type": "object",
            "additionalProperties": False,
            "required": ["type"],
            "properties": {
                "type": {
                    **_TEXT,
                    "minLength": 1,
                    "maxLength": 64,
                    "pattern": _WORD,
                    "description": "accept, refuse, cancel, partial_cancel, refund, or another "
                    "action the marketplace offers (ship: POST .../shipments).",
                },
                "lines": _LINES_BODY,
                "args": _ARGS_BODY,
            },
        },
    }
)
SCHEMAS["ShipmentForm"] = {
    "type": "object",
    "additionalProperties": False,
    "required": ["carrier"],
    "properties": {
        k: v
        for k, v in SCHEMAS["ShipmentRequest"]["properties"].items()
        if k not in ("lines", "args")
    },
    "description": "As ShipmentRequest, for the whole order (lines and args: JSON only).",
}
SCHEMAS["ActionForm"] = {
    "type": "object",
    "additionalProperties": False,
    "required": ["type"],
    "properties": {"type": SCHEMAS["ActionRequest"]["properties"]["type"]},
    "description": "As ActionRequest, for the whole order (lines and args: JSON only).",
}
PARAMETERS.update(
    {
        "OrderId": {
            "name": "order_id",
            "in": "path",
            "required": True,
            "description": "Mercato's order id; another store's is 404.",
            "schema": _ID,
        },
        "OrderSearch": {
            "name": "q",
            "in": "query",
            "description": "Channel order id, customer name or email containing it, a line's "
            "SKU equal to it, or `#id`.",
            "schema": {**_TEXT, "maxLength": 255},
        },
        "OrderStatus": {
            "name": "status",
            "in": "query",
            "schema": {"type": "string", "enum": list(ORDER_STATUSES)},
        },
        "OrderChannel": {
            "name": "channel",
            "in": "query",
            "description": "The marketplace (amazon_fr, ...).",
            "schema": {**_TEXT, "maxLength": 64},
        },
        "OrderAccount": {
            "name": "account_id",
            "in": "query",
            "description": "Only this account's orders.",
            "schema": _ID,
        },
        "OrderFrom": {
            "name": "from",
            "in": "query",
            "description": "Ordered on or after this day (UTC).",
            "schema": {"type": "string", "format": "date"},
        },
        "OrderTo": {
            "name": "to",
            "in": "query",
            "description": "Ordered on or before this day (UTC).",
            "schema": {"type": "string", "format": "date"},
        },
        "OrderToShip": {
            "name": "to_ship",
            "in": "query",
            "description": "Only orders with something left to ship (as the orders page).",
            "schema": {"type": "boolean"},
        },
        "OrderStore": {
            "name": "store_id",
            "in": "query",
            "description": "Admins: only this store (a store user always sees their own).",
            "schema": _ID,
        },
        "OrderLimit": {
            "name": "limit",
            "in": "query",
            "schema": {"type": "integer", "minimum": 1, "maximum": MAX_LIMIT, "default": 25},
        },
    }
)
_RECORDED_DOC = (
    "422: the request is wrong or the order or marketplace does not allow it; "
    "`error.problems` lists every problem, one sentence each, and nothing is recorded. "
    "409: a request at the same moment recorded the same action or took the same "
    "quantities; nothing was recorded by this one (read the order again). "
    "503: the marketplace's rules could not be read (nothing recorded)."
)
PATHS.update(
    {
        "/store/orders": {
            "get": _operation(
                "storeListOrders",
                "The orders, newest first, filtered as on the orders page.",
                "store",
                {"200": _json(_ref("OrderList"), "One page of orders."), **_errors(401, 422, 429)},
                parameters=[
                    _param("OrderSearch"),
                    _param("OrderStatus"),
                    _param("OrderChannel"),
                    _param("OrderAccount"),
                    _param("OrderFrom"),
                    _param("OrderTo"),
                    *([_param("OrderToShip")] if TO_SHIP else []),
                    _param("OrderStore"),
                    _param("Page"),
                    _param("OrderLimit"),
                ],
            )
        },
        "/store/orders/{order_id}": {
            "get": _operation(
                "storeGetOrder",
                "One order: its lines, shipments and actions.",
                "store",
                {"200": _json(_ref("OrderDetail"), "The order."), **_errors(401, 404, 429)},
                parameters=[_param("OrderId")],
            )
        },
        "/store/orders/{order_id}/shipments": {
            "post": _operation(
                "storeShipOrder",
                "Record a shipment and the ship action that tells the marketplace.",
                "store",
                {
                    "201": _json(
                        _ref("OrderRecorded"),
                        "Recorded; the one sender sends it (a dry run in test mode).",
                    ),
                    "200": _json(
                        _ref("OrderRecorded"),
                        "The same shipment (tracking) was "
                        "recorded before: nothing new (`already`).",
                    ),
                    **_errors(400, 401, 404, 409, 413, 415, 422, 429, 503),
                },
                parameters=[_param("OrderId")],
                requestBody={
                    "required": True,
                    "content": {
                        "application/json": {"schema": _ref("ShipmentRequest")},
                        "multipart/form-data": {"schema": _ref("ShipmentForm")},
                    },
                },
                description="As `flask orders ship`. " + _RECORDED_DOC,
            )
        },
        "/store/orders/{order_id}/actions": {
            "post": _operation(
                "storeOrderAction",
                "Record an order action (accept, refuse, cancel, refund, ...).",
                "store",
                {
                    "201": _json(
                        _ref("OrderRecorded"),
                        "Recorded; the one sender sends it (a dry run in test mode).",
                    ),
                    **_errors(400, 401, 404, 409, 413, 415, 422, 429, 503),
                },
                parameters=[_param("OrderId")],
                requestBody={
                    "required": True,
                    "content": {
                        "application/json": {"schema": _ref("ActionRequest")},
                        "multipart/form-data": {"schema": _ref("ActionForm")},
                    },
                },
                description="As `flask orders action`. " + _RECORDED_DOC,
            )
        },
    }
)
