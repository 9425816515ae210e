"""Admin pages for stores: the list with its counts, one store's overview, create and edit.

An admin reaches every page of a store through the store's own URLs (/store/<code>/...),
which let admins in; these pages are the way there, and where stores are made.
"""

from __future__ import annotations

from flask import abort, flash, redirect, render_template, request, url_for
from sqlalchemy import select

from connectors.egress import mask_url
from webapp.access import admin_required
from webapp.admin import bp
from webapp.admin import stores as service
from webapp.admin.forms import StoreForm
from webapp.extensions import db
from webapp.models import Store, User
from webapp.pagination import clamp_page

STORES_PER_PAGE = 50


@bp.get("")
@bp.get("/")
@admin_required
def home():
    """/admin itself: the store list is where an admin starts."""
    return redirect(url_for("admin.stores"))


@bp.get("/stores")
@admin_required
def stores():
    search = (request.args.get("q") or "").strip()[:100]
    status = request.args.get("status") or ""
    if status not in service.STATUS_FILTERS:
        status = ""
    page = clamp_page(request.args.get("page"))
    result = service.store_page(page, STORES_PER_PAGE, search=search, status=status)
    params = {k: v for k, v in (("q", search), ("status", status)) if v}
    return render_template(
        "admin/stores.html",
        stores=result,
        q=search,
        status=status,
        filtered=bool(params),
        page_base=url_for("admin.stores", **params),
    )


def _store_or_404(code: str) -> Store:
    store = service.store_by_code(code)
    if store is None:
        abort(404)
    return store


@bp.route("/stores/new", methods=["GET", "POST"])
@admin_required
def store_new():
    form = StoreForm()
    status = 200
    if request.method == "POST":
        if _submitted(form):
            try:
                store = service.create_store(form.values(creating=True))
            except service.StoreError as exc:
                form.show_errors(exc.errors)
            else:
                flash(f"Store {store.name} ({store.code}) created.", "success")
                return redirect(url_for("admin.store", code=store.code))
        status = 422
    return render_template("admin/store_form.html", form=form, store=None), status


@bp.get("/stores/<code>")
@admin_required
def store(code: str):
    store = _store_or_404(code)
    counts = service.counts_for([store.id])[store.id]
    users = db.session.scalars(select(User).where(User.store_id == store.id).order_by(User.email))
    return render_template("admin/store.html", store=store, counts=counts, users=list(users))


@bp.route("/stores/<code>/edit", methods=["GET", "POST"])
@admin_required
def store_edit(code: str):
    store = _store_or_404(code)
    form = StoreForm(obj=store)
    if request.method == "GET":
        # A feed URL's password is shown masked; sent back unchanged, the stored one stays.
        for name in service.URL_FIELDS:
            value = getattr(store, name)
            getattr(form, name).data = mask_url(value) if value else ""
    status = 200
    if request.method == "POST":
        if _submitted(form):
            try:
                service.update_store(store, form.values(creating=False))
            except service.StoreError as exc:
                db.session.rollback()
                form.show_errors(exc.errors)
            else:
                flash(f"Store {store.name} ({store.code}) saved.", "success")
                return redirect(url_for("admin.store", code=store.code))
        status = 422
    # The code is shown, never edited: every address of the store carries it.
    form.code.data = store.code
    return render_template("admin/store_form.html", form=form, store=store), status


def _submitted(form: StoreForm) -> bool:
    """True when the form arrived with a valid CSRF token; otherwise the form says why.

    Field rules are the service's (one set for page, API and CLI); WTForms only checks the
    token and that the language is one of the choices."""
    form.validate()
    for field in form:
        if field.name != "csrf_token":
            field.errors = []  # the service says what is wrong, once, in its own words
    if form.csrf_token.errors:
        form.form_errors.append("The form expired or was not sent from this site: try again.")
        return False
    return True


@bp.app_template_filter("masked_url")
def masked_url(value: str | None) -> str:
    """A URL with its password as ***, for showing a stored feed address."""
    return mask_url(value) if value else ""
