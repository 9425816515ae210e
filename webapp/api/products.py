"""Store endpoints for the catalog: one product, and its publication.

The same rules as the pages (``webapp.catalog.publishing``): a refused override answers 422
with the sentences the publish form shows, and saves nothing.  A store user reaches their
own store's products only (another store's id answers 404, like an unknown one); an admin
reaches any product.  (Several products at once: one PUT each; the page's bulk publish
follows the same rules.)  ``GET /store/products`` lists the store's products a page at a
time by id (keyset: ``after_id``), each with its publication.

The operations and schemas are added to the contract (``webapp.api.openapi``) from here,
next to the routes they describe.
"""

from __future__ import annotations

from decimal import Decimal, InvalidOperation
from typing import Any

from flask import Response, jsonify, request
from sqlalchemy import select

from webapp.api import bp, openapi
from webapp.api.auth import api_user
from webapp.api.errors import ApiError
from webapp.api.openapi import _ID, _errors, _json, _nullable, _operation, _ref
from webapp.api.params import MAX_LIMIT, choice_arg, id_query_arg, int_arg
from webapp.api.stock import _store
from webapp.catalog import publishing
from webapp.catalog.serialize import _decimal_text, _publication, iso, product_json
from webapp.extensions import db
from webapp.models import MarketplaceProduct, Product, Store

NOT_FOUND = "No product with this id."


def _product_or_404(product_id: int) -> MarketplaceProduct:
    user = api_user()
    product = db.session.get(MarketplaceProduct, product_id)
    if product is None or not (user.is_admin or product.store_id == user.store_id):
        raise ApiError(404, NOT_FOUND)
    return product


def _json_object() -> dict[str, Any]:
    if not request.is_json:
        if not request.get_data(cache=True):
            return {}
        raise ApiError(415, "Send the request as application/json.")
    data = request.get_json(silent=True)
    if data is None:
        raise ApiError(400, "The request body is not valid JSON.")
    if not isinstance(data, dict):
        raise ApiError(400, "The request body must be a JSON object.")
    return data


def _price(data: dict[str, Any], name: str, label: str, currency: str | None):
    value = data.get(name)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, str | int | float):
        raise ApiError(422, f"'{name}' must be a decimal number (as a string) or null.")
    try:
        if isinstance(value, str):
            return publishing.parse_price(value, label, currency)
        return publishing.check_price(Decimal(str(value)), label, currency)
    except (ValueError, InvalidOperation) as exc:
        raise ApiError(422, str(exc)) from None


@bp.get("/store/products")
def store_products() -> Response:
    """The store's products by id, ``limit`` after ``after_id``, each with its publication
    (``published=true|false`` keeps the published or the unpublished ones)."""
    limit = int_arg("limit", 50, minimum=1, maximum=MAX_LIMIT)
    after = id_query_arg("after_id")
    published = choice_arg("published", ("true", "false"))
    store = _store()
    query = (
        select(MarketplaceProduct, Product)
        .outerjoin(
            Product,
            (Product.marketplace_product_id == MarketplaceProduct.id)
            & (Product.store_id == store.id),
        )
        .where(MarketplaceProduct.store_id == store.id)
        .order_by(MarketplaceProduct.id)
        .limit(limit + 1)
    )
    if after is not None:
        query = query.where(MarketplaceProduct.id > after)
    if published == "true":
        query = query.where(Product.id.is_not(None))
    elif published == "false":
        query = query.where(Product.id.is_(None))
    rows = db.session.execute(query).all()
    more = len(rows) > limit
    rows = rows[:limit]
    items = [
        {
            "id": source.id,
            "marketplace": source.marketplace,
            "marketplace_product_id": source.marketplace_product_id,
            "gtin": source.gtin,
            "price": _decimal_text(source.price, source.currency),
            "sale_price": _decimal_text(source.sale_price, source.currency),
            "currency": source.currency,
            "availability": source.availability,
            "quantity": source.quantity,
            "updated_at": iso(source.updated_at),
            "publication": _publication(product, source),
        }
        for source, product in rows
    ]
    return jsonify(
        {
            "items": items,
            "limit": limit,
            "next_after_id": items[-1]["id"] if more else None,
            "store": {"id": store.id, "code": store.code},
        }
    )


