"""The Feeds pages: /store/<code>/feeds..., /store/<code>/integration/executions, and
/admin/feed-executions.  Store-scoped views resolve the store with ``store_or_404`` and the
feed or run through it, so another store's ids answer 404."""

from __future__ import annotations

from flask import abort, current_app, redirect, render_template, request, url_for
from flask_login import current_user, login_required

from webapp.access import admin_required, run_or_404, store_or_404
from webapp.extensions import db
from webapp.feeds import bp, queries
from webapp.feeds.schedule import ScheduleError, reconcile_quietly, set_schedule
from webapp.htmx import is_htmx, partial_response
from webapp.ids import id_arg
from webapp.models import Feed
from webapp.models import runs as R
from webapp.outbound import run_modes
from webapp.pagination import clamp_page
from webapp.runs import lifecycle as service
from webapp.runs import registry
from webapp.runs.messages import ERRORS_PER_PAGE, error_types, messages_page
from webapp.runs.registry import feed_kinds
from webapp.runs.table import run_columns

PER_PAGE = 25
MESSAGES_PER_PAGE = 50


def feed_or_404(store, feed_id: int) -> Feed:
    feed = db.session.get(Feed, feed_id)
    if feed is None or feed.store_id != store.id:
        abort(404)
    return feed


def poll_seconds() -> int:
    return current_app.config.get("MERCATO_STORE_POLL_SECONDS", 10)


def row_context(store, feed: Feed, **extra) -> dict:
    return {
        "store": store,
        "feed": feed,
        "last": queries.last_runs([feed.id]).get(feed.id),
        "scheduled": queries.is_scheduled(feed),
        "row_poll_seconds": min(2, poll_seconds()),
        **extra,
    }


# -- the store's feeds ---------------------------------------------------------------------


@bp.get("/store/<code>/feeds")
@login_required
def index(code: str):
    store = store_or_404(code)
    feeds = queries.store_feeds(store.id)
    last = queries.last_runs([f.id for f in feeds])
    return render_template(
        "feeds/index.html",
        store=store,
        feeds=feeds,
        last_runs=last,
        scheduled={f.id: queries.is_scheduled(f) for f in feeds},
        row_poll_seconds=min(2, poll_seconds()),
    )


@bp.get("/store/<code>/feeds/<int:feed_id>/row")
@login_required
def row(code: str, feed_id: int):
    store = store_or_404(code)
    feed = feed_or_404(store, feed_id)
    if not is_htmx():
        return redirect(url_for("feeds.detail", code=store.code, feed_id=feed.id))
    return partial_response("feeds/_feed_row.html", **row_context(store, feed))


@bp.post("/store/<code>/feeds/<int:feed_id>/run")
@login_required
def run_now(code: str, feed_id: int):
    """Run now: enqueue an execution, or say which one is already running."""
    store = store_or_404(code)
    feed = feed_or_404(store, feed_id)
    notice, tone, extra = None, "success", {}
    try:
        # A stock check's "Run with fix" also sends the corrections (webapp.pushes.flows).
        fix = request.form.get("fix") == "1" and feed.kind == "stock_check"
        started = service.start_feed(feed, "fix" if fix else "run_now", user_id=current_user.id)
    except service.FeedError as exc:
        notice, tone = str(exc), "error"
    else:
        run = started.run
        if not started.started:  # the words every path answers (the CLI's, the API's)
            notice, tone = "already_running", "error"
            extra["running_text"] = service.already_running(run)
        elif run.status == R.FAILED:
            notice, tone = run.error_message, "error"
        else:
            notice = "started"
    context = row_context(store, feed, notice=notice, notice_tone=tone, **extra)
    if not is_htmx():
        return redirect(url_for("feeds.detail", code=store.code, feed_id=feed.id))
    # A refusal is still 200: htmx swaps only 2xx answers, and the row says why.
    return partial_response("feeds/_feed_row.html", **context)


@bp.get("/store/<code>/feeds/<int:feed_id>")
@login_required
def detail(code: str, feed_id: int):
    store = store_or_404(code)
    feed = feed_or_404(store, feed_id)
    return render_template("feeds/detail.html", **detail_context(store, feed))


