"""The publish form: a store's overrides of an imported product (CSRF-protected by
Flask-WTF)."""

from __future__ import annotations

from flask_wtf import FlaskForm
from wtforms import BooleanField, SelectField, StringField
from wtforms.fields.choices import SelectChoice
from wtforms.validators import Length, Optional

AVAILABILITY_CHOICES = [
    SelectChoice("", "As imported"),
    SelectChoice("in_stock", "In stock"),
    SelectChoice("out_of_stock", "Out of stock"),
    SelectChoice("preorder", "Pre-order"),
    SelectChoice("backorder", "Backorder"),
]


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
