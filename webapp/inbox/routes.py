"""Inbox pages: a store's at /store/<code>/inbox, every store's at /admin/inbox.

The overview shows each cause with its count and newest entries; choosing a cause (its
"Show all" link, or the filter) pages through every entry of it. Filters (cause, account,
severity, age; admins: store) swap the inbox in place and the address bar follows
(``HX-Replace-Url``), so every state is a link that renders the full page.

Retries run in a worker (``jobs.inbox.retry_messages``): a retry may poll a marketplace.
While one is pending the inbox polls itself, so its outcome appears without a reload.
Every answer to an action carries the error bell too (an out-of-band swap), so the count
in the top bar follows what the person just did.
"""

from __future__ import annotations

from flask import abort, current_app, redirect, request, url_for
from flask_login import current_user, login_required
from werkzeug.routing import BuildError

from webapp.access import admin_required, store_or_404, visible_store_ids
from webapp.htmx import is_htmx, partial_response
from webapp.inbox import bp, retry, service
from webapp.pagination import clamp_page
from webapp.redis_outage import INBOX_DEGRADED, OUTAGE_ERRORS, RETRY_UNAVAILABLE


def _endpoint(*names: str) -> str | None:
    return next((n for n in names if n in current_app.view_functions), None)


def subject_link(message, store_code: str) -> str | None:
    """Where a message's subject lives: its order, account, product, SKU, e-mail or run."""
    kind, subject = message.subject_type, message.subject_id
    try:
        if kind == "order" and subject:
            return url_for("orders.order", code=store_code, order_id=subject)
        if kind == "account" and subject:
            return url_for("accounts.account", code=store_code, account_id=subject)
        if kind == "product" and subject:
            detail = _endpoint("catalog.product", "catalog.product_detail")
            if detail:
                return url_for(detail, code=store_code, product_id=subject)
            return url_for("catalog.publish", code=store_code, product_id=subject)
        if kind in ("keys_sku", "keys_supplier"):  # a low key pool (webapp.keys.levels)
            return url_for("keys.pool", code=store_code)
        if kind == "mail" and subject:  # an e-mail to a customer (webapp/mail)
            return url_for("mail.message", code=store_code, mail_id=subject)
        if kind == "sku":
            # The orders that wait for it: the orders search takes a line's exact SKU.
            if message.identifier:
                return url_for("orders.orders", code=store_code, q=message.identifier)
            return None
    except BuildError:
        pass
    return execution_link(message, store_code)


def execution_link(message, store_code: str, run=None) -> str:
    """The run a message belongs to: a product import's page, or an execution's."""
    if run is not None and run.kind == "product_import" and run.feed_id is None:
        return url_for("store.job", code=store_code, run_id=message.import_job_id)
    return url_for("feeds.execution", code=store_code, run_id=message.import_job_id)


def _list_urls(store, filters: service.Filters, page: int | None = None) -> dict:
    params = filters.params()
    if page and page > 1:
        params["page"] = str(page)
    base = filters.params()
    if store is not None:
        params.pop("store", None)
        base.pop("store", None)
        endpoint, route = "inbox.store_inbox", {"code": store.code}
    else:
        endpoint, route = "inbox.admin_inbox", {}
    overview = {k: v for k, v in base.items() if k != "cause"}
    return {
        "inbox_url": url_for(endpoint, **route, **params),
        "page_base": url_for(endpoint, **route, **base),
        "overview_url": url_for(endpoint, **route, **overview),
        "list_url": url_for(endpoint, **route),
    }


def _context(store=None, filters: service.Filters | None = None, page: int = 1) -> dict:
    filters = filters or service.Filters()
    if store is not None:
        filters.store_id = None
    scope = store.id if store else None
    if filters.cause:
        causes = service.groups(scope, filters.without_cause(), sample=0)
        listing = service.entries(scope, filters, page)
        messages = listing.items
        groups = []
    else:
        listing = None
        causes = groups = service.groups(scope, filters)
        messages = [m for g in groups for m in g.messages]
    store_ids = [store.id] if store else None
    accounts = service.accounts_of(store_ids)
    stores = (
        {store.id: store}
        if store
        else service._stores({m.store_id for m in messages} | {filters.store_id})
    )
    runs = service.runs_of(messages)
    try:
        retrying, unavailable = retry.pending([m.id for m in messages]), None
    except OUTAGE_ERRORS:  # the page still lists the errors and says what is missing
        retrying, unavailable = set(), INBOX_DEGRADED
    return {
        "unavailable": unavailable,
        "store": store,
        "filters": filters,
        "causes": causes,
        "cause_totals": _cause_totals(causes),
        "groups": groups,
        "listing": listing,
        "messages": messages,
        "runs": runs,
        "stores": stores,
        "all_stores": [] if store else list(service.all_stores()),
        "accounts": accounts,
        "account_names": {a.id: a.name for a in accounts},
        "affected": service.affected_orders(messages),
        "retrying": retrying,
        "retryable": retry.HANDLERS,
        "subject_link": subject_link,
        "execution_link": execution_link,
        "severities": service.SEVERITY_LABELS,
        "ages": service.AGE_LABELS,
        "total": sum(g.count for g in causes),
        **_list_urls(store, filters, page if filters.cause else None),
    }


