"""An account's connector, ready to call its marketplace: the connector class the account
names, given its settings, its secrets and the app's outbound settings (the egress allowlist,
the retry backoff). Order polls, rechecks and outbound sends all build it here.
"""

from __future__ import annotations

from flask import current_app

from connectors import registry
from connectors.egress import parse_allowlist
from webapp.models import Account


def connector_for(account: Account):
    cls = registry.get(account.connector)
    config = current_app.config
    return cls.create(
        account.id,
        account.settings,
        account.secrets(),
        allow=parse_allowlist(config["MERCATO_OUTBOUND_ALLOW"]),
        backoff_base=config.get("MERCATO_CONNECTOR_BACKOFF_BASE", 1.0),
        max_retry_after=config.get("MERCATO_CONNECTOR_MAX_RETRY_AFTER", 120.0),
        # Tests shorten how long an answer is awaited (a marketplace that never answers).
        **({"read_timeout": t} if (t := config.get("MERCATO_CONNECTOR_READ_TIMEOUT")) else {}),
    )
