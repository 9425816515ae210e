"""What operators type into the CLI: store codes and account ids, and secrets typed or piped
instead of given as arguments.

An argument shows in ``ps`` and lands in the shell's history: commands that take a secret
(``accounts add``, ``users create``, ``imports run`` with a feed password) ask for it with
a hidden prompt when standard input is a terminal, or read it from standard input, and
keep the argument for scripts with a warning in ``--help``.
"""

from __future__ import annotations

import json
import sys

import click
from sqlalchemy import select

from webapp.extensions import db
from webapp.models import Account, Store

ARGUMENT_WARNING = (
    "For scripts only: a value given on the command line shows in `ps` and in the shell's "
    "history. Prefer the hidden prompt (when standard input is a terminal) or {alternative}."
)


def stdin_is_terminal() -> bool:
    stream = sys.stdin
    try:
        return stream.isatty()
    except (AttributeError, ValueError):
        return False


def read_secrets(text: str) -> dict[str, str]:
    """Secrets from standard input: one JSON object, or KEY=VALUE lines (blank lines and
    ``#`` comments skipped; the value is everything after the first ``=``)."""
    stripped = text.strip()
    if stripped.startswith("{"):
        try:
            data = json.loads(stripped)
        except json.JSONDecodeError as exc:
            raise click.UsageError(f"standard input is not a valid JSON object: {exc}") from exc
        if not isinstance(data, dict) or not all(
            isinstance(v, str | int | float) and not isinstance(v, bool) for v in data.values()
        ):
            raise click.UsageError("the JSON object on standard input maps names to strings")
        return {str(k).strip(): str(v) for k, v in data.items()}
    result: dict[str, str] = {}
    for number, line in enumerate(text.splitlines(), start=1):
        line = line.rstrip("\r")
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        key, sep, value = line.partition("=")
        key = key.strip()
        if not sep or not key:
            # Never echo the line: it may be a secret pasted without its name.
            raise click.UsageError(f"standard input line {number} is not KEY=VALUE")
        if key in result:
            raise click.UsageError(f"standard input gives {key} twice")
        result[key] = value
    return result


def read_line(what: str) -> str:
    """The first line of standard input (for one secret, such as a password)."""
    line = sys.stdin.readline().rstrip("\r\n")
    if not line:
        raise click.UsageError(f"standard input is empty: expected {what} on its first line")
    return line


def store_or_fail(code: str) -> Store:
    """The store a command names; a ClickException (exit status 1) when there is none."""
    store = db.session.scalar(select(Store).where(Store.code == code))
    if store is None:
        raise click.ClickException(f"No store with code {code!r}.")
    return store


def account_or_fail(account_id: int) -> Account:
    """The account a command names; a ClickException (exit status 1) when there is none."""
    account = db.session.get(Account, account_id)
    if account is None:
        raise click.ClickException(f"No account {account_id}.")
    return account


def active_account_or_fail(account_id: int) -> Account:
    """For commands that act on an account: a retired one is refused until reinstated."""
    account = account_or_fail(account_id)
    if account.is_retired:
        raise click.ClickException(
            f"Account {account_id} ({account.name}) is retired; "
            f"run 'flask accounts reinstate {account_id}' first."
        )
    return account
