"""The store's connector accounts: list, one account's page, add, edit, test the connection,
retire, reinstate, and going live or back to test mode.

Secrets are write-only here: no page or fragment ever carries one back, only whether it is
set (masked). Store users manage their own store's accounts; admins any store's (through
``store_or_404``). Switching the mode is an administrator's: going live is two steps, a page
that shows what test mode left owed (per kind, count, oldest, an exact request), then a
confirmation that sends it (the worker, once) or discards it.
"""

from __future__ import annotations

from flask import (
    Blueprint,
    abort,
    flash,
    make_response,
    redirect,
    render_template,
    request,
    url_for,
)
from flask_login import current_user, login_required

from connectors import registry
from connectors.base import Capability
from webapp import catalogfeed, outbound
from webapp.access import store_or_404
from webapp.accounts import AccountError, create_account, update_account
from webapp.accounts.connection import check_connection
from webapp.accounts.forms import SETTING_PREFIX, account_form, account_form_values
from webapp.extensions import db
from webapp.htmx import is_htmx, partial_response
from webapp.models import Account
from webapp.models.outbound import OUTBOUND_STATUSES
from webapp.orders import marketplace_rules, queries
from webapp.pagination import clamp_page, paginate

bp = Blueprint("accounts", __name__, url_prefix="/store/<code>")


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
        "accounts/accounts.html",
        store=store,
        active=[a for a in everything if not a.is_retired],
        retired=[a for a in everything if a.is_retired],
        connectors={c.code: c for c in registry.all_connectors()},
        masked={a.id: _masked(a) for a in everything},
        owed=outbound.owed_counts([a.id for a in everything if not a.is_live]),
        addable=_order_connectors(),
    )


CALLS_PER_PAGE = 20
CALL_FILTERS = ("owed", *OUTBOUND_STATUSES)


def _calls_context(store, account: Account) -> dict:
    status = request.args.get("status", "")
    status = status if status in CALL_FILTERS else ""
    query, count = outbound.calls_query(account.id, status)
    page = paginate(query, count, clamp_page(request.args.get("page")), CALLS_PER_PAGE)
    secrets = outbound.readable_secrets(account)
    params = {"status": status} if status else {}
    return {
        "store": store,
        "account": account,
        "calls": page,
        "shown": {call.id: outbound.shown_request(call, secrets) for call in page.items},
        "status_filter": status,
        "call_filters": CALL_FILTERS,
        "calls_page_base": url_for(
            "accounts.account", code=store.code, account_id=account.id, **params
        ),
        "calls_hx_base": url_for(
            "accounts.account_calls", code=store.code, account_id=account.id, **params
        ),
        "calls_polling": account.is_live and outbound.in_flight(account.id),
        "owed_now": outbound.owed_counts([account.id]).get(account.id, 0),
    }


@bp.get("/accounts/<int:account_id>")
@login_required
def account(code: str, account_id: int):
    """One account: its mode and what test mode recorded, its calls to the marketplace with
    their exact requests, and who switched its mode when."""
    store = store_or_404(code)
    account = _account_or_404(store, account_id)
    return render_template(
        "accounts/account.html",
        connector=_connector_or_404(account.connector),
        secrets=_masked(account),
        owed=outbound.owed(account),
        history=outbound.mode_history(account.id),
        has_rules=marketplace_rules.has_rules(account),
        rules_cached_at=marketplace_rules.cached_at(account),
        catalog_feed=None
        if account.is_retired
        else catalogfeed.feed_json(account, reveal=current_user.store_id == account.store_id),
        **_calls_context(store, account),
    )


@bp.get("/accounts/<int:account_id>/calls")
@login_required
def account_calls(code: str, account_id: int):
    """The calls list alone (filter, pages, and following the calls being sent)."""
    store = store_or_404(code)
    account = _account_or_404(store, account_id)
    context = _calls_context(store, account)
    page = context["calls"].page
    full_page = context["calls_page_base"]
    if page > 1:
        full_page += ("&" if "?" in full_page else "?") + f"page={page}"
    if not is_htmx():
        return redirect(full_page)
    response = partial_response("accounts/_account_calls.html", **context)
    response.headers["HX-Replace-Url"] = full_page
    return response


def _admin_account_or_404(code: str, account_id: int):
    """An account of the store for an administrator; nobody else switches modes (404)."""
    store = store_or_404(code)
    account = _account_or_404(store, account_id)
    if not current_user.is_admin:
        abort(404)
    return store, account


