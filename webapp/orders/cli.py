"""``flask orders import|export``."""

from __future__ import annotations

import json
import sys

import click
from flask.cli import AppGroup
from sqlalchemy import select
from sqlalchemy.orm import selectinload

from webapp.cli_input import active_account_or_fail
from webapp.extensions import db
from webapp.models import Order, Store
from webapp.models import runs as R
from webapp.models.base import money_text

orders_cli = AppGroup("orders", help="The unified order book.")


@orders_cli.command("import")
@click.option("--account", "account_id", required=True, type=int)
def import_(account_id: int) -> None:
    """Poll one account's orders inline, as an execution of its order-import feed; the last
    line printed is a JSON summary (exit 1 when it failed or the feed is already running)."""
    from webapp.orders.service import import_orders
    from webapp.runs.lifecycle import already_running

    account = active_account_or_fail(account_id)
    run = import_orders(account, trigger="cli")
    busy = run.status in R.ACTIVE_STATUSES  # the feed's execution running elsewhere
    if busy:
        click.echo(already_running(run), err=True)
    elif run.error_message:
        click.echo(f"Order import failed: {run.error_message}", err=True)
    summary = {
        "job_id": run.id,
        "feed_id": run.feed_id,
        "status": run.status,
        "fetched": run.total_processed,
        "created": run.imported_count,
        "updated": run.updated_count,
        "unchanged": run.unchanged_count,
        "parked": run.parked_count,
        "errors": run.error_count,
    }
    click.echo(json.dumps({**summary, "already_running": True} if busy else summary))
    if busy or run.status == R.FAILED:
        sys.exit(1)


@orders_cli.command("recheck")
@click.option("--account", "account_id", required=True, type=int)
def recheck(account_id: int) -> None:
    """Recheck the account's parked orders that are due; the last line is a JSON summary."""
    from webapp.orders.service import recheck_parked
    from webapp.runs.lifecycle import already_running

    run = recheck_parked(active_account_or_fail(account_id), trigger="cli")
    busy = run.status in R.ACTIVE_STATUSES  # the feed's execution running elsewhere
    if busy:
        click.echo(already_running(run), err=True)
    summary = {
        "job_id": run.id,
        "status": run.status,
        "checked": run.total_processed,
        "imported": run.imported_count,
        "still_parked": run.parked_count,
        "resolved": run.updated_count,
    }
    click.echo(json.dumps({**summary, "already_running": True} if busy else summary))
    if busy or run.status == R.FAILED:
        sys.exit(1)


@orders_cli.command("acks")
@click.option("--account", "account_id", required=True, type=int)
def acks(account_id: int) -> None:
    """Run the outbound step inline: send the account's owed merchant order ids (live) or
    record them as dry runs (test mode); the last line printed is a JSON summary."""
    from webapp.outbound import send_owed

    summary = send_owed(active_account_or_fail(account_id), trigger="cli")
    retry_at = summary["retry_at"]
    click.echo(json.dumps({**summary, "retry_at": retry_at and retry_at.isoformat()}))


@orders_cli.command("export")
@click.option("--store", "store_code", required=True)
@click.option("--format", "fmt", default="jsonl", type=click.Choice(["jsonl"]))
def export(store_code: str, fmt: str) -> None:
    """One JSON object per order of the store."""
    store = db.session.scalar(select(Store).where(Store.code == store_code))
    if store is None:
        raise click.ClickException(f"No store with code {store_code!r}.")
    query = (
        select(Order)
        .where(Order.store_id == store.id)
        .options(
            selectinload(Order.items),
            selectinload(Order.status_history),
            selectinload(Order.ack_calls),
        )
        .order_by(Order.id)
        .execution_options(yield_per=500)
    )
    for order in db.session.scalars(query):
        sys.stdout.write(
            json.dumps(
                {
                    "id": order.id,
                    "account_id": order.account_id,
                    "channel": order.channel,
                    "channel_order_id": order.channel_order_id,
                    "marketplace_status": order.marketplace_status,
                    "status": order.status,
                    "currency": order.currency,
                    "total": money_text(order.total),
                    "original_currency": order.original_currency,
                    "original_total": money_text(order.original_total),
                    "acknowledged": order.acknowledged,
                    "ack_state": order.ack_state,
                    "merchant_order_id": order.merchant_order_id,
                    "anonymized": order.anonymized,
                    "items": [
                        {
                            "sku": item.sku,
                            "quantity": item.quantity,
                            "unit_price": money_text(item.unit_price),
                            "matched": item.matched,
                        }
                        for item in order.items
                    ],
                    "status_history": [
                        {"from": h.from_status, "to": h.to_status, "at": h.created_at.isoformat()}
                        for h in order.status_history
                    ],
                },
                ensure_ascii=False,
            )
            + "\n"
        )
