"""Catalog feeds the hubs read (pull): each account's secret feed URL, rotating it, and the
record of every fetch.

The token is 32 random bytes (URL-safe base64) in the URL's path. The database keeps its
SHA-256, which a fetch is looked up by, and the token encrypted, so the store can be shown its
URL again; anyone else (an administrator of another store's account) sees it masked. After a
rotation only the new token is known: the old URL answers 404 like any unknown one.
"""

from __future__ import annotations

import hashlib
import secrets
from datetime import datetime

from flask import url_for
from sqlalchemy import select

from webapp.crypto import decrypt, encrypt
from webapp.extensions import db
from webapp.models import Account, CatalogFeed, CatalogFeedFetch
from webapp.models.base import utcnow
from webapp.models.catalog_feed import FEED_FORMATS

FETCHES_SHOWN = 20
MASK = "********"


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def _new_token() -> str:
    return secrets.token_urlsafe(32)


def feed_for(account: Account, *, create: bool = True) -> CatalogFeed | None:
    """The account's feed row, made (with a fresh token) the first time it is asked for."""
    feed = db.session.get(CatalogFeed, account.id)
    if feed is None and create:
        token = _new_token()
        feed = CatalogFeed(
            account_id=account.id,
            store_id=account.store_id,
            token_hash=token_hash(token),
            token_encrypted=encrypt(token),
            format="csv",
        )
        db.session.add(feed)
        db.session.commit()
    return feed


def rotate(account: Account, who: str) -> CatalogFeed:
    """A new token; the old URL is refused from now on."""
    feed = feed_for(account)
    token = _new_token()
    feed.token_hash = token_hash(token)
    feed.token_encrypted = encrypt(token)
    feed.rotated_at = utcnow()
    feed.rotated_by = who[:255]
    db.session.commit()
    return feed


def set_format(account: Account, fmt: str, language: str | None = None) -> CatalogFeed:
    """The format of the bare URL, and the language of the texts (None: the store's)."""
    if fmt not in FEED_FORMATS:
        raise ValueError(f"format must be one of {', '.join(FEED_FORMATS)}")
    feed = feed_for(account)
    feed.format = fmt
    feed.language = language
    db.session.commit()
    return feed


def lookup(token: str) -> tuple[CatalogFeed, Account] | None:
    """The feed and its account for a token from a URL, or None (unknown, rotated, retired)."""
    if not token or len(token) > 128:
        return None
    feed = db.session.scalar(select(CatalogFeed).where(CatalogFeed.token_hash == token_hash(token)))
    if feed is None:
        return None
    account = db.session.get(Account, feed.account_id)
    if account is None or account.is_retired or account.store_id != feed.store_id:
        return None
    return feed, account


def urls(feed: CatalogFeed, *, reveal: bool) -> dict[str, str]:
    """The feed's URLs (suffix-less in the account's format, .csv, .xml), the token masked
    unless ``reveal``."""
    token = decrypt(feed.token_encrypted) if reveal else MASK
    out = {}
    for name, fmt in (("default", None), ("csv", "csv"), ("xml", "xml")):
        out[name] = url_for("catalogfeed.feed", token=token, fmt=fmt, _external=True)
    return out


def record_fetch(account_id: int, **fields) -> None:
    """One fetch, written in its own transaction (the streamed response has ended by then)."""
    db.session.rollback()
    db.session.add(CatalogFeedFetch(account_id=account_id, **fields))
    db.session.commit()


def last_fetches(account_id: int, limit: int = FETCHES_SHOWN) -> list[CatalogFeedFetch]:
    return list(
        db.session.scalars(
            select(CatalogFeedFetch)
            .where(CatalogFeedFetch.account_id == account_id)
            .order_by(CatalogFeedFetch.fetched_at.desc(), CatalogFeedFetch.id.desc())
            .limit(limit)
        )
    )


def iso(value: datetime | None) -> str | None:
    return value.isoformat(timespec="seconds") + "Z" if value else None


def fetch_json(fetch: CatalogFeedFetch) -> dict:
    return {
        "fetched_at": iso(fetch.fetched_at),
        "ip": fetch.ip,
        "user_agent": fetch.user_agent,
        "format": fetch.format,
        "status": fetch.status,
        "complete": fetch.complete,
        "gzip": fetch.gzip,
        "rows": fetch.rows,
        "bytes": fetch.bytes,
        "duration_ms": fetch.duration_ms,
    }


def feed_json(account: Account, *, reveal: bool) -> dict:
    feed = feed_for(account)
    return {
        "account_id": account.id,
        "format": feed.format,
        "language": feed.language,
        "urls": urls(feed, reveal=reveal),
        "token_masked": not reveal,
        "created_at": iso(feed.created_at),
        "rotated_at": iso(feed.rotated_at),
        "rotated_by": feed.rotated_by,
        "fetches": [fetch_json(f) for f in last_fetches(account.id)],
    }
