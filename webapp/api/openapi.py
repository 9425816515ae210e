"""The API's contract: a hand-written OpenAPI 3.1 document, served at /api/v1/openapi.json.

Written by hand rather than generated so that it reads as documentation (sentences about
tenancy, duplicates, limits) and so that changing it is a deliberate act.  The tests keep
it honest: the documented (path, method) pairs must equal the registered routes, and real
responses are validated against the schemas below.
"""

from __future__ import annotations

from typing import Any

from flask import Response, jsonify

from webapp.admin.stores import FLAG_WORDS
from webapp.api import bp
from webapp.api.auth import public
from webapp.api.params import MAX_LIMIT
from webapp.ids import MAX_ID
from webapp.imports.service import DEFAULT_BATCH, LANGUAGES, MAX_BATCH, MIN_BATCH
from webapp.imports.shipments import MAX_BYTES as SHIPMENTS_MAX_BYTES
from webapp.models import runs as R
from webapp.models.catalog import DEFAULT_MARKETPLACE
from webapp.pagination import MAX_PAGE

Schema = dict[str, Any]


def _ref(name: str) -> Schema:
    return {"$ref": f"#/components/schemas/{name}"}


def _nullable(type_: str, **extra: Any) -> Schema:
    return {"type": [type_, "null"], **extra}


def _json(schema: Schema, description: str, headers: dict | None = None) -> Schema:
    response: Schema = {
        "description": description,
        "content": {"application/json": {"schema": schema}},
    }
    if headers:
        response["headers"] = headers
    return response


def _errors(*statuses: int) -> dict[str, Schema]:
    return {str(status): {"$ref": f"#/components/responses/E{status}"} for status in statuses}


def _param(name: str) -> Schema:
    return {"$ref": f"#/components/parameters/{name}"}


DESCRIPTION = """\
Mercato's REST API for product-feed imports and, for admins, the stores.

**Authentication.** Every endpoint except this document needs a personal API token:
`Authorization: Bearer mct_...`. Create and revoke tokens on the *API tokens* page
(`/account/tokens`) or with `flask tokens create EMAIL`. The browser's session cookie is
not accepted. A token acts as its user: a store user's token sees that user's store only,
an admin's token sees every store.

**Errors.** Every error is JSON: `{"error": {"status": 404, "message": "..."}}`, including
unknown URLs (404) and wrong methods (405). 400: the body is not valid JSON. 401: no, an
unknown or a revoked token, or a disabled account. 403: a non-admin on an admin endpoint.
404: no such job, or a job of another store (the two are indistinguishable on purpose).
409: see below. 413: the upload or body is too large. 415: the body is neither JSON nor a
form. 422: a value is wrong (the message says which); nothing was created. 429: the token's
rate limit (default 600 requests a minute) is exceeded; wait `Retry-After` seconds.
503: the job queue is unavailable.

**Parameters.** Every limit is stated on its parameter: ids are 1 to 2147483647 (a job id
beyond answers 404 like any unknown id), `page` 1 to 999999999, `limit` 1 to 100. A
number, boolean or choice parameter given empty (`?page=`) is a wrong value (422): leave
it out to get the default.

**Duplicate imports (409).** While a store has a pending or processing import of the same
source (the same URL, compared with its password masked, or an upload with the same file
name), starting another one is refused with 409 and the active job's id in `error.job_id`.
This absorbs double clicks and retried scripts; start again once that job has finished.

**Rate limit.** Responses carry `X-RateLimit-Limit`, `X-RateLimit-Remaining` and
`X-RateLimit-Reset` (seconds until the one-minute window resets).

**Secrets.** A feed URL may carry a password (`https://user:pass@host/feed.csv`). It is
stored encrypted and never returned: `source_url` always shows it as `***`.
"""

_JOB_STATUS = {"type": "string", "enum": list(R.STATUSES)}
# Text the routes take: anything but NUL, which no database text holds (422).
_TEXT = {"type": "string", "pattern": "^[^\\x00]*$"}

