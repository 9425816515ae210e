"""Feed executions over the API: ``POST /api/v1/store/feeds/<id>/executions`` starts one
through the run lifecycle, as Run now and ``flask feeds run`` do, and is refused in the same
words while the feed is already running (409, with the running execution's id).

``GET /store/feeds`` lists the store's feeds (schedule, last execution); a feed's executions,
one execution and its messages are read under ``/store/feeds/<id>/executions``. Another
store's feed or execution is answered 404, like an unknown one."""

from __future__ import annotations

from typing import Any

from flask import Response, jsonify, request

from webapp.api import bp, jobs, openapi, serialize
from webapp.api.auth import api_user
from webapp.api.errors import ApiError
from webapp.api.file_runs import accepted
from webapp.api.openapi import _ID, _errors, _json, _nullable, _operation, _param, _ref
from webapp.api.params import feed_start_fix, page_args
from webapp.api.stock import _store
from webapp.extensions import db
from webapp.feeds import queries
from webapp.models import Feed, Run
from webapp.models import runs as R
from webapp.runs import lifecycle

NOT_FOUND = "No feed with this id."


@bp.route("/store/feeds/<int:feed_id>/executions", methods=["GET", "POST"])
def store_feed_executions_route(feed_id: int) -> Response:
    """One rule for both methods: two rules on one path answer an id beyond the range with
    405 (Werkzeug's matcher) where every other route answers 404."""
    if request.method == "GET":
        return store_feed_executions(feed_id)
    return store_start_feed(feed_id)


def store_start_feed(feed_id: int) -> Response:
    """Start an execution of one of the caller's store's feeds (admins: any store's); a stock
    check with ``fix`` also sends its corrections."""
    fix = feed_start_fix()
    user = api_user()
    feed = db.session.get(Feed, feed_id)
    if feed is None or (not user.is_admin and feed.store_id != user.store_id):
        raise ApiError(404, NOT_FOUND)  # another store's feed is answered as no feed
    if fix and feed.kind != "stock_check":
        raise ApiError(422, f"'fix' is for a stock check; feed {feed.id} is {feed.kind}.")
    try:
        started = lifecycle.start_feed(feed, "fix" if fix else "api", user_id=user.id)
    except lifecycle.FeedError as exc:
        raise ApiError(422, str(exc)) from exc
    run = started.run
    if not started.started:
        raise ApiError(409, lifecycle.already_running(run), job_id=run.id)
    return accepted(run)


# -- reading feeds and their executions --------------------------------------------------------


def _feed_or_404(feed_id: int) -> Feed:
    user = api_user()
    feed = db.session.get(Feed, feed_id)
    if feed is None or (not user.is_admin and feed.store_id != user.store_id):
        raise ApiError(404, NOT_FOUND)
    return feed


def execution_json(run: Run) -> dict[str, Any]:
    duration = run.duration_seconds
    return {
        "id": run.id,
        "feed_id": run.feed_id,
        "account_id": run.account_id,
        "kind": run.kind,
        "trigger": run.trigger,
        "status": run.status,
        "phase": run.phase,
        "progress": run.progress,
        "total_processed": run.total_processed,
        "imported_count": run.imported_count,
        "updated_count": run.updated_count,
        "unchanged_count": run.unchanged_count,
        "parked_count": run.parked_count,
        "error_count": run.error_count,
        "warning_count": run.warning_count,
        "error_message": run.error_message,
        "created_at": serialize.iso(run.created_at),
        "started_at": serialize.iso(run.started_at),
        "completed_at": serialize.iso(run.completed_at),
        "duration_seconds": round(duration, 3) if duration is not None else None,
    }


def feed_json(feed: Feed, last: Run | None) -> dict[str, Any]:
    schedule = feed.schedule
    return {
        "id": feed.id,
        "kind": feed.kind,
        "label": feed.label,
        "direction": feed.direction,
        "account_id": feed.account_id,
        "account_name": feed.account.name if feed.account is not None else None,
        "enabled": feed.enabled,
        "built": feed.is_built,
        "interval_seconds": schedule.interval_seconds if schedule else None,
        "cron_expression": schedule.cron_expression if schedule else None,
        "last_sync_at": serialize.iso(feed.last_sync_at),
        "last_execution": execution_json(last) if last is not None else None,
    }


@bp.get("/store/feeds")
def store_feeds() -> Response:
    """The store's feeds (its own file imports first, then each account's), each with its
    schedule and its last execution."""
    store = _store()
    found = queries.store_feeds(store.id)
    last = queries.last_runs([f.id for f in found])
    return jsonify(
        {
            "store": {"id": store.id, "code": store.code},
            "items": [feed_json(f, last.get(f.id)) for f in found],
        }
    )


def store_feed_executions(feed_id: int) -> Response:
    """The feed's executions, newest first."""
    page_no, limit = page_args(default_limit=10)  # a bad value is 422 before any look-up
    feed = _feed_or_404(feed_id)
    page = queries.executions_page(page_no, limit, feed_id=feed.id)
    return jsonify(
        serialize.page([execution_json(r) for r in page.items], page.total, page_no, limit)
    )


def _execution_or_404(feed: Feed, job_id: int) -> Run:
    run = db.session.get(Run, job_id)
    if run is None or run.feed_id != feed.id:
        raise ApiError(404, "No execution with this id.")
    return run


