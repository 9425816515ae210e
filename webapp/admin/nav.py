"""What the top bar shows: the menus of an admin and of a store user, and, for an admin, the
store being worked on.

An admin belongs to no store, so the store's own pages (Products, Orders, Accounts, Feeds...)
appear in a second bar for the store the admin is looking at: the store of the page's URL, or
else the last store the admin opened (kept in the session), so that Orders stays one click
away from the monitoring or inbox pages too. "All stores" leads back to the store list.
"""

from __future__ import annotations

from dataclasses import dataclass

from flask import g, request, session, url_for
from flask_login import current_user

from webapp.admin import bp
from webapp.extensions import db
from webapp.models import Store

SESSION_KEY = "admin_store_id"


@dataclass(frozen=True)
class NavItem:
    label: str
    url: str
    endpoints: tuple[str, ...]

    @property
    def current(self) -> bool:
        return request.endpoint in self.endpoints


def store_items(store: Store, *, admin: bool) -> list[NavItem]:
    """The pages of one store, in menu order (an admin also gets the store's overview)."""
    code = store.code
    items = [
        NavItem(
            "Marketplace import",
            url_for("store.marketplace", code=code),
            ("store.marketplace", "store.job", "store.message"),
        ),
        NavItem(
            "Products",
            url_for("catalog.products", code=code),
            ("catalog.products", "catalog.publish"),
        ),
        NavItem(
            "Stock",
            url_for("stock.stock", code=code),
            ("stock.stock", "stock.sku", "stock.account_stock"),
        ),
        NavItem("Orders", url_for("orders.orders", code=code), ("orders.orders", "orders.order")),
        NavItem(
            "Accounts",
            url_for("accounts.accounts", code=code),
            ("accounts.accounts", "accounts.account_new", "accounts.account_edit"),
        ),
        NavItem("Feeds", url_for("feeds.index", code=code), ("feeds.index", "feeds.detail")),
    ]
    # The bars are full (one line from 1200 px): the E-mail pages are reached from Settings.
    settings = (
        "store.settings",
        "mail.messages",
        "mail.message",
        "mail.templates",
        "mail.template",
    )
    if admin:
        items.insert(0, NavItem("Overview", url_for("admin.store", code=code), ("admin.store",)))
        items += [
            NavItem(
                "Executions",
                url_for("feeds.executions", code=code),
                ("feeds.executions", "feeds.execution"),
            ),
            NavItem("Inbox", url_for("inbox.store_inbox", code=code), ("inbox.store_inbox",)),
            NavItem("Settings", url_for("store.settings", code=code), settings),
            NavItem("Edit", url_for("admin.store_edit", code=code), ("admin.store_edit",)),
        ]
    else:
        items.append(NavItem("Settings", url_for("store.settings", code=code), settings))
    return items


def admin_items() -> list[NavItem]:
    return [
        NavItem(
            "Stores",
            url_for("admin.stores"),
            ("admin.stores", "admin.store_new", "admin.store", "admin.store_edit"),
        ),
        NavItem("Import jobs", url_for("admin.imports"), ("admin.imports",)),
        NavItem("Marketplace import", url_for("admin.marketplace"), ("admin.marketplace",)),
        NavItem(
            "Feed executions",
            url_for("feeds.admin_executions"),
            ("feeds.admin_executions",),
        ),
        NavItem("Monitoring", url_for("admin.monitoring"), ("admin.monitoring",)),
        NavItem("Inbox", url_for("inbox.admin_inbox"), ("inbox.admin_inbox",)),
    ]


def admin_nav_store() -> Store | None:
    """The store an admin is working on: the one in the URL, else the one opened last."""
    if not current_user.is_authenticated or not current_user.is_admin:
        return None
    code = (request.view_args or {}).get("code")
    if code:
        store = g.get("store")
        if store is None or store.code != code:
            store = db.session.query(Store).filter_by(code=code).one_or_none()
        if store is not None:
            if session.get(SESSION_KEY) != store.id:
                session[SESSION_KEY] = store.id
            return store
    store_id = session.get(SESSION_KEY)
    if isinstance(store_id, int):
        store = db.session.get(Store, store_id)
        if store is not None:
            return store
        session.pop(SESSION_KEY, None)
    return None


@bp.app_context_processor
def _navigation() -> dict:
    return {
        "admin_nav_store": admin_nav_store,
        "nav_admin_items": admin_items,
        "nav_store_items": store_items,
    }
