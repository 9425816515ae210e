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

:func:`refresh_all` is the daily refresh (the global job ``refresh_marketplace_rules``,
scheduled by rq-scheduler as the other periodic jobs are): every account whose connector has
marketplace rules, live or in test mode, each on its own (one failing does not stop the
rest), logged; when each copy was fetched is kept next to it (:func:`cached_at`) and shown on
the account page and by ``flask orders rules refresh``.
"""

from __future__ import annotations

import json
import logging
from datetime import UTC, datetime
from typing import Any

from flask import current_app
from redis.exceptions import RedisError

from webapp.extensions import redis_connection

__all__ = [
    "FAILED_TTL",
    "TTL",
    "cache_key",
    "cached_at",
    "failed_key",
    "has_rules",
    "refresh",
    "refresh_all",
    "rules_for",
    "summary",
]

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


def _at_key(account) -> str:
    return f"{cache_key(account)}:at"


def _keep(account, payload: dict) -> None:
    now = datetime.now(UTC).replace(microsecond=0).isoformat().replace("+00:00", "Z")
    try:
        pipe = redis_connection().pipeline()
        pipe.set(cache_key(account), json.dumps(payload), ex=TTL)
        pipe.set(_at_key(account), now, ex=TTL)
        pipe.execute()
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


def cached_at(account) -> datetime | None:
    """When the kept copy of the account's rules was fetched (UTC, naive); None: none kept (or
    Redis unreachable)."""
    try:
        raw = redis_connection().get(_at_key(account))
    except RedisError:
        return None
    if raw is None:
        return None
    text = raw.decode() if isinstance(raw, bytes) else str(raw)
    try:
        return datetime.fromisoformat(text.replace("Z", "+00:00")).replace(tzinfo=None)
    except ValueError:
        return None


def has_rules(account) -> bool:
    """Whether the account's connector has marketplace rules (without building a client)."""
    from connectors import registry

    try:
        cls = registry.get(account.connector)
    except KeyError:
        return False
    return hasattr(cls, "fetch_marketplaces_payload")


def refresh_all() -> dict[str, Any]:
    """The daily refresh: the rules of every account that has them and is not retired, live
    or in test mode, fetched again and kept. One account failing (its marketplace down, its
    secrets wrong) is logged and counted; the others are refreshed all the same."""
    from sqlalchemy import select

    from webapp.extensions import db
    from webapp.models import Account

    accounts = [
        a
        for a in db.session.scalars(select(Account).order_by(Account.id))
        if not a.is_retired and has_rules(a)
    ]
    out: dict[str, Any] = {"refreshed": 0, "failed": 0, "accounts": {}}
    for account in accounts:
        try:
            rules = refresh(account)
        except Exception as exc:  # noqa: BLE001 - one account never stops the others
            out["failed"] += 1
            out["accounts"][str(account.id)] = {"error": f"{type(exc).__name__}: {exc}"}
            log.warning("job=refresh_marketplace_rules account_id=%s failed: %s", account.id, exc)
            continue
        out["refreshed"] += 1
        at = cached_at(account)
        out["accounts"][str(account.id)] = {
            "marketplaces": len(rules or {}),
            "cached_at": at.isoformat() + "Z" if at else None,
        }
        log.info(
            "job=refresh_marketplace_rules account_id=%s marketplaces=%s",
            account.id,
            len(rules or {}),
        )
    log.info(
        "job=refresh_marketplace_rules refreshed=%s failed=%s", out["refreshed"], out["failed"]
    )
    return out


def summary(rules) -> dict[str, Any]:
    """``{"marketplaces": n, "actions": {code: [action types]}}`` for a CLI or a page."""
    rules = rules or {}
    return {
        "marketplaces": len(rules),
        "actions": {code: sorted(market.actions) for code, market in sorted(rules.items())},
    }
