"""The store's order book: the list with search and filters, one order, the new-orders bell."""

from __future__ import annotations

import json

from flask import (
    Blueprint,
    abort,
    current_app,
    flash,
    redirect,
    render_template,
    request,
    url_for,
)
from flask_login import current_user, login_required

from connectors import registry
from connectors.base import Capability
from connectors.errors import ConnectorError
from webapp import outbound
from webapp.access import store_or_404
from webapp.digital.fulfil import digital_lines
from webapp.extensions import db
from webapp.htmx import is_htmx, partial_response
from webapp.models.base import money_text, utcnow
from webapp.models.orders import ORDER_STATUSES
from webapp.orders import action_forms, fulfilment_view, queries
from webapp.orders.fulfilment import Refused, record_action, record_shipment
from webapp.pagination import clamp_page

bp = Blueprint("orders", __name__, url_prefix="/store/<code>")

ORDERS_PER_PAGE = 25


def _list_context(store) -> dict:
    filters = queries.OrderFilters.from_args(request.args)
    page = clamp_page(request.args.get("page"))
    params = filters.params()
    accounts = queries.store_accounts(store.id, include_retired=True)
    orders = queries.orders_page(store.id, filters, page, ORDERS_PER_PAGE)
    return {
        "store": store,
        "acknowledges": acknowledging_connectors(),
        "filters": filters,
        "orders": orders,
        "ack_calls": outbound.ack_calls([o.id for o in orders.items]),
        "accounts_by_id": {a.id: a for a in accounts},
        "page_base": url_for("orders.orders", code=store.code, **params),
        "hx_base": url_for("orders.orders_table", code=store.code, **params),
    }


def acknowledging_connectors() -> set[str]:
    """Connectors that tell the marketplace our order id (Lengow); others never do, so
    their orders show "not needed" rather than a pending acknowledgement."""
    return {c.code for c in registry.all_connectors() if c.supports(Capability.ORDER_ACK)}


def _mark_seen() -> None:
    """The user has looked at the orders: the bell counts from now on."""
    current_user.orders_seen_at = utcnow()
    db.session.commit()


@bp.get("/orders")
@login_required
def orders(code: str):
    store = store_or_404(code)
    _mark_seen()
    return render_template(
        "orders/orders.html",
        channels=queries.channels(store.id),
        filter_accounts=queries.store_accounts(store.id),
        statuses=ORDER_STATUSES,
        **_list_context(store),
    )


@bp.get("/orders/table")
@login_required
def orders_table(code: str):
    """The list alone, for the filters and the pager; the address bar follows (replaced,
    so each keystroke of a search does not become a history entry)."""
    store = store_or_404(code)
    context = _list_context(store)
    page = context["orders"].page
    params = {**context["filters"].params(), **({"page": page} if page > 1 else {})}
    full_page = url_for("orders.orders", code=store.code, **params)
    if not is_htmx():
        return redirect(full_page)
    _mark_seen()
    response = partial_response("orders/_orders_table.html", **context)
    response.headers["HX-Replace-Url"] = full_page
    return response


def _order_or_404(store, order_id: int):
    found = queries.order_detail(store.id, order_id)
    if found is None:
        abort(404)
    return found


def _account_of(store, order):
    accounts = {a.id: a for a in queries.store_accounts(store.id, include_retired=True)}
    return accounts.get(order.account_id)


def _order_page(store, found, *, errors=None, values=None, status=200):
    account = _account_of(store, found)
    ack = outbound.ack_calls([found.id]).get(found.id)
    forms = (
        action_forms.forms_for(found, account)
        if account is not None and not account.is_retired
        else None
    )
    return (
        render_template(
            "orders/order.html",
            store=store,
            order=found,
            account=account,
            ack=ack,
            ack_request=(
                outbound.shown_request(ack, outbound.readable_secrets(account))
                if ack is not None and account is not None
                else None
            ),
            discarded_by=_discarded_by(ack),
            acknowledges=acknowledging_connectors(),
            products=queries.matched_products(found),
            raw_json=json.dumps(found.raw or {}, indent=2, ensure_ascii=False, sort_keys=True),
            forms=forms,
            form_errors=errors or {},
            form_values=values or {},
            line_field=action_forms.line_field,
            line_default=action_forms.line_default,
            open_lines=action_forms.open_lines,
            digital=digital_lines(found.id),
            **_fulfilment_context(store, found, account),
        ),
        status,
    )