def _cause_totals(causes: list[service.Group]) -> list[tuple[str, int]]:
    totals: dict[str, int] = {}
    for group in causes:
        totals[group.cause] = totals.get(group.cause, 0) + group.count
    return sorted(totals.items(), key=lambda kv: (-kv[1], kv[0]))


def _render(
    store=None,
    status: int = 200,
    notice: str | None = None,
    *,
    action: bool = False,
    unavailable: str | None = None,
):
    """The page, or for HTMX the inbox alone (with the bell, after an action). Redis away:
    503 says what is unavailable, and the page is still there to resolve errors."""
    filters = service.Filters.from_args(request.form if action else request.args)
    page = clamp_page((request.form if action else request.args).get("page"))
    context = _context(store, filters, page)
    degraded = context.pop("unavailable")
    unavailable = unavailable or degraded
    if is_htmx():
        context["oob_bell"] = _bell_context()
        response = partial_response(
            "inbox/_inbox.html", notice=notice, unavailable=unavailable, **context
        )
        if not action:
            response.headers["HX-Replace-Url"] = context["inbox_url"]
    else:
        if action and not unavailable:  # a form posted without htmx: back to its page
            return redirect(context["inbox_url"], code=303)
        response = partial_response(
            "inbox/inbox.html", notice=notice, unavailable=unavailable, **context
        )
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


def _back(store):
    """After an action: the admin's inbox if they came from it, else the store's."""
    if current_user.is_admin and request.form.get("from") == "admin":
        return None
    return store


def _group_filters(store) -> service.Filters:
    """A group action acts on what the person saw: the form's filters, for its cause."""
    filters = service.Filters.from_args(request.form)
    filters.store_id = store.id
    return filters


@bp.post("/store/<code>/inbox/messages/<int:message_id>/retry")
@login_required
def retry_message(code: str, message_id: int):
    store = store_or_404(code)
    message = service.message_of_store(message_id, store.id)
    if message is None or message.resolved_at is not None:
        abort(404)
    if not retry.retryable(message):
        return _render(
            _back(store), 409, "This cause cannot be retried: fix it at the source.", action=True
        )
    try:
        notice = retry.enqueue_retries([message.id], current_user.email)
    except OUTAGE_ERRORS:
        return _render(_back(store), action=True, unavailable=RETRY_UNAVAILABLE)
    return _render(_back(store), notice=notice, action=True)


@bp.post("/store/<code>/inbox/messages/<int:message_id>/resolve")
@login_required
def resolve_message(code: str, message_id: int):
    store = store_or_404(code)
    message = service.message_of_store(message_id, store.id)
    if message is None:
        abort(404)
    service.resolve([message.id], current_user.email)
    return _render(_back(store), notice="Marked resolved.", action=True)


@bp.post("/store/<code>/inbox/causes/<cause>/retry")
@login_required
def retry_cause(code: str, cause: str):
    store = store_or_404(code)
    filters = _group_filters(store)
    filters.cause = cause[:64]
    ids = service.matching_ids(store.id, filters)
    if cause not in retry.HANDLERS or not ids:
        abort(404)  # no such open group in this store
    try:
        notice = retry.enqueue_retries(ids, current_user.email)
    except OUTAGE_ERRORS:
        return _render(_back(store), action=True, unavailable=RETRY_UNAVAILABLE)
    return _render(_back(store), notice=notice, action=True)


@bp.post("/store/<code>/inbox/causes/<cause>/resolve")
@login_required
def resolve_cause(code: str, cause: str):
    store = store_or_404(code)
    filters = _group_filters(store)
    filters.cause = cause[:64]
    count = service.resolve_matching(store.id, filters, current_user.email)
    if not count:
        abort(404)  # no such open group in this store
    return _render(_back(store), notice=f"{count} marked resolved.", action=True)


def _bell_context() -> dict:
    count = service.open_count(visible_store_ids())
    if current_user.is_admin:
        href = url_for("inbox.admin_inbox")
    else:
        href = url_for("inbox.store_inbox", code=current_user.store.code)
    return {"count": count, "href": href, "cap": service.BELL_CAP}


@bp.get("/inbox/bell")
@login_required
def bell():
    """The top bar's count of open errors (the user's store; every store for admins)."""
    return partial_response("inbox/_bell.html", **_bell_context())