SCHEMAS: dict[str, Schema] = {
    "Error": {
        "type": "object",
        "required": ["error"],
        "additionalProperties": False,
        "properties": {
            "error": {
                "type": "object",
                "required": ["status", "message"],
                "additionalProperties": False,
                "properties": {
                    "status": {"type": "integer", "description": "The HTTP status again."},
                    "message": {"type": "string", "description": "A sentence for a person."},
                    "job_id": {
                        "type": "integer",
                        "description": "409: the active job of the same source. "
                        "503: the job that could not be queued (marked failed).",
                    },
                    "problems": {
                        "type": "array",
                        "items": {"type": "string"},
                        "description": "Orders (422): every reason the shipment or action "
                        "was refused, one sentence each; nothing was recorded.",
                    },
                    "fields": {
                        "type": "object",
                        "additionalProperties": {"type": "string"},
                        "description": "Stores (409, 422): a sentence for each wrong field "
                        "(`_` for the request as a whole).",
                    },
                },
            }
        },
    },
    "ImportRequest": {
        "type": "object",
        "required": ["source_url"],
        "properties": {
            "source_url": {
                "type": "string",
                "format": "uri",
                "description": "http(s) address of the feed; Basic Auth credentials may be "
                "included. Addresses on private networks are refused (422).",
            },
            "marketplace": {**_TEXT, "maxLength": 64, "default": DEFAULT_MARKETPLACE},
            "language": {"type": "string", "enum": list(LANGUAGES), "default": "en"},
            "batch_size": {
                "type": "integer",
                "minimum": MIN_BATCH,
                "maximum": MAX_BATCH,
                "default": DEFAULT_BATCH,
            },
            "store_id": {
                "type": "integer",
                "minimum": 1,
                "maximum": MAX_ID,
                "description": "Store endpoint: required for admins; a store user may omit "
                "it (their store) and naming another store answers 404.",
            },
        },
    },
    "ImportUpload": {
        "type": "object",
        "required": ["file"],
        "properties": {
            "file": {
                "type": "string",
                "contentMediaType": "application/octet-stream",
                "description": "The feed file (CSV, XML or JSON, optionally gzip or zip).",
            },
            "marketplace": {**_TEXT, "maxLength": 64, "default": DEFAULT_MARKETPLACE},
            "language": {"type": "string", "enum": list(LANGUAGES), "default": "en"},
            "batch_size": {
                "type": "integer",
                "minimum": MIN_BATCH,
                "maximum": MAX_BATCH,
                "default": DEFAULT_BATCH,
            },
            "store_id": {
                "type": "integer",
                "minimum": 1,
                "maximum": MAX_ID,
                "description": "As in ImportRequest.",
            },
        },
    },
    "AdminImportRequest": {
        "allOf": [_ref("ImportRequest"), {"required": ["store_id"]}],
        "description": "As ImportRequest; `store_id` is required (422 without).",
    },
    "AdminImportUpload": {
        "allOf": [_ref("ImportUpload"), {"required": ["store_id"]}],
        "description": "As ImportUpload; `store_id` is required (422 without).",
    },
    "FeedStart": {
        "type": "object",
        "additionalProperties": False,
        "properties": {
            "fix": {
                "type": "boolean",
                "description": "A stock check only: also send the corrections of the drifts "
                "it finds (422 for another feed).",
            }
        },
        "description": "Starting a feed takes no field but `fix` (the body may be left out).",
    },
    "ImportAccepted": {
        "type": "object",
        "required": ["job_id", "status"],
        "additionalProperties": False,
        "properties": {
            "job_id": {"type": "integer"},
            "status": {"type": "string", "enum": [R.PENDING]},
        },
    },
    "Store": {
        "type": "object",
        "required": ["id", "code"],
        "additionalProperties": False,
        "properties": {"id": {"type": "integer"}, "code": {"type": "string"}},
    },
    "Job": {
        "type": "object",
        "additionalProperties": False,
        "required": [
            "id",
            "status",
            "phase",
            "progress",
            "marketplace",
            "language",
            "source_url",
            "source_name",
            "batch_size",
            "trigger",
            "imported_count",
            "updated_count",
            "unchanged_count",
            "error_count",
            "warning_count",
            "total_processed",
            "started_at",
            "completed_at",
            "created_at",
            "duration_seconds",
            "error_message",
            "store",
            "created_by",
        ],
        "properties": {
            "id": {"type": "integer"},
            "status": _JOB_STATUS,
            "phase": _nullable("string", enum=[*R.PHASES, None]),
            "progress": {"type": "integer", "minimum": 0, "maximum": 100},
            "marketplace": {"type": "string"},
            "language": {"type": "string", "enum": list(LANGUAGES)},
            "source_url": _nullable(
                "string", description="The feed URL with any password shown as ***."
            ),
            "source_name": _nullable("string", description="File name of an uploaded feed."),
            "batch_size": {"type": "integer"},
            "trigger": {"type": "string", "description": "ui, api, cli, schedule, ..."},
            "imported_count": {"type": "integer"},
            "updated_count": {"type": "integer"},
            "unchanged_count": {"type": "integer"},
            "error_count": {"type": "integer"},
            "warning_count": {"type": "integer"},
            "total_processed": {
                "type": "integer",
                "description": "imported + updated + unchanged + errors.",
            },
            "started_at": _nullable("string", format="date-time"),
            "completed_at": _nullable("string", format="date-time"),
            "created_at": {"type": "string", "format": "date-time"},
            "duration_seconds": _nullable("number"),
            "error_message": _nullable("string", description="Why a failed job failed."),
            "store": _ref("Store"),
            "created_by": _nullable("string", description="Email of who started it."),
        },
    },
    "JobList": {
        "type": "object",
        "required": ["items", "total", "page", "limit"],
        "additionalProperties": False,
        "properties": {
            "items": {"type": "array", "items": _ref("Job"), "description": "Newest first."},
            "total": {"type": "integer"},
            "page": {"type": "integer"},
            "limit": {"type": "integer"},
        },
    },
    "Message": {
        "type": "object",
        "required": [
            "id",
            "severity",
            "error_type",
            "row_number",
            "identifier",
            "error_message",
            "row_data",
        ],
        "additionalProperties": False,
        "properties": {
            "id": {"type": "integer"},
            "severity": {"type": "string", "enum": list(R.SEVERITIES)},
            "error_type": {
                "type": "string",
                "description": "missing_id, missing_title, parse_error, duplicate_id, "
                "validation_error, ...",
            },
            "row_number": _nullable("integer", description="As a spreadsheet shows it."),
            "identifier": _nullable("string", description="The product id of the row."),
            "error_message": {"type": "string"},
            "row_data": _nullable("object", description="The row's cells by column."),
        },
    },
    "MessageList": {
        "type": "object",
        "required": ["job_id", "items", "total", "page", "limit"],
        "additionalProperties": False,
        "properties": {
            "job_id": {"type": "integer"},
            "items": {
                "type": "array",
                "items": _ref("Message"),
                "description": "By row number, then id; messages without a row last.",
            },
            "total": {"type": "integer"},
            "page": {"type": "integer"},
            "limit": {"type": "integer"},
        },
    },
    "Stats": {
        "type": "object",
        "required": [
            "total",
            "pending",
            "processing",
            "completed",
            "completed_with_errors",
            "failed",
            "abandoned",
            "active",
        ],
        "additionalProperties": False,
        "properties": {
            "total": {"type": "integer"},
            "pending": {"type": "integer"},
            "processing": {"type": "integer"},
            "completed": {"type": "integer"},
            "completed_with_errors": {"type": "integer"},
            "failed": {"type": "integer"},
            "abandoned": {"type": "integer"},
            "active": {"type": "integer", "description": "pending + processing."},
        },
    },
}