@bp.get("/store/feeds/<int:feed_id>/executions/<int:job_id>")
def store_feed_execution(feed_id: int, job_id: int) -> Response:
    run = _execution_or_404(_feed_or_404(feed_id), job_id)
    return jsonify(execution_json(run))


@bp.get("/store/feeds/<int:feed_id>/executions/<int:job_id>/messages")
def store_feed_execution_messages(feed_id: int, job_id: int) -> Response:
    """The execution's messages (a stock check's drifts, a push's dry runs...)."""
    page_args(default_limit=50)  # a bad value is 422 before any look-up
    run = _execution_or_404(_feed_or_404(feed_id), job_id)
    return jsonify(jobs.messages_page(run))


# -- the contract -----------------------------------------------------------------------------

_EXECUTION_FIELDS = {
    "id": {"type": "integer"},
    "feed_id": _nullable("integer"),
    "account_id": _nullable("integer"),
    "kind": {"type": "string", "description": "What the run did (order_import, stock_check...)."},
    "trigger": {"type": "string", "description": "ui, api, cli, schedule, fix, retry..."},
    "status": {"type": "string", "enum": list(R.STATUSES)},
    "phase": _nullable("string"),
    "progress": {"type": "integer", "minimum": 0, "maximum": 100},
    "total_processed": {"type": "integer"},
    "imported_count": {"type": "integer"},
    "updated_count": {"type": "integer"},
    "unchanged_count": {"type": "integer"},
    "parked_count": {"type": "integer"},
    "error_count": {"type": "integer"},
    "warning_count": {"type": "integer"},
    "error_message": _nullable("string"),
    "created_at": {"type": "string", "format": "date-time"},
    "started_at": _nullable("string", format="date-time"),
    "completed_at": _nullable("string", format="date-time"),
    "duration_seconds": _nullable("number"),
}
openapi.SCHEMAS.update(
    {
        "Execution": {
            "type": "object",
            "additionalProperties": False,
            "required": list(_EXECUTION_FIELDS),
            "properties": _EXECUTION_FIELDS,
        },
        "ExecutionList": {
            "type": "object",
            "additionalProperties": False,
            "required": ["items", "total", "page", "limit"],
            "properties": {
                "items": {
                    "type": "array",
                    "items": _ref("Execution"),
                    "description": "Newest first.",
                },
                "total": {"type": "integer"},
                "page": {"type": "integer"},
                "limit": {"type": "integer"},
            },
        },
        "Feed": {
            "type": "object",
            "additionalProperties": False,
            "required": [
                "id",
                "kind",
                "label",
                "direction",
                "account_id",
                "account_name",
                "enabled",
                "built",
                "interval_seconds",
                "cron_expression",
                "last_sync_at",
                "last_execution",
            ],
            "properties": {
                "id": {"type": "integer"},
                "kind": {"type": "string"},
                "label": {"type": "string"},
                "direction": {"type": "string", "enum": ["in", "out"]},
                "account_id": _nullable("integer", description="null: the store's own files."),
                "account_name": _nullable("string"),
                "enabled": {"type": "boolean"},
                "built": {"type": "boolean", "description": "false: no flow behind it."},
                "interval_seconds": _nullable("integer"),
                "cron_expression": _nullable("string", description="Five fields, UTC."),
                "last_sync_at": _nullable("string", format="date-time"),
                "last_execution": {"anyOf": [_ref("Execution"), {"type": "null"}]},
            },
        },
        "FeedList": {
            "type": "object",
            "additionalProperties": False,
            "required": ["store", "items"],
            "properties": {
                "store": _ref("Store"),
                "items": {"type": "array", "items": _ref("Feed")},
            },
        },
    }
)
_EXECUTION_ID = {
    "name": "job_id",
    "in": "path",
    "required": True,
    "schema": _ID,
    "description": "An execution of this feed; another feed's is 404.",
}
openapi.PATHS["/store/feeds"] = {
    "get": _operation(
        "storeListFeeds",
        "The store's feeds with their schedules and last executions.",
        "store",
        {"200": _json(_ref("FeedList"), "The feeds."), **_errors(401, 404, 422, 429)},
        parameters=[
            {
                "name": "store_id",
                "in": "query",
                "schema": _ID,
                "description": "Admins: the store (required). A store user's own; another is 404.",
            }
        ],
    )
}
openapi.PATHS["/store/feeds/{feed_id}/executions"]["get"] = _operation(
    "storeListFeedExecutions",
    "The feed's executions, newest first.",
    "store",
    {"200": _json(_ref("ExecutionList"), "One page."), **_errors(401, 404, 422, 429)},
    parameters=[_param("FeedId"), _param("Page"), _param("Limit")],
)
openapi.PATHS["/store/feeds/{feed_id}/executions/{job_id}"] = {
    "get": _operation(
        "storeGetFeedExecution",
        "One execution of the feed.",
        "store",
        {"200": _json(_ref("Execution"), "The execution."), **_errors(401, 404, 429)},
        parameters=[_param("FeedId"), _EXECUTION_ID],
    )
}
openapi.PATHS["/store/feeds/{feed_id}/executions/{job_id}/messages"] = {
    "get": _operation(
        "storeListFeedExecutionMessages",
        "The execution's messages, filtered by type or severity.",
        "store",
        {"200": _json(_ref("MessageList"), "One page."), **_errors(401, 404, 422, 429)},
        parameters=[
            _param("FeedId"),
            _EXECUTION_ID,
            _param("Page"),
            _param("MessageLimit"),
            _param("ErrorType"),
            _param("Severity"),
        ],
    )
}
