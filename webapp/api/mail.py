"""Customers' e-mail over the API: /api/v1/store/mail (a store user's store; admins any).

List the store's e-mail newest first (filtered by status or kind) and resend one: a failed,
refused or in-doubt e-mail is sent again (the same e-mail), a sent one or a dry run gets one
more; either way a worker sends it after the answer (``202``; poll the list for its status).
"""

from __future__ import annotations

from flask import Response, jsonify
from sqlalchemy import func, select

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
from webapp.mail import service
from webapp.models import MailMessage

NOT_FOUND = "No e-mail with this id."


def _scope() -> int | None:
    user = api_user()
    if user.is_admin:
        return id_query_arg("store_id")
    return user.store_id


@bp.get("/store/mail")
def store_mail() -> Response:
    page_no, limit = page_args(default_limit=25)
    status = choice_arg("status", tuple(service.STATUSES))
    kind = str_arg("kind", 64)
    scope = _scope()
    query = select(MailMessage)
    if scope is not None:
        query = query.where(MailMessage.store_id == scope)
    if status:
        query = query.where(MailMessage.status == status)
    if kind:
        query = query.where(MailMessage.kind == kind)
    total = db.session.scalar(select(func.count()).select_from(query.subquery()))
    items = db.session.scalars(
        query.order_by(MailMessage.id.desc()).offset((page_no - 1) * limit).limit(limit)
    ).all()
    return jsonify(
        {
            "items": [{**service.record(m), "store_id": m.store_id} for m in items],
            "total": total,
            "page": page_no,
            "limit": limit,
        }
    )


@bp.post("/store/mail/<int:mail_id>/resend")
def store_mail_resend(mail_id: int) -> Response:
    _read_fields()
    user = api_user()
    message = db.session.get(MailMessage, mail_id) if mail_id < 2**31 else None
    if message is None or not (user.is_admin or message.store_id == user.store_id):
        raise ApiError(404, NOT_FOUND)
    if message.status == "sending":
        raise ApiError(409, f"E-mail {message.id} is being sent right now.")
    if message.status == "pending":
        raise ApiError(409, f"E-mail {message.id} is already waiting to be sent.")
    result = service.resend(message, f"api:{user.email}")
    return jsonify({**service.record(result), "store_id": result.store_id}), 202


# -- the contract ------------------------------------------------------------------------

SCHEMAS.update(
    {
        "MailMessage": {
            "type": "object",
            "additionalProperties": False,
            "required": [
                "id",
                "store_id",
                "kind",
                "subject_type",
                "subject_id",
                "resend_no",
                "to",
                "language",
                "account_id",
                "status",
                "attempts",
                "next_attempt_at",
                "last_error",
                "sent_at",
                "smtp_message_id",
                "created_at",
            ],
            "properties": {
                "id": {"type": "integer"},
                "store_id": {"type": "integer"},
                "kind": {"type": "string", "description": "digital_keys, test, ..."},
                "subject_type": {"type": "string", "description": "order, store, ..."},
                "subject_id": {"type": "integer"},
                "resend_no": {"type": "integer", "description": "0: the first e-mail."},
                "to": {"type": "string"},
                "language": _nullable("string"),
                "account_id": _nullable(
                    "integer", description="The account whose mode (test/live) governs it."
                ),
                "status": {
                    "type": "string",
                    "enum": list(service.STATUSES),
                    "description": "dry_run: test mode, never sent; unknown: the connection "
                    "was lost after the message was sent, never sent again by itself.",
                },
                "attempts": {"type": "integer"},
                "next_attempt_at": _nullable("string", format="date-time"),
                "last_error": _nullable("string", description="The SMTP server's words."),
                "sent_at": _nullable("string", format="date-time"),
                "smtp_message_id": _nullable("string"),
                "created_at": {"type": "string", "format": "date-time"},
            },
        },
        "MailList": {
            "type": "object",
            "additionalProperties": False,
            "required": ["items", "total", "page", "limit"],
            "properties": {
                "items": {"type": "array", "items": _ref("MailMessage")},
                "total": {"type": "integer"},
                "page": {"type": "integer"},
                "limit": {"type": "integer"},
            },
        },
    }
)
PARAMETERS.update(
    {
        "MailId": {"name": "mail_id", "in": "path", "required": True, "schema": _ID},
        "MailStatus": {
            "name": "status",
            "in": "query",
            "description": "Only e-mail in this state.",
            "schema": {"type": "string", "enum": list(service.STATUSES)},
        },
        "MailKind": {
            "name": "kind",
            "in": "query",
            "description": "Only this kind (e.g. digital_keys).",
            "schema": {"type": "string", "maxLength": 64},
        },
        "MailStore": {
            "name": "store_id",
            "in": "query",
            "description": "Admins: only this store (a store user always sees their own).",
            "schema": _ID,
        },
        "MailLimit": {
            "name": "limit",
            "in": "query",
            "schema": {"type": "integer", "minimum": 1, "maximum": 100, "default": 25},
        },
    }
)
PATHS.update(
    {
        "/store/mail": {
            "get": _operation(
                "storeListMail",
                "The store's e-mail to customers, newest first.",
                "store",
                {"200": _json(_ref("MailList"), "One page of e-mail."), **_errors(401, 422, 429)},
                parameters=[
                    _param("MailStatus"),
                    _param("MailKind"),
                    _param("MailStore"),
                    _param("Page"),
                    _param("MailLimit"),
                ],
            )
        },
        "/store/mail/{mail_id}/resend": {
            "post": _operation(
                "storeResendMail",
                "Resend one e-mail (a worker sends it; poll the list for its status).",
                "store",
                {
                    "202": _json(_ref("MailMessage"), "The e-mail that will be sent."),
                    **_errors(400, 401, 404, 409, 413, 415, 429),
                },
                parameters=[_param("MailId")],
                requestBody={
                    "required": False,
                    "description": "Nothing to send (an empty JSON object or form is accepted).",
                    "content": {
                        "application/json": {"schema": {"type": "object"}},
                        "multipart/form-data": {"schema": {"type": "object"}},
                    },
                },
                description="A failed, refused or in-doubt e-mail is sent again (the same "
                "e-mail); a sent one or a dry run gets one more. 409: it is already waiting "
                "or being sent.",
            )
        },
    }
)