_STORE_URL = {
    "anyOf": [
        {"type": "string", "format": "uri"},
        {"type": "string", "maxLength": 0},
        {"type": "null"},
    ],
    "description": "A Letzshop CSV feed address behind the import form's Quick fill; a "
    "password in it is returned as ***, and sending that masked address back keeps the stored "
    "one. Empty or null: none.",
}
_STORE_WRITABLE: dict[str, Schema] = {
    "name": {"type": "string", "minLength": 1, "maxLength": 255},
    "default_language": {"type": "string", "enum": list(LANGUAGES), "default": "fr"},
    "is_active": {
        "anyOf": [{"type": "boolean"}, {"type": "string", "enum": list(FLAG_WORDS)}],
        "default": True,
        "description": "An inactive store's feeds are not scheduled and it cannot import. "
        "A boolean; in a multipart body one of the words true, false, 1, 0.",
    },
    **{f"letzshop_csv_url_{lang}": _STORE_URL for lang in LANGUAGES},
}
STORE_CODE_DESCRIPTION = (
    "Lowercase letters a-z, digits, `-` and `_`, starting and ending with a letter or digit, "
    "2 to 64 characters; `new` is reserved. Part of every address of the store; it cannot be "
    "changed once the store exists."
)

SCHEMAS.update(
    {
        "StoreCreate": {
            "type": "object",
            "required": ["code", "name"],
            "additionalProperties": False,
            "properties": {
                "code": {
                    "type": "string",
                    "pattern": "^[a-z0-9][a-z0-9_-]*[a-z0-9]$",
                    "minLength": 2,
                    "maxLength": 64,
                    "description": STORE_CODE_DESCRIPTION,
                },
                **_STORE_WRITABLE,
            },
        },
        "StoreUpdate": {
            "type": "object",
            "additionalProperties": False,
            "description": "Only the fields given change. `code` may be sent only unchanged.",
            "properties": {"code": {"type": "string"}, **_STORE_WRITABLE},
        },
        "StoreCounts": {
            "type": "object",
            "additionalProperties": False,
            "required": [
                "products",
                "published",
                "orders",
                "accounts",
                "live_accounts",
                "open_errors",
            ],
            "properties": {
                "products": {"type": "integer", "description": "Imported products."},
                "published": {"type": "integer", "description": "Published to the catalog."},
                "orders": {"type": "integer"},
                "accounts": {"type": "integer", "description": "Accounts not retired."},
                "live_accounts": {"type": "integer"},
                "open_errors": {"type": "integer", "description": "Waiting in the inbox."},
            },
        },
        "StoreDetail": {
            "type": "object",
            "additionalProperties": False,
            "required": [
                "id",
                "code",
                "name",
                "default_language",
                "is_active",
                *(f"letzshop_csv_url_{lang}" for lang in LANGUAGES),
                "created_at",
                "updated_at",
                "counts",
            ],
            "properties": {
                "id": {"type": "integer"},
                "code": {"type": "string", "description": STORE_CODE_DESCRIPTION},
                "name": {"type": "string"},
                "default_language": {"type": "string", "enum": list(LANGUAGES)},
                "is_active": {"type": "boolean"},
                **{f"letzshop_csv_url_{lang}": _STORE_URL for lang in LANGUAGES},
                "created_at": _nullable("string", format="date-time"),
                "updated_at": _nullable("string", format="date-time"),
                "counts": _ref("StoreCounts"),
            },
        },
        "StoreList": {
            "type": "object",
            "required": ["items", "total", "page", "limit"],
            "additionalProperties": False,
            "properties": {
                "items": {
                    "type": "array",
                    "items": _ref("StoreDetail"),
                    "description": "By name, then code.",
                },
                "total": {"type": "integer"},
                "page": {"type": "integer"},
                "limit": {"type": "integer"},
            },
        },
    }
)