def detail_context(store, feed: Feed, **extra) -> dict:
    page = clamp_page(request.args.get("page"))
    executions = queries.executions_page(page, PER_PAGE, store_id=store.id, feed_id=feed.id)
    return {
        **row_context(store, feed),
        "executions": executions,
        "run_modes": run_modes(executions.items),
        "polling": queries.any_active(store_id=store.id, feed_id=feed.id),
        "executions_url": url_for("feeds.feed_executions", code=store.code, feed_id=feed.id),
        "executions_page_base": url_for("feeds.detail", code=store.code, feed_id=feed.id),
        "poll_seconds": min(2, poll_seconds()),
        "every_minutes": (feed.schedule.interval_seconds or 0) // 60 or "",
        "cron": feed.schedule.cron_expression or "",
        "mode": "cron" if feed.schedule.cron_expression else "every",
        **extra,
    }


@bp.get("/store/<code>/feeds/<int:feed_id>/executions")
@login_required
def feed_executions(code: str, feed_id: int):
    store = store_or_404(code)
    feed = feed_or_404(store, feed_id)
    if not is_htmx():
        return redirect(url_for("feeds.detail", code=store.code, feed_id=feed.id))
    return partial_response("feeds/_executions.html", **detail_context(store, feed))


@bp.post("/store/<code>/feeds/<int:feed_id>/schedule")
@login_required
def schedule(code: str, feed_id: int):
    store = store_or_404(code)
    feed = feed_or_404(store, feed_id)
    mode = request.form.get("mode", "every")
    errors: list[str] = []
    try:
        if mode == "cron":
            set_schedule(feed.schedule, cron=request.form.get("cron", ""))
        else:
            minutes = (request.form.get("every_minutes") or "").strip()
            if not (minutes.isascii() and minutes.isdigit()):
                raise ScheduleError("Enter the interval as a whole number of minutes.")
            set_schedule(feed.schedule, every=int(minutes) * 60)
    except ScheduleError as exc:
        db.session.rollback()
        errors.append(str(exc))
    if errors:
        context = detail_context(store, feed, schedule_errors=errors)
        context.update(
            mode=mode,
            cron=request.form.get("cron", ""),
            every_minutes=request.form.get("every_minutes", ""),
        )
        return render_template("feeds/detail.html", **context), 422
    db.session.commit()
    applied = reconcile_quietly([feed.id])
    _flash_saved(f"Schedule saved: {feed.schedule.text}.", applied)
    return redirect(url_for("feeds.detail", code=store.code, feed_id=feed.id))


@bp.post("/store/<code>/feeds/<int:feed_id>/enabled")
@login_required
def toggle(code: str, feed_id: int):
    store = store_or_404(code)
    feed = feed_or_404(store, feed_id)
    back = (
        url_for("feeds.index", code=store.code)
        if request.form.get("next") == "index"
        else url_for("feeds.detail", code=store.code, feed_id=feed.id)
    )
    try:
        service.set_enabled(feed, request.form.get("enabled") == "1")
    except service.FeedError as exc:
        db.session.rollback()
        from flask import flash

        flash(str(exc), "error")
        return redirect(back, code=303)
    db.session.commit()
    applied = reconcile_quietly([feed.id])
    _flash_saved(f"{feed.label} {'enabled' if feed.enabled else 'disabled'}.", applied)
    return redirect(back)


def _flash_saved(message: str, applied: bool) -> None:
    from flask import flash

    if applied:
        flash(message, "success")
    else:
        flash(message + " The scheduler follows within 5 minutes.", "info")


# -- executions ----------------------------------------------------------------------------


def _filters(store_id: int | None) -> dict:
    args = request.args
    filters: dict = {"store_id": store_id}
    if store_id is None and id_arg(args.get("store_id")) is not None:
        filters["store_id"] = id_arg(args["store_id"])
    if id_arg(args.get("account_id")) is not None:
        filters["account_id"] = id_arg(args["account_id"])
    if args.get("kind") in feed_kinds():
        filters["kind"] = args["kind"]
    if args.get("status") in R.STATUSES:
        filters["status"] = args["status"]
    if args.get("period") in queries.PERIODS:
        filters["period"] = args["period"]
    return filters


