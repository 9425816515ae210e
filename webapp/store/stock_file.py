"""The stock file from the stock page: an upload or a URL read now (a run of the store's
"Import stock" feed, queued), or the URL its schedule reads (egress-checked; credentials
masked to show and kept encrypted). The page itself is the stock area's
(:mod:`webapp.stock.routes`); the files are the import area's."""

from __future__ import annotations

from flask import flash, redirect, url_for
from flask_login import current_user, login_required

from connectors.egress import mask_url
from webapp.access import store_or_404
from webapp.crypto import encrypt
from webapp.extensions import db
from webapp.feeds.defaults import ensure_store_feed
from webapp.feeds.schedule import reconcile_quietly
from webapp.imports.request import ImportRequestError
from webapp.imports.service import validate_url
from webapp.imports.stock_file import FEED_KIND, create_stock_run
from webapp.imports.uploads import discard, save_upload
from webapp.models import StoreStockSettings
from webapp.models import runs as R
from webapp.runs import lifecycle
from webapp.stock import levels
from webapp.stock.forms import StockFileForm
from webapp.store import bp


@bp.post("/stock/file")
@login_required
def stock_file(code: str):
    store = store_or_404(code)
    form = StockFileForm()
    back = redirect(url_for("stock.stock", code=store.code))
    if not form.validate_on_submit():
        flash("The form expired or the URL is too long: try again.", "error")
        return back
    url = (form.source_url.data or "").strip() or None
    upload = form.file.data if getattr(form.file.data, "filename", "") else None
    if form.schedule.data:
        return _schedule(store, url, back)
    if bool(url) == bool(upload):
        flash("Choose a stock file or enter its URL (one of them).", "error")
        return back
    path = name = None
    try:
        if upload is not None:
            path, name = save_upload(upload)
        run = create_stock_run(
            store,
            source_url=url,
            source_path=path,
            source_name=name,
            trigger="ui",
            user_id=current_user.id,
        )
    except ImportRequestError as exc:
        db.session.rollback()
        if path:
            discard(path)
        flash(str(exc), "error")
        return back
    run = lifecycle.enqueue(run)
    if run.status == R.FAILED:
        flash(run.error_message, "error")
        return back
    flash(f"Stock file import #{run.id} started.", "success")
    return redirect(url_for("feeds.execution", code=store.code, run_id=run.id))


def _schedule(store, url: str | None, back):
    settings = db.session.get(StoreStockSettings, store.id)
    if settings is None:
        settings = levels.store_settings(store.id)
        db.session.add(settings)
    feed = ensure_store_feed(store, FEED_KIND)
    if url is None:
        settings.stock_file_url = settings.stock_file_secret = None
        feed.enabled = False
        db.session.commit()
        reconcile_quietly([feed.id])
        flash("The scheduled stock file URL is removed; the Import stock feed is off.", "success")
        return back
    try:
        url = validate_url(url)
    except ImportRequestError as exc:
        db.session.rollback()
        flash(str(exc), "error")
        return back
    masked = mask_url(url)
    settings.stock_file_url = masked
    settings.stock_file_secret = encrypt(url) if masked != url else None
    feed.enabled = True
    db.session.commit()
    reconcile_quietly([feed.id])
    flash(f"The Import stock feed (#{feed.id}) reads {masked} on its schedule.", "success")
    return back