_ID = {"type": "integer", "minimum": 1, "maximum": MAX_ID}

PARAMETERS: dict[str, Schema] = {
    "FeedId": {
        "name": "feed_id",
        "in": "path",
        "required": True,
        "description": "A feed id (the feeds page, `flask feeds list`); another store's is 404.",
        "schema": _ID,
    },
    "JobId": {
        "name": "job_id",
        "in": "path",
        "required": True,
        "description": "A job id; one beyond the range is no job (404).",
        "schema": _ID,
    },
    "Page": {
        "name": "page",
        "in": "query",
        "description": "From 1; a page beyond the last is empty.",
        "schema": {"type": "integer", "minimum": 1, "maximum": MAX_PAGE, "default": 1},
    },
    "Limit": {
        "name": "limit",
        "in": "query",
        "schema": {"type": "integer", "minimum": 1, "maximum": MAX_LIMIT, "default": 10},
    },
    "MessageLimit": {
        "name": "limit",
        "in": "query",
        "schema": {"type": "integer", "minimum": 1, "maximum": MAX_LIMIT, "default": 50},
    },
    "ErrorType": {
        "name": "error_type",
        "in": "query",
        "description": "Only messages of this type (e.g. missing_title).",
        "schema": _TEXT,
    },
    "Severity": {
        "name": "severity",
        "in": "query",
        "schema": {"type": "string", "enum": list(R.SEVERITIES)},
    },
    "StoreFilter": {
        "name": "store_id",
        "in": "query",
        "description": "Only this store's jobs.",
        "schema": _ID,
    },
    "Status": {"name": "status", "in": "query", "schema": _JOB_STATUS},
    "Marketplace": {
        "name": "marketplace",
        "in": "query",
        "description": "Case-insensitive.",
        "schema": _TEXT,
    },
    "StoreCode": {
        "name": "code",
        "in": "path",
        "required": True,
        "schema": {"type": "string", "maxLength": 64},
    },
    "StoreSearch": {
        "name": "q",
        "in": "query",
        "description": "Stores whose code or name contains this text (any case).",
        "schema": {"type": "string", "maxLength": 100},
    },
    "StoreStatus": {
        "name": "status",
        "in": "query",
        "schema": {"type": "string", "enum": ["active", "inactive"]},
    },
    "StoreLimit": {
        "name": "limit",
        "in": "query",
        "schema": {"type": "integer", "minimum": 1, "maximum": 100, "default": 50},
    },
    "CreatedByMe": {
        "name": "created_by_me",
        "in": "query",
        "description": "Only jobs started by the token's user (true or false; 1/0, yes/no and "
        "on/off are read the same way).",
        "schema": {"type": "boolean", "default": False},
    },
}

