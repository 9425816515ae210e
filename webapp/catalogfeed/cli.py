"""``flask catalog url --account ID [--rotate]``: an account's catalog feed URLs (the hub is
given one of them); the last line printed is JSON."""

from __future__ import annotations

import json

import click
from flask import current_app
from flask.cli import AppGroup

from webapp import catalogfeed
from webapp.extensions import db
from webapp.models import Account

catalog_cli = AppGroup("catalog", help="The catalog feeds the hubs read.")


@catalog_cli.command("url")
@click.option("--account", "account_id", required=True, type=int)
@click.option("--rotate", is_flag=True, help="A new token: the old URL is refused from now on.")
@click.option(
    "--app-url",
    default=None,
    help="Where web answers (default: http://127.0.0.1:$PORT).",
)
def catalog_url(account_id: int, rotate: bool, app_url: str | None) -> None:
    """Print the account's feed URLs (the secret token in full: give them to the hub only)."""
    account = db.session.get(Account, account_id) if 0 < account_id < 2**31 else None
    if account is None:
        raise click.ClickException(f"No account {account_id}.")
    if account.is_retired:
        raise click.ClickException(f"Account {account_id} is retired: it has no feed.")
    if rotate:
        catalogfeed.rotate(account, "cli")
        click.echo("Rotated: the previous URL is refused from now on.")
    base = (app_url or f"http://127.0.0.1:{current_app.config.get('PORT', 5000)}").rstrip("/")
    with current_app.test_request_context(base_url=base):
        record = catalogfeed.feed_json(account, reveal=True)
    click.echo(json.dumps({**record, "rotated": rotate}))
