"""Inbox pages: a store's at /store/<code>/inbox, every store's at /admin/inbox.

Retries run in a worker (``jobs.inbox.retry_messages``): a retry may poll a marketplace.
While one is pending the inbox polls itself, so its outcome appears without a reload.
"""

from __future__ import annotations

from flask import abort, current_app, request, url_for
from flask_login import current_user, login_required
from werkzeug.routing import BuildError

from webapp.access import admin_required, store_or_404, visible_store_ids
from webapp.extensions import queue, redis_connection
from webapp.inbox import bp, retry, service
from webapp.redis_outage import INBOX_DEGRADED, OUTAGE_ERRORS, RETRY_UNAVAILABLE
from webapp.store.routes import is_htmx, partial_response

PENDING_TTL = 600  # seconds a "retrying" mark lives if a worker never picks the job up


def _pending_key(message_id: int) -> str:
    prefix = current_app.config.get("MERCATO_QUEUE_PREFIX", "")
    return f"{prefix}mercato:inbox:retrying:{message_id}"


def pending(ids: list[int]) -> set[int]:
    """The messages with a retry in flight. Raises OUTAGE_ERRORS when Redis is away."""
    if not ids:
        return set()
    values = redis_connection().mget([_pending_key(i) for i in ids])
    return {i for i, v in zip(ids, values, strict=True) if v is not None}


def subject_link(message, store_code: str) -> str | None:
    """Where a message's subject lives: its order, account, product or run."""
    targets = {
        "order": ("store.order_detail", "order_id"),
        "account": ("store.accounts", None),
        "product": ("store.product_detail", "product_id"),
    }
    endpoint, arg = targets.get(message.subject_type, (None, None))
    try:
        if endpoint:
            values = {"code": store_code}
            if arg:
                values[arg] = message.subject_id
            return url_for(endpoint, **values)
    except BuildError:
        pass  # that page does not exist (yet): the run still explains it
    return url_for("store.job", code=store_code, run_id=message.import_job_id)


def _context(store=None) -> dict:
    groups = service.groups(store.id if store else None)
    ids = [m.id for g in groups for m in g.messages]
    try:
        retrying, unavailable = pending(ids), None
    except OUTAGE_ERRORS:  # the page still lists the errors and says what is missing
        retrying, unavailable = set(), INBOX_DEGRADED
    return {
        "unavailable": unavailable,
        "store": store,
        "groups": groups,
        "retrying": retrying,
        "retryable": retry.HANDLERS,
        "subject_link": subject_link,
        "total": sum(g.count for g in groups),
        "inbox_url": url_for("inbox.store_inbox", code=store.code)
        if store
        else url_for("inbox.admin_inbox"),
    }


def _render(
    store=None, status: int = 200, notice: str | None = None, unavailable: str | None = None
):
    template = "inbox/_inbox.html" if is_htmx() else "inbox/inbox.html"
    context = _context(store)
    degraded = context.pop("unavailable")
    unavailable = unavailable or degraded
    response = partial_response(template, notice=notice, unavailable=unavailable, **context)
    # Redis away: 503 says so, and the page is still there to resolve errors.
    response.status_code = 503 if unavailable else status
    if unavailable:
        response.headers["Retry-After"] = "60"
    return response


@bp.get("/store/<code>/inbox")
@login_required
def store_inbox(code: str):
    return _render(store_or_404(code))


@bp.get("/admin/inbox")
@admin_required
def admin_inbox():
    return _render(None)


def _enqueue(store, ids: list[int]) -> str:
    if not ids:
        return "Nothing to retry."
    conn = redis_connection()
    for message_id in ids:
        conn.set(_pending_key(message_id), "1", ex=PENDING_TTL)
    queue("default").enqueue(
        "jobs.inbox.retry_messages", ids, current_user.email, job_timeout=PENDING_TTL
    )
    return f"Retrying {len(ids)} message{'s' if len(ids) != 1 else ''}…"


def _back(store):
    """After an action: the admin's inbox if they came from it, else the store's."""
    if current_user.is_admin and request.form.get("from") == "admin":
        return None
    return store


@bp.post("/store/<code>/inbox/messages/<int:message_id>/retry")
@login_required
def retry_message(code: str, message_id: int):
    store = store_or_404(code)
    message = service.message_of_store(message_id, store.id)
    if message is None or message.resolved_at is not None:
        abort(404)
    if not retry.retryable(message):
        return _render(_back(store), 409, "This cause cannot be retried: fix it at the source.")
    try:
        notice = _enqueue(store, [message.id])
    except OUTAGE_ERRORS:
        return _render(_back(store), unavailable=RETRY_UNAVAILABLE)
    return _render(_back(store), notice=notice)


@bp.post("/store/<code>/inbox/messages/<int:message_id>/resolve")
@login_required
def resolve_message(code: str, message_id: int):
    store = store_or_404(code)
    message = service.message_of_store(message_id, store.id)
    if message is None:
        abort(404)
    service.resolve([message.id], current_user.email)
    return _render(_back(store), notice="Marked resolved.")


@bp.post("/store/<code>/inbox/causes/<cause>/retry")
@login_required
def retry_cause(code: str, cause: str):
    store = store_or_404(code)
    ids = service.group_ids(store.id, cause[:64])
    if cause not in retry.HANDLERS or not ids:
        abort(404)  # no such open group in this store
    try:
        notice = _enqueue(store, ids)
    except OUTAGE_ERRORS:
        return _render(_back(store), unavailable=RETRY_UNAVAILABLE)
    return _render(_back(store), notice=notice)


@bp.post("/store/<code>/inbox/causes/<cause>/resolve")
@login_required
def resolve_cause(code: str, cause: str):
    store = store_or_404(code)
    ids = service.group_ids(store.id, cause[:64])
    if not ids:
        abort(404)  # no such open group in this store
    count = service.resolve(ids, current_user.email)
    return _render(_back(store), notice=f"{count} marked resolved.")


@bp.get("/inbox/bell")
@login_required
def bell():
    """The top bar's count of open errors (the user's store; every store for admins)."""
    count = service.open_count(visible_store_ids())
    if current_user.is_admin:
        href = url_for("inbox.admin_inbox")
    else:
        href = url_for("inbox.store_inbox", code=current_user.store.code)
    return partial_response("inbox/_bell.html", count=count, href=href)
