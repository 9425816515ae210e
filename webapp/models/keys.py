"""Digital keys (game keys, gift cards, licences): a store's pool and the keys bought from a
supplier, each given to one order line only, ever.

- ``digital_keys``: one row per key, the code Fernet-encrypted (``webapp.crypto``; an image
  code is the base64 of its bytes, ``code_type`` = image). ``fingerprint`` is an HMAC of the
  code under the app's secret: a key uploaded twice to a store is found without decrypting
  anything (unique per store). A pool key waits with ``assigned_at`` NULL; giving it to a line
  sets ``order_item_id`` and ``assigned_at`` in one UPDATE guarded by ``assigned_at IS NULL``
  (only one claimer can win), and ``assigned_at`` is never cleared: a key once given is never
  given again, even if its line goes away. A bought key is written already assigned, with the
  reference of the purchase that bought it.
- ``digital_key_reveals``: who saw a key in clear, and when (the order page).
- ``key_pool_settings``: a store's low-pool threshold (migration 0027; no row: the default).

Owned by webapp/keys (pool: upload, levels, claim) and webapp/digital (fulfilment).
"""

from __future__ import annotations

from webapp.extensions import db
from webapp.models.base import TimestampMixin

POOL = "pool"  # uploaded by the store
SUPPLIER = "codeswholesale"  # bought on demand
KEY_SOURCES = (POOL, SUPPLIER)
TEXT, IMAGE = "text", "image"


class DigitalKey(TimestampMixin, db.Model):
    __tablename__ = "digital_keys"

    id = db.Column(db.Integer, primary_key=True)
    store_id = db.Column(db.Integer, db.ForeignKey("stores.id", ondelete="CASCADE"), nullable=False)
    # What the key is for: the store's SKU (a pool key uploaded by SKU, a bought key's line)
    # and/or the supplier's product id (a pool key uploaded by supplier id, a bought key).
    sku = db.Column(db.String(255))
    supplier_product_id = db.Column(db.String(255))
    source = db.Column(db.String(16), nullable=False, default=POOL)
    code_type = db.Column(db.String(8), nullable=False, default=TEXT)
    code_encrypted = db.Column(db.Text, nullable=False)
    image_filename = db.Column(db.String(255))  # an image code's name as the supplier gave it
    fingerprint = db.Column(db.String(64), nullable=False)
    expires_at = db.Column(db.DateTime)  # never given out after it
    # The upload run that brought a pool key; the purchase that bought a supplier key.
    import_run_id = db.Column(
        db.Integer, db.ForeignKey("marketplace_import_jobs.id", ondelete="SET NULL")
    )
    supplier_order_ref = db.Column(db.String(64))
    order_item_id = db.Column(
        db.Integer, db.ForeignKey("order_items.id", ondelete="SET NULL"), index=True
    )
    assigned_at = db.Column(db.DateTime)  # set once, never cleared

    __table_args__ = (
        db.UniqueConstraint("store_id", "fingerprint", name="uq_digital_keys_store_fingerprint"),
        # The free keys of a product, oldest first: what a claim takes and a level counts.
        db.Index(
            "ix_digital_keys_free_sku",
            "store_id",
            "sku",
            "id",
            postgresql_where=db.text("assigned_at IS NULL"),
            sqlite_where=db.text("assigned_at IS NULL"),
        ),
        db.Index(
            "ix_digital_keys_free_supplier",
            "store_id",
            "supplier_product_id",
            "id",
            postgresql_where=db.text("assigned_at IS NULL"),
            sqlite_where=db.text("assigned_at IS NULL"),
        ),
    )


class DigitalKeyReveal(db.Model):
    __tablename__ = "digital_key_reveals"

    id = db.Column(db.Integer, primary_key=True)
    key_id = db.Column(
        db.Integer, db.ForeignKey("digital_keys.id", ondelete="CASCADE"), nullable=False, index=True
    )
    user_id = db.Column(db.Integer, db.ForeignKey("users.id", ondelete="SET NULL"))
    revealed_by = db.Column(db.String(255), nullable=False)  # the user's e-mail, kept if deleted
    revealed_at = db.Column(db.DateTime, nullable=False)


DEFAULT_LOW_THRESHOLD = 5


class KeyPoolSettings(db.Model):
    """A store's key pool settings: below ``low_threshold`` available keys a product's pool
    is low (an inbox message until it is refilled); 0 turns the alert off."""

    __tablename__ = "key_pool_settings"

    store_id = db.Column(
        db.Integer, db.ForeignKey("stores.id", ondelete="CASCADE"), primary_key=True
    )
    low_threshold = db.Column(
        db.Integer, nullable=False, default=DEFAULT_LOW_THRESHOLD, server_default="5"
    )