_ERROR = _ref("Error")
_RATE_HEADERS = {
    name: {"schema": {"type": "integer"}, "description": text}
    for name, text in (
        ("Retry-After", "Seconds to wait before the next request."),
        ("X-RateLimit-Limit", "Requests allowed per minute."),
        ("X-RateLimit-Remaining", "Requests left in this window."),
        ("X-RateLimit-Reset", "Seconds until the window resets."),
    )
}

RESPONSES: dict[str, Schema] = {
    "E400": _json(_ERROR, "The body is not valid JSON, or not a JSON object."),
    "E401": _json(
        _ERROR,
        "No token, an unknown or revoked token, or a disabled account.",
        {"WWW-Authenticate": {"schema": {"type": "string"}}},
    ),
    "E403": _json(_ERROR, "The token's user is not an admin."),
    "E404": _json(
        _ERROR,
        "No such job, or a job of a store the token's user may not see (stores: no store "
        "with this code).",
    ),
    "E409": _json(
        _ERROR,
        "Imports: the store already has a pending or processing import of the same source; "
        "`error.job_id` is that job. Feeds: the feed is already running (`error.message` "
        "says so in the words of every path; `error.job_id` is the running execution). "
        "Stores: another store has this code.",
    ),
    "E413": _json(_ERROR, "The upload or the request body is too large."),
    "E415": _json(_ERROR, "The body is neither JSON nor a form."),
    "E422": _json(
        _ERROR,
        "A value is invalid, out of its documented range or empty (the message says which); "
        "nothing was created.",
    ),
    "E429": _json(_ERROR, "Rate limit exceeded.", _RATE_HEADERS),
    "E503": _json(_ERROR, "The job queue is unavailable."),
}

_IMPORT_BODY = {
    "required": True,
    "content": {
        "application/json": {"schema": _ref("ImportRequest")},
        "multipart/form-data": {"schema": _ref("ImportUpload")},
    },
}

_ADMIN_IMPORT_BODY = {
    "required": True,
    "content": {
        "application/json": {"schema": _ref("AdminImportRequest")},
        "multipart/form-data": {"schema": _ref("AdminImportUpload")},
    },
}

_ACCEPTED = _json(
    _ref("ImportAccepted"),
    "The job was created and queued; follow `Location` (or poll the job) for progress.",
    {"Location": {"schema": {"type": "string"}, "description": "URL of the new job."}},
)

# A form field cannot be null: in multipart a URL is an address or empty (none).
SCHEMAS["StoreCreateForm"] = {
    **SCHEMAS["StoreCreate"],
    "properties": {
        **SCHEMAS["StoreCreate"]["properties"],
        **{
            f"letzshop_csv_url_{lang}": {
                "anyOf": _STORE_URL["anyOf"][:2],
                "description": _STORE_URL["description"],
            }
            for lang in LANGUAGES
        },
    },
}
_STORE_CREATE_BODY = {
    "required": True,
    "content": {
        "application/json": {"schema": _ref("StoreCreate")},
        "multipart/form-data": {"schema": _ref("StoreCreateForm")},
    },
}
_STORE_UPDATE_BODY = {
    "required": True,
    "content": {"application/json": {"schema": _ref("StoreUpdate")}},
}

