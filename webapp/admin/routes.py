"""Admin pages: self-service import for any store, and platform monitoring."""

from __future__ import annotations

from flask import current_app, redirect, render_template, request, url_for
from flask_login import current_user
from wtforms.fields.choices import SelectChoice

from webapp import pagination
from webapp.access import admin_required
from webapp.admin import bp
from webapp.extensions import db
from webapp.htmx import is_htmx, partial_response
from webapp.ids import id_arg
from webapp.imports import queries
from webapp.models import Store
from webapp.models import runs as R
from webapp.store.forms import AdminImportForm, quick_fill_urls, submit_import

PER_PAGE = 25


def _mine_context(page: int) -> dict:
    return {
        "history": queries.runs_page(page, PER_PAGE, user_id=current_user.id),
        "polling": queries.any_active(user_id=current_user.id),
        "history_url": url_for("admin.marketplace_history"),
        "history_page_base": url_for("admin.marketplace"),
        "poll_seconds": current_app.config.get("MERCATO_STORE_POLL_SECONDS", 10),
        "show_store": True,
    }


@bp.route("/marketplace", methods=["GET", "POST"])
@admin_required
def marketplace():
    form = AdminImportForm()
    stores = queries.stores()
    form.store_id.choices = [SelectChoice(s.id, f"{s.name} ({s.code})") for s in stores]
    status = 200
    if request.method == "GET" and id_arg(request.args.get("store_id")) is not None:
        form.store_id.data = id_arg(request.args["store_id"])
    if form.validate_on_submit():
        store = db.session.get(Store, form.store_id.data)
        if submit_import(form, store):
            return redirect(url_for("admin.marketplace"))
        status = 422
    elif request.method == "POST":
        status = 422
    quick_fill = {}
    selected = db.session.get(Store, form.store_id.data) if form.store_id.data else None
    if selected is not None:
        quick_fill = quick_fill_urls(selected)
    page = pagination.clamp_page(request.args.get("page"))
    return (
        render_template(
            "admin/marketplace.html", form=form, quick_fill=quick_fill, **_mine_context(page)
        ),
        status,
    )


@bp.get("/marketplace/history")
@admin_required
def marketplace_history():
    page = pagination.clamp_page(request.args.get("page"))
    if not is_htmx():
        return redirect(url_for("admin.marketplace", page=page))
    return partial_response("partials/_history.html", **_mine_context(page))


def _monitoring_filters() -> dict:
    args = request.args
    filters: dict = {}
    if id_arg(args.get("store_id")) is not None:
        filters["store_id"] = id_arg(args["store_id"])
    if args.get("status") in R.STATUSES:
        filters["status"] = args["status"]
    if args.get("marketplace"):
        filters["marketplace"] = args["marketplace"][:64]
    if args.get("creator") == "me":
        filters["user_id"] = current_user.id
    return filters


def _monitoring_context() -> dict:
    filters = _monitoring_filters()
    page = pagination.clamp_page(request.args.get("page"))
    params = {k: v for k, v in request.args.items() if k != "page" and v}
    return {
        "stats": queries.stats(),
        "history": queries.runs_page(page, PER_PAGE, **filters),
        "polling": queries.any_active(),
        "history_url": url_for("admin.imports_table", **params),
        "history_page_base": url_for("admin.imports", **params),
        "poll_seconds": current_app.config.get("MERCATO_ADMIN_POLL_SECONDS", 15),
        "show_store": True,
        "show_creator": True,
        "history_target": "#monitoring",
        "args": request.args,
        # An empty table under filters says so, with the way back to every job.
        "filtered": bool(filters),
        "clear_url": url_for("admin.imports"),
    }


@bp.get("/imports")
@admin_required
def imports():
    return render_template(
        "admin/imports.html",
        stores=queries.stores(),
        marketplaces=queries.marketplaces(),
        statuses=R.STATUSES,
        **_monitoring_context(),
    )


@bp.get("/imports/table")
@admin_required
def imports_table():
    params = {k: v for k, v in request.args.items() if v}
    if not is_htmx():
        return redirect(url_for("admin.imports", **params))
    response = partial_response("admin/_monitoring.html", **_monitoring_context())
    # The address bar follows the filters (replaced, not pushed: polling must not fill history).
    response.headers["HX-Replace-Url"] = url_for("admin.imports", **params)
    return response


def _health_context() -> dict:
    from webapp.monitoring import figures

    found = figures.compute()
    return {
        "found": found,
        "thresholds": figures.THRESHOLDS,
        "day": chart(figures.hourly(24), "%H:00"),
        "week": chart(figures.hourly(24 * 7), "%a %d %H:00"),
        "poll_seconds": current_app.config.get("MERCATO_ADMIN_POLL_SECONDS", 15),
    }


def chart(buckets, label_format: str) -> dict:
    """Bars for an SVG chart: heights scaled to the busiest hour (at least 1)."""
    peak_runs = max([b.succeeded + b.failed for b in buckets] + [1])
    peak_errors = max([b.errors for b in buckets] + [1])
    return {
        "buckets": buckets,
        "labels": [b.hour.strftime(label_format) for b in buckets],
        "peak_runs": peak_runs,
        "peak_errors": peak_errors,
        "total_runs": sum(b.succeeded + b.failed for b in buckets),
        "total_failed": sum(b.failed for b in buckets),
        "total_errors": sum(b.errors for b in buckets),
    }


@bp.get("/monitoring")
@admin_required
def monitoring():
    return render_template("admin/monitoring.html", **_health_context())


@bp.get("/monitoring/figures")
@admin_required
def monitoring_figures():
    if not is_htmx():
        return redirect(url_for("admin.monitoring"))
    return partial_response("admin/_health.html", **_health_context())
