"""The store's connector accounts: list, add, edit, test the connection, retire, reinstate.

Secrets are write-only here: no page or fragment ever carries one back, only whether it is
set (masked). Store users manage their own store's accounts; admins any store's (through
``store_or_404``).
"""

from __future__ import annotations

from flask import abort, flash, make_response, redirect, render_template, request, url_for
from flask_login import current_user, login_required

from connectors import registry
from connectors.base import Capability
from webapp.access import store_or_404
from webapp.accounts import AccountError, create_account, update_account
from webapp.accounts.connection import check_connection
from webapp.extensions import db
from webapp.models import Account
from webapp.orders import queries
from webapp.store import bp
from webapp.store.forms import SETTING_PREFIX, account_form, account_form_values
from webapp.store.routes import is_htmx, partial_response


def _account_or_404(store, account_id: int) -> Account:
    account = db.session.get(Account, account_id)
    if account is None or account.store_id != store.id:
        abort(404)
    return account


def _connector_or_404(code: str):
    try:
        return registry.get(code)
    except KeyError:
        abort(404)


def _masked(account: Account) -> dict[str, str] | None:
    """The account's secrets masked, or None when today's keys cannot read them."""
    try:
        return account.masked_secrets()
    except ValueError:
        return None


def _order_connectors():
    return registry.with_capability(Capability.ORDERS_IN)


@bp.get("/accounts")
@login_required
def accounts(code: str):
    store = store_or_404(code)
    everything = queries.store_accounts(store.id, include_retired=True)
    return render_template(
        "store/accounts.html",
        store=store,
        active=[a for a in everything if not a.is_retired],
        retired=[a for a in everything if a.is_retired],
        connectors={c.code: c for c in registry.all_connectors()},
        masked={a.id: _masked(a) for a in everything},
        addable=_order_connectors(),
    )


def _render_form(store, cls, form, account=None, status=200):
    settings = cls.all_settings()
    stored = (_masked(account) or {}) if account is not None else {}
    return (
        render_template(
            "store/account_form.html",
            store=store,
            connector=cls,
            form=form,
            account=account,
            fields=[(s, getattr(form, SETTING_PREFIX + s.name)) for s in settings],
            stored_secrets=stored,
        ),
        status,
    )


@bp.route("/accounts/new/<connector>", methods=["GET", "POST"])
@login_required
def account_new(code: str, connector: str):
    store = store_or_404(code)
    cls = _connector_or_404(connector)
    form = account_form(cls, editing=False)
    if form.validate_on_submit():
        settings, secrets = account_form_values(form, cls)
        try:
            account = create_account(
                store,
                cls.code,
                form.name.data,
                settings=settings,
                secrets=secrets,
                # Going live is an admin's decision (issue 5): store users add test accounts.
                live=bool(form.live.data) and current_user.is_admin,
                by=current_user.email,
            )
        except AccountError as exc:
            form.form_errors.append(str(exc))
        else:
            flash(f"Account {account.name} added.", "success")
            return redirect(url_for("store.accounts", code=store.code, _anchor=f"a{account.id}"))
    status = 422 if request.method == "POST" else 200
    return _render_form(store, cls, form, status=status)


@bp.route("/accounts/<int:account_id>/edit", methods=["GET", "POST"])
@login_required
def account_edit(code: str, account_id: int):
    store = store_or_404(code)
    account = _account_or_404(store, account_id)
    cls = _connector_or_404(account.connector)
    form = account_form(cls, editing=True)
    if request.method == "GET":
        form.name.data = account.name
        form.live.data = account.is_live
        for setting in cls.all_settings():
            if not setting.secret:
                value = (account.settings or {}).get(setting.name)
                getattr(form, SETTING_PREFIX + setting.name).data = value or ""
    elif form.validate_on_submit():
        settings, secrets = account_form_values(form, cls)
        try:
            update_account(
                account,
                form.name.data,
                settings=settings,
                secrets=secrets,
                live=bool(form.live.data) if current_user.is_admin else None,
                by=current_user.email,
            )
        except AccountError as exc:
            db.session.rollback()
            form.form_errors.append(str(exc))
        else:
            flash(f"Account {account.name} saved.", "success")
            return redirect(url_for("store.accounts", code=store.code, _anchor=f"a{account.id}"))
    status = 422 if request.method == "POST" else 200
    return _render_form(store, cls, form, account=account, status=status)


@bp.post("/accounts/<int:account_id>/test")
@login_required
def account_test(code: str, account_id: int):
    """One small authenticated call to the marketplace; the answer is a fragment (HTMX) or a
    flash message on the accounts page."""
    store = store_or_404(code)
    account = _account_or_404(store, account_id)
    result = check_connection(account)
    if is_htmx():
        return partial_response("partials/_connection_result.html", account=account, result=result)
    flash(
        f"{account.name}: {'OK. ' if result.ok else 'Failed: '}{result.message}",
        "success" if result.ok else "error",
    )
    return redirect(url_for("store.accounts", code=store.code, _anchor=f"a{account.id}"))


@bp.post("/accounts/<int:account_id>/retire")
@login_required
def account_retire(code: str, account_id: int):
    store = store_or_404(code)
    account = _account_or_404(store, account_id)
    account.retire()
    db.session.commit()
    flash(f"Account {account.name} retired: it is no longer polled.", "success")
    target = url_for("store.accounts", code=store.code)
    if is_htmx():
        # The page's Retire button asks first (hx-confirm), then htmx loads the list anew.
        response = make_response("", 200)
        response.headers["HX-Redirect"] = target
        return response
    return redirect(target)


@bp.post("/accounts/<int:account_id>/reinstate")
@login_required
def account_reinstate(code: str, account_id: int):
    store = store_or_404(code)
    account = _account_or_404(store, account_id)
    account.reinstate()
    db.session.commit()
    flash(f"Account {account.name} reinstated.", "success")
    return redirect(url_for("store.accounts", code=store.code, _anchor=f"a{account.id}"))
