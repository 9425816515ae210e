"""The key pool's forms (CSRF-protected by Flask-WTF); the rules are :mod:`webapp.keys.levels`'
and :mod:`webapp.imports.keys_file`'s, which the CLI and the API share."""

from __future__ import annotations

from flask_wtf import FlaskForm
from flask_wtf.file import FileField
from wtforms import StringField
from wtforms.validators import DataRequired, Length


class KeyUploadForm(FlaskForm):
    file = FileField("Key file (CSV or TSV)")


class ThresholdForm(FlaskForm):
    low_threshold = StringField(
        "Alert below (available keys per product; 0: no alert)",
        validators=[DataRequired(), Length(max=8)],
    )


class DeleteKeyForm(FlaskForm):
    """A POST with its CSRF token only (the key is in the URL)."""
