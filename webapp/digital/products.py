"""A store's own product made digital (or not): its keys then come from the store's pool.

The flag is the catalog product's ``extra.is_digital`` (what a feed column ``is_digital``
sets; the import engine keeps unknown columns in ``extra``, and a later import without that
column keeps it). A supplier product (marketplace ``codeswholesale``) is always digital.
Lines are marked when their order is booked (:mod:`webapp.digital.lines`): orders booked
before a change keep what they were.
"""

from __future__ import annotations

from webapp.digital.lines import SUPPLIER_MARKETPLACE, TRUE_WORDS
from webapp.extensions import db
from webapp.models import MarketplaceProduct


def is_digital(product: MarketplaceProduct) -> bool:
    extra = product.extra or {}
    return (
        product.marketplace == SUPPLIER_MARKETPLACE
        or str(extra.get("is_digital") or "").strip().lower() in TRUE_WORDS
        or str(extra.get("product_type") or "").strip().lower() == "digital"
    )


class NotChangeable(ValueError):
    pass


def set_digital(product: MarketplaceProduct, digital: bool) -> bool:
    """Mark the product digital or not (committed); returns the new state."""
    if product.marketplace == SUPPLIER_MARKETPLACE and not digital:
        raise NotChangeable("A CodesWholesale product is always digital.")
    extra = dict(product.extra or {})
    extra["is_digital"] = "true" if digital else "false"
    if not digital and str(extra.get("product_type") or "").strip().lower() == "digital":
        extra.pop("product_type")
    product.extra = extra
    db.session.commit()
    return is_digital(product)
