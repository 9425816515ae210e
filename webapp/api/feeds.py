"""Feed executions over the API: ``POST /api/v1/store/feeds/<id>/executions`` starts one
through the run lifecycle, as Run now and ``flask feeds run`` do, and is refused in the same
words while the feed is already running (409, with the running execution's id)."""

from __future__ import annotations

from flask import Response, jsonify

from webapp.api import bp
from webapp.api.auth import api_user
from webapp.api.errors import ApiError
from webapp.api.params import feed_start_fix
from webapp.extensions import db
from webapp.models import Feed
from webapp.models import runs as R
from webapp.runs import lifecycle

NOT_FOUND = "No feed with this id."


@bp.post("/store/feeds/<int:feed_id>/executions")
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
    if run.status == R.FAILED:  # the lifecycle could not reach the queue, and said so
        raise ApiError(503, "The job queue is unavailable; nothing will run.", job_id=run.id)
    response = jsonify({"job_id": run.id, "status": run.status})
    response.status_code = 202
    return response
