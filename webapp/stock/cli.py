"""``flask stock set|show|store-settings`` (``stock import`` is the stock-file flow's, in
:mod:`webapp.imports.stock_file`): the stock from a shell, by the rules of the pages and the
API; the last line printed is JSON (``show --format jsonl``: one object a line)."""

from __future__ import annotations

import json
import sys

import click
from flask.cli import AppGroup

from webapp.cli_input import store_or_fail
from webapp.stock import service

stock_cli = AppGroup("stock", help="A store's stock: quantities, reservations, availability.")


def _fail(exc: service.StockError) -> None:
    click.echo(f"Error: {exc}", err=True)
    click.echo(json.dumps({"error": str(exc), "field": exc.field}))
    sys.exit(1)


@stock_cli.command("set")
@click.option("--store", "store_code", required=True)
@click.option("--sku", required=True)
@click.option("--quantity", required=True, help="On hand, a whole number >= 0.")
@click.option("--warehouse", default=None, help="Warehouse code (default: the store's default).")
@click.option("--reason", default=None, help="Why, kept with the movement.")
def stock_set(store_code, sku, quantity, warehouse, reason) -> None:
    """Set the quantity on hand of a SKU (a manual movement, by "cli")."""
    store = store_or_fail(store_code)
    try:
        record = service.set_quantity(
            store, sku, quantity, warehouse=warehouse, reason=reason, actor="cli"
        )
    except service.StockError as exc:
        _fail(exc)
    click.echo(json.dumps(record))


@stock_cli.command("show")
@click.option("--store", "store_code", required=True)
@click.option("--sku", default=None, help="Only this SKU.")
@click.option("--format", "fmt", default="jsonl", type=click.Choice(["jsonl"]))
def stock_show(store_code, sku, fmt) -> None:
    """Per SKU: on_hand, reserved, available (an object keyed by account id); one a line."""
    store = store_or_fail(store_code)
    try:
        for row in service.iter_stock(store, sku):
            sys.stdout.write(json.dumps(row.as_dict()) + "\n")
    except service.StockError as exc:
        _fail(exc)


def _flag(value: str | None) -> bool | None:
    return None if value is None else value == "yes"


@stock_cli.command("store-settings")
@click.option("--store", "store_code", required=True)
@click.option("--feed-is-stock-source", type=click.Choice(["yes", "no"]), default=None)
@click.option("--restock-on-refund", type=click.Choice(["yes", "no"]), default=None)
def stock_store_settings(store_code, feed_is_stock_source, restock_on_refund) -> None:
    """Whether the product feed's quantity is the stock, and whether a refund after shipping
    puts the quantity back on hand; prints the settings."""
    store = store_or_fail(store_code)
    settings = service.update_store_settings(
        store,
        feed_is_stock_source=_flag(feed_is_stock_source),
        restock_on_refund=_flag(restock_on_refund),
    )
    click.echo(
        json.dumps(
            {
                "store": store.code,
                "feed_is_stock_source": settings.feed_is_stock_source,
                "restock_on_refund": settings.restock_on_refund,
            }
        )
    )
