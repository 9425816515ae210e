"""``flask orders import|recheck|acks|ship|action|actions send|export|rules refresh|
fulfil-digital``."""

from __future__ import annotations

import json
import sys

import click
from flask.cli import AppGroup
from sqlalchemy import select

from webapp.cli_input import active_account_or_fail
from webapp.extensions import db
from webapp.models import Order, Store
from webapp.models import runs as R

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


def _lines(values) -> list | None:
    """--line REF[:QTY] values as [(REF, QTY or None)]; None when none was given."""
    if not values:
        return None
    lines = []
    for value in values:
        ref, sep, qty = value.rpartition(":")
        if not sep or not qty.strip().lstrip("-").isdigit():
            ref, qty = value, None
        lines.append((ref, int(qty) if qty is not None else None))
    return lines


def _args(values) -> dict:
    args = {}
    for value in values:
        key, sep, val = value.partition("=")
        if not sep or not key.strip():
            raise click.UsageError(f"--arg takes KEY=VALUE, not {value!r}.")
        args[key.strip()] = val
    return args


def _order_or_fail(order_id: int) -> Order:
    order = db.session.get(Order, order_id)
    if order is None:
        click.echo(f"No order with id {order_id}.", err=True)
        sys.exit(1)
    return order


def _print_recorded(order: Order, action_type: str, done) -> None:
    from webapp.orders.records import recorded

    click.echo(json.dumps(recorded(order, action_type, done)))


@orders_cli.command("ship")
@click.argument("order_id", type=int)
@click.option("--carrier", required=True, help="The marketplace's carrier code.")
@click.option("--carrier-name", default=None, help="Free text, where the marketplace allows it.")
@click.option("--tracking", default=None, help="The tracking number.")
@click.option("--tracking-url", default=None)
@click.option("--line", "lines", multiple=True, help="REF[:QTY]: a line id, or a SKU of one line.")
@click.option("--arg", "args", multiple=True, help="KEY=VALUE: a marketplace argument.")
def ship(order_id, carrier, carrier_name, tracking, tracking_url, lines, args) -> None:
    """Record a shipment of an order and the ship action that tells the marketplace (sent
    by the one sender; a dry run in test mode). The same tracking again records nothing.
    The last line is a JSON summary; a refusal exits 1 with the reason on stderr."""
    from webapp.orders.fulfilment import Refused, record_shipment

    order = _order_or_fail(order_id)
    try:
        done = record_shipment(
            order,
            carrier,
            carrier_name,
            tracking,
            tracking_url,
            _lines(lines),
            _args(args),
            by="cli",
        )
    except Refused as exc:
        for problem in exc.problems:
            click.echo(problem, err=True)
        sys.exit(1)
    _print_recorded(order, "ship", done)


@orders_cli.command("action")
@click.argument("order_id", type=int)
@click.argument("action_type")
@click.option("--line", "lines", multiple=True, help="REF[:QTY]: a line id, or a SKU of one line.")
@click.option("--arg", "args", multiple=True, help="KEY=VALUE: a marketplace argument.")
def action(order_id, action_type, lines, args) -> None:
    """Record an order action (accept, refuse, cancel, partial_cancel, refund or another the
    marketplace offers) and the call that sends it. The last line is a JSON summary; a
    refusal exits 1 with the reason on stderr."""
    from webapp.orders.fulfilment import Refused, record_action

    order = _order_or_fail(order_id)
    try:
        done = record_action(order, action_type, _lines(lines), _args(args), by="cli")
    except Refused as exc:
        for problem in exc.problems:
            click.echo(problem, err=True)
        sys.exit(1)
    _print_recorded(order, done.actions[0].type if done.actions else action_type, done)


actions_cli = AppGroup("actions", help="Order actions owed to the marketplaces.")
orders_cli.add_command(actions_cli)


