"""``flask accounts ...``: operators add, list, retire and reinstate connector accounts."""

from __future__ import annotations

import json
import sys

import click
from flask.cli import AppGroup
from sqlalchemy import select

from webapp.accounts import AccountError, connector_class, create_account, masked
from webapp.cli_input import (
    ARGUMENT_WARNING,
    account_or_fail,
    active_account_or_fail,
    read_secrets,
    stdin_is_terminal,
)
from webapp.extensions import db
from webapp.models import Account, Store
from webapp.outbound import OwedChanged, default_actor, go_live, go_test, owed, send_owed

accounts_cli = AppGroup("accounts", help="Connector accounts (Lengow, Letzshop...).")


def _pairs(values: tuple[str, ...], what: str) -> dict[str, str]:
    result = {}
    for item in values:
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            shown = "that value (not shown)" if what == "secret" else repr(item)
            raise click.UsageError(f"--{what} takes KEY=VALUE, not {shown}")
        result[key.strip()] = value
    return result


@accounts_cli.command("add")
@click.option("--store", "store_code", required=True)
@click.option("--connector", required=True, help="codeswholesale, lengow or letzshop")
@click.option("--name", required=True)
@click.option("--setting", "settings", multiple=True, help="KEY=VALUE, e.g. account_id=5622")
@click.option(
    "--secret",
    "secrets",
    multiple=True,
    metavar="KEY=VALUE",
    help="Stored encrypted. " + ARGUMENT_WARNING.format(alternative="--secrets-from-stdin"),
)
@click.option(
    "--secrets-from-stdin",
    is_flag=True,
    help="Read the secrets from standard input: KEY=VALUE lines, or one JSON object "
    '({"access_token": "...", "secret": "..."}).',
)
@click.option("--live", is_flag=True, help="Live from the start (not in test mode).")
def add(store_code, connector, name, settings, secrets, secrets_from_stdin, live) -> None:
    """Add an account; the last line printed is its id.

    Secrets: typed at the prompt (hidden) when run in a terminal, or piped with
    --secrets-from-stdin, e.g. `flask accounts add ... --secrets-from-stdin < lengow.env`.
    """
    store = db.session.scalar(select(Store).where(Store.code == store_code))
    if store is None:
        raise click.ClickException(f"No store with code {store_code!r}.")
    try:
        cls = connector_class(connector)
    except AccountError as exc:
        raise click.ClickException(str(exc)) from exc
    given = gather_secrets(
        cls.all_settings(), _pairs(secrets, "secret"), from_stdin=secrets_from_stdin
    )
    try:
        account = create_account(
            store,
            connector,
            name,
            settings=_pairs(settings, "setting"),
            secrets=given,
            live=live,
            by=default_actor(),
        )
    except AccountError as exc:
        hint = ""
        if not secrets_from_stdin and not stdin_is_terminal():
            hint = " (give secrets with --secrets-from-stdin, or run in a terminal to be asked)"
        raise click.ClickException(f"{exc}{hint}") from exc
    click.echo(json.dumps(masked(account)), err=True)
    click.echo(account.id)


def gather_secrets(declared, given: dict[str, str], *, from_stdin: bool) -> dict[str, str]:
    """The secrets to store: ``--secret`` pairs, then standard input, then (in a terminal)
    a hidden prompt for each declared secret still missing (optional ones may stay empty)."""
    secrets = dict(given)
    if from_stdin:
        for key, value in read_secrets(sys.stdin.read()).items():
            if key in secrets:
                raise click.UsageError(f"{key} is given both by --secret and on standard input")
            secrets[key] = value
    elif stdin_is_terminal():
        for setting in declared:
            if not setting.secret or str(secrets.get(setting.name) or "").strip():
                continue
            label = f"{setting.label} ({setting.name})"
            if setting.required:
                secrets[setting.name] = click.prompt(label, hide_input=True, err=True)
            else:
                value = click.prompt(
                    f"{label}, optional", hide_input=True, default="", show_default=False, err=True
                )
                if value:
                    secrets[setting.name] = value
    return secrets


@accounts_cli.command("list")
@click.option("--store", "store_code")
@click.option("--all", "include_retired", is_flag=True, help="Include retired accounts.")
def list_accounts(store_code, include_retired) -> None:
    """One JSON object per account, secrets masked."""
    query = select(Account).order_by(Account.id)
    if store_code:
        query = query.join(Store).where(Store.code == store_code)
    if not include_retired:
        query = query.where(Account.retired_at.is_(None))
    for account in db.session.scalars(query):
        click.echo(json.dumps(masked(account)))


@accounts_cli.command("retire")
@click.argument("account_id", type=int)
def retire(account_id: int) -> None:
    """Never poll or schedule this account again, until it is reinstated."""
    account = account_or_fail(account_id)
    account.retire()
    db.session.commit()
    _reschedule(account)
    click.echo(json.dumps(masked(account)))


@accounts_cli.command("reinstate")
@click.argument("account_id", type=int)
def reinstate(account_id: int) -> None:
    account = account_or_fail(account_id)
    account.reinstate()
    db.session.commit()
    _reschedule(account)
    click.echo(json.dumps(masked(account)))


def _reschedule(account: Account) -> None:
    """A retired account's feeds leave the scheduler at once; reinstated, they come back."""
    from webapp.feeds.schedule import feeds_of_account, reconcile_quietly

    reconcile_quietly(feeds_of_account(account))