_PAGE = [_param("Page"), _param("Limit")]
_MESSAGE_FILTERS = [_param("Page"), _param("MessageLimit"), _param("ErrorType"), _param("Severity")]
_READ_ERRORS = _errors(401, 404, 422, 429)


def _operation(
    operation_id: str, summary: str, tag: str, responses: dict[str, Schema], **extra: Any
) -> Schema:
    return {
        "operationId": operation_id,
        "summary": summary,
        "tags": [tag],
        **extra,
        "responses": responses,
    }


PATHS: dict[str, Schema] = {
    "/openapi.json": {
        "get": _operation(
            "getOpenApi",
            "This document (no token needed).",
            "meta",
            {"200": {"description": "OpenAPI 3.1 document.", "content": {"application/json": {}}}},
            security=[],
        )
    },
    "/store/marketplace/import": {
        "post": _operation(
            "storeStartImport",
            "Start an import into the token user's store.",
            "store",
            {"202": _ACCEPTED, **_errors(400, 401, 404, 409, 413, 415, 422, 429, 503)},
            description="JSON with `source_url`, or multipart/form-data with a `file`. "
            "Admins must name the store with `store_id` (422 without).",
            requestBody=_IMPORT_BODY,
        )
    },
    "/store/feeds/{feed_id}/executions": {
        "post": _operation(
            "storeStartFeed",
            "Start an execution of one of the store's feeds (as Run now).",
            "store",
            {
                "202": _json(_ref("ImportAccepted"), "The execution was created and queued."),
                **_errors(400, 401, 404, 409, 413, 415, 422, 429, 503),
            },
            description="422: the feed cannot run (disabled, not built, retired account). "
            "409: it is already running; `error.job_id` is that execution.",
            parameters=[_param("FeedId")],
            requestBody={
                "required": False,
                "content": {
                    "application/json": {"schema": _ref("FeedStart")},
                    "multipart/form-data": {"schema": _ref("FeedStart")},
                },
            },
        )
    },
    "/store/marketplace/imports": {
        "get": _operation(
            "storeListImports",
            "The store's import jobs, newest first.",
            "store",
            {"200": _json(_ref("JobList"), "One page of jobs."), **_errors(401, 422, 429)},
            parameters=_PAGE,
        )
    },
    "/store/marketplace/imports/{job_id}": {
        "get": _operation(
            "storeGetImport",
            "One import job of the store.",
            "store",
            {"200": _json(_ref("Job"), "The job."), **_errors(401, 404, 429)},
            parameters=[_param("JobId")],
        )
    },
    "/store/marketplace/imports/{job_id}/errors": {
        "get": _operation(
            "storeListImportErrors",
            "The job's error and warning messages.",
            "store",
            {"200": _json(_ref("MessageList"), "One page of messages."), **_READ_ERRORS},
            parameters=[_param("JobId"), *_MESSAGE_FILTERS],
        )
    },
    "/admin/marketplace-import-jobs": {
        "post": _operation(
            "adminStartImport",
            "Start an import for any store (`store_id` required).",
            "admin",
            {"202": _ACCEPTED, **_errors(400, 401, 403, 409, 413, 415, 422, 429, 503)},
            requestBody=_ADMIN_IMPORT_BODY,
        ),
        "get": _operation(
            "adminListImports",
            "Every store's import jobs, newest first, with filters.",
            "admin",
            {"200": _json(_ref("JobList"), "One page of jobs."), **_errors(401, 403, 422, 429)},
            parameters=[
                _param("StoreFilter"),
                _param("Status"),
                _param("Marketplace"),
                _param("CreatedByMe"),
                *_PAGE,
            ],
        ),
    },
    "/admin/marketplace-import-jobs/stats": {
        "get": _operation(
            "adminImportStats",
            "Job counts per status.",
            "admin",
            {"200": _json(_ref("Stats"), "The counts."), **_errors(401, 403, 422, 429)},
            parameters=[_param("StoreFilter")],
        )
    },
    "/admin/marketplace-import-jobs/{job_id}": {
        "get": _operation(
            "adminGetImport",
            "One import job of any store.",
            "admin",
            {"200": _json(_ref("Job"), "The job."), **_errors(401, 403, 404, 429)},
            parameters=[_param("JobId")],
        )
    },
    "/admin/marketplace-import-jobs/{job_id}/errors": {
        "get": _operation(
            "adminListImportErrors",
            "The job's error and warning messages.",
            "admin",
            {
                "200": _json(_ref("MessageList"), "One page of messages."),
                **_errors(401, 403, 404, 422, 429),
            },
            parameters=[_param("JobId"), *_MESSAGE_FILTERS],
        )
    },
}

