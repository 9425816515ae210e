"""``flask products export|show|publish|publish-many``: the catalog from a shell, with the same
rules as the pages and the API; the last line printed is JSON."""

from __future__ import annotations

import json
import sys

import click
from flask.cli import AppGroup
from sqlalchemy import select
from sqlalchemy.orm import selectinload

from webapp import csvsafe
from webapp.catalog import publishing
from webapp.catalog.serialize import product_json
from webapp.cli_input import store_or_fail
from webapp.extensions import db
from webapp.models import MarketplaceProduct, Store
from webapp.models.base import money_text

products_cli = AppGroup("products", help="Read a store's imported products.")


EXPORT_FIELDS = (
    "id",
    "title",
    "description",
    "price",
    "sale_price",
    "currency",
    "gtin",
    "availability",
    "brand",
    "link",
    "image_link",
    "item_group_id",
    "extra",
)


@products_cli.command("export")
@click.option("--store", "store_code", required=True)
@click.option(
    "--language",
    default=None,
    type=click.Choice(["fr", "en", "de"]),
    help="Titles in this language, falling back to fr, en, de.",
)
@click.option("--format", "fmt", default="jsonl", type=click.Choice(["jsonl", "csv"]))
def products_export(store_code: str, language: str | None, fmt: str) -> None:
    """Write the store's imported products to stdout."""
    store = store_or_fail(store_code)
    language = language or store.default_language
    query = (
        select(MarketplaceProduct)
        .where(MarketplaceProduct.store_id == store.id)
        .options(selectinload(MarketplaceProduct.translations))
        .order_by(MarketplaceProduct.id)
        .execution_options(yield_per=1000)
    )
    writer = None
    if fmt == "csv":
        writer = csvsafe.dict_writer(sys.stdout, EXPORT_FIELDS, lineterminator="\n")
        writer.writeheader()
    for product in db.session.scalars(query):
        translation = product.translation(language)
        record = {
            "id": product.marketplace_product_id,
            "title": translation.title if translation else None,
            "description": translation.description if translation else None,
            "price": money_text(product.price),
            "sale_price": money_text(product.sale_price),
            "currency": product.currency,
            "gtin": product.gtin,
            "availability": product.availability,
            "brand": product.brand,
            "link": product.link,
            "image_link": product.image_link,
            "item_group_id": product.item_group_id,
            "extra": product.extra or {},
        }
        if writer:
            record["extra"] = json.dumps(record["extra"], ensure_ascii=False)
            writer.writerow(record)
        else:
            sys.stdout.write(json.dumps(record, ensure_ascii=False) + "\n")


def _product(product_id: int) -> MarketplaceProduct:
    product = db.session.get(MarketplaceProduct, product_id)
    if product is None:
        raise click.ClickException(f"No product {product_id}.")
    return product


@products_cli.command("show")
@click.argument("product_id", type=int)
def show(product_id: int) -> None:
    """One product (catalog id): data, translations, publication, import messages."""
    click.echo(json.dumps(product_json(_product(product_id)), ensure_ascii=False))


@products_cli.command("digital")
@click.argument("product_id", type=int)
@click.option("--off", is_flag=True, help="Not digital (any more).")
def digital(product_id: int, off: bool) -> None:
    """Make a product (catalog id) digital: its orders' lines get keys from the store's pool
    (orders booked from now on)."""
    from webapp.digital import products

    source = _product(product_id)
    try:
        now = products.set_digital(source, not off)
    except products.NotChangeable as exc:
        raise click.ClickException(str(exc)) from None
    click.echo(
        json.dumps({"product_id": product_id, "sku": source.marketplace_product_id, "digital": now})
    )


