"""Stores (tenants) as admins manage them: validation, create, update, and the store list
with the counts an admin looks at first.

The store pages under /admin/stores, the /api/v1/admin/stores endpoints and ``flask stores``
all go through this module, so a store is checked the same way whichever door it comes in by.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from sqlalchemy import func, or_, select
from sqlalchemy.exc import IntegrityError

from connectors.egress import mask_url
from webapp.extensions import db
from webapp.models import Account, MarketplaceProduct, Message, Order, Product, Store
from webapp.models import runs as R
from webapp.models.stores import LANGUAGES
from webapp.pagination import Page, paginate

CODE_MIN, CODE_MAX = 2, 64
NAME_MAX = 255
URL_MAX = 2048
CODE_PATTERN = re.compile(r"^[a-z0-9][a-z0-9_-]*[a-z0-9]$")
CODE_RULE = (
    "lowercase letters a-z, digits, '-' and '_', starting and ending with a letter or digit, "
    f"{CODE_MIN} to {CODE_MAX} characters (it is part of every address of the store)"
)
# /admin/stores/new is the create form: a store called "new" could never be opened.
RESERVED_CODES = frozenset({"new"})
URL_FIELDS = tuple(f"letzshop_csv_url_{lang}" for lang in LANGUAGES)
# Every field an admin may set, in the order forms and the API list them.
FIELDS = ("code", "name", "default_language", "is_active", *URL_FIELDS)


class StoreError(ValueError):
    """A store was refused. ``errors`` maps each wrong field to a sentence for a person;
    ``conflict`` is set when the only problem is a code another store already has."""

    def __init__(self, errors: dict[str, str]) -> None:
        super().__init__("; ".join(errors.values()))
        self.errors = errors

    @property
    def conflict(self) -> bool:
        """Only the code is wrong, and it is the store's state that says no (taken by another
        store, or not this store's code): 409 over the API, not a malformed value."""
        return set(self.errors) == {"code"} and (
            "already" in self.errors["code"] or "cannot be changed" in self.errors["code"]
        )


def code_error(code: str) -> str | None:
    """Why ``code`` cannot name a new store (None when it can), the database aside."""
    if not code:
        return "Give the store a code."
    if code != code.lower() and CODE_PATTERN.match(code.lower()):
        return f"Store codes are lowercase: use '{code.lower()}'."
    if not (CODE_MIN <= len(code) <= CODE_MAX) or not CODE_PATTERN.match(code):
        return f"The code may contain only {CODE_RULE}."
    if code in RESERVED_CODES:
        return f"'{code}' is reserved; choose another code."
    return None


def _code_taken(code: str, store_id: int | None = None) -> bool:
    query = select(Store.id).where(func.lower(Store.code) == code.lower())
    if store_id is not None:
        query = query.where(Store.id != store_id)
    return db.session.scalar(query.limit(1)) is not None


def _text(data: Mapping[str, Any], name: str, errors: dict[str, str]) -> str | None:
    value = data.get(name)
    if value is None:
        return None
    if not isinstance(value, str):
        errors[name] = f"'{name}' must be text."
        return None
    return value.strip()


# A flag as a form field carries it (the API's multipart bodies): exactly these words, as
# the OpenAPI document states them.
FLAG_WORDS = {"true": True, "1": True, "false": False, "0": False}


def _flag(value: Any) -> bool | None:
    if isinstance(value, bool):
        return value
    if isinstance(value, str):
        return FLAG_WORDS.get(value)
    return None


def clean(data: Mapping[str, Any], *, store: Store | None = None) -> dict[str, Any]:
    """The values of ``data`` a store may take, checked; StoreError lists every wrong field.

    Creating (``store`` None) needs a code and a name; updating changes only the fields
    given. Unknown keys are refused rather than ignored, so a typo is not a silent no-op.
    """
    errors: dict[str, str] = {}
    values: dict[str, Any] = {}
    unknown = sorted(set(data) - set(FIELDS))
    if unknown:
        errors["_"] = f"Unknown field{'s' if len(unknown) > 1 else ''}: {', '.join(unknown)}."

    if store is None or "code" in data:
        code = _text(data, "code", errors)
        if store is None:
            problem = code_error(code or "")
            if problem:
                errors["code"] = problem
            elif _code_taken(code):
                errors["code"] = f"A store with the code '{code}' already exists."
            else:
                values["code"] = code
        elif code is None and "code" not in errors:
            errors["code"] = "'code' must be the store's code (or left out)."
        elif code != store.code and "code" not in errors:
            errors["code"] = (
                "A store's code cannot be changed: its pages, links and bookmarks use it."
            )

    if store is None or "name" in data:
        name = _text(data, "name", errors)
        if "name" not in errors:
            if not name:
                errors["name"] = "Give the store a name."
            elif len(name) > NAME_MAX:
                errors["name"] = f"The name may be at most {NAME_MAX} characters."
            else:
                values["name"] = name

    if "default_language" in data or store is None:
        language = _text(data, "default_language", errors)
        if store is None and not language:
            values["default_language"] = "fr"
        elif "default_language" not in errors:
            if language not in LANGUAGES:
                errors["default_language"] = (
                    f"The default language must be one of {', '.join(LANGUAGES)}."
                )
            else:
                values["default_language"] = language

    if "is_active" in data:
        flag = _flag(data["is_active"])
        if flag is None:
            errors["is_active"] = "'is_active' must be true or false."
        else:
            values["is_active"] = flag

    for field in URL_FIELDS:
        if field not in data:
            continue
        url = _text(data, field, errors)
        if field in errors:
            continue
        if not url:
            values[field] = None
            continue
        stored = getattr(store, field) if store is not None else None
        if stored and url == mask_url(stored):
            continue  # shown masked, sent back unchanged: the stored password stays
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            errors[field] = "Give a full http:// or https:// address, or leave it empty."
        elif len(url) > URL_MAX:
            errors[field] = f"The address may be at most {URL_MAX} characters."
        else:
            values[field] = url

    if errors:
        raise StoreError(errors)
    return values


