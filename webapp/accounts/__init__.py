"""A store's connector accounts: creation with validated settings, retirement; their pages in
``routes`` (blueprint ``accounts``: /store/<code>/accounts...)."""

from __future__ import annotations

from flask import current_app

from connectors import registry
from connectors.egress import OutboundRefused, check_url, parse_allowlist
from webapp.extensions import db
from webapp.models import Account, Store
from webapp.outbound import record_creation


class AccountError(ValueError):
    """The account request is invalid; nothing was saved."""


def connector_class(code: str):
    try:
        return registry.get(code)
    except KeyError as exc:
        known = ", ".join(c.code for c in registry.all_connectors())
        raise AccountError(f"Unknown connector {code!r} (known: {known}).") from exc


def _validated(cls, name: str, settings, secrets: dict) -> tuple[str, dict, dict]:
    """(name, plain settings, all values) checked against the connector's declaration."""
    settings = dict(settings or {})
    misplaced = sorted(set(settings) & cls.secret_names())
    if misplaced:
        raise AccountError(f"{', '.join(misplaced)} is a secret: pass it as a secret.")
    try:
        values = cls.validate_settings({**settings, **secrets})
    except ValueError as exc:
        raise AccountError(str(exc)) from exc
    plain = {k: v for k, v in values.items() if k not in cls.secret_names()}
    check_base_url(plain.get("base_url"))
    name = (name or "").strip()
    if not name:
        raise AccountError("Give the account a name.")
    return name[:255], plain, values


def create_account(
    store: Store,
    connector: str,
    name: str,
    *,
    settings: dict[str, str] | None = None,
    secrets: dict[str, str] | None = None,
    live: bool = False,
    by: str = "system",
) -> Account:
    """Validate against the connector's declaration and save; secrets go in encrypted."""
    cls = connector_class(connector)
    name, plain, values = _validated(cls, name, settings, dict(secrets or {}))
    account = Account(
        store_id=store.id, connector=cls.code, name=name, settings=plain, is_live=live
    )
    account.set_secrets({k: v for k, v in values.items() if k in cls.secret_names()})
    db.session.add(account)
    db.session.flush()
    from webapp.feeds.defaults import ensure_default_feeds
    from webapp.feeds.schedule import feeds_of_account, reconcile_quietly

    ensure_default_feeds(account)  # its feeds and their default schedules, same transaction
    record_creation(account, by=by)  # the mode it starts in, and who chose it
    db.session.commit()
    reconcile_quietly(feeds_of_account(account))
    return account


def update_account(
    account: Account,
    name: str,
    *,
    settings: dict[str, str] | None = None,
    secrets: dict[str, str] | None = None,
) -> Account:
    """Change an account's name and settings; a secret left blank keeps its stored value
    (forms never show secrets back). Validated as :func:`create_account` validates. The mode
    is not an edit: going live is its own decision (:func:`webapp.outbound.go_live`)."""
    cls = connector_class(account.connector)
    given = {k: v for k, v in (secrets or {}).items() if v not in (None, "")}
    name, plain, _values = _validated(cls, name, settings, {**account.secrets(), **given})
    account.name = name
    account.settings = plain
    if given:
        account.set_secrets(given)
    db.session.commit()
    return account


def check_base_url(url: str | None) -> None:
    """A base URL is user-steerable outbound traffic: the same guard as feed URLs applies."""
    if not url:
        return
    try:
        check_url(
            url,
            parse_allowlist(current_app.config["MERCATO_OUTBOUND_ALLOW"]),
            unresolvable_ok=True,  # checked again, connected peer included, on every request
        )
    except OutboundRefused as exc:
        raise AccountError(str(exc)) from exc


def masked(account: Account) -> dict:
    return {
        "id": account.id,
        "store": account.store.code,
        "connector": account.connector,
        "name": account.name,
        "settings": account.settings,
        "secrets": account.masked_secrets(),
        "live": account.is_live,
        "mode": account.mode,
        "retired": account.is_retired,
    }
