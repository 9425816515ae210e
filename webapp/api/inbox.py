"""The error inbox over the API: /api/v1/store/inbox (a store user's store; admins any).

What the inbox pages show, as JSON: open messages newest first with the count of each cause,
filtered as on the page; resolve one; retry one (queued for a worker, as the page does).
The endpoints' part of the OpenAPI document is written here, next to them, and added to
``webapp.api.openapi``'s document when this module is imported.
"""

from __future__ import annotations

from flask import Response, jsonify

from webapp.api import bp
from webapp.api.auth import api_user
from webapp.api.errors import ApiError
from webapp.api.openapi import (
    _ID,
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
from webapp.api.params import _read_fields, choice_arg, id_query_arg, page_args, str_arg
from webapp.extensions import db
from webapp.inbox import retry, service
from webapp.models import Message
from webapp.models import runs as R

NOT_FOUND = "No open inbox message with this id."


def _store_scope() -> int | None:
    """A store user's store; for an admin, the ``store_id`` filter (or every store)."""
    user = api_user()
    if user.is_admin:
        return id_query_arg("store_id")
    return user.store_id


def _filters() -> service.Filters:
    return service.Filters(
        cause=str_arg("cause", 64) or "",
        account_id=id_query_arg("account_id"),
        severity=choice_arg("severity", tuple(service.SEVERITIES)) or "error",
        age=choice_arg("age", tuple(service.AGES)) or "",
    )


def _message_or_404(message_id: int) -> Message:
    user = api_user()
    message = db.session.get(Message, message_id) if message_id < 2**31 else None
    if (
        message is None
        or message.row_number is not None
        or message.store_id is None
        or not (user.is_admin or message.store_id == user.store_id)
    ):
        raise ApiError(404, NOT_FOUND)
    return message


@bp.get("/store/inbox")
def store_inbox() -> Response:
    page_no, limit = page_args(default_limit=service.PER_PAGE)
    scope, filters = _store_scope(), _filters()
    listing = service.entries(scope, filters, page_no, limit)
    return jsonify(
        {
            "items": service.records(listing.items),
            "total": listing.total,
            "page": page_no,
            "limit": limit,
            "causes": service.cause_counts(scope, filters),
        }
    )


@bp.post("/store/inbox/<int:message_id>/resolve")
def store_inbox_resolve(message_id: int) -> Response:
    _read_fields()  # no fields; a body that is not JSON or a form is still refused
    message = _message_or_404(message_id)
    if message.resolved_at is not None:
        raise ApiError(409, f"Message {message.id} is already resolved.")
    service.resolve([message.id], api_user().email)
    return jsonify(service.records([message])[0] | {"resolved": True})


@bp.post("/store/inbox/<int:message_id>/retry")
def store_inbox_retry(message_id: int) -> Response:
    _read_fields()
    message = _message_or_404(message_id)
    if message.resolved_at is not None:
        raise ApiError(409, f"Message {message.id} is already resolved.")
    if not retry.retryable(message):
        raise ApiError(409, "This cause cannot be retried: fix it at the source.")
    try:
        retry.enqueue_retries([message.id], api_user().email)
    except Exception as exc:  # Redis down: say so instead of pretending
        raise ApiError(503, "The job queue is unavailable; retry in a moment.") from exc
    return jsonify({"id": message.id, "status": "queued"}), 202


# -- the contract ------------------------------------------------------------------------

SCHEMAS.update(
    {
        "InboxEntry": {
            "type": "object",
            "additionalProperties": False,
            "required": [
                "id",
                "store",
                "cause",
                "severity",
                "message",
                "subject",
                "account",
                "execution",
                "orders_waiting",
                "created_at",
                "attempts",
                "next_retry_at",
                "last_retry_error",
            ],
            "properties": {
                "id": {"type": "integer"},
                "store": {**_ref("Store"), "description": "The store it belongs to."},
                "cause": {
                    "type": "string",
                    "description": "unknown_sku, connector_error, outbound_failed, ...",
                },
                "severity": {
                    "type": "string",
                    "enum": [R.ERROR, R.RETRY],
                    "description": "error: needs a person; retry: still retried by itself.",
                },
                "message": {"type": "string", "description": "What is wrong, what to do."},
                "subject": {
                    "type": "object",
                    "additionalProperties": False,
                    "required": ["type", "id", "identifier"],
                    "properties": {
                        "type": {
                            "type": "string",
                            "description": "sku (one entry per unknown SKU), order, account, "
                            "product or run.",
                        },
                        "id": _nullable("integer"),
                        "identifier": _nullable(
                            "string", description="The SKU, channel order id or source."
                        ),
                    },
                },
                "account": {
                    "type": ["object", "null"],
                    "additionalProperties": False,
                    "required": ["id", "name"],
                    "properties": {
                        "id": {"type": "integer"},
                        "name": _nullable("string"),
                    },
                },
                "execution": {
                    "type": "object",
                    "additionalProperties": False,
                    "required": ["id", "kind"],
                    "properties": {
                        "id": {"type": "integer", "description": "The run that said it."},
                        "kind": _nullable("string"),
                    },
                },
                "orders_waiting": _nullable(
                    "integer", description="Unknown SKUs: orders with a line waiting for it."
                ),
                "created_at": {"type": "string", "format": "date-time"},
                "attempts": {"type": "integer"},
                "next_retry_at": _nullable("string", format="date-time"),
                "last_retry_error": _nullable("string"),
                "resolved": {"type": "boolean", "description": "Resolve's answer only."},
            },
        },
        "InboxList": {
            "type": "object",
            "additionalProperties": False,
            "required": ["items", "total", "page", "limit", "causes"],
            "properties": {
                "items": {"type": "array", "items": _ref("InboxEntry")},
                "total": {"type": "integer"},
                "page": {"type": "integer"},
                "limit": {"type": "integer"},
                "causes": {
                    "type": "object",
                    "additionalProperties": {"type": "integer"},
                    "description": "Open messages per cause under the other filters.",
                },
            },
        },
        "InboxQueued": {
            "type": "object",
            "additionalProperties": False,
            "required": ["id", "status"],
            "properties": {
                "id": {"type": "integer"},
                "status": {"type": "string", "enum": ["queued"]},
            },
        },
    }
)
PARAMETERS.update(
    {
        "MessageId": {
            "name": "message_id",
            "in": "path",
            "required": True,
            "schema": _ID,
        },
        "InboxCause": {
            "name": "cause",
            "in": "query",
            "description": "Only this cause (e.g. unknown_sku).",
            "schema": {"type": "string", "maxLength": 64},
        },
        "InboxAccount": {
            "name": "account_id",
            "in": "query",
            "description": "Only this account's messages.",
            "schema": _ID,
        },
        "InboxSeverity": {
            "name": "severity",
            "in": "query",
            "description": "error (default): needs a person; retry: still retried by "
            "itself; open: both.",
            "schema": {"type": "string", "enum": list(service.SEVERITIES), "default": "error"},
        },
        "InboxAge": {
            "name": "age",
            "in": "query",
            "description": "1d / 7d: newer than; old7 / old30: older than that many days.",
            "schema": {"type": "string", "enum": list(service.AGES)},
        },
        "InboxStore": {
            "name": "store_id",
            "in": "query",
            "description": "Admins: only this store (a store user always sees their own).",
            "schema": _ID,
        },
        "InboxLimit": {
            "name": "limit",
            "in": "query",
            "schema": {"type": "integer", "minimum": 1, "maximum": 100, "default": 25},
        },
    }
)
_NO_BODY = {
    "required": False,
    "description": "Nothing to send (an empty JSON object or form is accepted).",
    "content": {
        "application/json": {"schema": {"type": "object"}},
        "multipart/form-data": {"schema": {"type": "object"}},
    },
}
PATHS.update(
    {
        "/store/inbox": {
            "get": _operation(
                "storeListInbox",
                "The error inbox: open messages newest first, with the count per cause.",
                "store",
                {"200": _json(_ref("InboxList"), "One page of entries."), **_errors(401, 422, 429)},
                parameters=[
                    _param("InboxCause"),
                    _param("InboxAccount"),
                    _param("InboxSeverity"),
                    _param("InboxAge"),
                    _param("InboxStore"),
                    _param("Page"),
                    _param("InboxLimit"),
                ],
            )
        },
        "/store/inbox/{message_id}/resolve": {
            "post": _operation(
                "storeResolveInboxMessage",
                "Mark one open message resolved (by the token's user).",
                "store",
                {
                    "200": _json(_ref("InboxEntry"), "The message, now resolved."),
                    **_errors(400, 401, 404, 409, 413, 415, 429),
                },
                parameters=[_param("MessageId")],
                requestBody=_NO_BODY,
                description="409: it was already resolved.",
            )
        },
        "/store/inbox/{message_id}/retry": {
            "post": _operation(
                "storeRetryInboxMessage",
                "Retry one open message in a worker (as the inbox's Retry button does).",
                "store",
                {
                    "202": _json(_ref("InboxQueued"), "Queued; poll the inbox for its outcome."),
                    **_errors(400, 401, 404, 409, 413, 415, 429, 503),
                },
                parameters=[_param("MessageId")],
                requestBody=_NO_BODY,
                description="409: already resolved, or a cause that cannot be retried "
                "(fix it at the source).",
            )
        },
    }
)