def executions_context(store, table_endpoint: str, page_endpoint: str, **route) -> dict:
    filters = _filters(store.id if store else None)
    page = clamp_page(request.args.get("page"))
    params = {k: v for k, v in request.args.items() if k != "page" and v}
    executions = queries.executions_page(page, PER_PAGE, **filters)
    return {
        "store": store,
        "executions": executions,
        "run_modes": run_modes(executions.items),
        "polling": queries.any_active(**filters),
        "executions_url": url_for(table_endpoint, **route, **params),
        "executions_page_base": url_for(page_endpoint, **route, **params),
        "poll_seconds": poll_seconds(),
        "show_store": store is None,
        "args": request.args,
        "kinds": {k: (f.direction, f.label) for k, f in feed_kinds().items()},
        "statuses": R.STATUSES,
        "periods": queries.PERIODS,
        "accounts": queries.accounts(filters["store_id"]),
        "stores": queries.stores() if store is None else [],
        # An empty table under filters says so, with the way back to every execution.
        "filtered": any(v is not None for k, v in filters.items() if k != "store_id" or not store),
        "clear_url": url_for(page_endpoint, **route),
    }


@bp.get("/store/<code>/integration/executions")
@login_required
def executions(code: str):
    store = store_or_404(code)
    context = executions_context(store, "feeds.executions", "feeds.executions", code=store.code)
    if is_htmx():
        response = partial_response("feeds/_executions.html", **context)
        response.headers["HX-Replace-Url"] = context["executions_page_base"]
        return response
    return render_template("feeds/executions.html", **context)


@bp.get("/admin/feed-executions")
@admin_required
def admin_executions():
    context = executions_context(None, "feeds.admin_executions", "feeds.admin_executions")
    if is_htmx():
        response = partial_response("feeds/_executions.html", **context)
        response.headers["HX-Replace-Url"] = context["executions_page_base"]
        return response
    return render_template("feeds/executions.html", **context)


@bp.get("/store/<code>/integration/executions/<int:run_id>")
@login_required
def execution(code: str, run_id: int):
    """The one page of a run, whatever its kind: a product import adds its configuration and
    its row errors viewer (the old import page, ``store.job``, redirects here)."""
    store = store_or_404(code)
    run = run_or_404(run_id, store)
    page = clamp_page(request.args.get("page"))
    flow = registry.for_run(run.kind, run.feed.kind if run.feed else None)
    context = {
        "store": store,
        "run": run,
        "run_mode": run_modes([run]).get(run.id),
        "flow_label": flow.label if flow is not None else run.kind.replace("_", " "),
    }
    if run.kind == "product_import":
        error_type = request.args.get("error_type") or None
        context.update(
            errors=messages_page(run.id, page, ERRORS_PER_PAGE, error_type=error_type),
            error_types=error_types(run.id),
            error_type=error_type or "",
        )
    else:
        context["messages"] = messages_page(run.id, page, MESSAGES_PER_PAGE)
    return render_template("runs/run.html", **context)


@bp.get("/store/<code>/integration/executions/<int:run_id>/row")
@login_required
def execution_row(code: str, run_id: int):
    """One executions-table row, polled by itself while its run is in flight."""
    store = store_or_404(code)
    run = run_or_404(run_id, store)
    if run.feed_id is None or not is_htmx():
        return redirect(url_for("feeds.execution", code=store.code, run_id=run.id))
    show_store = request.args.get("store") == "1"
    return partial_response(
        "runs/_row.html",
        run=run,
        columns=run_columns("executions", store=show_store),
        row_url=url_for(
            "feeds.execution_row", code=store.code, run_id=run.id, store=1 if show_store else None
        ),
        run_modes=run_modes([run]),
    )


@bp.get("/store/<code>/integration/executions/<int:run_id>/status")
@login_required
def execution_status(code: str, run_id: int):
    store = store_or_404(code)
    run = run_or_404(run_id, store)
    if not is_htmx():
        return redirect(url_for("feeds.execution", code=store.code, run_id=run.id))
    return partial_response("runs/_metrics.html", store=store, run=run)