def _send_now(account: Account) -> dict:
    """The outbound step, inline: a live account sends what is owed, a test-mode one records
    it as dry runs. What fails is sent again by the sender when its backoff ends."""
    summary = send_owed(account, trigger="cli")
    if summary["failed"] or summary["deferred"]:
        click.echo(
            f"{summary['failed'] + summary['deferred']} call(s) not sent; they are retried from "
            f"{summary['retry_at']:%Y-%m-%d %H:%M} UTC (or run 'flask orders acks').",
            err=True,
        )
    return summary


def _sent(summary: dict) -> dict:
    return {key: summary[key] for key in ("sent", "failed", "deferred", "dry_run")}


@accounts_cli.command("live")
@click.argument("account_id", type=int)
@click.option("--by", help="Who switches it (default: the OS user).")
@click.option("--yes", is_flag=True, help="Do not ask for confirmation (scripts).")
@click.option(
    "--discard-owed",
    is_flag=True,
    help="Discard what test mode recorded instead of sending it (recorded as discarded).",
)
def live(account_id: int, by: str | None, yes: bool, discard_owed: bool) -> None:
    """Go live: changes on the marketplace are sent from now on. First shows what test mode
    recorded and did not send (per kind of call: count, oldest), then asks: the owed calls
    are sent now, once, or with --discard-owed never sent. The last line is a JSON summary;
    declined, nothing changes and the exit status is 1."""
    account = active_account_or_fail(account_id)
    by = by or default_actor()
    result = {
        "account_id": account.id,
        "mode": account.mode,
        "changed": False,
        "confirmed": False,
        "choice": None,
        "owed_total": 0,
        "owed": {},
        "released": 0,
        "discarded": 0,
    }
    if account.is_live:
        click.echo(f"Account {account.id} ({account.name}) is live already.")
        summary = _send_now(account)  # whatever a live account owes, as the step would
        click.echo(json.dumps({**result, "confirmed": True, **_sent(summary)}))
        return
    shown = owed(account)
    click.echo(f"Account {account.id} ({account.name}, {account.connector}) is in test mode.")
    for line in shown.lines():
        click.echo(line)
    result.update(owed_total=shown.total, owed=shown.as_json())
    if not yes:
        fate = "discarded: never sent" if discard_owed else "sent now, once"
        question = f"Go live? The {shown.total} owed call(s) are {fate}."
        if not shown.total:
            question = "Go live? Nothing is owed; changes are sent from now on."
        try:
            confirmed = click.confirm(question, default=False)
        except click.Abort:  # no answer at all (end of input): the prompt's line ends here
            click.echo()
            click.echo("No answer: pass --yes to go live from a script.", err=True)
            confirmed = False
        if not confirmed:
            click.echo("Not confirmed: the account stays in test mode.", err=True)
            click.echo(json.dumps({**result, "sent": 0, "failed": 0, "deferred": 0, "dry_run": 0}))
            sys.exit(1)
    try:
        went = go_live(account, by=by, discard=discard_owed, expected=None if yes else shown.token)
    except OwedChanged as exc:
        raise click.ClickException(f"{exc} Nothing changed; run the command again.") from exc
    result.update(
        mode=account.mode,
        changed=went.changed,
        confirmed=True,
        choice=went.choice,
        owed_total=went.owed.total,
        owed=went.owed.as_json(),
        released=went.released,
        discarded=went.discarded,
    )
    if went.discarded:
        click.echo(f"{went.discarded} owed call(s) discarded: they are never sent.")
    summary = _send_now(account)
    click.echo(json.dumps({**result, **_sent(summary)}))


@accounts_cli.command("test")
@click.argument("account_id", type=int)
@click.option("--by", help="Who switches it (default: the OS user).")
def test_mode(account_id: int, by: str | None) -> None:
    """Back to test mode: orders still come in; changes on the marketplace are only
    recorded (dry runs) until the account goes live again."""
    account = active_account_or_fail(account_id)
    changed = go_test(account, by=by or default_actor())
    summary = _send_now(account)  # a test-mode account sends nothing: owed calls wait
    click.echo(
        json.dumps(
            {"account_id": account.id, "mode": account.mode, "changed": changed, **_sent(summary)}
        )
    )


@accounts_cli.command("stock-settings")
@click.argument("account_id", type=int)
@click.option("--safety-stock", default=None, help="Units kept back from every channel.")
@click.option("--oos-threshold", default=None, help="At or below it, the SKU is out of stock.")
@click.option("--zero-stock", type=click.Choice(["send", "hold"]), default=None)
@click.option("--strategy", type=click.Choice(["realtime", "scheduled", "manual"]), default=None)
@click.option("--interval", default=None, help="Minutes between pushes when scheduled.")
def stock_settings(account_id, safety_stock, oos_threshold, zero_stock, strategy, interval) -> None:
    """Print (and with options change) the account's stock rules. ``realtime`` sends each
    change within seconds; ``scheduled`` every ``--interval`` minutes; ``manual`` on Run now."""
    from webapp.stock import service as stock

    account = account_or_fail(account_id)
    try:
        config = stock.update_settings(
            account,
            safety_stock=safety_stock,
            oos_threshold=oos_threshold,
            zero_stock=zero_stock,
            strategy=strategy,
            interval_minutes=interval,
        )
    except stock.StockError as exc:
        click.echo(f"Error: {exc}", err=True)
        click.echo(json.dumps({"error": str(exc), "field": exc.field}))
        sys.exit(1)
    click.echo(json.dumps(config.as_dict()))
