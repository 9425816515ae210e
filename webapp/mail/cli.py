"""``flask mail send-test|list|send-due|resend``: customers' e-mail from a shell (the last
line is a JSON summary; ``list`` prints one JSON object per e-mail before it)."""

from __future__ import annotations

import getpass
import json

import click
from flask.cli import AppGroup
from sqlalchemy import select

from webapp.extensions import db
from webapp.mail import service
from webapp.models import MailMessage, Store

mail_cli = AppGroup("mail", help="E-mail to customers: test, list, send, resend.")


def _store(code: str) -> Store:
    store = db.session.scalar(select(Store).where(Store.code == code))
    if store is None:
        raise click.ClickException(f"No store {code!r}.")
    return store


def _by() -> str:
    return f"cli:{getpass.getuser()}"


@mail_cli.command("send-test")
@click.option("--store", "store_code", required=True)
@click.option("--to", "to", required=True, help="The address to send the test e-mail to.")
@click.option("--language", default=None, help="Template language (default: the store's).")
def send_test(store_code: str, to: str, language: str | None) -> None:
    """Send a test e-mail now, through MERCATO_SMTP_URL (exit 1 if it was not sent)."""
    store = _store(store_code)
    try:
        message = service.send_test(store, to, _by(), language)
    except ValueError as exc:
        raise click.ClickException(str(exc)) from exc
    summary = {**service.record(message), "smtp": service.smtp_shown()}
    click.echo(json.dumps(summary))
    if message.status != "sent":
        raise SystemExit(1)


@mail_cli.command("list")
@click.option("--store", "store_code", required=True)
@click.option("--status", default=None, type=click.Choice(list(service.STATUSES)))
@click.option("--kind", default=None)
@click.option("--limit", default=100, type=click.IntRange(1, 10000), show_default=True)
def list_mail(store_code: str, status, kind, limit: int) -> None:
    """The store's e-mail, newest first: one JSON object each, then the counts."""
    store = _store(store_code)
    shown = 0
    for message in db.session.scalars(service.messages_query(store.id, status, kind).limit(limit)):
        click.echo(json.dumps(service.record(message)))
        shown += 1
    click.echo(json.dumps({"shown": shown, "by_status": service.status_counts(store.id)}))


@mail_cli.command("send-due")
@click.option("--store", "store_code", default=None, help="One store (default: every store).")
def send_due(store_code: str | None) -> None:
    """Send what is due now, inline (what the worker does after each commit)."""
    from webapp.mail import sender

    if store_code:
        summary = sender.send_due(_store(store_code).id, trigger="cli")
    else:
        summary = sender.sweep()
    click.echo(json.dumps(summary))


@mail_cli.command("resend")
@click.argument("message_id", type=int)
def resend(message_id: int) -> None:
    """Send a failed, refused or in-doubt e-mail again now, or one more of a sent one."""
    from webapp.mail import sender

    message = db.session.get(MailMessage, message_id)
    if message is None:
        raise click.ClickException(f"No e-mail {message_id}.")
    result_id = service.resend(message, _by()).id
    sender.send_due(message.store_id, trigger="cli")
    db.session.expire_all()
    result = db.session.get(MailMessage, result_id)
    click.echo(json.dumps({**service.record(result), "resent_from": message_id}))