PATHS.update(
    {
        "/admin/stores": {
            "get": _operation(
                "adminListStores",
                "Every store, by name, with its counts (products, orders, accounts, errors).",
                "admin",
                {
                    "200": _json(_ref("StoreList"), "One page of stores."),
                    **_errors(401, 403, 422, 429),
                },
                parameters=[
                    _param("StoreSearch"),
                    _param("StoreStatus"),
                    _param("Page"),
                    _param("StoreLimit"),
                ],
            ),
            "post": _operation(
                "adminCreateStore",
                "Create a store (with its default feeds).",
                "admin",
                {
                    "201": _json(
                        _ref("StoreDetail"),
                        "The new store.",
                        {"Location": {"schema": {"type": "string"}, "description": "Its URL."}},
                    ),
                    **_errors(400, 401, 403, 409, 413, 415, 422, 429),
                },
                description="409: the code is taken. 422: a value is wrong; "
                "`error.fields` says which and why. Nothing is created either way.",
                requestBody=_STORE_CREATE_BODY,
            ),
        },
        "/admin/stores/{code}": {
            "get": _operation(
                "adminGetStore",
                "One store with its counts.",
                "admin",
                {
                    "200": _json(_ref("StoreDetail"), "The store."),
                    **_errors(401, 403, 404, 429),
                },
                parameters=[_param("StoreCode")],
            ),
            "patch": _operation(
                "adminUpdateStore",
                "Change a store's name, language, status or feed URLs.",
                "admin",
                {
                    "200": _json(_ref("StoreDetail"), "The store as saved."),
                    **_errors(400, 401, 403, 404, 409, 413, 415, 422, 429),
                },
                description="Only the fields given change. Switching `is_active` reschedules "
                "the store's feeds at once. 422 (with `error.fields`): a wrong value; 409: a "
                "`code` other than the store's (a code never changes); nothing is changed.",
                parameters=[_param("StoreCode")],
                requestBody=_STORE_UPDATE_BODY,
            ),
        },
    }
)