def create_store(data: Mapping[str, Any]) -> Store:
    """A new store with its default feeds, committed; StoreError when ``data`` is wrong."""
    from webapp.feeds.defaults import ensure_store_feeds

    values = clean(data)
    store = Store(**{"is_active": True, **values})
    db.session.add(store)
    try:
        db.session.flush()
    except IntegrityError:
        # Another request took the code between the check and the insert.
        db.session.rollback()
        raise StoreError(
            {"code": f"A store with the code '{values['code']}' already exists."}
        ) from None
    ensure_store_feeds(store)
    db.session.commit()
    return store


def update_store(store: Store, data: Mapping[str, Any]) -> Store:
    """Apply the fields given in ``data`` to ``store`` and commit.

    Switching a store off (or on) changes what the scheduler may run: its feeds are
    reconciled at once (the periodic reconcile catches up if Redis is away)."""
    values = clean(data, store=store)
    was_active = store.is_active
    for name, value in values.items():
        setattr(store, name, value)
    db.session.commit()
    if store.is_active != was_active:
        from webapp.feeds.schedule import reconcile_quietly
        from webapp.models import Feed

        feed_ids = list(db.session.scalars(select(Feed.id).where(Feed.store_id == store.id)))
        if feed_ids:
            reconcile_quietly(feed_ids)
    return store


def store_by_code(code: str) -> Store | None:
    return db.session.scalar(select(Store).where(Store.code == code))


# -- the list ------------------------------------------------------------------------------


@dataclass
class StoreCounts:
    """What an admin wants to know about a store before opening it."""

    products: int = 0  # imported (the catalog the products page lists)
    published: int = 0  # published to the store's own catalog
    orders: int = 0
    accounts: int = 0  # not retired
    live_accounts: int = 0
    open_errors: int = 0  # waiting in the error inbox


@dataclass
class StoreRow:
    store: Store
    counts: StoreCounts


def _grouped(query) -> dict[int, int]:
    return {store_id: count for store_id, count in db.session.execute(query)}


def counts_for(store_ids: list[int]) -> dict[int, StoreCounts]:
    """The counts of these stores: one grouped query per figure, whatever their number."""
    from webapp.inbox.service import is_open

    result = {store_id: StoreCounts() for store_id in store_ids}
    if not store_ids:
        return result

    def per_store(column, *conditions) -> dict[int, int]:
        return _grouped(
            select(column, func.count()).where(column.in_(store_ids), *conditions).group_by(column)
        )

    figures = {
        "products": per_store(MarketplaceProduct.store_id),
        "published": per_store(Product.store_id),
        "orders": per_store(Order.store_id),
        "accounts": per_store(Account.store_id, Account.retired_at.is_(None)),
        "live_accounts": per_store(
            Account.store_id, Account.retired_at.is_(None), Account.is_live.is_(True)
        ),
        "open_errors": _grouped(  # what the store's bell counts (ix_inbox_store)
            select(Message.store_id, func.count())
            .where(Message.store_id.in_(store_ids), *is_open(), Message.severity == R.ERROR)
            .group_by(Message.store_id)
        ),
    }
    for name, by_store in figures.items():
        for store_id, count in by_store.items():
            setattr(result[store_id], name, count)
    return result


STATUS_FILTERS = ("active", "inactive")


def store_page(page: int, per_page: int, *, search: str = "", status: str = "") -> Page:
    """One page of stores (by name, then code) as StoreRows, optionally searched by code or
    name and filtered by active/inactive."""
    conditions = []
    if search:
        escaped = search.lower().replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
        pattern = f"%{escaped}%"
        conditions.append(
            or_(
                func.lower(Store.code).like(pattern, escape="\\"),
                func.lower(Store.name).like(pattern, escape="\\"),
            )
        )
    if status == "active":
        conditions.append(Store.is_active.is_(True))
    elif status == "inactive":
        conditions.append(Store.is_active.is_(False))
    query = select(Store).where(*conditions).order_by(Store.name, Store.code, Store.id)
    count = select(func.count(Store.id)).where(*conditions)
    result = paginate(query, count, page, per_page)
    counts = counts_for([s.id for s in result.items])
    result.items = [StoreRow(store, counts[store.id]) for store in result.items]
    return result
