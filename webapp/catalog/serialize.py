"""A product as the API and the CLI show it (documented in webapp.api.products)."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Any

from webapp.catalog import publishing
from webapp.catalog.html import feed_html
from webapp.catalog.queries import product_messages
from webapp.extensions import db
from webapp.models import MarketplaceProduct, Store


def iso(value: datetime | None) -> str | None:
    """Naive UTC as RFC 3339 with an explicit Z (as webapp.api.serialize writes it)."""
    return value.isoformat(timespec="seconds") + "Z" if value else None


def _decimal_text(value: Decimal | None, currency: str | None) -> str | None:
    if value is None:
        return None
    return f"{value:.{publishing.minor_units(currency)}f}"


def _publication(product, source: MarketplaceProduct) -> dict[str, Any] | None:
    if product is None:
        return None
    currency = source.currency
    price = product.price if product.price is not None else source.price
    return {
        "price": _decimal_text(product.price, currency),
        "sale_price": _decimal_text(product.sale_price, currency),
        "availability": product.availability,
        "is_active": product.is_active,
        "effective_price": _decimal_text(price, currency),
        "published_at": iso(product.created_at),
        "updated_at": iso(product.updated_at),
    }


def product_json(source: MarketplaceProduct) -> dict[str, Any]:
    store = db.session.get(Store, source.store_id)
    currency = source.currency
    return {
        "id": source.id,
        "store": {"id": store.id, "code": store.code},
        "marketplace": source.marketplace,
        "marketplace_product_id": source.marketplace_product_id,
        "item_group_id": source.item_group_id,
        "gtin": source.gtin,
        "mpn": source.mpn,
        "brand": source.brand,
        "price": _decimal_text(source.price, currency),
        "sale_price": _decimal_text(source.sale_price, currency),
        "currency": currency,
        "availability": source.availability,
        "quantity": source.quantity,
        "condition": source.condition,
        "link": source.link,
        "image_link": source.image_link,
        "extra": source.extra if isinstance(source.extra, dict) else None,
        "last_import_job_id": source.last_import_job_id,
        "updated_at": iso(source.updated_at),
        "translations": [
            {
                "language": t.language,
                "title": t.title,
                "description": t.description,
                "description_html": str(feed_html(t.description)) if t.description else None,
            }
            for t in sorted(source.translations, key=lambda t: t.language)
        ],
        "publication": _publication(publishing.publication(store, source), source),
        "messages": [
            {
                "job_id": run.id,
                "severity": message.severity,
                "error_type": message.error_type,
                "row_number": message.row_number,
                "error_message": message.error_message,
            }
            for message, run in product_messages(store, source)
        ],
    }