@bp.get("/store/products/<int:product_id>")
def store_product(product_id: int) -> Response:
    """One product: its data, translations, publication and recent import messages."""
    return jsonify(product_json(_product_or_404(product_id)))


@bp.put("/store/products/<int:product_id>/publication")
def store_publish_product(product_id: int) -> Response:
    """Publish the product (or replace its overrides)."""
    source = _product_or_404(product_id)
    data = _json_object()
    overrides = publishing.Overrides(
        price=_price(data, "price", "price", source.currency),
        sale_price=_price(data, "sale_price", "sale price", source.currency),
    )
    availability = data.get("availability")
    if availability is not None and not isinstance(availability, str):
        raise ApiError(422, "'availability' must be a string or null.")
    overrides.availability = availability or None
    is_active = data.get("is_active", True)
    if not isinstance(is_active, bool):
        raise ApiError(422, "'is_active' must be true or false.")
    overrides.is_active = is_active
    store = db.session.get(Store, source.store_id)
    try:
        publishing.publish(store, source, overrides)
    except publishing.PublishError as exc:
        db.session.rollback()
        raise ApiError(422, str(exc)) from None
    return jsonify(product_json(source))


# -- the contract -----------------------------------------------------------------------------

_PRICE = _nullable("string", description='A decimal number, e.g. "19.99".')
_PRODUCT_ID = {
    "name": "product_id",
    "in": "path",
    "required": True,
    "schema": _ID,
    "description": "The catalog id (`id`), not the feed's product id.",
}

SCHEMAS: dict[str, Any] = {
    "Publication": {
        "type": ["object", "null"],
        "description": "The product in the store's catalog; null when it is not published.",
        "additionalProperties": False,
        "required": [
            "price",
            "sale_price",
            "availability",
            "is_active",
            "effective_price",
            "published_at",
            "updated_at",
        ],
        "properties": {
            "price": {**_PRICE, "description": "The store's own price (null: as imported)."},
            "sale_price": _PRICE,
            "availability": _nullable("string", enum=[*publishing.AVAILABILITIES, None]),
            "is_active": {"type": "boolean"},
            "effective_price": _PRICE,
            "published_at": {"type": "string", "format": "date-time"},
            "updated_at": {"type": "string", "format": "date-time"},
        },
    },
    "PublicationRequest": {
        "type": "object",
        "description": "The store's overrides; an absent field is null (as imported), "
        "`is_active` defaults to true. The sale price (own, else imported) may not be above "
        "the price (own, else imported); prices are non-negative with the currency's "
        "decimals.",
        "properties": {
            "price": {"type": ["string", "number", "null"], "description": 'e.g. "19.99"'},
            "sale_price": {"type": ["string", "number", "null"]},
            "availability": _nullable("string", enum=[*publishing.AVAILABILITIES, None]),
            "is_active": {"type": "boolean", "default": True},
        },
    },
    "Product": {
        "type": "object",
        "additionalProperties": False,
        "required": [
            "id",
            "store",
            "marketplace",
            "marketplace_product_id",
            "price",
            "currency",
            "translations",
            "publication",
            "messages",
        ],
        "properties": {
            "id": {"type": "integer"},
            "store": _ref("Store"),
            "marketplace": {"type": "string"},
            "marketplace_product_id": {"type": "string"},
            "item_group_id": _nullable("string"),
            "gtin": _nullable("string"),
            "mpn": _nullable("string"),
            "brand": _nullable("string"),
            "price": _PRICE,
            "sale_price": _PRICE,
            "currency": _nullable("string"),
            "availability": _nullable("string"),
            "quantity": _nullable("integer"),
            "condition": _nullable("string"),
            "link": _nullable("string"),
            "image_link": _nullable("string"),
            "extra": _nullable("object", description="The feed's unmapped columns."),
            "last_import_job_id": _nullable("integer"),
            "updated_at": {"type": "string", "format": "date-time"},
            "translations": {
                "type": "array",
                "items": {
                    "type": "object",
                    "additionalProperties": False,
                    "required": ["language", "title", "description", "description_html"],
                    "properties": {
                        "language": {"type": "string"},
                        "title": {"type": "string"},
                        "description": _nullable("string", description="As the feed had it."),
                        "description_html": _nullable(
                            "string", description="Sanitised by an allow-list: safe to show."
                        ),
                    },
                },
            },
            "publication": _ref("Publication"),
            "messages": {
                "type": "array",
                "description": "What the store's recent imports said about this product id.",
                "items": {
                    "type": "object",
                    "additionalProperties": False,
                    "required": ["job_id", "severity", "error_type", "error_message"],
                    "properties": {
                        "job_id": {"type": "integer"},
                        "severity": {"type": "string"},
                        "error_type": {"type": "string"},
                        "row_number": _nullable("integer"),
                        "error_message": {"type": "string"},
                    },
                },
            },
        },
    },
}

