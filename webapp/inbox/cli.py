"""``flask inbox list|resolve|retry|rematch``: the error inbox from a shell.

Each command's last line is a JSON summary (``list --format json`` prints one JSON line per
entry before it)."""

from __future__ import annotations

import getpass
import json

import click
from flask.cli import AppGroup
from sqlalchemy import select

from webapp.extensions import db
from webapp.inbox import retry, service
from webapp.models import Message, Store

inbox_cli = AppGroup("inbox", help="The error inbox: what needs a person.")


def _store(code: str) -> Store:
    store = db.session.scalar(select(Store).where(Store.code == code))
    if store is None:
        raise click.ClickException(f"No store {code!r}.")
    return store


def _by(by: str | None) -> str:
    return by or f"cli:{getpass.getuser()}"


@inbox_cli.command("list")
@click.option("--store", "store_code", help="One store (default: every store).")
@click.option("--cause", default="", help="One cause, e.g. unknown_sku.")
@click.option("--account", "account_id", type=int, help="One account's messages.")
@click.option(
    "--severity",
    default="error",
    type=click.Choice(list(service.SEVERITIES)),
    show_default=True,
    help="error: needs a person; retry: still retried by itself; open: both.",
)
@click.option("--age", default="", type=click.Choice(["", *service.AGES]))
@click.option("--page", default=1, type=click.IntRange(min=1))
@click.option("--limit", default=service.PER_PAGE, type=click.IntRange(1, 1000))
@click.option("--format", "fmt", default="table", type=click.Choice(["table", "json"]))
def list_entries(store_code, cause, account_id, severity, age, page, limit, fmt) -> None:
    """Open messages, newest first, with the count of each cause."""
    store = _store(store_code) if store_code else None
    filters = service.Filters(cause, account_id, severity, age)
    scope = store.id if store else None
    listing = service.entries(scope, filters, page, limit)
    for record in service.records(listing.items):
        if fmt == "json":
            click.echo(json.dumps(record, ensure_ascii=False))
        else:
            subject = record["subject"]
            waiting = record["orders_waiting"]
            click.echo(
                f"#{record['id']:<7} {record['created_at']} {record['store']['code']:<10} "
                f"{record['cause']:<16} {subject['type']} {subject['identifier'] or subject['id']}"
                + (f" ({waiting} orders waiting)" if waiting is not None else "")
                + f": {record['message']}"
            )
    click.echo(
        json.dumps(
            {
                "total": listing.total,
                "page": listing.page,
                "pages": listing.pages,
                "causes": service.cause_counts(scope, filters),
            }
        )
    )


def _messages(ids: tuple[int, ...]) -> list[Message]:
    found = list(db.session.scalars(select(Message).where(Message.id.in_(ids))))
    missing = sorted(set(ids) - {m.id for m in found})
    if missing:
        raise click.ClickException(f"No message {', '.join(map(str, missing))}.")
    return found


@inbox_cli.command("resolve")
@click.argument("message_ids", nargs=-1, type=int, required=True)
@click.option("--by", help="Who resolves them (default cli:<OS user>).")
def resolve(message_ids: tuple[int, ...], by: str | None) -> None:
    """Mark messages resolved."""
    _messages(message_ids)
    count = service.resolve(list(message_ids), _by(by))
    click.echo(json.dumps({"resolved": count, "already": len(set(message_ids)) - count}))


@inbox_cli.command("retry")
@click.argument("message_ids", nargs=-1, type=int, required=True)
@click.option("--by", help="Who retries them (default cli:<OS user>).")
def retry_entries(message_ids: tuple[int, ...], by: str | None) -> None:
    """Retry messages now, inline (unknown SKUs: look them up in the catalog again)."""
    _messages(message_ids)
    click.echo(json.dumps(retry.retry_ids(list(message_ids), _by(by))))


@inbox_cli.command("rematch")
@click.option("--store", "store_code", required=True)
def rematch(store_code: str) -> None:
    """Match the store's waiting order lines to its catalog again (after a bulk change)."""
    from webapp.orders import matching

    store = _store(store_code)
    click.echo(json.dumps(matching.rematch(store.id, by=f"cli:{getpass.getuser()}")))
