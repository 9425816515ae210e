""" "Test connection": one small authenticated call to the account's marketplace.

It goes through the connector's own HTTP layer (the outbound guard, the token provider,
redaction), with short timeouts and a single attempt: a person is waiting for the answer.
The outcome is a sentence fit for a page; the account's secrets never appear in it.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

from flask import current_app

from connectors import registry
from connectors.egress import parse_allowlist
from connectors.errors import ConnectorError, redact
from webapp.models import Account


@dataclass(frozen=True)
class ConnectionResult:
    ok: bool
    message: str


def _probe_lengow(connector) -> str:
    """A token from the access token and secret, then one order of the account."""
    page = connector.http.request(
        "GET",
        "/v3.0/orders/",
        params={"account_id": connector.config["account_id"], "page_size": 1},
    )
    count = page.get("count") if isinstance(page, dict) else None
    found = f" ({count} orders visible)" if isinstance(count, int) else ""
    return f"Lengow accepted the credentials for account {connector.config['account_id']}{found}."


def _probe_letzshop(connector) -> str:
    """The orders query, one order long (GraphQL errors come back as RequestRejected)."""
    from connectors.letzshop import ORDERS_QUERY
    from connectors.pagination import iter_graphql_cursor

    since = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    pages = iter_graphql_cursor(
        connector.http, connector.base_url, ORDERS_QUERY, {"first": 1, "since": since}, "orders"
    )
    next(pages, None)
    pages.close()
    return "Letzshop answered the orders query with this API token."


PROBES = {"lengow": _probe_lengow, "letzshop": _probe_letzshop}


def check_connection(account: Account) -> ConnectionResult:
    """Never raises for a marketplace problem: the answer says what went wrong."""
    probe = PROBES.get(account.connector)
    if probe is None:
        return ConnectionResult(False, f"No connection test for {account.connector}.")
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
        try:
            return ConnectionResult(True, probe(connector))
        finally:
            connector.http.close()
    except ConnectorError as exc:
        message = str(exc)
    except ValueError as exc:  # settings incomplete, or secrets unreadable with today's keys
        message = str(exc)
    return ConnectionResult(False, redact(message, secrets.values()))
