"""What each marketplace of an account allows (its order actions, their arguments and valid
values), kept in Redis per account so that recording an action does not ask the marketplace
API every time.

The connector fetches the rules as plain JSON (``fetch_marketplaces_payload``) and reads them
(``parse_marketplace_rules``); this module keeps that JSON under
``<MERCATO_QUEUE_PREFIX>mercato:marketplace_rules:<account id>`` for :data:`TTL` seconds.
:func:`rules_for` serves the kept copy, fetching (and keeping) it when absent; :func:`refresh`
fetches it again now. With Redis down the rules are fetched directly (nothing kept).

A fetch that failed is remembered for :data:`FAILED_TTL` seconds: until then :func:`rules_for`
raises the same error at once instead of asking again, so a page that needs the rules while
the marketplace is down answers at once (and does not hammer it); :func:`refresh` asks anyway.
"""

from __future__ import annotations

import json
import logging
from typing import Any

from flask import current_app
from redis.exceptions import RedisError

from webapp.extensions import redis_connection

__all__ = ["FAILED_TTL", "TTL", "cache_key", "failed_key", "refresh", "rules_for", "summary"]

log = logging.getLogger(__name__)

TTL = 24 * 3600  # seconds: the rules change rarely (a marketplace adds a carrier, a reason)
FAILED_TTL = 60  # seconds a failed fetch is not tried again by rules_for


def cache_key(account) -> str:
    prefix = current_app.config.get("MERCATO_QUEUE_PREFIX", "")
    return f"{prefix}mercato:marketplace_rules:{account.id}"


def failed_key(account) -> str:
    return cache_key(account) + ":failed"


def _fetch(account, connector) -> dict:
    """Fetch the payload; a failure is remembered (:data:`FAILED_TTL`) and raised again."""
    from connectors.errors import ConnectorError

    try:
        return connector.fetch_marketplaces_payload()
    except ConnectorError as exc:
        try:
            redis_connection().set(failed_key(account), str(exc), ex=FAILED_TTL)
        except RedisError:
            pass
        raise


def _recent_failure(account) -> None:
    from connectors.errors import ConnectorError

    try:
        failed = redis_connection().get(failed_key(account))
    except RedisError:
        return
    if failed is not None:
        text = failed.decode() if isinstance(failed, bytes) else str(failed)
        raise ConnectorError(f"{text} (asked less than {FAILED_TTL} s ago; not asked again yet)")


def _connector(account, connector):
    if connector is not None:
        return connector
    from webapp.connector import connector_for

    return connector_for(account)


def _keep(account, payload: dict) -> None:
    try:
        redis_connection().set(cache_key(account), json.dumps(payload), ex=TTL)
    except RedisError as exc:
        log.warning("marketplace rules of account %s not cached (Redis: %s)", account.id, exc)


def _payload(account, connector) -> dict[str, Any]:
    try:
        raw = redis_connection().get(cache_key(account))
    except RedisError as exc:
        log.warning("marketplace rules cache unreachable (Redis: %s): fetching", exc)
        return connector.fetch_marketplaces_payload()
    if raw is not None:
        try:
            payload = json.loads(raw)
        except ValueError:
            payload = None
        if isinstance(payload, dict):
            return payload
    _recent_failure(account)
    payload = _fetch(account, connector)
    _keep(account, payload)
    return payload


def rules_for(account, connector=None):
    """The account's marketplace rules, parsed by its connector; None when the connector has
    no marketplace rules."""
    connector = _connector(account, connector)
    if not hasattr(connector, "fetch_marketplaces_payload"):
        return None
    return connector.parse_marketplace_rules(_payload(account, connector))


def refresh(account, connector=None):
    """Fetch the account's marketplace rules now and keep them (another TTL); the parsed rules
    (None when the connector has none)."""
    connector = _connector(account, connector)
    if not hasattr(connector, "fetch_marketplaces_payload"):
        return None
    payload = _fetch(account, connector)
    _keep(account, payload)
    try:
        redis_connection().delete(failed_key(account))
    except RedisError:
        pass
    return connector.parse_marketplace_rules(payload)


def summary(rules) -> dict[str, Any]:
    """``{"marketplaces": n, "actions": {code: [action types]}}`` for a CLI or a page."""
    rules = rules or {}
    return {
        "marketplaces": len(rules),
        "actions": {code: sorted(market.actions) for code, market in sorted(rules.items())},
    }
