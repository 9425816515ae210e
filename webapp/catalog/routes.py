"""The store's catalog pages: the products list (search, filters, pages), one product, and
publishing (one with the store's overrides, or many as imported). Every view resolves the
store through ``store_or_404`` first."""

from __future__ import annotations

from flask import Blueprint, abort, flash, redirect, render_template, request, url_for
from flask_login import login_required
from sqlalchemy import select

from webapp.access import store_or_404
from webapp.catalog import html as feed_markup
from webapp.catalog import product_list, publishing
from webapp.catalog import queries as catalog_queries
from webapp.catalog.forms import PublishForm
from webapp.digital.products import is_digital
from webapp.extensions import db
from webapp.htmx import is_htmx, partial_response
from webapp.models import MarketplaceProduct, Product

bp = Blueprint("catalog", __name__, url_prefix="/store/<code>")

# Feed HTML in every template: sanitised (an allow-list), or as plain text for previews.
bp.add_app_template_filter(feed_markup.feed_html, "feed_html")
bp.add_app_template_filter(feed_markup.feed_text, "feed_text")


@bp.get("/products")
@login_required
def products(code: str):
    store = store_or_404(code)
    filters = product_list.ProductFilters.from_args(request.args)
    result = product_list.product_page(
        store.id, filters, product_list.Cursor.from_args(request.args)
    )
    published = {
        p.marketplace_product_id: p
        for p in db.session.scalars(
            select(Product).where(
                Product.store_id == store.id,
                Product.marketplace_product_id.in_([mp.id for mp in result.items]),
            )
        )
    }
    context = {
        "store": store,
        "products": result,
        "pager": _products_pager_urls(store, filters, result),
        "published": published,
        "q": filters.q,
        "availability": filters.availability,
        "language": filters.language,
        "display_language": filters.language or store.default_language,
    }
    if is_htmx():
        return partial_response("catalog/_products.html", **context)
    return render_template("catalog/products.html", **context)


def _products_pager_urls(store, filters, page) -> dict[str, str | None]:
    """The pager's links: each carries where its page starts and its number, as a label."""
    params = filters.params()
    newer = older = None
    if page.has_newer:
        if page.newer_before is None or (page.page is not None and page.page <= 2):
            newer = url_for("catalog.products", code=store.code, **params)
        else:
            label = page.page - 1 if page.page else None
            newer = url_for(
                "catalog.products", code=store.code, before=page.newer_before, page=label, **params
            )
    if page.has_older:
        label = page.page + 1 if page.page else None
        older = url_for(
            "catalog.products", code=store.code, after=page.older_after, page=label, **params
        )
    return {"newer": newer, "older": older}


def _marketplace_product_or_404(store, product_id: int) -> MarketplaceProduct:
    product = db.session.get(MarketplaceProduct, product_id)
    if product is None or product.store_id != store.id:
        abort(404)
    return product


def _price_text(value, currency) -> str:
    if value is None:
        return ""
    return f"{value:.{publishing.minor_units(currency)}f}"


@bp.get("/products/<int:product_id>")
@login_required
def product(code: str, product_id: int):
    """One product: its data, its translations, its publication and its import messages."""
    store = store_or_404(code)
    source = _marketplace_product_or_404(store, product_id)
    mine = publishing.publication(store, source)
    return render_template(
        "catalog/product.html",
        store=store,
        source=source,
        product=mine,
        mine_translations={t.language: t for t in (mine.translations if mine else [])},
        translations=sorted(source.translations, key=lambda t: t.language),
        messages=catalog_queries.product_messages(store, source),
        recent_imports=catalog_queries.RECENT_IMPORTS,
        money=publishing.money,
        availability_words=publishing.AVAILABILITIES,
        digital=is_digital(source),
    )


@bp.route("/products/<int:product_id>/publish", methods=["GET", "POST"])
@login_required
def publish(code: str, product_id: int):
    """Publish a product to the store's catalog with the store's own overrides."""
    store = store_or_404(code)
    source = _marketplace_product_or_404(store, product_id)
    product = publishing.publication(store, source)
    form = PublishForm()
    if request.method == "GET" and product is not None:
        form.price.data = _price_text(product.price, source.currency)
        form.sale_price.data = _price_text(product.sale_price, source.currency)
        form.availability.data = product.availability or ""
        form.is_active.data = product.is_active
    status = 200
    errors: dict[str, str] = {}
    if form.validate_on_submit():
        overrides = publishing.Overrides(availability=form.availability.data or None)
        overrides.is_active = bool(form.is_active.data)
        for name, label in (("price", "price"), ("sale_price", "sale price")):
            try:
                value = publishing.parse_price(getattr(form, name).data, label, source.currency)
            except ValueError as exc:
                errors[name] = str(exc)
            else:
                setattr(overrides, name, value)
        if not errors:
            try:
                publishing.publish(store, source, overrides)
            except publishing.PublishError as exc:
                db.session.rollback()
                errors = exc.errors
            else:
                flash(
                    f"Product {source.marketplace_product_id} published to your catalog.",
                    "success",
                )
                return redirect(url_for("catalog.product", code=store.code, product_id=source.id))
    for name, message in errors.items():
        field = getattr(form, name, None)
        if field is not None:
            field.errors = [*field.errors, message]
        else:
            form.form_errors.append(message)
    if request.method == "POST":
        status = 422
    return (
        render_template(
            "catalog/publish.html",
            store=store,
            source=source,
            product=product,
            form=form,
            translation=source.translation(store.default_language),
            money=publishing.money,
        ),
        status,
    )


@bp.post("/products/publish")
@login_required
def publish_many(code: str):
    """Publish the selected products as they are imported (no overrides); a product whose
    imported values break a rule is refused with its reason, the others are published."""
    store = store_or_404(code)
    ids = request.form.getlist("product_id")
    if not ids:
        flash("Select at least one product to publish.", "error")
        return redirect(url_for("catalog.products", code=store.code))
    result = publishing.publish_many(store, ids)
    if result.published or not (result.refused or result.unknown):
        flash(f"{len(result.published)} product(s) published.", "success")
    if result.already:
        flash(f"{len(result.already)} already in your catalog, left as they are.", "info")
    for identifier, reason in list(result.refused.items())[:20]:
        flash(f"{identifier} not published: {reason}", "error")
    if len(result.refused) > 20:
        flash(f"…and {len(result.refused) - 20} more not published.", "error")
    if result.unknown:
        flash(f"{len(result.unknown)} selected product(s) were not found in your store.", "error")
    return redirect(url_for("catalog.products", code=store.code))