SCHEMAS["ProductSummary"] = {
    "type": "object",
    "additionalProperties": False,
    "required": [
        "id",
        "marketplace",
        "marketplace_product_id",
        "price",
        "currency",
        "publication",
        "updated_at",
    ],
    "properties": {
        "id": {"type": "integer"},
        "marketplace": {"type": "string"},
        "marketplace_product_id": {"type": "string"},
        "gtin": _nullable("string"),
        "price": _PRICE,
        "sale_price": _PRICE,
        "currency": _nullable("string"),
        "availability": _nullable("string"),
        "quantity": _nullable("integer"),
        "updated_at": {"type": "string", "format": "date-time"},
        "publication": _ref("Publication"),
    },
}
SCHEMAS["ProductList"] = {
    "type": "object",
    "additionalProperties": False,
    "required": ["items", "limit", "next_after_id", "store"],
    "properties": {
        "items": {"type": "array", "items": _ref("ProductSummary"), "description": "By id."},
        "limit": {"type": "integer"},
        "next_after_id": _nullable(
            "integer", description="Pass it as `after_id` for the next page; null: the last."
        ),
        "store": _ref("Store"),
    },
}
_LIMIT = {"type": "integer", "minimum": 1, "maximum": MAX_LIMIT, "default": 50}
_STORE_ID = {
    "name": "store_id",
    "in": "query",
    "schema": _ID,
    "description": "Admins: the store (required). A store user's own store; another is 404.",
}

PATHS: dict[str, Any] = {
    "/store/products": {
        "get": _operation(
            "storeListProducts",
            "The store's products by id, a page at a time, each with its publication.",
            "store",
            {"200": _json(_ref("ProductList"), "One page."), **_errors(401, 404, 422, 429)},
            parameters=[
                _STORE_ID,
                {"name": "after_id", "in": "query", "schema": _ID},
                {"name": "limit", "in": "query", "schema": _LIMIT},
                {
                    "name": "published",
                    "in": "query",
                    "schema": {"type": "string", "enum": ["true", "false"]},
                    "description": "Only the published (true) or the unpublished (false) ones.",
                },
            ],
        )
    },
    "/store/products/{product_id}": {
        "get": _operation(
            "storeGetProduct",
            "One product of the store, with its translations and publication.",
            "store",
            {"200": _json(_ref("Product"), "The product."), **_errors(401, 404, 429)},
            parameters=[_PRODUCT_ID],
        )
    },
    "/store/products/{product_id}/publication": {
        "put": _operation(
            "storePublishProduct",
            "Publish the product with the store's overrides (or replace them).",
            "store",
            {
                "200": _json(_ref("Product"), "The product, published."),
                **_errors(400, 401, 404, 413, 415, 422, 429),
            },
            parameters=[_PRODUCT_ID],
            requestBody={
                "required": True,
                "content": {"application/json": {"schema": _ref("PublicationRequest")}},
            },
        )
    },
}

openapi.SCHEMAS.update(SCHEMAS)
openapi.PATHS.update(PATHS)