@products_cli.command("publish")
@click.argument("product_id", type=int, required=False)
@click.option("--store", "store_code", default=None, help="With --all or --sku: the store.")
@click.option("--all", "every", is_flag=True, help="Every imported product of the store.")
@click.option("--sku", "skus", multiple=True, help="An imported product's id (repeatable).")
@click.option("--price", help="Your price (empty: the imported one), e.g. 19.99.")
@click.option("--sale-price", help="Your sale price, never above the price.")
@click.option(
    "--availability", type=click.Choice([*publishing.AVAILABILITIES]), help="Default: imported."
)
@click.option("--inactive", is_flag=True, help="In the catalog, but not active.")
def publish(
    product_id, store_code, every, skus, price, sale_price, availability, inactive: bool
) -> None:
    """Publish a product (catalog id PRODUCT_ID), or a store's products (--store with --all or
    --sku ...), with your overrides (or replace them)."""
    if product_id is None:
        _publish_store(store_code, every, skus, price, sale_price, availability, inactive)
        return
    if store_code or every or skus:
        raise click.UsageError("Give PRODUCT_ID, or --store with --all or --sku, not both.")
    source = _product(product_id)
    errors: dict[str, str] = {}
    overrides = publishing.Overrides(availability=availability, is_active=not inactive)
    for name, text, label in (("price", price, "price"), ("sale_price", sale_price, "sale price")):
        try:
            setattr(overrides, name, publishing.parse_price(text, label, source.currency))
        except ValueError as exc:
            errors[name] = str(exc)
    if not errors:
        try:
            publishing.publish(db.session.get(Store, source.store_id), source, overrides)
        except publishing.PublishError as exc:
            db.session.rollback()
            errors = exc.errors
    if errors:
        for message in errors.values():
            click.echo(f"Error: {message}", err=True)
        click.echo(json.dumps({"product_id": product_id, "refused": errors}))
        sys.exit(1)
    click.echo(json.dumps(product_json(source)["publication"]))


def _publish_store(store_code, every, skus, price, sale_price, availability, inactive) -> None:
    """Every product asked (by its feed id, or all of the store's), each with the same
    overrides; a refusal is reported and the others are published. Exit 1 on any refusal."""
    if not store_code or every == bool(skus):
        raise click.UsageError("Give --store with either --all or --sku SKU (repeatable).")
    store = store_or_fail(store_code)
    query = select(MarketplaceProduct).where(MarketplaceProduct.store_id == store.id)
    if skus:
        query = query.where(MarketplaceProduct.marketplace_product_id.in_(sorted(set(skus))))
    found = list(db.session.scalars(query.order_by(MarketplaceProduct.id)))
    known = {mp.marketplace_product_id for mp in found}
    unknown = sorted(set(skus) - known)
    published, refused = 0, {}
    for source in found:
        overrides = publishing.Overrides(availability=availability, is_active=not inactive)
        try:
            overrides.price = publishing.parse_price(price, "price", source.currency)
            overrides.sale_price = publishing.parse_price(sale_price, "sale price", source.currency)
            publishing.publish(store, source, overrides)
            published += 1
        except (ValueError, publishing.PublishError) as exc:
            db.session.rollback()
            text = " ".join(exc.errors.values()) if hasattr(exc, "errors") else str(exc)
            refused[source.marketplace_product_id] = text
            click.echo(f"{source.marketplace_product_id}: {text}", err=True)
    for sku in unknown:
        click.echo(f"{sku}: no imported product with this id", err=True)
    click.echo(json.dumps({"published": published, "refused": refused, "unknown": unknown}))
    if refused or unknown:
        sys.exit(1)


@products_cli.command("publish-many")
@click.option("--store", "store_code", required=True)
@click.argument("product_ids", nargs=-1, required=True)
def publish_many(store_code: str, product_ids: tuple[str, ...]) -> None:
    """Publish products (catalog ids) as imported; each refusal is reported, the others are
    published. Exit status 1 when any was refused or not found."""
    result = publishing.publish_many(store_or_fail(store_code), list(product_ids))
    for identifier, reason in result.refused.items():
        click.echo(f"{identifier}: {reason}", err=True)
    click.echo(json.dumps(result.as_dict()))
    if result.refused or result.unknown:
        sys.exit(1)