# -- bulk shipping (webapp/api/bulk_shipping.py) -------------------------------------------
SCHEMAS.update(
    {
        "BulkShippingUpload": {
            "type": "object",
            "required": ["file"],
            "additionalProperties": False,
            "properties": {
                "file": {
                    "type": "string",
                    "contentMediaType": "application/octet-stream",
                    "description": "The shipments CSV (any delimiter or encoding; at most "
                    f"{SHIPMENTS_MAX_BYTES // (1024 * 1024)} MB). Columns: `order` (the "
                    "marketplace order id, or `#` and the Mercato id), `carrier`, "
                    "`carrier_name`, `tracking_number` and/or `tracking_url`, and for a "
                    "partial shipment `sku` (or the marketplace line id) and `quantity`; "
                    "`arg:NAME` columns are marketplace arguments. Rows with the same order "
                    "and tracking are one shipment.",
                },
                "store_id": {
                    "type": "integer",
                    "minimum": 1,
                    "maximum": MAX_ID,
                    "description": "Required for admins; a store user may omit it (their "
                    "store) and naming another store answers 404.",
                },
            },
        },
        "BulkShippingText": {
            "type": "object",
            "required": ["csv"],
            "additionalProperties": False,
            "properties": {
                "csv": {
                    **_TEXT,
                    "minLength": 1,
                    "description": "The shipments CSV's text (columns as for `file`).",
                },
                "file_name": {
                    **_TEXT,
                    "maxLength": 255,
                    "default": "shipments.csv",
                    "description": "The name the run shows (and compares for 409).",
                },
                "store_id": {
                    "type": "integer",
                    "minimum": 1,
                    "maximum": MAX_ID,
                    "description": "As in BulkShippingUpload.",
                },
            },
        },
        "BulkShippingRun": {
            "type": "object",
            "additionalProperties": False,
            "required": [
                "job_id",
                "kind",
                "status",
                "rows",
                "shipments_recorded",
                "already_recorded",
                "bad_rows",
                "error",
                "source_name",
                "trigger",
                "store",
                "created_at",
                "completed_at",
                "messages",
            ],
            "properties": {
                "job_id": {"type": "integer"},
                "kind": {"type": "string", "enum": ["bulk_shipping"]},
                "status": _JOB_STATUS,
                "rows": {"type": "integer", "description": "Data rows read (blank lines not)."},
                "shipments_recorded": {"type": "integer"},
                "already_recorded": {
                    "type": "integer",
                    "description": "Shipments of the file recorded before (the same order and "
                    "tracking): nothing new was written for them.",
                },
                "bad_rows": {
                    "type": "integer",
                    "description": "Rows not recorded; each has a message naming its row.",
                },
                "error": _nullable("string", description="Why the whole file failed."),
                "source_name": _nullable("string"),
                "trigger": {"type": "string"},
                "store": _ref("Store"),
                "created_at": {"type": "string", "format": "date-time"},
                "completed_at": _nullable("string", format="date-time"),
                "messages": {
                    "type": "object",
                    "required": ["items", "total", "page", "limit"],
                    "additionalProperties": False,
                    "properties": {
                        "items": {"type": "array", "items": _ref("Message")},
                        "total": {"type": "integer"},
                        "page": {"type": "integer"},
                        "limit": {"type": "integer"},
                    },
                },
            },
        },
    }
)
PATHS.update(
    {
        "/store/orders/shipments/bulk": {
            "post": _operation(
                "storeBulkShipping",
                "Ship orders from a CSV file (a bulk shipping run).",
                "store",
                {
                    "202": _json(
                        _ref("ImportAccepted"),
                        "The run was created and queued; follow `Location` for its summary "
                        "and messages.",
                        {
                            "Location": {
                                "schema": {"type": "string"},
                                "description": "URL of the run.",
                            }
                        },
                    ),
                    **_errors(400, 401, 404, 409, 413, 415, 422, 429, 503),
                },
                description="multipart/form-data with the CSV as `file`, or JSON with its "
                "text as `csv`. 409: a file of the same name is still pending or processing "
                "for the store (`error.job_id`). Each shipment is "
                "recorded on its own (one bad order never stops the others); a bad row gets "
                "a message naming its row and problem. Uploading the same file again records "
                "nothing new. An account in test mode records dry runs only.",
                requestBody={
                    "required": True,
                    "content": {
                        "application/json": {"schema": _ref("BulkShippingText")},
                        "multipart/form-data": {"schema": _ref("BulkShippingUpload")},
                    },
                },
            )
        },
        "/store/orders/shipments/bulk/{job_id}": {
            "get": _operation(
                "storeGetBulkShipping",
                "A bulk shipping run: its counts and a page of its messages (by row).",
                "store",
                {
                    "200": _json(_ref("BulkShippingRun"), "The run."),
                    **_errors(401, 404, 422, 429),
                },
                parameters=[_param("JobId"), _param("Page"), _param("MessageLimit")],
            )
        },
    }
)

DOCUMENT: Schema = {
    "openapi": "3.1.0",
    "info": {"title": "Mercato API", "version": "1.0.0", "description": DESCRIPTION},
    "servers": [{"url": "/api/v1"}],
    "security": [{"bearerAuth": []}],
    "tags": [
        {"name": "store", "description": "The token user's store (admins: any store)."},
        {"name": "admin", "description": "Admins only (403 for anyone else)."},
        {"name": "meta", "description": "About the API itself."},
    ],
    "paths": PATHS,
    "components": {
        "securitySchemes": {
            "bearerAuth": {
                "type": "http",
                "scheme": "bearer",
                "description": "A personal API token (mct_...) from /account/tokens.",
            }
        },
        "schemas": SCHEMAS,
        "parameters": PARAMETERS,
        "responses": RESPONSES,
    },
}


@bp.get("/openapi.json")
@public
def openapi_document() -> Response:
    return jsonify(DOCUMENT)