@actions_cli.command("send")
@click.option("--account", "account_id", required=True, type=int)
@click.option(
    "--wait",
    type=click.FloatRange(min=0),
    default=0,
    show_default=True,
    help="Seconds to follow the actions' states until none is queued.",
)
def actions_send(account_id: int, wait: float) -> None:
    """Send what the account owes (the one sender; dry runs in test mode) as an execution of
    its shipping confirmation feed, then read the marketplace's actions back, again every
    few seconds until none is queued or WAIT is over. The last line is a JSON summary
    {"sent", "processed", "failed", "queued", "dry_run", ...}; exit 1 when the feed cannot
    run or an execution failed."""
    from webapp.orders.shipping import FollowError, send_and_follow

    account = active_account_or_fail(account_id)
    try:
        summary = send_and_follow(account, wait=wait, trigger="cli")
    except FollowError as exc:
        click.echo(str(exc), err=True)
        sys.exit(1)
    if summary["status"] == R.FAILED:
        click.echo(f"Execution #{summary['run_ids'][-1]} failed; see its page.", err=True)
    click.echo(json.dumps(summary))
    if summary["status"] == R.FAILED:
        sys.exit(1)


rules_cli = AppGroup("rules", help="What each marketplace lets an order do (cached a day).")
orders_cli.add_command(rules_cli)


@rules_cli.command("refresh")
@click.option("--account", "account_id", type=int, help="One account (else --all).")
@click.option(
    "--all", "every", is_flag=True, help="Every account with marketplace rules (the daily job)."
)
def rules_refresh(account_id: int | None, every: bool) -> None:
    """Fetch the account's marketplace rules now and keep them for a day; the last line is a
    JSON summary (marketplaces, the actions of each, when they were fetched). Exit 1 when they
    cannot be fetched. With --all, every account's, each on its own (exit 1 if one failed)."""
    from connectors.errors import ConnectorError
    from webapp.orders import marketplace_rules

    if every == (account_id is not None):
        raise click.UsageError("Give exactly one of --account or --all.")
    if every:
        result = marketplace_rules.refresh_all()
        for key, entry in result["accounts"].items():
            if "error" in entry:
                click.echo(f"Account {key}: {entry['error']}", err=True)
        click.echo(json.dumps(result))
        sys.exit(1 if result["failed"] else 0)
    account = active_account_or_fail(account_id)
    try:
        rules = marketplace_rules.refresh(account)
    except ConnectorError as exc:
        click.echo(f"The marketplace rules could not be fetched: {exc}", err=True)
        sys.exit(1)
    if rules is None:
        click.echo(f"Account {account.id}'s connector has no marketplace rules.", err=True)
        sys.exit(1)
    summary = marketplace_rules.summary(rules)
    at = marketplace_rules.cached_at(account)
    click.echo(
        json.dumps(
            {
                "account_id": account.id,
                **summary,
                "ttl": marketplace_rules.TTL,
                "cached_at": at.isoformat() + "Z" if at else None,
            }
        )
    )


@orders_cli.command("fulfil-digital")
@click.argument("order_id", type=int)
def fulfil_digital(order_id: int) -> None:
    """Give the order's digital lines their keys now (pool, then purchases), inline; prints
    each digital line with its state and its keys masked, then a JSON summary."""
    from webapp.digital import fulfil

    order = _order_or_fail(order_id)
    if not fulfil.digital_lines(order.id):
        raise click.ClickException(f"Order {order_id} has no digital line.")
    if order.status not in fulfil.FULFILLABLE:
        raise click.ClickException(
            f"Order {order_id} is {order.status}: not valid for fulfilment "
            f"({', '.join(fulfil.FULFILLABLE)})."
        )
    summary = fulfil.fulfil_now(order, trigger="cli")
    db.session.expire_all()
    lines = fulfil.digital_lines(order_id)
    for line in lines:
        click.echo(json.dumps(line, ensure_ascii=False))
    states = [line["key_state"] for line in lines]
    click.echo(json.dumps({"order_id": order_id, "key_states": states, **summary}))


@orders_cli.command("export")
@click.option("--store", "store_code", required=True)
@click.option("--format", "fmt", default="jsonl", type=click.Choice(["jsonl"]))
def export(store_code: str, fmt: str) -> None:
    """One JSON object per order of the store."""
    store = db.session.scalar(select(Store).where(Store.code == store_code))
    if store is None:
        raise click.ClickException(f"No store with code {store_code!r}.")
    from webapp.orders.records import order_record, with_fulfilment

    query = (
        select(Order)
        .where(Order.store_id == store.id)
        .options(*with_fulfilment())
        .order_by(Order.id)
        .execution_options(yield_per=500)
    )
    for order in db.session.scalars(query):
        sys.stdout.write(json.dumps(order_record(order), ensure_ascii=False) + "\n")
