"""The store's own pages: the marketplace import and its history, one import run (metrics,
messages, their CSV), settings. Every view resolves the store through ``store_or_404``
first. (Products, orders and accounts are their areas' pages: catalog, orders, accounts.)"""

from __future__ import annotations

import io
import json

from flask import (
    Response,
    abort,
    current_app,
    flash,
    redirect,
    render_template,
    request,
    stream_with_context,
    url_for,
)
from flask_login import current_user, login_required

from webapp import csvsafe, pagination
from webapp.access import run_or_404, store_or_404
from webapp.extensions import db
from webapp.htmx import is_htmx, partial_response
from webapp.imports import queries
from webapp.imports.queries import ERRORS_PER_PAGE
from webapp.models import Message
from webapp.runs.table import run_columns
from webapp.store import bp
from webapp.store.forms import ImportForm, SettingsForm, quick_fill_urls, submit_import

HISTORY_PER_PAGE = 20


# -- marketplace import ------------------------------------------------------------------


def history_context(store, page: int) -> dict:
    return {
        "store": store,
        "history": queries.runs_page(page, HISTORY_PER_PAGE, store_id=store.id),
        "polling": queries.any_active(store_id=store.id),
        "history_url": url_for("store.history", code=store.code),
        "history_page_base": url_for("store.marketplace", code=store.code),
        "poll_seconds": current_app.config.get("MERCATO_STORE_POLL_SECONDS", 10),
    }


@bp.route("/marketplace", methods=["GET", "POST"])
@login_required
def marketplace(code: str):
    store = store_or_404(code)
    form = ImportForm()
    status = 200
    if request.method == "GET":
        form.language.data = store.default_language
    elif form.validate_on_submit():
        if submit_import(form, store):
            return redirect(url_for("store.marketplace", code=store.code))
        status = 422
    else:
        status = 422
    page = pagination.clamp_page(request.args.get("page"))
    return (
        render_template(
            "store/marketplace.html",
            form=form,
            quick_fill=quick_fill_urls(store),
            **history_context(store, page),
        ),
        status,
    )


@bp.get("/marketplace/history")
@login_required
def history(code: str):
    store = store_or_404(code)
    page = pagination.clamp_page(request.args.get("page"))
    if not is_htmx():
        return redirect(url_for("store.marketplace", code=store.code, page=page))
    return partial_response("partials/_history.html", **history_context(store, page))


# -- one import ----------------------------------------------------------------------------


def errors_context(store, run, page: int, error_type: str | None) -> dict:
    return {
        "store": store,
        "run": run,
        "errors": queries.messages_page(run.id, page, ERRORS_PER_PAGE, error_type=error_type),
        "error_types": queries.error_types(run.id),
        "error_type": error_type or "",
    }


@bp.get("/imports/<int:run_id>")
@login_required
def job(code: str, run_id: int):
    """The old import page: a run has one page (``feeds.execution``), links keep working."""
    store = store_or_404(code)
    run = run_or_404(run_id, store)
    args = {k: v for k, v in request.args.items() if k in ("page", "error_type") and v}
    return redirect(url_for("feeds.execution", code=store.code, run_id=run.id, **args))


@bp.get("/imports/<int:run_id>/status")
@login_required
def job_status(code: str, run_id: int):
    store = store_or_404(code)
    run = run_or_404(run_id, store)
    if not is_htmx():
        return redirect(url_for("store.job", code=store.code, run_id=run.id))
    return partial_response("runs/_metrics.html", store=store, run=run)


@bp.get("/imports/<int:run_id>/row")
@login_required
def job_row(code: str, run_id: int):
    """One history row, polled by itself while its run is in flight (``store=1`` and
    ``creator=1`` add the columns the admin tables show)."""
    store = store_or_404(code)
    run = run_or_404(run_id, store)
    if not is_htmx():
        return redirect(url_for("store.job", code=store.code, run_id=run.id))
    show_store = request.args.get("store") == "1"
    show_creator = request.args.get("creator") == "1" and current_user.is_admin
    return partial_response(
        "runs/_row.html",
        run=run,
        columns=run_columns("imports", store=show_store, creator=show_creator),
        row_url=url_for(
            "store.job_row",
            code=store.code,
            run_id=run.id,
            store=1 if show_store else None,
            creator=1 if show_creator else None,
        ),
    )


@bp.get("/imports/<int:run_id>/errors")
@login_required
def job_errors(code: str, run_id: int):
    store = store_or_404(code)
    run = run_or_404(run_id, store)
    error_type = request.args.get("error_type") or None
    page = pagination.clamp_page(request.args.get("page"))
    if not is_htmx():
        return redirect(
            url_for("store.job", code=store.code, run_id=run.id, page=page, error_type=error_type)
        )
    return partial_response("partials/_errors.html", **errors_context(store, run, page, error_type))


@bp.get("/imports/<int:run_id>/errors.csv")
@login_required
def job_errors_csv(code: str, run_id: int):
    store = store_or_404(code)
    run = run_or_404(run_id, store)
    query, _ = queries.messages_query(run.id)

    def rows():
        buffer = io.StringIO()
        writer = csvsafe.writer(buffer)
        writer.writerow(
            ["row_number", "severity", "error_type", "identifier", "message", "row_data"]
        )
        yield buffer.getvalue()
        for message in db.session.scalars(query.execution_options(yield_per=1000)):
            buffer.seek(0)
            buffer.truncate()
            writer.writerow(
                [
                    message.row_number or "",
                    message.severity,
                    message.error_type,
                    message.identifier or "",
                    message.error_message,
                    json.dumps(message.row_data or {}, ensure_ascii=False),
                ]
            )
            yield buffer.getvalue()

    filename = f"import-{run.id}-errors.csv"
    return Response(
        stream_with_context(rows()),
        mimetype="text/csv",
        headers={"Content-Disposition": f'attachment; filename="{filename}"'},
    )


# -- settings ------------------------------------------------------------------------------


@bp.route("/settings", methods=["GET", "POST"])
@login_required
def settings(code: str):
    store = store_or_404(code)
    form = SettingsForm(obj=store)
    status = 200
    if form.validate_on_submit():
        form.populate_obj(store)
        for lang in ("fr", "en", "de"):
            field = f"letzshop_csv_url_{lang}"
            setattr(store, field, (getattr(store, field) or "").strip() or None)
        db.session.commit()
        flash("Settings saved.", "success")
        return redirect(url_for("store.settings", code=store.code))
    if request.method == "POST":
        status = 422
    return render_template("store/settings.html", store=store, form=form), status


@bp.get("/imports/<int:run_id>/messages/<int:message_id>")
@login_required
def message(code: str, run_id: int, message_id: int):
    """One message's full row data (the list shows it shortened)."""
    store = store_or_404(code)
    run = run_or_404(run_id, store)
    item = db.session.get(Message, message_id)
    if item is None or item.import_job_id != run.id:
        abort(404)
    return render_template("store/message.html", store=store, run=run, message=item)


@bp.app_errorhandler(413)
def upload_too_large(_error):
    """Werkzeug refused a body over MAX_CONTENT_LENGTH: say so on the form's page."""
    if request.path.startswith("/api/"):
        return _error  # the API answers its own JSON errors
    limit = current_app.config["MERCATO_UPLOAD_MAX_BYTES"] // (1024 * 1024)
    flash(f"The file is larger than the {limit} MB upload limit.", "error")
    return redirect(request.path, code=303)
