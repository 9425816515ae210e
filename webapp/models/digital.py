"""Pre-ordered keys: bought from the supplier, not delivered by it yet.

A purchase of a product not released yet answers a code with no key (CodesWholesale's
"Pre-ordered code"). Each such code waits here, tied to its order line, until a recheck
(:func:`webapp.digital.fulfil.recheck_pre_orders`) reads it again and finds its key: the key
is then stored as a :class:`~webapp.models.keys.DigitalKey` and the row is ``resolved_at``.
A code id is unique per supplier account, so a purchase answer applied twice (a look-up after a
lost answer) never waits twice.
"""

from __future__ import annotations

from webapp.extensions import db


class DigitalPreOrder(db.Model):
    __tablename__ = "digital_pre_orders"

    id = db.Column(db.Integer, primary_key=True)
    store_id = db.Column(db.Integer, db.ForeignKey("stores.id", ondelete="CASCADE"), nullable=False)
    account_id = db.Column(  # the supplier account that bought it
        db.Integer, db.ForeignKey("accounts.id", ondelete="CASCADE"), nullable=False
    )
    order_item_id = db.Column(
        db.Integer, db.ForeignKey("order_items.id", ondelete="CASCADE"), nullable=False, index=True
    )
    supplier_order_ref = db.Column(db.String(64), nullable=False)
    code_id = db.Column(db.String(255), nullable=False)
    created_at = db.Column(db.DateTime, nullable=False)
    checked_at = db.Column(db.DateTime)
    resolved_at = db.Column(db.DateTime)

    __table_args__ = (
        db.UniqueConstraint("account_id", "code_id", name="uq_digital_pre_orders_code"),
        db.Index(
            "ix_digital_pre_orders_waiting",
            "account_id",
            "id",
            postgresql_where=db.text("resolved_at IS NULL"),
            sqlite_where=db.text("resolved_at IS NULL"),
        ),
    )
