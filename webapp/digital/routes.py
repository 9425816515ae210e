"""The order page's digital keys: reveal one key (recorded: who, when), resend the e-mail.

Both are POSTs (CSRF like every form) scoped to the store and the order: a key is revealed
only if it is given to a line of this order of this store.
"""

from __future__ import annotations

from flask import Blueprint, abort, flash, redirect, request, url_for
from flask_login import current_user, login_required
from sqlalchemy import select

from webapp.access import store_or_404
from webapp.digital import fulfil, products
from webapp.extensions import db
from webapp.htmx import is_htmx, partial_response
from webapp.keys import codes, pool
from webapp.models import DigitalKey, DigitalKeyReveal, MarketplaceProduct, Order, OrderItem
from webapp.models.keys import IMAGE

bp = Blueprint("digital", __name__, url_prefix="/store/<code>")


def _order_or_404(store, order_id: int) -> Order:
    order = db.session.get(Order, order_id)
    if order is None or order.store_id != store.id:
        abort(404)
    return order


@bp.post("/orders/<int:order_id>/keys/reveal")
@login_required
def reveal_key(code: str, order_id: int):
    """Show one key of the order in clear, once asked, and record who saw it and when."""
    store = store_or_404(code)
    order = _order_or_404(store, order_id)
    key_id = request.form.get("key_id", type=int)
    key = db.session.scalar(
        select(DigitalKey)
        .join(OrderItem, OrderItem.id == DigitalKey.order_item_id)
        .where(
            DigitalKey.id == key_id,
            DigitalKey.store_id == store.id,
            OrderItem.order_id == order.id,
        )
    )
    if key is None:
        abort(404)
    pool.reveal(key, current_user)
    db.session.commit()
    shown = {"id": key.id, "type": key.code_type, "filename": key.image_filename}
    if key.code_type == IMAGE:
        import base64

        shown["image"] = base64.b64encode(codes.open_image(key)).decode("ascii")
    else:
        shown["code"] = codes.open_text(key)
    reveals = db.session.scalars(
        select(DigitalKeyReveal)
        .where(DigitalKeyReveal.key_id == key.id)
        .order_by(DigitalKeyReveal.id.desc())
    ).all()
    template = "digital/_revealed.html" if is_htmx() else "digital/revealed.html"
    return partial_response(template, store=store, order=order, key=shown, reveals=reveals)


@bp.post("/orders/<int:order_id>/keys/resend")
@login_required
def resend_keys(code: str, order_id: int):
    """Queue the keys e-mail again (the customer lost it)."""
    store = store_or_404(code)
    order = _order_or_404(store, order_id)
    states = [line["key_state"] for line in fulfil.digital_lines(order.id)]
    if not states or any(s not in (fulfil.ASSIGNED, fulfil.SENT) for s in states):
        flash("Not every digital line has its keys yet: there is nothing to resend.", "error")
    elif not fulfil.deliver(order.id, resend=True):
        flash(
            f"The keys cannot be e-mailed: the customer's address "
            f"({order.customer_email or 'none'}) is not one.",
            "error",
        )
    else:
        flash("The keys e-mail is queued again.", "success")
    return redirect(url_for("orders.order", code=store.code, order_id=order.id))


@bp.post("/products/<int:product_id>/digital")
@login_required
def product_digital(code: str, product_id: int):
    """The product page's switch: the product's keys come from the store's pool (or not)."""
    store = store_or_404(code)
    source = db.session.get(MarketplaceProduct, product_id)
    if source is None or source.store_id != store.id:
        abort(404)
    wanted = request.form.get("digital") == "1"
    try:
        now = products.set_digital(source, wanted)
    except products.NotChangeable as exc:
        flash(str(exc), "error")
    else:
        flash(
            f"Product {source.marketplace_product_id} is "
            + ("digital: its orders get keys from your pool." if now else "not digital.")
            + " Orders booked before keep what they were.",
            "success",
        )
    return redirect(url_for("catalog.product", code=store.code, product_id=source.id))
