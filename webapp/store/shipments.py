"""Bulk shipping from the orders list: upload a CSV of shipments (a ``bulk_shipping`` run,
:mod:`webapp.imports.shipments`), download its template, see the last uploads. The run's
result (its counts and a message per bad row) is the one run page,
``feeds.execution``. (These pages sit with the store's upload pages: the orders area cannot
import the import engine, which imports it.)"""

from __future__ import annotations

from flask import Response, flash, redirect, render_template, url_for
from flask_login import current_user, login_required
from flask_wtf import FlaskForm
from flask_wtf.file import FileField
from sqlalchemy import select

from webapp.access import store_or_404
from webapp.extensions import db
from webapp.imports import shipments
from webapp.imports.request import ImportRequestError
from webapp.models import Run
from webapp.models import runs as R
from webapp.outbound import run_modes
from webapp.runs.table import run_columns
from webapp.store import bp

RECENT = 10


class ShipmentsUploadForm(FlaskForm):
    file = FileField("Shipments CSV")


def _recent(store) -> list[Run]:
    return list(
        db.session.scalars(
            select(Run)
            .where(Run.store_id == store.id, Run.kind == shipments.KIND)
            .order_by(Run.id.desc())
            .limit(RECENT)
        )
    )


def _page(store, form, status: int = 200):
    recent = _recent(store)
    body = render_template(
        "orders/ship_csv.html",
        store=store,
        form=form,
        recent=recent,
        run_modes=run_modes(recent),
        columns=run_columns("shipments"),
        limit_mb=shipments.MAX_BYTES // (1024 * 1024),
        columns_doc=shipments.COLUMNS,
    )
    return body, status


@bp.route("/orders/ship-csv", methods=["GET", "POST"])
@login_required
def ship_csv(code: str):
    """The upload form; a valid upload starts the run and shows its page."""
    store = store_or_404(code)
    form = ShipmentsUploadForm()
    if not form.validate_on_submit():
        if form.is_submitted():  # the CSRF token was missing or stale
            form.form_errors.append("The form expired: upload the file again.")
            return _page(store, form, 400)
        return _page(store, form)
    try:
        run = shipments.start(store, form.file.data, user_id=current_user.id)
    except ImportRequestError as exc:
        form.form_errors.append(str(exc))
        return _page(store, form, 422)
    if run.status == R.FAILED:
        flash(run.error_message, "error")
    else:
        flash(f"Bulk shipping #{run.id} started: each bad row gets a message below.", "success")
    return redirect(url_for("feeds.execution", code=store.code, run_id=run.id), code=303)


@bp.get("/orders/ship-csv/template.csv")
@login_required
def ship_csv_template(code: str):
    store = store_or_404(code)
    return Response(
        shipments.template_csv(),
        mimetype="text/csv",
        headers={
            "Content-Disposition": f'attachment; filename="{store.code}-shipments-template.csv"'
        },
    )
