"""An account's catalog feed over the API: /api/v1/store/accounts/{id}/catalog-feed (its URLs
and last fetches) and .../rotate (a new token; the old URL answers 404 from then on).

The token is in the URLs only for the account's own store; an administrator gets them masked.
Another store's account is 404, as every id the caller may not see.
"""

from __future__ import annotations

from flask import Response, jsonify

from webapp import catalogfeed
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
from webapp.api.params import _read_fields
from webapp.extensions import db
from webapp.models import Account

NOT_FOUND = "No account with this id."


def _account_or_404(account_id: int, *, retired: int = 404) -> Account:
    user = api_user()
    account = db.session.get(Account, account_id) if account_id < 2**31 else None
    if account is None or not (user.is_admin or account.store_id == user.store_id):
        raise ApiError(404, NOT_FOUND)
    if account.is_retired:
        if retired == 404:
            raise ApiError(404, NOT_FOUND)
        raise ApiError(retired, "This account is retired: it has no catalog feed.")
    return account


def _reveal(account: Account) -> bool:
    return api_user().store_id == account.store_id


@bp.get("/store/accounts/<int:account_id>/catalog-feed")
def store_catalog_feed(account_id: int) -> Response:
    account = _account_or_404(account_id)
    return jsonify(catalogfeed.feed_json(account, reveal=_reveal(account)))


@bp.post("/store/accounts/<int:account_id>/catalog-feed/rotate")
def store_catalog_feed_rotate(account_id: int) -> Response:
    _read_fields()  # no fields; a body that is not JSON or a form is still refused
    account = _account_or_404(account_id, retired=409)
    catalogfeed.rotate(account, api_user().email)
    return jsonify(catalogfeed.feed_json(account, reveal=_reveal(account)))


# -- the contract ------------------------------------------------------------------------

_URL = {"type": "string", "description": "The token masked (********) unless yours."}
SCHEMAS.update(
    {
        "CatalogFeedFetch": {
            "type": "object",
            "additionalProperties": False,
            "required": [
                "fetched_at",
                "ip",
                "user_agent",
                "format",
                "status",
                "complete",
                "gzip",
                "rows",
                "bytes",
                "duration_ms",
            ],
            "properties": {
                "fetched_at": {"type": "string", "format": "date-time"},
                "ip": _nullable("string"),
                "user_agent": _nullable("string"),
                "format": {"type": "string", "enum": ["csv", "xml"]},
                "status": {"type": "integer", "description": "200, or 304 (not modified)."},
                "complete": {
                    "type": "boolean",
                    "description": "False: the client went away before the end.",
                },
                "gzip": {"type": "boolean"},
                "rows": {"type": "integer", "description": "Products sent."},
                "bytes": {"type": "integer", "description": "Bytes sent (compressed if gzip)."},
                "duration_ms": {"type": "integer"},
            },
        },
        "CatalogFeed": {
            "type": "object",
            "additionalProperties": False,
            "required": [
                "account_id",
                "format",
                "language",
                "urls",
                "token_masked",
                "created_at",
                "rotated_at",
                "rotated_by",
                "fetches",
            ],
            "properties": {
                "account_id": {"type": "integer"},
                "format": {
                    "type": "string",
                    "enum": ["csv", "xml"],
                    "description": "What the URL without a suffix answers.",
                },
                "language": _nullable(
                    "string", description="Language of the texts; null: the store's default."
                ),
                "urls": {
                    "type": "object",
                    "additionalProperties": False,
                    "required": ["default", "csv", "xml"],
                    "properties": {"default": _URL, "csv": _URL, "xml": _URL},
                },
                "token_masked": {"type": "boolean"},
                "created_at": {"type": "string", "format": "date-time"},
                "rotated_at": _nullable("string", format="date-time"),
                "rotated_by": _nullable("string"),
                "fetches": {
                    "type": "array",
                    "items": _ref("CatalogFeedFetch"),
                    "description": "The last 20 fetches, newest first.",
                },
            },
        },
    }
)
PARAMETERS.update(
    {"AccountId": {"name": "account_id", "in": "path", "required": True, "schema": _ID}}
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
        "/store/accounts/{account_id}/catalog-feed": {
            "get": _operation(
                "storeGetCatalogFeed",
                "The account's catalog feed: its URLs (the hub reads one) and last fetches.",
                "store",
                {
                    "200": _json(_ref("CatalogFeed"), "The feed."),
                    **_errors(401, 404, 429),
                },
                parameters=[_param("AccountId")],
                description="The feed URLs need no token: the secret is in the path. "
                "They answer CSV (Google Shopping columns; Letzshop accounts add title_fr... "
                "columns) or RSS 2.0 with the g: namespace, gzip when asked, with ETag and "
                "Last-Modified (304 on a repeat). Retired or another store's account: 404.",
            )
        },
        "/store/accounts/{account_id}/catalog-feed/rotate": {
            "post": _operation(
                "storeRotateCatalogFeed",
                "A new feed URL; the old one answers 404 from now on.",
                "store",
                {
                    "200": _json(_ref("CatalogFeed"), "The feed with its new URLs."),
                    **_errors(400, 401, 404, 409, 413, 415, 429),
                },
                parameters=[_param("AccountId")],
                requestBody=_NO_BODY,
                description="409: the account is retired.",
            )
        },
    }
)
