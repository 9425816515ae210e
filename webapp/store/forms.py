"""The store's forms: the marketplace import (the admin's too) and the settings
(CSRF-protected by Flask-WTF), and what a submitted import form starts."""

from __future__ import annotations

from flask import flash
from flask_login import current_user
from flask_wtf import FlaskForm
from flask_wtf.file import FileField
from wtforms import (
    IntegerField,
    SelectField,
    StringField,
    URLField,
)
from wtforms.fields.choices import SelectChoice
from wtforms.validators import URL, Length, NumberRange, Optional

from webapp.ids import coerce_id
from webapp.imports.request import ImportRequestError
from webapp.imports.service import start_import
from webapp.models import runs as R
from webapp.models.catalog import DEFAULT_MARKETPLACE

LANGUAGE_CHOICES = [
    SelectChoice("fr", "French"),
    SelectChoice("en", "English"),
    SelectChoice("de", "German"),
]


class ImportForm(FlaskForm):
    source_url = URLField("Feed URL", validators=[Optional()])
    file = FileField("…or upload a file")
    language = SelectField("Language", choices=LANGUAGE_CHOICES, default="fr")
    batch_size = IntegerField(
        "Batch size", default=1000, validators=[NumberRange(min=100, max=5000)]
    )
    marketplace = StringField(
        "Marketplace", default=DEFAULT_MARKETPLACE, validators=[Optional(), Length(max=64)]
    )


class AdminImportForm(ImportForm):
    store_id = SelectField("Store", coerce=coerce_id)


def quick_fill_urls(store) -> dict[str, str]:
    return {
        lang: url
        for lang in ("fr", "en", "de")
        if (url := getattr(store, f"letzshop_csv_url_{lang}"))
    }


def submit_import(form, store) -> bool:
    """Start the import a validated form asks for; False (with the reason on the form) when
    the request is refused. The outcome is flashed for the page the caller redirects to."""
    try:
        run = start_import(
            store,
            source_url=(form.source_url.data or "").strip() or None,
            upload=form.file.data,
            marketplace=form.marketplace.data or DEFAULT_MARKETPLACE,
            language=form.language.data,
            batch_size=form.batch_size.data,
            user_id=current_user.id,
        )
    except ImportRequestError as exc:
        form.form_errors.append(str(exc))
        return False
    if run.status == R.FAILED:
        flash(run.error_message, "error")
    else:
        flash(f"Import #{run.id} started for {store.name}.", "success")
    return True


class SettingsForm(FlaskForm):
    name = StringField("Store name", validators=[Length(min=1, max=255)])
    default_language = SelectField("Default language", choices=LANGUAGE_CHOICES)
    letzshop_csv_url_fr = URLField("Letzshop CSV URL (French)", validators=[Optional(), URL()])
    letzshop_csv_url_en = URLField("Letzshop CSV URL (English)", validators=[Optional(), URL()])
    letzshop_csv_url_de = URLField("Letzshop CSV URL (German)", validators=[Optional(), URL()])
