"""The stock forms (CSRF-protected by Flask-WTF); the rules are :mod:`webapp.stock.service`'s,
which the CLI and the API share."""

from __future__ import annotations

from flask_wtf import FlaskForm
from flask_wtf.file import FileField
from wtforms import BooleanField, SelectField, StringField
from wtforms.validators import DataRequired, Length, Optional


class AdjustForm(FlaskForm):
    sku = StringField("SKU", validators=[DataRequired(), Length(max=255)])
    quantity = StringField("Quantity on hand", validators=[DataRequired(), Length(max=12)])
    warehouse = StringField("Warehouse (empty: default)", validators=[Optional(), Length(max=64)])
    reason = StringField("Reason", validators=[Optional(), Length(max=1000)])


class StockSettingsForm(FlaskForm):
    safety_stock = StringField("Safety stock", validators=[DataRequired(), Length(max=12)])
    oos_threshold = StringField(
        "Out-of-stock threshold", validators=[DataRequired(), Length(max=12)]
    )
    zero_stock = SelectField(
        "At or below the threshold",
        choices=[("send", "Send 0"), ("hold", "Send the threshold (hold)")],
    )
    strategy = SelectField(
        "Push strategy",
        choices=[("realtime", "Real time"), ("scheduled", "Scheduled"), ("manual", "Manual")],
    )
    interval_minutes = StringField(
        "Interval when scheduled (minutes)", validators=[DataRequired(), Length(max=6)]
    )


class StoreStockForm(FlaskForm):
    feed_is_stock_source = BooleanField("The product feed's quantity is the stock")
    restock_on_refund = BooleanField("A refund after shipping puts the quantity back on hand")


class StockFileForm(FlaskForm):
    """A stock file now (an upload or a URL), or the URL the scheduled feed reads; handled
    by the store's pages (:mod:`webapp.store.stock_file`), which read files."""

    file = FileField("Stock file (CSV or TSV)")
    source_url = StringField("or its URL", validators=[Optional(), Length(max=2000)])
    schedule = BooleanField("Read this URL on the store's Import stock schedule")