def _render_go_live(store, account, shown, *, status=200, error=None, choice="send"):
    return (
        render_template(
            "accounts/account_live.html",
            store=store,
            account=account,
            connector=_connector_or_404(account.connector),
            owed=shown,
            shown={
                a["example"].id: outbound.shown_request(
                    a["example"], outbound.readable_secrets(account)
                )
                for a in shown.actions
                if a["example"] is not None
            },
            error=error,
            choice=choice,
        ),
        status,
    )


@bp.route("/accounts/<int:account_id>/live", methods=["GET", "POST"])
@login_required
def account_go_live(code: str, account_id: int):
    """Going live, step one (GET): what test mode left owed, per kind of call, with counts,
    the oldest, and an exact request. Step two (POST): the administrator confirms, sending
    what is owed (the default) or discarding it; the confirmation names the owed calls it
    was shown, and if an import has added some since, the page shows the new figures."""
    store, account = _admin_account_or_404(code, account_id)
    back = url_for("accounts.account", code=store.code, account_id=account.id)
    if account.is_retired:
        flash(f"{account.name} is retired: reinstate it before it goes live.", "error")
        return redirect(back)
    if account.is_live:
        flash(f"{account.name} is live already.", "info")
        return redirect(back)
    if request.method == "GET":
        return _render_go_live(store, account, outbound.owed(account))
    choice = request.form.get("owed", outbound.SEND)
    if choice not in (outbound.SEND, outbound.DISCARD):
        return _render_go_live(
            store,
            account,
            outbound.owed(account),
            status=422,
            error="Choose whether to send or discard what is owed.",
        )
    try:
        went = outbound.go_live(
            account,
            by=current_user.email,
            discard=choice == outbound.DISCARD,
            expected=request.form.get("owed_token", ""),
        )
    except outbound.OwedChanged as exc:
        return _render_go_live(
            store,
            account,
            exc.owed,
            status=409,
            choice=choice,
            error=(
                "What is owed changed while this page was open (an import recorded more): "
                "nothing was done. Check the figures below and confirm again."
            ),
        )
    if not went.changed:
        flash(f"{account.name} is live already.", "info")
    elif went.choice == outbound.DISCARD:
        flash(
            f"{account.name} is live. {went.discarded} owed call(s) discarded: never sent.",
            "success",
        )
    else:
        if went.released:
            outbound.send_soon(account)  # the sender sends them in a worker, each once
        flash(
            f"{account.name} is live. "
            + (
                f"{went.released} owed call(s) are being sent."
                if went.released
                else "Nothing was owed."
            ),
            "success",
        )
    return redirect(back)


@bp.post("/accounts/<int:account_id>/test-mode")
@login_required
def account_go_test(code: str, account_id: int):
    """Back to test mode: nothing is sent any more; what is owed waits as dry runs."""
    store, account = _admin_account_or_404(code, account_id)
    if outbound.go_test(account, by=current_user.email):
        flash(
            f"{account.name} is in test mode: nothing is sent to the marketplace any more.",
            "success",
        )
    else:
        flash(f"{account.name} is in test mode already.", "info")
    return redirect(url_for("accounts.account", code=store.code, account_id=account.id))


def _render_form(store, cls, form, account=None, status=200):
    settings = cls.all_settings()
    stored = (_masked(account) or {}) if account is not None else {}
    return (
        render_template(
            "accounts/account_form.html",
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
            return redirect(url_for("accounts.accounts", code=store.code, _anchor=f"a{account.id}"))
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
        for setting in cls.all_settings():
            if not setting.secret:
                value = (account.settings or {}).get(setting.name)
                getattr(form, SETTING_PREFIX + setting.name).data = value or ""
    elif form.validate_on_submit():
        settings, secrets = account_form_values(form, cls)
        try:
            update_account(account, form.name.data, settings=settings, secrets=secrets)
        except AccountError as exc:
            db.session.rollback()
            form.form_errors.append(str(exc))
        else:
            flash(f"Account {account.name} saved.", "success")
            return redirect(url_for("accounts.accounts", code=store.code, _anchor=f"a{account.id}"))
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
        return partial_response("accounts/_connection_result.html", account=account, result=result)
    flash(
        f"{account.name}: {'OK. ' if result.ok else 'Failed: '}{result.message}",
        "success" if result.ok else "error",
    )
    return redirect(url_for("accounts.accounts", code=store.code, _anchor=f"a{account.id}"))


@bp.post("/accounts/<int:account_id>/retire")
@login_required
def account_retire(code: str, account_id: int):
    store = store_or_404(code)
    account = _account_or_404(store, account_id)
    account.retire()
    db.session.commit()
    flash(f"Account {account.name} retired: it is no longer polled.", "success")
    target = url_for("accounts.accounts", code=store.code)
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
    return redirect(url_for("accounts.accounts", code=store.code, _anchor=f"a{account.id}"))
