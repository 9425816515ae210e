"""Forms of the import back-office (CSRF-protected by Flask-WTF), and what a submitted import
form starts (the store's marketplace import page and the admin's use the same)."""

from __future__ import annotations

from flask import flash
from flask_login import current_user
from flask_wtf import FlaskForm
from flask_wtf.file import FileField
from wtforms import (
    BooleanField,
    IntegerField,
    PasswordField,
    SelectField,
    StringField,
    URLField,
)
from wtforms.fields.choices import SelectChoice
from wtforms.validators import URL, DataRequired, Length, NumberRange, Optional

from webapp.ids import coerce_id
from webapp.imports.request import ImportRequestError
from webapp.imports.service import start_import
from webapp.models import runs as R

LANGUAGE_CHOICES = [
    SelectChoice("fr", "French"),
    SelectChoice("en", "English"),
    SelectChoice("de", "German"),
]
AVAILABILITY_CHOICES = [
    SelectChoice("", "As imported"),
    SelectChoice("in_stock", "In stock"),
    SelectChoice("out_of_stock", "Out of stock"),
    SelectChoice("preorder", "Pre-order"),
    SelectChoice("backorder", "Backorder"),
]


class ImportForm(FlaskForm):
    source_url = URLField("Feed URL", validators=[Optional()])
    file = FileField("…or upload a file")
    language = SelectField("Language", choices=LANGUAGE_CHOICES, default="fr")
    batch_size = IntegerField(
        "Batch size", default=1000, validators=[NumberRange(min=100, max=5000)]
    )
    marketplace = StringField(
        "Marketplace", default="Letzshop", validators=[Optional(), Length(max=64)]
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
            marketplace=form.marketplace.data or "Letzshop",
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


class PublishForm(FlaskForm):
    """The store's overrides, as typed; the rules are webapp.catalog.publishing's (the bulk
    publish and the API use the same), checked by the view with the product at hand."""

    price = StringField("Price", validators=[Optional(), Length(max=32)])
    sale_price = StringField("Sale price", validators=[Optional(), Length(max=32)])
    # Checked against the catalog's values with a sentence of our own, not WTForms' default.
    availability = SelectField(
        "Availability", choices=AVAILABILITY_CHOICES, default="", validate_choice=False
    )
    is_active = BooleanField("Active", default=True)


SETTING_PREFIX = "setting_"


def account_form(connector_cls, *, editing: bool, **kwargs) -> FlaskForm:
    """A form for one connector's account, built from its declared settings. Secret settings
    are password fields that never render a value: a secret is write-only, and on an edit a
    blank one keeps what is stored."""

    class AccountForm(FlaskForm):
        name = StringField("Name", validators=[DataRequired(), Length(max=255)])

    if not editing:
        # A new account has nothing owed yet, so starting live is a plain choice. An existing
        # account goes live through its own confirmation (what test mode left owed, counted).
        AccountForm.live = BooleanField(
            "Start live: send changes (our order ids...) to the marketplace from the first "
            "import. Unticked, the account starts in test mode: its orders come in for real "
            "and what would be sent is only recorded."
        )

    for setting in connector_cls.all_settings():
        label = setting.label + ("" if setting.required else " (optional)")
        if setting.secret:
            hint = "Stored; leave blank to keep it." if editing else setting.help
            field = PasswordField(label, validators=[Optional()], description=hint)
        else:
            field = StringField(label, default=setting.default, description=setting.help)
        setattr(AccountForm, SETTING_PREFIX + setting.name, field)
    return AccountForm(**kwargs)


def account_form_values(form, connector_cls) -> tuple[dict[str, str], dict[str, str]]:
    """(settings, secrets) as typed in ``form``."""
    settings, secrets = {}, {}
    for setting in connector_cls.all_settings():
        value = (getattr(form, SETTING_PREFIX + setting.name).data or "").strip()
        (secrets if setting.secret else settings)[setting.name] = value
    return settings, secrets
