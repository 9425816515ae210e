"""Store portal pages. Every view resolves the store through ``store_or_404`` first."""

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
from sqlalchemy import select

from webapp import csvsafe, pagination
from webapp.access import run_or_404, store_or_404
from webapp.catalog import html as feed_markup
from webapp.catalog import publishing
from webapp.catalog import queries as catalog_queries
from webapp.extensions import db
from webapp.htmx import is_htmx, partial_response
from webapp.imports import queries
from webapp.models import MarketplaceProduct, Message, Product
from webapp.store import bp, product_list
from webapp.store.forms import ImportForm, PublishForm, SettingsForm, quick_fill_urls, submit_import

# Feed HTML in every template: sanitised (an allow-list), or as plain text for previews.
bp.add_app_template_filter(feed_markup.feed_html, "feed_html")
bp.add_app_template_filter(feed_markup.feed_text, "feed_text")

HISTORY_PER_PAGE = 20
ERRORS_PER_PAGE = 25


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
    store = store_or_404(code)
    run = run_or_404(run_id, store)
    error_type = request.args.get("error_type") or None
    page = pagination.clamp_page(request.args.get("page"))
    return render_template("store/job.html", **errors_context(store, run, page, error_type))


@bp.get("/imports/<int:run_id>/status")
@login_required
def job_status(code: str, run_id: int):
    store = store_or_404(code)
    run = run_or_404(run_id, store)
    if not is_htmx():
        return redirect(url_for("store.job", code=store.code, run_id=run.id))
    return partial_response("partials/_job_metrics.html", store=store, run=run)


@bp.get("/imports/<int:run_id>/row")
@login_required
def job_row(code: str, run_id: int):
    """One history row, polled by itself while its run is in flight (``store=1`` and
    ``creator=1`` add the columns the admin tables show)."""
    store = store_or_404(code)
    run = run_or_404(run_id, store)
    if not is_htmx():
        return redirect(url_for("store.job", code=store.code, run_id=run.id))
    return partial_response(
        "partials/_job_row.html",
        run=run,
        show_store=request.args.get("store") == "1",
        show_creator=request.args.get("creator") == "1" and current_user.is_admin,
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


# -- products ------------------------------------------------------------------------------


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
        return partial_response("partials/_products.html", **context)
    return render_template("store/products.html", **context)


def _products_pager_urls(store, filters, page) -> dict[str, str | None]:
    """The pager's links: each carries where its page starts and its number, as a label."""
    params = filters.params()
    newer = older = None
    if page.has_newer:
        if page.newer_before is None or (page.page is not None and page.page <= 2):
            newer = url_for("store.products", code=store.code, **params)
        else:
            label = page.page - 1 if page.page else None
            newer = url_for(
                "store.products", code=store.code, before=page.newer_before, page=label, **params
            )
    if page.has_older:
        label = page.page + 1 if page.page else None
        older = url_for(
            "store.products", code=store.code, after=page.older_after, page=label, **params
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
        "store/product.html",
        store=store,
        source=source,
        product=mine,
        mine_translations={t.language: t for t in (mine.translations if mine else [])},
        translations=sorted(source.translations, key=lambda t: t.language),
        messages=catalog_queries.product_messages(store, source),
        recent_imports=catalog_queries.RECENT_IMPORTS,
        money=publishing.money,
        availability_words=publishing.AVAILABILITIES,
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
                return redirect(url_for("store.product", code=store.code, product_id=source.id))
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
            "store/publish.html",
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
        return redirect(url_for("store.products", code=store.code))
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
    return redirect(url_for("store.products", code=store.code))


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
