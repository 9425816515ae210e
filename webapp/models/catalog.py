"""The catalog: what sources say about products, and what a store publishes.

``marketplace_products`` holds canonical data from a source, keyed by
(store, marketplace, marketplace_product_id) so two stores importing the same
id never touch each other's rows.  Titles and descriptions live per language
in ``marketplace_product_translations``.  ``products`` is a store's published
product with its own overrides (price, sale price, availability, active).
"""

from __future__ import annotations

from webapp.extensions import db
from webapp.models.base import TimestampMixin

FALLBACK_LANGUAGES = ("fr", "en", "de")
# The marketplace a product feed is for when none is named (the merchants' first catalog
# source is Letzshop's CSV feed). Spelt here only: forms, the API, the CLI and runs read it.
DEFAULT_MARKETPLACE = "Letzshop"


class MarketplaceProduct(TimestampMixin, db.Model):
    __tablename__ = "marketplace_products"

    id = db.Column(db.Integer, primary_key=True)
    store_id = db.Column(db.Integer, db.ForeignKey("stores.id", ondelete="CASCADE"), nullable=False)
    marketplace = db.Column(db.String(64), nullable=False, default=DEFAULT_MARKETPLACE)
    marketplace_product_id = db.Column(db.String(255), nullable=False)
    item_group_id = db.Column(db.String(255))
    gtin = db.Column(db.String(14))
    mpn = db.Column(db.String(255))
    brand = db.Column(db.String(255))
    price = db.Column(db.Numeric(14, 4))
    sale_price = db.Column(db.Numeric(14, 4))
    currency = db.Column(db.String(3))
    availability = db.Column(db.String(32))
    quantity = db.Column(db.Integer)
    condition = db.Column(db.String(32))
    link = db.Column(db.Text)
    image_link = db.Column(db.Text)
    # Plain JSON, not JSONB: written once per change, read whole; ingesting it is cheaper.
    extra = db.Column(db.JSON)
    # Hash of the language-neutral fields: a re-import compares it and skips the write.
    content_hash = db.Column(db.BigInteger, nullable=False)
    # Warnings the last import raised on this row, re-reported when it comes back unchanged.
    import_warnings = db.Column(db.Text)
    last_import_job_id = db.Column(db.Integer)

    translations = db.relationship(
        "MarketplaceProductTranslation",
        back_populates="product",
        cascade="all, delete-orphan",
        passive_deletes=True,
    )

    __table_args__ = (
        db.UniqueConstraint(
            "store_id",
            "marketplace",
            "marketplace_product_id",
            name="uq_marketplace_products_store_marketplace_id",
        ),
        # The catalog feed's ETag reads max(updated_at) of a store from here (migration 0022).
        db.Index("ix_marketplace_products_store_updated", "store_id", "updated_at"),
        # No index on gtin: no query can use one (the catalog search ORs it with substring
        # matches), and its random inserts cost every import (migration 0010).
    )

    def translation(self, language: str | None) -> MarketplaceProductTranslation | None:
        """The translation in ``language``, else the first of fr, en, de that exists."""
        by_lang = {t.language: t for t in self.translations}
        for lang in (language, *FALLBACK_LANGUAGES):
            if lang in by_lang:
                return by_lang[lang]
        return next(iter(by_lang.values()), None)


class MarketplaceProductTranslation(db.Model):
    """One language of a marketplace product; keyed by (product, language), no surrogate id."""

    __tablename__ = "marketplace_product_translations"

    marketplace_product_id = db.Column(
        db.Integer,
        db.ForeignKey("marketplace_products.id", ondelete="CASCADE"),
        primary_key=True,
    )
    language = db.Column(db.String(2), primary_key=True)
    title = db.Column(db.Text, nullable=False)
    description = db.Column(db.Text)
    content_hash = db.Column(db.BigInteger, nullable=False)

    product = db.relationship(MarketplaceProduct, back_populates="translations")

    # On SQLite the key is the table: one b-tree per row instead of two.
    __table_args__ = {"sqlite_with_rowid": False}


class Product(TimestampMixin, db.Model):
    """A store's published product: a marketplace product plus the store's overrides."""

    __tablename__ = "products"

    id = db.Column(db.Integer, primary_key=True)
    store_id = db.Column(db.Integer, db.ForeignKey("stores.id", ondelete="CASCADE"), nullable=False)
    marketplace_product_id = db.Column(
        db.Integer, db.ForeignKey("marketplace_products.id", ondelete="CASCADE"), nullable=False
    )
    price = db.Column(db.Numeric(14, 4))
    sale_price = db.Column(db.Numeric(14, 4))
    availability = db.Column(db.String(32))
    condition = db.Column(db.String(32))
    is_featured = db.Column(db.Boolean, nullable=False, default=False)
    is_active = db.Column(db.Boolean, nullable=False, default=True)
    display_order = db.Column(db.Integer, nullable=False, default=0)
    min_quantity = db.Column(db.Integer)
    max_quantity = db.Column(db.Integer)

    marketplace_product = db.relationship(MarketplaceProduct)
    translations = db.relationship(
        "ProductTranslation", cascade="all, delete-orphan", passive_deletes=True
    )

    __table_args__ = (
        db.UniqueConstraint(
            "store_id", "marketplace_product_id", name="uq_products_store_marketplace_product"
        ),
        db.Index("ix_products_store_updated", "store_id", "updated_at"),
    )

    @property
    def effective_price(self):
        return self.price if self.price is not None else self.marketplace_product.price

    @property
    def effective_availability(self):
        return self.availability or self.marketplace_product.availability


class ProductTranslation(db.Model):
    """A store's own title/description in one language; empty fields fall back."""

    __tablename__ = "product_translations"

    id = db.Column(db.Integer, primary_key=True)
    product_id = db.Column(
        db.Integer, db.ForeignKey("products.id", ondelete="CASCADE"), nullable=False
    )
    language = db.Column(db.String(2), nullable=False)
    title = db.Column(db.Text)
    description = db.Column(db.Text)

    __table_args__ = (
        db.UniqueConstraint("product_id", "language", name="uq_product_translations_lang"),
    )
