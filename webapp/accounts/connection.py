""" "Test connection": the account's connector makes one small authenticated call.

What the call is belongs to the connector (``Connector.probe_connection`` in each package
under ``connectors/``); here it is built for the account with short timeouts and a single
attempt, because a person is waiting for the answer, and the result is handed to the page.
The account's secrets never appear in it.
"""

from __future__ import annotations

from flask import current_app

from connectors import registry
from connectors.base import ConnectionResult
from connectors.egress import parse_allowlist
from connectors.errors import redact
from webapp.models import Account

__all__ = ["ConnectionResult", "check_connection"]


def check_connection(account: Account) -> ConnectionResult:
    """Never raises for a marketplace problem: the answer says what went wrong."""
    secrets: dict[str, str] = {}
    try:
        secrets = account.secrets()
        cls = registry.get(account.connector)
        connector = cls.create(
            account.id,
            account.settings,
            secrets,
            allow=parse_allowlist(current_app.config["MERCATO_OUTBOUND_ALLOW"]),
            connect_timeout=5,
            read_timeout=15,
            max_attempts=1,
        )
    except KeyError:
        return ConnectionResult(False, f"No connector {account.connector} is installed.")
    except ValueError as exc:  # settings incomplete, or secrets unreadable with today's keys
        return ConnectionResult(False, redact(str(exc), secrets.values()))
    try:
        return connector.test_connection()
    finally:
        connector.http.close()
