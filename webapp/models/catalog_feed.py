"""Catalog feeds the hubs read: one secret URL per account, and every fetch of it.

The token is in the URL's path. It is kept twice: its SHA-256 (``token_hash``, unique, what a
fetch is looked up by, so the database never answers a guess by scanning) and Fernet-encrypted
(``token_encrypted``, so the account's own store can be shown the URL again; others see it
masked). Rotating replaces both: the old URL is refused (404) at once.
"""

from __future__ import annotations

from webapp.extensions import db
from webapp.models.base import utcnow

FEED_FORMATS = ("csv", "xml")


class CatalogFeed(db.Model):
    __tablename__ = "catalog_feeds"

    account_id = db.Column(
        db.Integer, db.ForeignKey("accounts.id", ondelete="CASCADE"), primary_key=True
    )
    store_id = db.Column(db.Integer, db.ForeignKey("stores.id", ondelete="CASCADE"), nullable=False)
    token_hash = db.Column(db.String(64), nullable=False, unique=True)
    token_encrypted = db.Column(db.Text, nullable=False)
    # The format of the URL without a suffix (the account's setting).
    format = db.Column(db.String(8), nullable=False, default="csv")
    # The language of the title and description columns (None: the store's default).
    language = db.Column(db.String(2))
    created_at = db.Column(db.DateTime, nullable=False, default=utcnow)
    rotated_at = db.Column(db.DateTime)
    rotated_by = db.Column(db.String(255))

    account = db.relationship("Account")


class CatalogFeedFetch(db.Model):
    """One fetch of an account's catalog feed: when, by whom, what it got."""

    __tablename__ = "catalog_feed_fetches"

    id = db.Column(db.Integer, primary_key=True)
    account_id = db.Column(
        db.Integer, db.ForeignKey("accounts.id", ondelete="CASCADE"), nullable=False
    )
    fetched_at = db.Column(db.DateTime, nullable=False, default=utcnow)
    ip = db.Column(db.String(64))
    user_agent = db.Column(db.String(255))
    format = db.Column(db.String(8), nullable=False)
    status = db.Column(db.Integer, nullable=False)
    # False when the client went away before the end (rows and bytes are what was sent).
    complete = db.Column(db.Boolean, nullable=False, default=True)
    gzip = db.Column(db.Boolean, nullable=False, default=False)
    rows = db.Column(db.Integer, nullable=False, default=0)
    bytes = db.Column(db.BigInteger, nullable=False, default=0)
    duration_ms = db.Column(db.Integer, nullable=False, default=0)

    __table_args__ = (
        db.Index("ix_catalog_feed_fetches_account_fetched", "account_id", "fetched_at"),
    )
