"""The Key pool page of a store: upload a key file (a run of the store's "Import digital
keys" feed, queued), the levels per product, the low-pool threshold, the recent uploads, and
the newest keys - masked, never in clear - with a delete button for a key never given out.
Every view resolves the store through ``store_or_404`` first; another store's key is 404."""

from __future__ import annotations

from flask import Blueprint, abort, flash, redirect, render_template, url_for
from flask_login import current_user, login_required
from sqlalchemy import select

from webapp.access import store_or_404
from webapp.extensions import db
from webapp.imports import keys_file as importer
from webapp.imports.request import ImportRequestError
from webapp.keys import codes, levels
from webapp.models import Run
from webapp.models import runs as R
from webapp.models.base import utcnow
from webapp.models.keys import POOL, DigitalKey
from webapp.store.key_forms import DeleteKeyForm, KeyUploadForm, ThresholdForm

bp = Blueprint("keys", __name__, url_prefix="/store/<code>")
RECENT_KEYS = 50
RECENT_RUNS = 10


def _masked(key) -> str:
    try:
        return codes.masked(codes.open_text(key))
    except Exception:  # noqa: BLE001 - an image key, or one sealed under another key
        return "••••"


@bp.get("/keys")
@login_required
def pool(code: str):
    store = store_or_404(code)
    now = utcnow()
    keys = levels.recent_keys(store.id, limit=RECENT_KEYS)
    runs = db.session.scalars(
        select(Run)
        .where(Run.store_id == store.id, Run.kind == importer.RUN_KIND)
        .order_by(Run.id.desc())
        .limit(RECENT_RUNS)
    ).all()
    limit = levels.threshold(store.id)
    return render_template(
        "keys/pool.html",
        store=store,
        levels=levels.levels(store.id, now),
        threshold=limit,
        runs=runs,
        keys=[(k, _masked(k), levels.key_state(k, now)) for k in keys],
        upload_form=KeyUploadForm(formdata=None),
        threshold_form=ThresholdForm(formdata=None, low_threshold=str(limit)),
        delete_form=DeleteKeyForm(formdata=None),
    )


@bp.post("/keys/upload")
@login_required
def upload(code: str):
    store = store_or_404(code)
    form = KeyUploadForm()
    back = redirect(url_for("keys.pool", code=store.code))
    if not form.validate_on_submit():
        flash("The form expired: try again.", "error")
        return back
    file = form.file.data if getattr(form.file.data, "filename", "") else None
    try:
        run = importer.start_upload(store, file, user_id=current_user.id, trigger="ui")
    except ImportRequestError as exc:
        db.session.rollback()
        flash(str(exc), "error")
        return back
    if run.status == R.FAILED:
        flash(run.error_message or "The upload could not be started.", "error")
        return back
    flash(f"Key import #{run.id} started.", "success")
    return redirect(url_for("feeds.execution", code=store.code, run_id=run.id))


@bp.post("/keys/threshold")
@login_required
def threshold(code: str):
    store = store_or_404(code)
    form = ThresholdForm()
    back = redirect(url_for("keys.pool", code=store.code))
    if not form.validate_on_submit():
        flash("The form expired or the threshold is missing: try again.", "error")
        return back
    try:
        value = levels.parse_threshold(form.low_threshold.data)
    except levels.ThresholdError as exc:
        flash(str(exc), "error")
        return back
    levels.set_threshold(store.id, value)
    db.session.commit()
    checked = importer.check_now(store, trigger="ui", user_id=current_user.id)
    note = "" if checked else " (an import is running: its end checks the levels)"
    flash(f"Low-pool alert below {value} available keys{note}.", "success")
    return back


@bp.post("/keys/<int:key_id>/delete")
@login_required
def delete(code: str, key_id: int):
    store = store_or_404(code)
    form = DeleteKeyForm()
    back = redirect(url_for("keys.pool", code=store.code))
    if not form.validate_on_submit():
        flash("The form expired: try again.", "error")
        return back
    if not levels.delete_key(store.id, key_id):
        db.session.rollback()
        key = db.session.get(DigitalKey, key_id)
        if key is None or key.store_id != store.id or key.source != POOL:
            abort(404)  # another store's key is as unknown as a missing one
        flash(f"Key #{key_id} was given to an order line: it stays.", "error")
        return back
    db.session.commit()
    importer.check_now(store, trigger="ui", user_id=current_user.id)
    flash(f"Key #{key_id} deleted.", "success")
    return back
