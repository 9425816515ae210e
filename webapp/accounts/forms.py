"""The account form, built from the connector's declared settings (CSRF-protected by
Flask-WTF)."""

from __future__ import annotations

from flask_wtf import FlaskForm
from wtforms import BooleanField, PasswordField, StringField
from wtforms.validators import DataRequired, Length, Optional

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
