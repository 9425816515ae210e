"""Tenants (stores) and the people who use Mercato."""

from __future__ import annotations

import secrets

from flask import current_app, has_app_context
from flask_login import UserMixin
from werkzeug.security import check_password_hash, generate_password_hash

from webapp.extensions import db
from webapp.models.base import TimestampMixin

LANGUAGES = ("fr", "en", "de")


class Store(TimestampMixin, db.Model):
    __tablename__ = "stores"

    id = db.Column(db.Integer, primary_key=True)
    code = db.Column(db.String(64), nullable=False, unique=True)
    name = db.Column(db.String(255), nullable=False)
    default_language = db.Column(db.String(2), nullable=False, default="fr")
    letzshop_csv_url_fr = db.Column(db.Text)
    letzshop_csv_url_en = db.Column(db.Text)
    letzshop_csv_url_de = db.Column(db.Text)
    is_active = db.Column(db.Boolean, nullable=False, default=True)

    def __repr__(self) -> str:
        return f"<Store {self.code}>"


def password_hash_method() -> str:
    """Werkzeug's default (scrypt, n=2**15) unless the app sets MERCATO_PASSWORD_HASH_METHOD.

    Only the test suite sets it, to a cheap scrypt: a hash there costs milliseconds, not the
    ~0.1 s per user and per login it otherwise spends. A stored hash names its own method, so
    checking a password always uses the parameters it was hashed with."""
    if has_app_context():
        return current_app.config.get("MERCATO_PASSWORD_HASH_METHOD", "scrypt")
    return "scrypt"


# One hash per hashing method, of a password nobody knows: what a login with an unknown email
# is checked against, so that it costs what a wrong password costs (the time a login takes
# must not tell which emails have an account).
_DECOY_HASHES: dict[str, str] = {}


def decoy_password_hash() -> str:
    method = password_hash_method()
    decoy = _DECOY_HASHES.get(method)
    if decoy is None:
        decoy = generate_password_hash(secrets.token_urlsafe(24), method=method)
        _DECOY_HASHES[method] = decoy
    return decoy


def authenticate(user: User | None, password: str) -> bool:
    """Whether ``user`` may log in with ``password``: one password hash checked whatever the
    outcome, whether or not the email had a user and whether or not that user is active."""
    stored = user.password_hash if user is not None else decoy_password_hash()
    matches = check_password_hash(stored, password)
    return user is not None and user.is_active and matches


class User(UserMixin, TimestampMixin, db.Model):
    __tablename__ = "users"

    id = db.Column(db.Integer, primary_key=True)
    email = db.Column(db.String(255), nullable=False, unique=True)
    password_hash = db.Column(db.String(255), nullable=False)
    is_admin = db.Column(db.Boolean, nullable=False, default=False)
    store_id = db.Column(db.Integer, db.ForeignKey("stores.id", ondelete="CASCADE"), index=True)
    is_active = db.Column(db.Boolean, nullable=False, default=True)
    # When the user last opened the orders page: the bell counts orders that arrived since.
    orders_seen_at = db.Column(db.DateTime)
    # Carried by every session and remember cookie next to the id (get_id); logging out and
    # changing the password move it on, so every cookie issued before stops loading the user.
    session_generation = db.Column(db.Integer, nullable=False, default=0, server_default="0")

    store = db.relationship(Store)

    __table_args__ = (
        db.CheckConstraint("is_admin OR store_id IS NOT NULL", name="admin_or_store_user"),
    )

    def set_password(self, password: str) -> None:
        """Set (or change) the password; a change ends every session of the user."""
        if self.password_hash is not None:
            self.end_sessions()
        self.password_hash = generate_password_hash(password, method=password_hash_method())

    def check_password(self, password: str) -> bool:
        return check_password_hash(self.password_hash, password)

    def get_id(self) -> str:
        """What Flask-Login keeps in the session and the remember cookie: "id:generation"."""
        return f"{self.id}:{self.session_generation or 0}"

    def end_sessions(self) -> None:
        """Every session and remember cookie of this user stops working (the caller commits)."""
        self.session_generation = (self.session_generation or 0) + 1

    def can_see_store(self, store_id: int) -> bool:
        return self.is_admin or self.store_id == store_id


def load_session_user(session_id: str) -> User | None:
    """The active user a session's "id:generation" names, if that generation is current.

    A cookie without a generation (made before sessions carried one), with an older one
    (its user logged out or changed the password since), or naming an id beyond the
    column's range loads nobody."""
    from webapp.ids import id_arg

    user_part, _, generation_part = (session_id or "").partition(":")
    user_id, generation = id_arg(user_part), id_arg(generation_part)
    if user_id is None or user_id <= 0 or generation is None or generation < 0:
        return None
    user = db.session.get(User, user_id)
    if user is None or not user.is_active or (user.session_generation or 0) != generation:
        return None
    return user
