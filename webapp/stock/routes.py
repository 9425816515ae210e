"""The stock pages of a store: the stock list (keyset pages by SKU, the available quantity of
each account), one SKU's movements with the adjust form, and an account's stock rules. Every
view resolves the store through ``store_or_404`` first; an account of another store is 404."""

from __future__ import annotations

from flask import Blueprint, abort, flash, redirect, render_template, request, url_for
from flask_login import current_user, login_required
from sqlalchemy import select

from webapp.access import store_or_404
from webapp.extensions import db
from webapp.htmx import is_htmx, partial_response
from webapp.ids import id_arg
from webapp.models import Account, Feed
from webapp.stock import dirty, levels, service
from webapp.stock.forms import AdjustForm, StockFileForm, StockSettingsForm, StoreStockForm

bp = Blueprint("stock", __name__, url_prefix="/store/<code>")
PAGE = 50


@bp.get("/stock")
@login_required
def stock(code: str):
    store = store_or_404(code)
    after = (request.args.get("after") or "").strip()[:255] or None
    accounts = service.accounts_of(store)
    rows, following = service.stock_page(store, after=after, limit=PAGE, accounts=accounts)
    pushed = service.push_accounts(accounts)
    cells = service.push_cells(pushed, [row.sku for row in rows])
    settings = levels.store_settings(store.id)
    form = StoreStockForm(
        formdata=None,
        feed_is_stock_source=settings.feed_is_stock_source,
        restock_on_refund=settings.restock_on_refund,
    )
    context = {
        "store": store,
        "rows": rows,
        "accounts": accounts,
        "pushed": pushed,
        "cells": cells,
        "after": after,
        "next_url": url_for("stock.stock", code=store.code, after=following) if following else None,
        "first_url": url_for("stock.stock", code=store.code) if after else None,
        "adjust": AdjustForm(formdata=None),
        "store_form": form,
        "file_form": StockFileForm(formdata=None),
        "stock_file_url": settings.stock_file_url,
    }
    if is_htmx():
        return partial_response("stock/_rows.html", **context)
    return render_template("stock/stock.html", **context)


@bp.post("/stock/settings")
@login_required
def store_settings(code: str):
    store = store_or_404(code)
    form = StoreStockForm()
    if form.validate_on_submit():
        service.update_store_settings(
            store,
            feed_is_stock_source=form.feed_is_stock_source.data,
            restock_on_refund=form.restock_on_refund.data,
        )
        flash("Stock settings saved.", "success")
    else:
        flash("The form expired: try again.", "error")
    return redirect(url_for("stock.stock", code=store.code))


@bp.get("/stock/sku")
@login_required
def sku(code: str):
    store = store_or_404(code)
    value = (request.args.get("sku") or "").strip()
    if not value:  # no SKU named: the stock list, where one is picked
        return redirect(url_for("stock.stock", code=store.code))
    if len(value) > 255:
        abort(404)
    before = id_arg(request.args.get("before"))
    moves, older = service.movements(store, value, before=before)
    form = AdjustForm(formdata=None, sku=value)
    return render_template(
        "stock/sku.html",
        store=store,
        sku=value,
        record=service.sku_record(store, value),
        accounts={a.id: a for a in service.accounts_of(store)},
        movements=moves,
        older_url=url_for("stock.sku", code=store.code, sku=value, before=older) if older else None,
        form=form,
    )


@bp.post("/stock/adjust")
@login_required
def adjust(code: str):
    store = store_or_404(code)
    form = AdjustForm()
    if not form.validate_on_submit():
        flash("Give a SKU and a quantity (the form may have expired: try again).", "error")
        return redirect(url_for("stock.stock", code=store.code))
    try:
        service.set_quantity(
            store,
            form.sku.data,
            form.quantity.data,
            warehouse=form.warehouse.data,
            reason=form.reason.data,
            actor=current_user.email,
            user_id=current_user.id,
        )
    except service.StockError as exc:
        flash(str(exc), "error")
    else:
        flash(f"On hand of {form.sku.data.strip()} set to {form.quantity.data.strip()}.", "success")
    return redirect(url_for("stock.sku", code=store.code, sku=form.sku.data.strip()))


def _account_or_404(store, account_id: int) -> Account:
    account = db.session.get(Account, account_id)
    if account is None or account.store_id != store.id:
        abort(404)
    return account


@bp.route("/accounts/<int:account_id>/stock", methods=["GET", "POST"])
@login_required
def account_stock(code: str, account_id: int):
    store = store_or_404(code)
    account = _account_or_404(store, account_id)
    config = service.settings_of(account)
    form = StockSettingsForm(
        data=None
        if request.method == "POST"
        else {
            "safety_stock": str(config.safety_stock),
            "oos_threshold": str(config.out_of_stock_threshold),
            "zero_stock": config.zero_stock,
            "strategy": config.sync_strategy,
            "interval_minutes": str(config.sync_interval_minutes),
        }
    )
    error = None
    if request.method == "POST":
        if form.validate_on_submit():
            try:
                service.update_settings(
                    account,
                    safety_stock=form.safety_stock.data,
                    oos_threshold=form.oos_threshold.data,
                    zero_stock=form.zero_stock.data,
                    strategy=form.strategy.data,
                    interval_minutes=form.interval_minutes.data,
                )
            except service.StockError as exc:
                db.session.rollback()
                error = str(exc)
            else:
                flash("Stock rules saved.", "success")
                return redirect(
                    url_for("stock.account_stock", code=store.code, account_id=account.id)
                )
        else:
            error = "Fill in every field (the form may have expired: try again)."
    return render_template(
        "stock/account.html",
        store=store,
        account=account,
        form=form,
        error=error,
        rules=config,
        realtime=dirty.status(account),
        push_feed=db.session.scalar(
            select(Feed).where(Feed.account_id == account.id, Feed.kind == "stock_export")
        ),
    ), (422 if error else 200)