def _fulfilment_context(store, found, account) -> dict:
    return {
        **fulfilment_view.fulfilment(found, account),
        "poll_seconds": current_app.config.get("MERCATO_ORDER_ACTIONS_POLL_SECONDS", 2),
        "fulfilment_url": url_for("orders.order_fulfilment", code=store.code, order_id=found.id),
    }


@bp.get("/orders/<int:order_id>")
@login_required
def order(code: str, order_id: int):
    store = store_or_404(code)
    return _order_page(store, _order_or_404(store, order_id))


@bp.get("/orders/<int:order_id>/fulfilment")
@login_required
def order_fulfilment(code: str, order_id: int):
    """The shipments and actions block alone, polled while an action is in flight."""
    store = store_or_404(code)
    found = _order_or_404(store, order_id)
    if not is_htmx():
        return redirect(url_for("orders.order", code=store.code, order_id=found.id))
    account = _account_of(store, found)
    return partial_response(
        "orders/_fulfilment.html",
        store=store,
        order=found,
        account=account,
        **_fulfilment_context(store, found, account),
    )


@bp.post("/orders/<int:order_id>/ship")
@login_required
def order_ship(code: str, order_id: int):
    return _act(code, order_id, "ship")


@bp.post("/orders/<int:order_id>/actions")
@login_required
def order_action(code: str, order_id: int):
    """Accept, refuse, cancel, refund: the form says which (``action_type``)."""
    action_type = (request.form.get("action_type") or "").strip()
    if not action_type or action_type == "ship":
        abort(404)
    return _act(code, order_id, action_type)


def _act(code: str, order_id: int, action_type: str):
    """Record what a form of the order page asks (a refusal: the page again, 422, with every
    problem next to the form and its values kept; nothing recorded)."""
    store = store_or_404(code)
    found = _order_or_404(store, order_id)
    account = _account_of(store, found)
    if account is None or account.is_retired:
        abort(404)
    forms = action_forms.forms_for(found, account)
    form = forms.get(action_type)
    if form is None:
        abort(404)
    sent = action_forms.submitted(found, form, request.form)
    by = current_user.email
    try:
        if not form.offered:
            raise Refused([f"{form.label} is not offered now: {form.why_not}."])
        if sent.problems:
            raise Refused(sent.problems)
        if action_type == "ship":
            done = record_shipment(
                found,
                sent.carrier,
                sent.carrier_name,
                sent.tracking_number,
                sent.tracking_url,
                sent.lines,
                sent.args,
                by=by,
            )
        else:
            done = record_action(found, action_type, sent.lines, sent.args, by=by)
    except (Refused, ConnectorError) as exc:
        db.session.rollback()
        problems = (
            exc.problems
            if isinstance(exc, Refused)
            else [f"The marketplace's rules could not be read: {exc}. Try again later."]
        )
        found = _order_or_404(store, order_id)
        return _order_page(
            store,
            found,
            errors={action_type: problems},
            values={action_type: sent.values},
            status=422,
        )
    if done.already:
        tracking = done.shipment.tracking_key
        flash(f"This shipment was recorded before (tracking {tracking}): nothing new.", "info")
    elif account.is_live:
        fulfilment_view.send_soon(account)
        flash(f"{form.label} recorded: it is being sent to {found.channel}.", "success")
    else:
        flash(
            f"{form.label} recorded as a dry run (test mode): nothing was sent to "
            f"{found.channel}; the exact request is shown below.",
            "info",
        )
    return redirect(url_for("orders.order", code=store.code, order_id=found.id) + "#fulfilment")


def _discarded_by(call):
    """Who discarded an acknowledgement, going live (the mode change), or None."""
    if call is None or call.mode_change_id is None or call.status != "discarded":
        return None
    from webapp.models import AccountModeChange

    return db.session.get(AccountModeChange, call.mode_change_id)


@bp.get("/orders/bell")
@login_required
def orders_bell(code: str):
    """The new-orders bell, polled by the top bar."""
    store = store_or_404(code)
    if not is_htmx():
        return redirect(url_for("orders.orders", code=store.code))
    return partial_response("orders/_bell.html", **bell_context(store))


def bell_context(store) -> dict:
    return {
        "bell_store": store,
        "bell_count": queries.new_orders_count(store.id, current_user.orders_seen_at),
        "bell_cap": queries.BELL_CAP,
        "bell_poll_seconds": current_app.config.get("MERCATO_BELL_POLL_SECONDS", 60),
    }


@bp.app_template_filter("money")
def money_filter(value, currency: str | None = None) -> str:
    """An amount as the exports write it ("229.00"), with its currency; "—" when absent."""
    text = money_text(value)
    if text is None:
        return "—"
    return f"{text} {currency}" if currency else text
