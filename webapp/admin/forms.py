"""Forms of the admin pages (CSRF by Flask-WTF). The rules a store must follow live in
webapp/admin/stores.py, shared with the API and the CLI; the form carries the values."""

from __future__ import annotations

from flask_wtf import FlaskForm
from wtforms import BooleanField, SelectField, StringField, URLField

from webapp.store.forms import LANGUAGE_CHOICES


class StoreForm(FlaskForm):
    code = StringField(
        "Code",
        description="Lowercase letters, digits, - and _ (2 to 64): part of every address of "
        "the store, e.g. /store/acme-furniture/orders. It cannot be changed later.",
    )
    name = StringField("Name")
    default_language = SelectField("Default language", choices=LANGUAGE_CHOICES, default="fr")
    is_active = BooleanField(
        "Active",
        default=True,
        description="An inactive store's feeds are not scheduled and it cannot import.",
    )
    letzshop_csv_url_fr = URLField("Letzshop CSV URL (French)")
    letzshop_csv_url_en = URLField("Letzshop CSV URL (English)")
    letzshop_csv_url_de = URLField("Letzshop CSV URL (German)")

    def values(self, *, creating: bool) -> dict:
        """The submitted values as webapp.admin.stores.clean takes them."""
        names = ["name", "default_language", "is_active", *_URLS]
        if creating:
            names.insert(0, "code")
        return {name: getattr(self, name).data for name in names}

    def show_errors(self, errors: dict[str, str]) -> None:
        for name, message in errors.items():
            field = getattr(self, name, None) if name != "_" else None
            if field is not None:
                field.errors = [*field.errors, message]
            else:
                self.form_errors.append(message)


_URLS = ("letzshop_csv_url_fr", "letzshop_csv_url_en", "letzshop_csv_url_de")
